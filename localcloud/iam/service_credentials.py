"""Service-specific credentials of IAM users (moto has none): Create, List, Update, Reset and
Delete ServiceSpecificCredential, as the IAM API reference describes them
(https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateServiceSpecificCredential.html
and the pages of the other four operations):

- a credential belongs to one IAM user and one service: CodeCommit and Amazon Keyspaces
  (`codecommit.amazonaws.com`, `cassandra.amazonaws.com`) get a `ServiceUserName`
  (`<user>-at-<account>`) and a `ServicePassword`; Amazon Bedrock and CloudWatch Logs
  (`bedrock.amazonaws.com`, `logs.amazonaws.com`) get an API key, `ServiceCredentialAlias` and
  `ServiceCredentialSecret` (the alias `<user>+<4 hex>-at-<account>`: AWS documents only that
  it holds the user name and a suffix), expiring after `CredentialAgeDays` when given (only
  those two take it; for the others the cloud refuses it with a ValidationError of its own
  wording, AWS's is not recorded). The password or secret is answered only by Create and Reset, never by List;
- any other service is `NoSuchEntity` "No such service <name> is supported for Service
  Specific Credentials" (Create and List), a missing user `NoSuchEntity` "The user with name
  <name> cannot be found.", an id the user does not have `NoSuchEntity` "No such credential
  <id> exists" (the wording of AWS's recorded answers, LocalStack's test_iam snapshot);
- at most two per user and service (`LimitExceeded`);
- a new credential is `Active`; UpdateServiceSpecificCredential sets `Active` or `Inactive`;
  ResetServiceSpecificCredential makes a new password (or secret) and keeps the status;
- without `UserName` the operations act on the calling IAM user (a caller that is no IAM user
  must name one: `ValidationError`);
- DeleteUser refuses a user who still has one (`DeleteConflict`, patches.py).

The credentials live per account, kept across restarts with the cloud's state
(`register_state("iam.service_specific_credentials", ...)`); served.py answers the five
operations inside the IAM check (so a caller needs `iam:CreateServiceSpecificCredential` and
so on, as on AWS) and after the validation layer (the model's constraints).
"""
from __future__ import annotations

import base64
import datetime as _dt
import secrets
import string
import threading
import uuid
from typing import Any, Callable

from ..core.moto_request import account_of
from .served import ServiceError, members, result

OPERATIONS = frozenset({
    "CreateServiceSpecificCredential", "ListServiceSpecificCredentials",
    "UpdateServiceSpecificCredential", "ResetServiceSpecificCredential",
    "DeleteServiceSpecificCredential"})
PASSWORD_SERVICES = ("codecommit.amazonaws.com", "cassandra.amazonaws.com")
API_KEY_SERVICES = ("bedrock.amazonaws.com", "logs.amazonaws.com")
SUPPORTED = PASSWORD_SERVICES + API_KEY_SERVICES
PER_USER_AND_SERVICE = 2
_ID_CHARS = string.ascii_uppercase + string.digits


def _no_user(name: str) -> ServiceError:
    return ServiceError("NoSuchEntity", f"The user with name {name} cannot be found.", 404)


def _unsupported(service: str) -> ServiceError:
    return ServiceError("NoSuchEntity", f"No such service {service} is supported for Service "
                        "Specific Credentials", 404)


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)


class ServiceCredentials:
    """{account: {credential id: credential}}; a credential is a dict of the API's members."""

    def __init__(self, user_exists: Callable[[str, str], bool]) -> None:
        self._lock = threading.Lock()
        self._by_account: dict[str, dict[str, dict]] = {}
        self._user_exists = user_exists

    # -- state ---------------------------------------------------------------------------
    def dump(self) -> dict:
        with self._lock:
            return {a: {i: dict(c) for i, c in creds.items()}
                    for a, creds in self._by_account.items()}

    def load(self, value: dict) -> None:
        with self._lock:
            self._by_account = {a: dict(creds) for a, creds in value.items()}

    def clear(self) -> None:
        with self._lock:
            self._by_account.clear()

    def of_user(self, account: str, user: str) -> list[dict]:
        with self._lock:
            return [c for c in self._by_account.get(account, {}).values()
                    if c["UserName"] == user]

    # -- operations ----------------------------------------------------------------------
    def _user(self, account: str, name: str) -> str:
        if not self._user_exists(account, name):
            raise _no_user(name)
        return name

    def create(self, account: str, user: str, service: str, age_days: int | None) -> dict:
        self._user(account, user)
        if service not in SUPPORTED:
            raise _unsupported(service)
        if age_days is not None and service not in API_KEY_SERVICES:
            raise ServiceError("ValidationError", "CredentialAgeDays is only valid for "
                               f"{' and '.join(API_KEY_SERVICES)} API keys")
        created = _now()
        cred = {"CreateDate": created, "ServiceName": service, "UserName": user,
                "ServiceSpecificCredentialId": "ACCA" + "".join(
                    secrets.choice(_ID_CHARS) for _ in range(17)),
                "Status": "Active"}
        if service in PASSWORD_SERVICES:
            cred["ServiceUserName"] = f"{user}-at-{account}"
        else:
            cred["ServiceCredentialAlias"] = f"{user}+{uuid.uuid4().hex[:4]}-at-{account}"
            if age_days is not None:
                cred["ExpirationDate"] = created + _dt.timedelta(days=age_days)
        with self._lock:
            creds = self._by_account.setdefault(account, {})
            if sum(c["UserName"] == user and c["ServiceName"] == service
                   for c in creds.values()) >= PER_USER_AND_SERVICE:
                raise ServiceError("LimitExceeded", "Cannot exceed quota for "
                                   f"ServiceSpecificCredentialsPerUserPerService: "
                                   f"{PER_USER_AND_SERVICE}", 409)
            creds[cred["ServiceSpecificCredentialId"]] = cred
            return _with_secret(cred)

    def list(self, account: str, user: str | None, service: str | None,
             all_users: bool) -> list[dict]:
        if not all_users:
            self._user(account, user or "")
        if service is not None and service not in SUPPORTED:
            raise _unsupported(service)
        with self._lock:
            found = [dict(c) for c in self._by_account.get(account, {}).values()
                     if (all_users or c["UserName"] == user)
                     and (service is None or c["ServiceName"] == service)]
        return sorted(found, key=lambda c: (c["UserName"], c["CreateDate"]))

    def _find(self, account: str, user: str, cred_id: str) -> dict:
        self._user(account, user)
        cred = self._by_account.get(account, {}).get(cred_id)
        if cred is None or cred["UserName"] != user:
            raise ServiceError("NoSuchEntity", f"No such credential {cred_id} exists", 404)
        return cred

    def update(self, account: str, user: str, cred_id: str, status: str) -> None:
        with self._lock:
            self._find(account, user, cred_id)["Status"] = status

    def reset(self, account: str, user: str, cred_id: str) -> dict:
        with self._lock:
            return _with_secret(dict(self._find(account, user, cred_id)))

    def delete(self, account: str, user: str, cred_id: str) -> None:
        with self._lock:
            self._find(account, user, cred_id)
            del self._by_account[account][cred_id]


def _with_secret(cred: dict) -> dict:
    """The credential with a freshly generated password (or API key secret)."""
    out = dict(cred)
    if "ServiceUserName" in cred:
        out["ServicePassword"] = base64.b64encode(secrets.token_bytes(33)).decode()
    else:
        out["ServiceCredentialSecret"] = base64.b64encode(secrets.token_bytes(48)).decode()
    return out


# ---- the query protocol ----------------------------------------------------------------------
_LISTED = ("UserName", "Status", "ServiceUserName", "ServiceCredentialAlias", "CreateDate",
           "ExpirationDate", "ServiceSpecificCredentialId", "ServiceName")


def _caller_user(environ: dict) -> str:
    caller = environ.get("localcloud.caller")
    arn = getattr(caller, "arn", "") or ""
    if ":user/" not in arn:
        raise ServiceError("ValidationError",
                           "Must specify userName when calling with non-User credentials")
    return arn.rsplit("/", 1)[1]


def serve(store: ServiceCredentials, environ: dict, params: dict[str, str]) -> bytes:
    """The XML answer of one of OPERATIONS (raises ServiceError)."""
    op = params["Action"]
    account = account_of(environ)
    user = params.get("UserName") or None
    if op == "CreateServiceSpecificCredential":
        age = params.get("CredentialAgeDays")
        cred = store.create(account, user or "", params.get("ServiceName", ""),
                            int(age) if age else None)
        return result(op, f"<ServiceSpecificCredential>{members(cred)}"
                           "</ServiceSpecificCredential>")
    if op == "ListServiceSpecificCredentials":
        all_users = params.get("AllUsers", "").lower() == "true"
        if user is None and not all_users:
            user = _caller_user(environ)
        creds = store.list(account, user, params.get("ServiceName") or None, all_users)
        start = int(params["Marker"]) if params.get("Marker", "").isdigit() else 0
        size = int(params.get("MaxItems") or 100)
        page = creds[start:start + size]
        items = "".join(f"<member>{members(c, _LISTED)}</member>" for c in page)
        more = "" if start + size >= len(creds) else \
            f"<IsTruncated>true</IsTruncated><Marker>{start + size}</Marker>"
        # AWS leaves IsTruncated out of an answer that is complete (its recorded answers)
        return result(op, f"<ServiceSpecificCredentials>{items}</ServiceSpecificCredentials>"
                          f"{more}")
    user = user or _caller_user(environ)
    cred_id = params.get("ServiceSpecificCredentialId", "")
    if op == "UpdateServiceSpecificCredential":
        store.update(account, user, cred_id, params.get("Status", ""))
        return result(op, "")
    if op == "ResetServiceSpecificCredential":
        cred = store.reset(account, user, cred_id)
        return result(op, f"<ServiceSpecificCredential>{members(cred)}"
                           "</ServiceSpecificCredential>")
    store.delete(account, user, cred_id)
    return result(op, "")


def user_exists(account: str, name: str) -> bool:
    from moto.iam.exceptions import NoSuchEntity
    from moto.iam.models import iam_backends

    try:
        iam_backends[account]["aws"].get_user(name)
    except NoSuchEntity:
        return False
    return True


def install(cloud: Any) -> tuple[ServiceCredentials, dict[str, Callable]]:
    """The store (kept with the cloud's state) and the handlers of OPERATIONS."""
    store = ServiceCredentials(user_exists)
    cloud.register_state("iam.service_specific_credentials", store.dump, store.load)
    return store, {op: lambda environ, params: serve(store, environ, params)
                   for op in OPERATIONS}
