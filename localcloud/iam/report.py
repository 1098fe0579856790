"""The record of every denial (enforce) and would-be denial (audit), and what would fix it.

Entries live in memory and in `<state_dir>/iam-report.jsonl` (kept across a reset: it is an
audit trail of the cloud's life, cleared only on request). `proposals(entries)` turns the
implicit denials into the statements each role lacked (exact actions, exact resources),
and the resource-policy denials into the `lambda add-permission` each function lacked.
"""
from __future__ import annotations

import json
import threading
from datetime import datetime, timezone
from pathlib import Path

MAX_ENTRIES = 10_000


class DenialLog:
    def __init__(self, path: Path | None = None):
        self._lock = threading.Lock()
        self._entries: list[dict] = []
        self.path = path

    def record(self, *, mode: str, principal: str, action: str, resource: str, reason: str,
               message: str, role_arn: str | None = None, service_principal: str | None = None,
               source_arn: str | None = None, operation: str | None = None,
               sid: str | None = None) -> dict:
        entry = {
            "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "mode": mode,
            "outcome": "denied" if mode == "enforce" else "allowed (audit)",
            "principal": principal,
            "action": action,
            "resource": resource,
            "reason": reason,
            "message": message,
        }
        for k, v in (("role_arn", role_arn), ("service_principal", service_principal),
                     ("source_arn", source_arn), ("operation", operation), ("sid", sid)):
            if v:
                entry[k] = v
        with self._lock:
            self._entries.append(entry)
            del self._entries[:-MAX_ENTRIES]
            if self.path is not None:
                try:
                    with open(self.path, "a") as f:
                        f.write(json.dumps(entry) + "\n")
                except OSError:
                    pass
        return entry

    def entries(self) -> list[dict]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> int:
        with self._lock:
            n = len(self._entries)
            self._entries.clear()
            if self.path is not None:
                try:
                    self.path.unlink()
                except OSError:
                    pass
        return n


def proposals(entries: list[dict]) -> list[dict]:
    """What each principal lacked: per role, one Allow statement per action with the exact
    resources denied; per function, the permission a service needed. Explicit denies are
    listed as such (an Allow cannot override them: the Deny must change)."""
    roles: dict[str, dict[str, list[str]]] = {}
    explicit: list[dict] = []
    permissions: dict[tuple, dict] = {}
    for e in entries:
        if e.get("service_principal"):
            fn = e["resource"]
            key = (fn, e["service_principal"], e.get("source_arn"))
            name = fn.split(":function:")[-1].split(":")[0]
            cmd = (f"aws lambda add-permission --function-name {name} --statement-id "
                   f"{e['service_principal'].split('.')[0]}-invoke --action lambda:InvokeFunction "
                   f"--principal {e['service_principal']}")
            if e.get("source_arn"):
                cmd += f" --source-arn {e['source_arn']}"
            permissions[key] = {"function": fn, "principal": e["service_principal"],
                                "source_arn": e.get("source_arn"), "command": cmd}
            continue
        if e.get("reason") == "explicit-deny":
            explicit.append({"principal": e["principal"], "action": e["action"],
                             "resource": e["resource"], "sid": e.get("sid")})
            continue
        role = e.get("role_arn") or e["principal"]
        res = roles.setdefault(role, {}).setdefault(e["action"], [])
        if e["resource"] not in res:
            res.append(e["resource"])
    out = []
    for role, actions in roles.items():
        statements = [{"Effect": "Allow", "Action": action,
                       "Resource": res[0] if len(res) == 1 else sorted(res)}
                      for action, res in sorted(actions.items())]
        out.append({"kind": "identity-policy", "role": role,
                    "policy": {"Version": "2012-10-17", "Statement": statements}})
    for d in explicit:
        out.append({"kind": "explicit-deny", **d})
    for p in permissions.values():
        out.append({"kind": "lambda-permission", **p})
    return out


def render(entries: list[dict], mode: str) -> str:
    """The report for people: one line per denial, then the proposals."""
    if not entries:
        return f"IAM mode: {mode}. No denials recorded."
    lines = [f"IAM mode: {mode}. {len(entries)} denial(s) recorded "
             f"({sum(1 for e in entries if e['mode'] == 'audit')} would-be, in audit mode):", ""]
    lines.append(f"{'time':24}  {'mode':7}  {'principal':48}  {'action':28}  resource")
    for e in entries:
        lines.append(f"{e['time']:24}  {e['mode']:7}  {e['principal']:48}  {e['action']:28}  "
                     f"{e['resource']}")
    lines += ["", "Proposed fixes (exact actions and resources that were denied):"]
    for p in proposals(entries):
        if p["kind"] == "identity-policy":
            lines.append(f"- role {p['role']} lacks:")
            lines += ["    " + ln for ln in json.dumps(p["policy"], indent=2).splitlines()]
        elif p["kind"] == "explicit-deny":
            lines.append(f"- {p['principal']}: {p['action']} on {p['resource']} is denied by an "
                         f"explicit Deny{' (Sid ' + p['sid'] + ')' if p.get('sid') else ''}; "
                         "an Allow cannot override it, change the Deny")
        else:
            lines.append(f"- function {p['function']} lets no {p['principal']} invoke it: "
                         f"{p['command']}")
    return "\n".join(lines)
