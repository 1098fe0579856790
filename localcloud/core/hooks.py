"""The one way localcloud hooks moto: an attribute patch that is installed with the cloud and
restored when it stops (or resets).

    cloud.hook(LambdaBackend, "publish_layer_version",
               lambda original: lambda self, spec: prepare(original(self, spec)))

`make(original)` builds the replacement from what the attribute held (functions on a class are
passed as plain functions: call `original(self, ...)`). A hook point that moto no longer has
fails at once with `HookPointMissing` naming it, so a moto upgrade that moves one fails loudly.
`original(owner, name)` is moto's own attribute while a hook is installed (for guards and
fallbacks). Hooks on one attribute stack; they are removed last-in first-out.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable

log = logging.getLogger("localcloud")

_MISSING = object()
_lock = threading.Lock()
# (id(owner), name) -> the installed hooks on that attribute, oldest first
_installed: dict[tuple[int, str], list["Hook"]] = {}


class HookPointMissing(RuntimeError):
    """moto no longer has the attribute a hook was written for."""


def _label(owner: Any, name: str) -> str:
    mod = getattr(owner, "__module__", None)
    qual = getattr(owner, "__qualname__", None) or getattr(owner, "__name__", repr(owner))
    return f"{mod}.{qual}.{name}" if mod and isinstance(owner, type) else f"{qual}.{name}"


class Hook:
    """One installed patch of `owner.name`; `remove()` puts back what was there."""

    def __init__(self, owner: Any, name: str, replacement: Any, original: Any, raw: Any):
        self.owner = owner
        self.name = name
        self.replacement = replacement
        self.original = original  # as getattr saw it before (what make() received)
        self._raw = raw           # owner's own __dict__ entry before, or _MISSING if inherited
        self.removed = False

    @property
    def label(self) -> str:
        return _label(self.owner, self.name)

    def remove(self) -> None:
        with _lock:
            if self.removed:
                return
            stack = _installed.get((id(self.owner), self.name), [])
            if stack and stack[-1] is not self:
                raise RuntimeError(f"hook {self.label}: a later hook on it is still installed; "
                                   "remove that first")
            if vars(self.owner).get(self.name, _MISSING) is not self.replacement:
                log.warning("hook %s was replaced by someone else; restoring moto's anyway",
                            self.label)
            if self._raw is _MISSING:
                try:
                    delattr(self.owner, self.name)
                except AttributeError:
                    pass
            else:
                setattr(self.owner, self.name, self._raw)
            if stack:
                stack.pop()
                if not stack:
                    _installed.pop((id(self.owner), self.name), None)
            self.removed = True


def install_hook(owner: Any, name: str, make: Callable[[Any], Any]) -> Hook:
    """Replace `owner.name` (a class or module attribute) by `make(original)`."""
    with _lock:
        try:
            original = getattr(owner, name)
        except AttributeError:
            raise HookPointMissing(
                f"moto hook point {_label(owner, name)} does not exist (moto version not "
                "supported; see the pin in pyproject.toml)") from None
        raw = vars(owner).get(name, _MISSING)
        replacement = make(original)
        setattr(owner, name, replacement)
        hook = Hook(owner, name, replacement, original, raw)
        _installed.setdefault((id(owner), name), []).append(hook)
        return hook


def original(owner: Any, name: str) -> Any:
    """moto's own `owner.name`: the attribute before the first installed hook, else as is."""
    stack = _installed.get((id(owner), name))
    if stack:
        return stack[0].original
    return getattr(owner, name)


def is_hooked(owner: Any, name: str) -> bool:
    return bool(_installed.get((id(owner), name)))


class Hooks:
    """A set of hooks removed together (last-in first-out): what `LocalCloud.hook` keeps."""

    def __init__(self) -> None:
        self._hooks: list[Hook] = []

    def install(self, owner: Any, name: str, make: Callable[[Any], Any]) -> Hook:
        hook = install_hook(owner, name, make)
        self._hooks.append(hook)
        return hook

    def remove_all(self) -> None:
        while self._hooks:
            hook = self._hooks.pop()
            try:
                hook.remove()
            except Exception:  # noqa: BLE001 - removing the others must go on
                log.exception("removing hook %s failed", hook.label)

    def __len__(self) -> int:
        return len(self._hooks)
