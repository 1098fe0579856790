"""Temporary credentials of a role (STS AssumeRole in the cloud), and who a key belongs to.

`issue(...)` assumes a role through moto's STS backend, so the session is a real one of the
cloud: `sts get-caller-identity` with its key answers
`arn:aws:sts::<account>:assumed-role/<role>/<session>`. Credentials are cached per (role,
session, holder) and renewed an hour before they expire, so a warm invoke pays nothing.

`principal_of(access_key)` is the reverse: the assumed-role session (or IAM user) a key was
issued to, or None for any other key (the operator's dummy key: an administrator).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from .policy import Principal

SESSION_SECONDS = 12 * 3600   # AWS's longest role session
RENEW_BEFORE_S = 3600
MAX_CACHED = 4096


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str
    expires_at: float

    def env(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": self.access_key_id,
                "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
                "AWS_SESSION_TOKEN": self.session_token}


@dataclass(frozen=True)
class Identity:
    """A key's owner, with what the evaluator needs."""
    principal: Principal
    kind: str                 # "assumed-role" or "user"
    name: str                 # role name or user name
    session: str | None = None
    user_id: str | None = None


def account_of_role(role_arn: str, default: str) -> str:
    parts = role_arn.split(":")
    return parts[4] if len(parts) > 4 and parts[4] else default


class CredentialStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._issued: dict[tuple, Credentials] = {}
        self._known: dict[str, Identity] = {}
        self._not_ours: set[str] = set()

    def issue(self, role_arn: str, session_name: str, account: str, region: str,
              holder: str = "") -> Credentials:
        """The session's credentials, cached per (role, session, holder): a `holder` (a
        function's execution environment) gets a session of its own."""
        key = (role_arn, session_name, holder)
        now = time.time()
        hit = self._issued.get(key)
        if hit is not None and hit.expires_at - now > RENEW_BEFORE_S:
            return hit
        from moto.sts.models import sts_backends

        backend = sts_backends[account_of_role(role_arn, account)]["aws"]
        role = backend.assume_role(region_name=region, role_session_name=session_name[:64],
                                   role_arn=role_arn, policy=None, duration=SESSION_SECONDS,
                                   external_id=None)
        creds = Credentials(role.access_key_id, role.secret_access_key, role.session_token,
                            now + SESSION_SECONDS)
        with self._lock:
            if len(self._issued) > MAX_CACHED:  # environments come and go: drop the expired
                for k in [k for k, c in self._issued.items() if c.expires_at <= now]:
                    del self._issued[k]
            self._issued[key] = creds
            self._not_ours.discard(role.access_key_id)
        return creds

    def remember(self, access_key: str, identity: Identity) -> None:
        """A key issued for an identity outside moto's key tables (GetSessionToken)."""
        with self._lock:
            self._known[access_key] = identity
            self._not_ours.discard(access_key)

    def forget_unknown(self) -> None:
        """A new key may have been made (AssumeRole, CreateAccessKey): look again on next use."""
        self._not_ours.clear()

    def clear(self) -> None:
        with self._lock:
            self._issued.clear()
            self._known.clear()
            self._not_ours.clear()

    def identity_of(self, access_key: str) -> Identity | None:
        hit = self._known.get(access_key)
        if hit is not None:
            return hit
        if access_key in self._not_ours:
            return None
        found = self._lookup(access_key)
        with self._lock:
            if found is None:
                if len(self._not_ours) > 4096:
                    self._not_ours.clear()
                self._not_ours.add(access_key)
            else:
                self._known[access_key] = found
        return found

    @staticmethod
    def _lookup(access_key: str) -> Identity | None:
        from moto.iam.models import iam_backends
        from moto.sts.models import sts_backends

        for account_id in list(iam_backends.keys()):
            iam = iam_backends[account_id].get("aws") if hasattr(iam_backends[account_id], "get") \
                else iam_backends[account_id]["aws"]
            if iam is None or access_key not in iam.access_keys:
                continue
            sts = sts_backends[account_id]["aws"]
            assumed = sts.get_assumed_role_from_access_key(access_key)
            if assumed is not None:
                role_name = assumed.role_arn.split("/")[-1]
                return Identity(
                    principal=Principal(arn=assumed.arn, account=assumed.account_id,
                                        role_arn=assumed.role_arn),
                    kind="assumed-role", name=role_name, session=assumed.session_name,
                    user_id=assumed.user_id)
            user = iam.get_user_from_access_key_id(access_key)
            if user is not None:
                return Identity(principal=Principal(arn=user.arn, account=user.account_id),
                                kind="user", name=user.name, user_id=user.id)
        return None


def role_policies(account: str, role_arn: str) -> list[str] | None:
    """The role's identity policies (inline and attached, AWS managed included), or None if
    the role does not exist."""
    from moto.iam.exceptions import NotFoundException
    from moto.iam.models import iam_backends

    iam = iam_backends[account]["aws"]
    try:
        role = iam.get_role_by_arn(role_arn)
    except NotFoundException:
        return None
    docs = list(role.policies.values())
    docs += [_default_document(p) for p in role.managed_policies.values()]
    return [d for d in docs if d]


def user_policies(account: str, user_name: str) -> list[str]:
    from moto.iam.exceptions import NoSuchEntity
    from moto.iam.models import iam_backends

    iam = iam_backends[account]["aws"]
    try:
        user = iam.get_user(user_name)
    except NoSuchEntity:
        return []
    docs = list(user.policies.values())
    docs += [_default_document(p) for p in user.managed_policies.values()]
    for group in iam.get_groups_for_user(user_name):
        docs += list(group.policies.values())
        docs += [_default_document(p) for p in group.managed_policies.values()]
    return [d for d in docs if d]


def _default_document(policy) -> str | None:
    for v in policy.versions:
        if v.is_default:
            return v.document
    return None  # no default version: no document in force
