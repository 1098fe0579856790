"""The IAM policy evaluator: identity and resource policies, as AWS's evaluation logic runs them.

Pure: documents in, a `Decision` out. For one request (an action on one or more resources,
with a condition context):

1. an explicit `Deny` in any applicable statement (identity or resource policy) denies;
2. else an `Allow` in an identity policy or (same account) a resource policy allows;
3. else the request is implicitly denied.

A statement applies when its `Action`/`NotAction`, `Resource`/`NotResource`, `Principal`/
`NotPrincipal` (resource policies) and `Condition` all match. Actions match case-insensitively
with `*`/`?` wildcards; resources case-sensitively, after substituting policy variables
(`${aws:username}`, `${*}`, ...) from the context. Every resource of the request must be allowed.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable

from .conditions import UnknownOperator, condition_holds, wildcard_match

IDENTITY = "identity"
RESOURCE = "resource"

ALLOWED = "allowed"
EXPLICIT_DENY = "explicit-deny"
IMPLICIT_DENY = "implicit-deny"


@dataclass(frozen=True)
class Principal:
    """Who asks: an assumed-role session, a role, a user, a service, or the account root."""
    arn: str                      # arn:aws:sts::A:assumed-role/R/S, arn:aws:iam::A:user/U, ...
    account: str
    role_arn: str | None = None   # the role behind an assumed-role session
    service: str | None = None    # e.g. "s3.amazonaws.com" for a service principal

    def matches(self, principal: Any) -> bool:
        """Does a policy's `Principal` element name this principal?"""
        if principal == "*":
            return True
        if not isinstance(principal, dict):
            return False
        for kind, values in principal.items():
            values = values if isinstance(values, list) else [values]
            if kind == "Service":
                if self.service and any(v == self.service for v in values):
                    return True
            elif kind == "AWS" and not self.service:
                for v in values:
                    if v == "*" or v == self.account or v == f"arn:aws:iam::{self.account}:root":
                        return True
                    if v == self.arn or (self.role_arn and v == self.role_arn):
                        return True
        return False


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str                   # ALLOWED, EXPLICIT_DENY or IMPLICIT_DENY
    resource: str = "*"           # the resource the decision was made on (the first denied)
    denied_by: str | None = None  # IDENTITY or RESOURCE for an explicit deny
    sid: str | None = None        # the Sid of the deciding statement, when it has one

    def because(self, action: str) -> str:
        """The tail of AWS's message: '... because ...'."""
        if self.reason == EXPLICIT_DENY:
            where = "a resource-based policy" if self.denied_by == RESOURCE else "an identity-based policy"
            return f"with an explicit deny in {where}"
        return f"because no identity-based policy allows the {action} action"


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple | None
    not_actions: tuple | None
    resources: tuple | None
    not_resources: tuple | None
    principal: Any
    not_principal: Any
    condition: dict | None
    sid: str | None


class PolicyError(ValueError):
    """A policy document the evaluator cannot read."""


def _tuple(x: Any) -> tuple | None:
    if x is None:
        return None
    return tuple(x) if isinstance(x, list) else (x,)


def _compile(doc: dict) -> tuple[Statement, ...]:
    sts = doc.get("Statement", [])
    if isinstance(sts, dict):
        sts = [sts]
    out = []
    for st in sts:
        if not isinstance(st, dict):
            raise PolicyError("a Statement is not an object")
        out.append(Statement(
            effect=st.get("Effect", ""),
            actions=_tuple(st.get("Action")), not_actions=_tuple(st.get("NotAction")),
            resources=_tuple(st.get("Resource")), not_resources=_tuple(st.get("NotResource")),
            principal=st.get("Principal"), not_principal=st.get("NotPrincipal"),
            condition=st.get("Condition"), sid=st.get("Sid")))
    return tuple(out)


@lru_cache(maxsize=2048)
def _compile_text(text: str) -> tuple[Statement, ...]:
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise PolicyError(f"policy is not JSON: {exc}") from None
    return _compile(doc)


def compile_policy(doc: str | dict) -> tuple[Statement, ...]:
    """A document (JSON text, URL-quoted text or dict) as statements; text is cached."""
    if isinstance(doc, (bytes, bytearray)):
        doc = doc.decode()
    if isinstance(doc, str):
        if doc.startswith("%7B") or doc.startswith("%7b"):
            from urllib.parse import unquote
            doc = unquote(doc)
        return _compile_text(doc)
    return _compile(doc)


_VAR = re.compile(r"\$\{([^}]+)\}")


def _substitute(pattern: str, context: dict) -> str | None:
    """Policy variables in a Resource; None when one has no value (the statement can't match)."""
    if "${" not in pattern:
        return pattern
    missing = False

    def repl(m: re.Match) -> str:
        nonlocal missing
        name = m.group(1)
        if name in ("*", "?", "$"):
            return "\0" + name  # a literal character, not a wildcard
        value = context.get(name.lower())
        if value is None or isinstance(value, (list, tuple)):
            missing = True
            return ""
        return str(value)

    out = _VAR.sub(repl, pattern)
    return None if missing else out


def _covers_every_resource(pattern: str) -> bool:
    """`arn:aws:s3:::*`, `arn:aws:ec2:*:*:*`: an ARN pattern whose resource part (and region
    and account) are wildcards: it names every resource of its service."""
    parts = pattern.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return False
    return all(p in ("", "*") for p in parts[3:5]) and parts[5] == "*"


def _resource_match(pattern: str, resource: str, context: dict) -> bool:
    pat = _substitute(pattern, context)
    if pat is None:
        return False
    if resource == "*":
        # An action without resource-level permissions (s3:ListAllMyBuckets) is requested on
        # "*"; AWS grants it by a statement on "*" or on every resource of the service
        # (AWS's own example allows s3:ListAllMyBuckets on "arn:aws:s3:::*":
        # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_examples_s3_rw-bucket.html).
        return pat == "*" or _covers_every_resource(pat)
    if "\0" in pat:  # ${*} and friends: compare those characters literally
        parts = pat.split("\0")
        regex = re.escape(parts[0]).replace(r"\*", ".*").replace(r"\?", ".")
        for part in parts[1:]:
            regex += re.escape(part[0]) + re.escape(part[1:]).replace(r"\*", ".*").replace(r"\?", ".")
        return re.fullmatch(regex, resource, re.S) is not None
    return wildcard_match(pat, resource)


def _action_match(patterns: tuple, action: str) -> bool:
    a = action.lower()
    return any(p == "*" or wildcard_match(p.lower(), a) for p in patterns)


def statement_applies(st: Statement, action: str, resource: str, context: dict,
                      principal: Principal | None = None, resource_policy: bool = False) -> bool:
    if st.actions is not None:
        if not _action_match(st.actions, action):
            return False
    elif st.not_actions is not None:
        if _action_match(st.not_actions, action):
            return False
    else:
        return False
    if st.resources is not None:
        if not any(_resource_match(p, resource, context) for p in st.resources):
            return False
    elif st.not_resources is not None:
        if any(_resource_match(p, resource, context) for p in st.not_resources):
            return False
    elif not resource_policy:
        return False  # an identity statement without Resource is invalid
    if resource_policy:
        if principal is None:
            return False
        if st.principal is not None:
            if not principal.matches(st.principal):
                return False
        elif st.not_principal is not None:
            if principal.matches(st.not_principal):
                return False
        else:
            return False
    try:
        return condition_holds(st.condition, context)
    except UnknownOperator:
        return False  # AWS rejects such a policy at write time; it never matches here


def evaluate(action: str, resources: Iterable[str], context: dict, *,
             identity: Iterable[Any] = (), resource_policies: Iterable[Any] = (),
             principal: Principal | None = None) -> Decision:
    """Decide one request. `identity`/`resource_policies`: documents (text or dict).
    Context keys are lower-cased condition keys (`aws:sourceip`, `s3:prefix`, ...)."""
    id_sts = [st for doc in identity for st in compile_policy(doc)]
    res_sts = [st for doc in resource_policies for st in compile_policy(doc)]
    resources = list(resources) or ["*"]
    first_implicit: Decision | None = None
    for resource in resources:
        allowed_here = False
        for kind, sts in ((IDENTITY, id_sts), (RESOURCE, res_sts)):
            for st in sts:
                if not statement_applies(st, action, resource, context, principal,
                                         resource_policy=(kind == RESOURCE)):
                    continue
                if st.effect == "Deny":
                    return Decision(False, EXPLICIT_DENY, resource, kind, st.sid)
                if st.effect == "Allow":
                    allowed_here = True
        if not allowed_here and first_implicit is None:
            first_implicit = Decision(False, IMPLICIT_DENY, resource)
    if first_implicit is not None:
        return first_implicit
    return Decision(True, ALLOWED, resources[0])


def denial_message(principal_arn: str, action: str, decision: Decision) -> str:
    """AWS's message: 'User: P is not authorized to perform: A on resource: R because ...'."""
    return (f"User: {principal_arn} is not authorized to perform: {action} on resource: "
            f"{decision.resource} {decision.because(action)}")
