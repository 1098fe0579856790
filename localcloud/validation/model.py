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
                 "members", "required", "member", "key", "value")

    def __init__(self, shape: Any, seen: dict):
        seen[shape.name] = self
        meta = shape.metadata
        self.type = shape.type_name
        self.min = meta.get("min")
        self.max = meta.get("max")
        self.pattern = None
        self.pattern_text = meta.get("pattern")
        if self.pattern_text:
            try:
                self.pattern = _re.compile(self.pattern_text)
            except Exception:  # noqa: BLE001 - a pattern neither re nor regex reads: not checked
                self.pattern = None
        self.enum = frozenset(shape.enum) if getattr(shape, "enum", None) else None
        self.enum_text = "[" + ", ".join(shape.enum) + "]" if self.enum else ""
        self.members: dict[str, tuple[str, Node]] = {}
        self.required: tuple[str, ...] = ()
        self.member = self.key = self.value = None
        if self.type == "structure":
            for name, sub in shape.members.items():
                wire = sub.serialization.get("name", name) if not sub.serialization.get(
                    "location") else name
                self.members[wire] = (name, _node(sub, seen))
            self.required = tuple(shape.required_members)
        elif self.type == "list":
            self.member = _node(shape.member, seen)
        elif self.type == "map":
            self.key = _node(shape.key, seen)
            self.value = _node(shape.value, seen)

    def check(self, value: Any, path: str, errors: list) -> None:
        t = self.type
        if t == "string":
            if not isinstance(value, str):
                return  # a type error is the protocol layer's (SerializationException)
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
                if item is not None:
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


def _node(shape: Any, seen: dict) -> Node:
    got = seen.get(shape.name)
    return got if got is not None else Node(shape, seen)


class Checker:
    """The compiled input checks of one operation."""

    __slots__ = ("root", "scalar_only")

    def __init__(self, op_model: Any, scalar_only: bool):
        shape = op_model.input_shape
        self.root = Node(shape, {}) if shape is not None else None
        self.scalar_only = scalar_only

    def errors(self, params: dict) -> list[str]:
        """Every constraint `params` (member name -> value) breaks, in AWS's wording."""
        if self.root is None:
            return []
        errors: list[str] = []
        root = self.root
        if not self.scalar_only:
            root.check_members(params, "", errors)
            return errors
        # query protocol: the form is flat (`Tags.member.1.Key`); top-level scalars are
        # checked, a required list/structure is present when any key starts with its name.
        for name in root.required:
            if params.get(name) is None and not any(k.startswith(name + ".") for k in params):
                errors.append(f"Value null at '{_camel(name)}' failed to satisfy constraint: "
                              "Member must not be null")
        for wire, value in params.items():
            entry = root.members.get(wire)
            if entry is None or not isinstance(value, str):
                continue
            name, node = entry
            if node.type in _NUMERIC:
                try:
                    value = float(value) if node.type in ("float", "double") else int(value)
                except ValueError:
                    continue
            elif node.type != "string":
                continue
            node.check(value, _camel(name), errors)
        return errors


def checker(service: str, op_model: Any, scalar_only: bool) -> Checker:
    key = (service, op_model.name)
    got = _CHECKERS.get(key)
    if got is None:
        with _LOCK:
            got = _CHECKERS.get(key)
            if got is None:
                got = _CHECKERS[key] = Checker(op_model, scalar_only)
    return got


def message(errors: list[str]) -> str:
    n = len(errors)
    return f"{n} validation error{'s' if n > 1 else ''} detected: " + "; ".join(errors)
