"""Checks compiled from botocore's service models: required members, `min`/`max` (length of
strings, lists and maps; value of numbers), `pattern` (Java regex, matched whole, as AWS's
Coral framework does) and `enum`, worded as AWS words them:

    1 validation error detected: Value 'my-function!' at 'functionName' failed to satisfy
    constraint: Member must satisfy regular expression pattern: ...

Member paths in messages are lowerCamel (`functionName`, `code.s3Bucket`), list elements
`tags.1.member` (1-based), as AWS prints them. One checker per (service, operation), built on
first use and cached, so a request pays a dict lookup plus the walk over what it sent.
"""
from __future__ import annotations

import threading
from typing import Any

try:  # botocore's patterns use \p{L}-style classes that only the `regex` module knows
    import regex as _re
except ImportError:  # pragma: no cover - regex is a dependency
    import re as _re

_CHECKERS: dict[tuple[str, str], "Checker"] = {}
_LOCK = threading.Lock()
_NUMERIC = ("integer", "long", "float", "double")


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:] if name else name


def _fmt_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "'true'" if value else "'false'"
    if isinstance(value, list):
        return "'[" + ", ".join(str(v) for v in value) + "]'"
    if isinstance(value, dict):
        return "'{" + ", ".join(f"{k}={v}" for k, v in value.items()) + "}'"
    return f"'{value}'"


class Node:
    """One shape's compiled constraints (and its members', recursively)."""

    __slots__ = ("type", "min", "max", "pattern", "pattern_text", "enum", "enum_text",
                 "members", "required", "member", "key", "value", "typed")

    def __init__(self, shape: Any, seen: dict, typed: bool = True, constraints: bool = True):
        seen[shape.name] = self
        self.typed = typed
        meta = shape.metadata
        self.type = shape.type_name
        self.min = meta.get("min") if constraints else None
        self.max = meta.get("max") if constraints else None
        self.pattern = None
        self.pattern_text = meta.get("pattern") if constraints else None
        if self.pattern_text:
            try:
                self.pattern = _re.compile(self.pattern_text)
            except (_re.error, ValueError, OverflowError):  # a pattern regex cannot read
                self.pattern = None
        enum = shape.enum if constraints and shape.type_name == "string" else None
        self.enum = frozenset(enum) if enum else None
        self.enum_text = "[" + ", ".join(shape.enum) + "]" if self.enum else ""
        self.members: dict[str, tuple[str, Node]] = {}
        self.required: tuple[str, ...] = ()
        self.member = self.key = self.value = None
        if self.type == "structure":
            for name, sub in shape.members.items():
                wire = sub.serialization.get("name", name) if not sub.serialization.get(
                    "location") else name
                entry = (name, _node(sub, seen, typed, constraints))
                self.members[wire] = entry
                for alias in (name, sub.serialization.get("queryName")):
                    if alias:  # the query protocols' names (EC2: queryName)
                        self.members.setdefault(alias, entry)
            self.required = tuple(shape.required_members)
        elif self.type == "list":
            self.member = _node(shape.member, seen, typed, constraints)
        elif self.type == "map":
            self.key = _node(shape.key, seen, typed, constraints)
            self.value = _node(shape.value, seen, typed, constraints)

    def check(self, value: Any, path: str, errors: list) -> None:
        t = self.type
        if self.typed and not _type_ok(t, value):
            raise WrongType(path, t, value)
        if t == "string":
            if not isinstance(value, str):
                return
            n = len(value)
            if self.min is not None and n < self.min:
                errors.append(f"Value {_fmt_value(value)} at '{path}' failed to satisfy "
                              f"constraint: Member must have length greater than or equal to {self.min}")
            if self.max is not None and n > self.max:
                errors.append(f"Value {_fmt_value(value)} at '{path}' failed to satisfy "
                              f"constraint: Member must have length less than or equal to {self.max}")
            if self.pattern is not None and self.pattern.fullmatch(value) is None:
                errors.append(f"Value {_fmt_value(value)} at '{path}' failed to satisfy "
                              f"constraint: Member must satisfy regular expression pattern: "
                              f"{self.pattern_text}")
            if self.enum is not None and value not in self.enum:
                errors.append(f"Value {_fmt_value(value)} at '{path}' failed to satisfy "
                              f"constraint: Member must satisfy enum value set: {self.enum_text}")
        elif t in _NUMERIC:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return
            if self.min is not None and value < self.min:
                errors.append(f"Value {_fmt_value(value)} at '{path}' failed to satisfy "
                              f"constraint: Member must have value greater than or equal to {self.min}")
            if self.max is not None and value > self.max:
                errors.append(f"Value {_fmt_value(value)} at '{path}' failed to satisfy "
                              f"constraint: Member must have value less than or equal to {self.max}")
        elif t == "structure":
            if not isinstance(value, dict):
                return
            self.check_members(value, path, errors)
        elif t == "list":
            if not isinstance(value, list):
                return
            self._length(value, path, errors)
            for i, item in enumerate(value, 1):
                if item is None:  # lists are not sparse: each member must be there
                    errors.append(f"Value null at '{path}.{i}.member' failed to satisfy "
                                  "constraint: Member must not be null")
                else:
                    self.member.check(item, f"{path}.{i}.member", errors)
        elif t == "map":
            if not isinstance(value, dict):
                return
            self._length(value, path, errors)
            for k, v in value.items():
                self.key.check(k, path, errors)
                if v is not None:
                    self.value.check(v, f"{path}.{k}", errors)

    def _length(self, value: Any, path: str, errors: list) -> None:
        n = len(value)
        if self.min is not None and n < self.min:
            errors.append(f"Value {_fmt_value(value)} at '{path}' failed to satisfy constraint: "
                          f"Member must have length greater than or equal to {self.min}")
        if self.max is not None and n > self.max:
            errors.append(f"Value {_fmt_value(value)} at '{path}' failed to satisfy constraint: "
                          f"Member must have length less than or equal to {self.max}")

    def check_members(self, doc: dict, prefix: str, errors: list) -> None:
        for name in self.required:
            if doc.get(name) is None:
                errors.append(f"Value null at '{prefix}{'.' if prefix else ''}{_camel(name)}' "
                              "failed to satisfy constraint: Member must not be null")
        for wire, value in doc.items():
            entry = self.members.get(wire)
            if entry is None or value is None:
                continue
            name, node = entry
            node.check(value, f"{prefix}{'.' if prefix else ''}{_camel(name)}", errors)


def _node(shape: Any, seen: dict, typed: bool, constraints: bool) -> Node:
    got = seen.get(shape.name)
    return got if got is not None else Node(shape, seen, typed, constraints)


class WrongType(Exception):
    """A JSON value of the wrong type for its member (AWS: SerializationException)."""

    def __init__(self, path: str, expected: str, value: Any):
        super().__init__(path)
        self.path, self.expected, self.value = path, expected, value


# Timestamps as AWS's JSON protocols accept them: epoch seconds (within years 1..9999) or text
_TS_MAX = 253402300799


def _type_ok(t: str, value: Any) -> bool:
    if t == "string":
        return isinstance(value, str)
    if t == "structure" or t == "map":
        return isinstance(value, dict)
    if t == "list":
        return isinstance(value, list)
    if t == "boolean":
        return isinstance(value, bool)
    if t == "integer":
        return isinstance(value, int) and not isinstance(value, bool) and \
            -(2 ** 31) <= value < 2 ** 31
    if t == "long":
        return isinstance(value, int) and not isinstance(value, bool) and \
            -(2 ** 63) <= value < 2 ** 63
    if t in ("float", "double"):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if t == "timestamp":
        if isinstance(value, bool):
            return False
        if isinstance(value, (int, float)):
            return -_TS_MAX <= value <= _TS_MAX
        if isinstance(value, str):
            try:
                return -_TS_MAX <= float(value) <= _TS_MAX
            except ValueError:
                pass
            from botocore.utils import parse_timestamp
            try:
                parse_timestamp(value)
                return True
            except (ValueError, RuntimeError, OverflowError):
                return False
        return False
    if t == "blob":  # base64 text in JSON
        if not isinstance(value, str):
            return False
        import binascii
        from base64 import b64decode
        try:
            b64decode(value, validate=True)
            return True
        except (binascii.Error, ValueError):
            return False
    return True


class Checker:
    """The compiled input checks of one operation."""

    __slots__ = ("root", "scalar_only", "located", "renames", "wires")

    def __init__(self, op_model: Any, scalar_only: bool, constraints: bool = True):
        shape = op_model.input_shape
        self.root = (Node(shape, {}, typed=not scalar_only, constraints=constraints)
                     if shape is not None else None)
        self.scalar_only = scalar_only
        self.located: frozenset = frozenset()
        self.renames: dict = {}
        self.wires: dict = {}  # member -> its names in a query form (EC2: queryName, InstanceId)
        if shape is not None:
            for n, sub in shape.members.items():
                loc = sub.serialization.get("name")
                self.wires[n] = tuple({n, sub.serialization.get("queryName") or n,
                                       (loc[:1].upper() + loc[1:]) if loc else n})
            self.located = frozenset(n for n, sub in shape.members.items()
                                     if sub.serialization.get("location"))
            self.renames = {sub.serialization["name"]: n for n, sub in shape.members.items()
                            if sub.serialization.get("location") == "uri"
                            and sub.serialization.get("name", n) != n}

    def _nested_scalar(self, key: str, value: str, ec2: bool) -> None:
        """A flat query-protocol key (`A.member.1.B`, EC2's `A.1.B`): its leaf's type."""
        node = self.root
        for part in key.split("."):
            if node is None:
                return
            if node.type == "structure":
                entry = node.members.get(part)
                if entry is None and ec2:
                    entry = next((e for w, e in node.members.items()
                                  if w[:1].upper() + w[1:] == part), None)
                node = entry[1] if entry else None
            elif node.type == "list":
                if part == "member" or part.isdigit():
                    if part.isdigit():
                        node = node.member
                    continue
                node = node.member if ec2 else None
            else:
                return
        if node is not None and node.type in (_NUMERIC + ("timestamp",)):
            t = node.type
            try:
                v = float(value) if t in ("float", "double", "timestamp") else int(value)
            except ValueError:
                if t == "timestamp" and _type_ok(t, value):
                    return
                raise WrongType(key, t, value) from None
            if not _type_ok(t, v):
                raise WrongType(key, t, value)

    def errors(self, params: dict, ec2: bool = False) -> list[str]:
        """Every constraint `params` (member name -> value) breaks, in AWS's wording.
        Raises `WrongType` for a JSON body value of the wrong type."""
        root = self.root
        if root is None:
            return []
        if self.renames:
            params = {self.renames.get(k, k): v for k, v in params.items()}
        errors: list[str] = []
        scalar_only = self.scalar_only
        for name in root.required:
            if params.get(name) is None and not (scalar_only and any(
                    params.get(w) is not None or any(k.startswith(w + ".") for k in params)
                    for w in self.wires.get(name, (name,)))):
                errors.append(f"Value null at '{_camel(name)}' failed to satisfy constraint: "
                              "Member must not be null")
        for wire, value in params.items():
            entry = root.members.get(wire)
            if entry is None and scalar_only and "." in wire and isinstance(value, str):
                self._nested_scalar(wire, value, ec2)
                continue
            if entry is None or value is None:
                continue
            name, node = entry
            if not scalar_only and name not in self.located:
                node.check(value, _camel(name), errors)
                continue
            # a query-string, header or URI value, or a flat query-protocol form field: text
            if not isinstance(value, str):
                continue
            t = node.type
            if t in _NUMERIC:
                try:
                    value = float(value) if t in ("float", "double") else int(value)
                except ValueError:
                    raise WrongType(_camel(name), t, value) from None
                if not _type_ok(t, value):
                    raise WrongType(_camel(name), t, value)
            elif t == "boolean":
                if value.lower() not in ("true", "false"):
                    raise WrongType(_camel(name), t, value)
                continue
            elif t == "timestamp":
                if not _type_ok(t, value):
                    raise WrongType(_camel(name), t, value)
                continue
            elif t != "string":
                continue
            node.check(value, _camel(name), errors)
        return errors


def checker(service: str, op_model: Any, scalar_only: bool, constraints: bool = True) -> Checker:
    key = (service, op_model.name)
    got = _CHECKERS.get(key)
    if got is None:
        with _LOCK:
            got = _CHECKERS.get(key)
            if got is None:
                got = _CHECKERS[key] = Checker(op_model, scalar_only, constraints)
    return got


def message(errors: list[str]) -> str:
    n = len(errors)
    return f"{n} validation error{'s' if n > 1 else ''} detected: " + "; ".join(errors)
