"""What AWS says about each action: its resource types and their ARN formats.

Read from parliament's `iam_definition.json` (generated from AWS's "Actions, resources, and
condition keys" service authorization reference; a runtime dependency for this reason), not
from a hand-typed table. Loaded once, on first use, indexed per service prefix.

`resource_arns(prefix, action, params, account, region)` fills each resource type's ARN
format (`arn:${Partition}:ec2:${Region}:${Account}:instance/${InstanceId}`) from the request's
parameters. Required types (`instance*`) are always evaluated (a placeholder the request does
not name becomes `*`); optional types only when the request names their identifiers.
"""
from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

_LOCK = threading.Lock()
_INDEX: dict[str, "ServiceInfo"] | None = None
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9]+)\}")


@dataclass
class ServiceInfo:
    prefix: str
    actions: dict[str, tuple[str, list[tuple[str, bool]]]]  # lower name -> (Name, [(type, required)])
    arn_formats: dict[str, str]                             # resource type -> ARN format


def dataset_path() -> Path:
    import parliament

    return Path(parliament.__file__).parent / "iam_definition.json"


def _cache_file(src: Path) -> Path:
    import os

    st = src.stat()
    root = Path(os.environ.get("LOCALCLOUD_HOME") or Path.home() / ".cache" / "localcloud")
    return root / f"iam-dataset-{st.st_size}-{int(st.st_mtime)}.json"


def _build(src: Path) -> dict:
    """prefix -> [{action lower: [Name, [[type, required], ...]]}, {type: ARN format}]."""
    compact: dict = {}
    for svc in json.loads(src.read_text()):
        actions, formats = compact.setdefault(svc["prefix"], [{}, {}])
        for res in svc.get("resources", []):
            formats.setdefault(res["resource"], res["arn"])
        for priv in svc.get("privileges", []):
            types = [[rt["resource_type"].rstrip("*"), rt["resource_type"].endswith("*")]
                     for rt in priv.get("resource_types", []) if rt.get("resource_type")]
            actions.setdefault(priv["privilege"].lower(), [priv["privilege"], types])
    return compact


def _compact() -> dict:
    """The dataset reduced to what the engine reads, cached on disk (the full file is 10 MB
    of JSON: seconds to parse on a busy laptop; the reduced one a tenth of a second)."""
    src = dataset_path()
    cache = _cache_file(src)
    try:
        return json.loads(cache.read_text())
    except (OSError, ValueError):
        pass
    compact = _build(src)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(compact, separators=(",", ":")))
        tmp.replace(cache)
    except OSError:
        pass
    return compact


def _load() -> dict[str, ServiceInfo]:
    global _INDEX
    if _INDEX is not None:
        return _INDEX
    with _LOCK:
        if _INDEX is not None:
            return _INDEX
        index = {}
        for prefix, (actions, formats) in _compact().items():
            index[prefix] = ServiceInfo(
                prefix, {k: (v[0], [(t, bool(r)) for t, r in v[1]]) for k, v in actions.items()},
                formats)
        _INDEX = index
        return index


def service(prefix: str) -> ServiceInfo | None:
    return _load().get(prefix)


def action_name(prefix: str, name: str) -> str | None:
    """The action's canonical spelling (`s3:GetObject`), or None if AWS lists no such action."""
    info = service(prefix)
    if info is None:
        return None
    hit = info.actions.get(name.lower())
    return f"{prefix}:{hit[0]}" if hit else None


def _norm(s: str) -> str:
    return s.lower().replace("_", "").replace("-", "")


@lru_cache(maxsize=1024)
def _candidates(placeholder: str) -> tuple[str, ...]:
    """Request parameter names (normalised) that may carry a placeholder's value."""
    p = _norm(placeholder)
    out = [p, p + "s"]
    for suffix in ("name", "id", "arn"):
        if p.endswith(suffix) and len(p) > len(suffix):
            out += [p[: -len(suffix)], p[: -len(suffix)] + "s"]
    if p.endswith("namewithpath"):
        out.append(p[: -len("withpath")])
    return tuple(out)


def _values(params: dict, placeholder: str, aliases: dict) -> list[str] | None:
    names = list(aliases.get(placeholder, ())) + list(_candidates(placeholder))
    normed = {_norm(k): v for k, v in params.items()}
    for n in names:
        v = normed.get(_norm(n))
        if v is None or v == "" or v == []:
            continue
        vals = v if isinstance(v, list) else [v]
        return [str(x) for x in vals if isinstance(x, (str, int))]
    return None


def resource_arns(prefix: str, action: str, params: dict, account: str, region: str,
                  partition: str = "aws", aliases: dict | None = None,
                  normalise: Any = None) -> list[str]:
    """The ARNs a request touches for `prefix:action`, from the dataset's ARN formats.

    `aliases` maps a placeholder to extra parameter names (`ObjectName` -> `Key`); `normalise`
    (placeholder, value) -> value fixes a value the request spells differently (a function
    ARN given as FunctionName). A value that already is a full ARN of the type is used as is.
    """
    info = service(prefix)
    if info is None:
        return ["*"]
    hit = info.actions.get(action.lower())
    if hit is None:
        return ["*"]
    aliases = aliases or {}
    arns: list[str] = []
    for rtype, required in hit[1]:
        fmt = info.arn_formats.get(rtype)
        if not fmt:
            continue
        holders = [h for h in _PLACEHOLDER.findall(fmt) if h not in ("Partition", "Region", "Account")]
        filled: list[list[str]] = []
        named = False
        for h in holders:
            vals = _values(params, h, aliases)
            if vals:
                named = True
                if normalise is not None:
                    vals = [normalise(h, v) for v in vals]
                filled.append(vals)
            else:
                filled.append(["*"])
        if not named and not required:
            continue
        if not holders and not required:
            continue
        # A value that is itself a whole ARN (e.g. an SSM document ARN) replaces the format.
        if len(holders) == 1 and filled[0] and all(v.startswith("arn:") for v in filled[0]):
            arns.extend(filled[0])
            continue
        combos: list[dict] = [{}]
        for h, vals in zip(holders, filled):
            combos = [dict(c, **{h: v}) for c in combos for v in vals]
        for c in combos:
            arn = fmt.replace("${Partition}", partition).replace("${Region}", region) \
                     .replace("${Account}", account)
            for h, v in c.items():
                arn = arn.replace("${" + h + "}", v)
            arns.append(arn)
    out = list(dict.fromkeys(arns))
    return out or ["*"]
