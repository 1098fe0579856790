"""IAM condition operators, as AWS's policy reference defines them.

`condition_holds(block, context)` evaluates one statement's `Condition` block: every operator
must hold, and within an operator every key must hold (AND); a key's values are ORed.
Supported: String*, Arn*, Bool, Null, IpAddress/NotIpAddress, Numeric*, Date*, each with the
`...IfExists` suffix, and the `ForAnyValue:`/`ForAllValues:` set qualifiers.

A key missing from the request context: the condition is false, except for the negated
operators (StringNot*, ArnNot*, NotIpAddress, NumericNotEquals, DateNotEquals), which are true
("If the key ... is not present in the request context ... and the policy condition requires
that the key is not matched, the condition is true"), `...IfExists` (true) and `Null`.
Condition keys are case-insensitive; context keys are stored lower-cased.
"""
from __future__ import annotations

import ipaddress
import re
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Callable

_NEGATED = {"StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike", "ArnNotEquals",
            "ArnNotLike", "NotIpAddress", "NumericNotEquals", "DateNotEquals"}


class UnknownOperator(ValueError):
    pass


@lru_cache(maxsize=4096)
def _like(pattern: str) -> re.Pattern:
    """AWS's wildcard match: `*` any run of characters, `?` one character, nothing else special."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c)
                              for c in pattern) + r"\Z", re.S)


def wildcard_match(pattern: str, value: str) -> bool:
    return _like(pattern).match(value) is not None


def _arn_like(pattern: str, value: str) -> bool:
    # "Each of the six colon-delimited components of the ARN is checked separately and each
    # can include multi-character match wildcards (*) or single-character match wildcards (?)."
    p, v = pattern.split(":", 5), value.split(":", 5)
    if len(p) != 6 or len(v) != 6:
        return pattern == value or (pattern == "*")
    return all(wildcard_match(a, b) for a, b in zip(p, v))


def _num(x: Any) -> float:
    return float(x)


def _date(x: Any) -> float:
    s = str(x)
    if re.fullmatch(r"-?\d+(\.\d+)?", s):
        return float(s)  # epoch seconds
    dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def _bool(x: Any) -> str:
    return str(x).lower()


def _ip_in(cidr: str, value: str) -> bool:
    try:
        return ipaddress.ip_address(value) in ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False


# operator -> (compare(expected, actual) -> bool)
_BASE: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda e, a: str(a) == str(e),
    "StringNotEquals": lambda e, a: str(a) == str(e),
    "StringEqualsIgnoreCase": lambda e, a: str(a).lower() == str(e).lower(),
    "StringNotEqualsIgnoreCase": lambda e, a: str(a).lower() == str(e).lower(),
    "StringLike": lambda e, a: wildcard_match(str(e), str(a)),
    "StringNotLike": lambda e, a: wildcard_match(str(e), str(a)),
    "ArnEquals": lambda e, a: _arn_like(str(e), str(a)),
    "ArnLike": lambda e, a: _arn_like(str(e), str(a)),
    "ArnNotEquals": lambda e, a: _arn_like(str(e), str(a)),
    "ArnNotLike": lambda e, a: _arn_like(str(e), str(a)),
    "Bool": lambda e, a: _bool(a) == _bool(e),
    "IpAddress": lambda e, a: _ip_in(str(e), str(a)),
    "NotIpAddress": lambda e, a: _ip_in(str(e), str(a)),
    "NumericEquals": lambda e, a: _num(a) == _num(e),
    "NumericNotEquals": lambda e, a: _num(a) == _num(e),
    "NumericLessThan": lambda e, a: _num(a) < _num(e),
    "NumericLessThanEquals": lambda e, a: _num(a) <= _num(e),
    "NumericGreaterThan": lambda e, a: _num(a) > _num(e),
    "NumericGreaterThanEquals": lambda e, a: _num(a) >= _num(e),
    "DateEquals": lambda e, a: _date(a) == _date(e),
    "DateNotEquals": lambda e, a: _date(a) == _date(e),
    "DateLessThan": lambda e, a: _date(a) < _date(e),
    "DateLessThanEquals": lambda e, a: _date(a) <= _date(e),
    "DateGreaterThan": lambda e, a: _date(a) > _date(e),
    "DateGreaterThanEquals": lambda e, a: _date(a) >= _date(e),
}


def _as_list(x: Any) -> list:
    if x is None:
        return []
    return list(x) if isinstance(x, (list, tuple, set)) else [x]


def _single(base: str, expected: list, actual: Any) -> bool:
    """One key, one (or a multi-valued) context value, the operator's positive sense."""
    cmp = _BASE[base]
    try:
        return any(cmp(e, a) for a in _as_list(actual) for e in expected)
    except (ValueError, TypeError):
        return False


def operator_holds(operator: str, key: str, expected: Any, context: dict) -> bool:
    qualifier = None
    op = operator
    if ":" in op:
        qualifier, op = op.split(":", 1)
        if qualifier not in ("ForAnyValue", "ForAllValues"):
            raise UnknownOperator(operator)
    if_exists = op.endswith("IfExists")
    if if_exists:
        op = op[: -len("IfExists")]
    expected_list = [str(e) if not isinstance(e, bool) else str(e).lower() for e in _as_list(expected)]
    lkey = key.lower()
    present = lkey in context and context[lkey] is not None
    if op == "Null":
        want_absent = any(e.lower() == "true" for e in expected_list)
        return (not present) if want_absent else present
    if op not in _BASE:
        raise UnknownOperator(operator)
    negated = op in _NEGATED
    if not present:
        if qualifier == "ForAllValues":
            return True  # an empty set is a subset of anything
        return if_exists or negated
    actual = context[lkey]
    if qualifier == "ForAllValues":
        values = _as_list(actual)
        hits = [_single(op, expected_list, v) for v in values]
        return all((not h) if negated else h for h in hits)
    if qualifier == "ForAnyValue":
        values = _as_list(actual)
        hits = [_single(op, expected_list, v) for v in values]
        return any((not h) if negated else h for h in hits)
    hit = _single(op, expected_list, actual)
    return (not hit) if negated else hit


def condition_holds(block: dict | None, context: dict) -> bool:
    if not block:
        return True
    for operator, keys in block.items():
        for key, expected in (keys or {}).items():
            if not operator_holds(operator, key, expected, context):
                return False
    return True


__all__ = ["condition_holds", "operator_holds", "wildcard_match", "UnknownOperator"]
