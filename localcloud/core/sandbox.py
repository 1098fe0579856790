"""Isolation of function and instance-host processes, where the OS allows it without root.

Lambda workers and instance hosts run as the operator's user. With Linux user namespaces
(`unshare` from util-linux, no root needed where the kernel allows unprivileged user
namespaces) each process gets its own mount namespace in which:

- `/tmp` and `/dev/shm` are private, empty tmpfs (nothing of the host's /tmp is visible);
- the operator's home directory is an empty tmpfs: `~/.aws`, `~/.ssh`, shell history,
  other projects are not visible; only the directories the process needs are mounted back
  at their own paths (its code and layers, its own temp dir or host dir, the Python
  installation that runs it);
- it runs as uid 0 *inside* the namespace, mapped to the operator's uid outside: it can do
  nothing the operator's user could not (no real root).

What this does not isolate: the network (a function can connect to any port the user can,
the cloud's included, as on AWS), other processes (same pid namespace: /proc/<pid> of the
user's processes stays readable, which is why the cloud's own process holds no operator
credentials), and files outside the home directory and /tmp that the user can read.

Lambda workers enter the namespace themselves at start (`plan()` -> `_worker._enter_sandbox`,
unshare(2)/mount(2) through ctypes: ~10 ms on a cold start); instance hosts' bash commands
are wrapped with `wrap()` (unshare(1) and a small shell script).

Where `unshare` is missing or the kernel refuses user namespaces, processes run without it
(`available()` is False; the README says what then holds). LocalCloud option `isolation`
(`"auto"` default, `"off"`), or `$LOCALCLOUD_ISOLATION=off`.
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

# Runs as root inside the new user+mount namespace: $1 = home, $2 = number of keep paths,
# then the keep paths, then the command.
_SCRIPT = r"""
set -e
home=$1; n=$2; shift 2
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
i=0; keep=""
while [ "$i" -lt "$n" ]; do
  mkdir -p "/dev/shm/k$i"; mount --rbind "$1" "/dev/shm/k$i"
  keep="$keep$1
"; i=$((i+1)); shift
done
mount -t tmpfs -o mode=1777 tmpfs /tmp
if [ -n "$home" ] && [ "$home" != / ] && [ -d "$home" ]; then mount -t tmpfs -o mode=755 tmpfs "$home"; fi
i=0
printf '%s' "$keep" | while IFS= read -r k; do
  mkdir -p "$k"; mount --move "/dev/shm/k$i" "$k"; rmdir "/dev/shm/k$i" 2>/dev/null || true
  i=$((i+1))
done
exec "$@"
"""


def _disabled() -> bool:
    return os.environ.get("LOCALCLOUD_ISOLATION", "").lower() in ("off", "0", "no", "false")


@functools.lru_cache(maxsize=1)
def _probe() -> bool:
    exe = shutil.which("unshare")
    if exe is None:
        return False
    try:
        proc = subprocess.run([exe, "--user", "--map-root-user", "--mount", "--propagation",
                               "private", "/bin/sh", "-c",
                               "mount -t tmpfs tmpfs /tmp && echo ok"],
                              capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return proc.returncode == 0 and proc.stdout.strip() == "ok"


def available(option: str | None = "auto") -> bool:
    """Can processes be isolated here (and is it wanted)?"""
    if option == "off" or _disabled() or not sys.platform.startswith("linux"):
        return False
    return _probe()


def _covered(path: Path, roots: list[Path]) -> bool:
    return any(path == r or r in path.parents for r in roots)


def keep_paths(paths: list[str | os.PathLike]) -> list[str]:
    """The paths (resolved, existing, de-duplicated, outermost first) under /tmp or home that
    must stay visible; others are visible anyway."""
    home = Path.home().resolve()
    roots = [Path("/tmp"), home]
    out: list[Path] = []
    for p in paths:
        rp = Path(p).resolve()
        if rp.exists() and _covered(rp, roots) and rp not in roots:
            out.append(rp)
    out.sort(key=lambda p: len(p.parts))
    kept: list[Path] = []
    for p in out:
        if not any(k == p or k in p.parents for k in kept):
            kept.append(p)
    return [str(p) for p in kept]


def python_paths() -> list[str]:
    """What the Python that runs functions and hosts needs visible."""
    exe = Path(sys.executable)
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, str(exe.parent),
             str(exe.resolve().parent.parent)}
    return sorted(paths)


def plan(keep: list[str | os.PathLike]) -> dict:
    """What a Lambda worker needs to isolate itself in-process (`_worker._enter_sandbox`,
    no shell or mount(8) to start: about 1 ms instead of ~100)."""
    return {"home": str(Path.home().resolve()), "keep": keep_paths(list(keep) + python_paths())}


def wrap(argv: list[str], keep: list[str | os.PathLike]) -> list[str]:
    """argv run inside a private mount namespace (see module doc)."""
    kept = keep_paths(list(keep) + python_paths())
    home = str(Path.home().resolve())
    return [shutil.which("unshare") or "unshare", "--user", "--map-root-user", "--mount",
            "--propagation", "private", "/bin/sh", "-c", _SCRIPT, "localcloud-sandbox",
            home, str(len(kept)), *kept, *argv]
