"""Containment of function and instance-host processes, as far as the OS allows without root.

Each Lambda execution environment and each instance-host command runs inside walls built by
`core/_contain.py` (read its doc for the details) from Linux namespaces that need no root
where the kernel allows unprivileged user namespaces:

- a **user namespace** with no capabilities left (as `nobody` when the operator is root);
- a **pid namespace**: the environment's first process is its init; a timeout or a shutdown
  kills it and the kernel kills every process in the namespace (a `setsid` child included);
- a **mount namespace** with a root file system of its own: the system's /usr, /bin, /lib,
  /etc read-only; the code, the layers, the runtime's SDK (`awslambda/runtime_sdk.py`) and
  the Python installation read-only at their own paths; a private `/tmp` tmpfs of
  `EphemeralStorage` MB; nothing of the operator's home, the repository, its venv or the
  local cloud's state directory;
- **RLIMIT_NPROC** 1,024 processes per environment (AWS's limit), and **memory**: the
  environment's supervisor sums its processes' proportional set size every 20 ms and kills
  the whole environment above `MemorySize` (an invoke then answers `Runtime.OutOfMemory`).

What this does not isolate: the network (a function can connect to any port the user can,
the cloud's included, as on AWS) and CPU time. Where `unshare(2)` of a user namespace is
refused (macOS, kernels with unprivileged user namespaces switched off, some containers),
`available()` is False and processes run with only the environment rules (their own
variables, no operator credentials) and the runtime's own SDK on their path; `localcloud
status` says which. LocalCloud option `isolation` (`"auto"` default, `"off"`), or
`$LOCALCLOUD_ISOLATION=off`.
"""
from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

CONTAIN_SCRIPT = Path(__file__).with_name("_contain.py")
NOBODY = 65534  # the uid a contained host runs as outside when the operator is root
NPROC = 1024  # AWS Lambda: processes/threads per execution environment
HOST_NPROC = 4096  # an instance-host command: a local bound (EC2's is the kernel's threads-max)
DEFAULT_TMP_MB = 512


def _disabled() -> bool:
    return os.environ.get("LOCALCLOUD_ISOLATION", "").lower() in ("off", "0", "no", "false")


def interpreter() -> str:
    """The Python installation itself (never the operator's venv, whose site-packages a
    contained process must not see)."""
    return getattr(sys, "_base_executable", None) or sys.executable


@functools.lru_cache(maxsize=1)
def python_paths() -> tuple[str, ...]:
    """What the interpreter needs visible: its installation (the standard library)."""
    exe = Path(interpreter()).resolve()
    return tuple(sorted({sys.base_prefix, str(exe.parent.parent)}))


@functools.lru_cache(maxsize=1)
def site_dirs() -> tuple[str, ...]:
    """Directories of third-party packages inside the Python installation or the system
    (covered by an empty directory in an environment: its runtime is the standard library
    plus the runtime's own SDK)."""
    ver = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    out = set()
    for prefix in {sys.base_prefix, "/usr", "/usr/local"}:
        for sub in (f"lib/{ver}/site-packages", f"lib/{ver}/dist-packages",
                    "lib/python3/dist-packages", f"local/lib/{ver}/dist-packages"):
            p = os.path.join(prefix, sub)
            if os.path.isdir(p):
                out.add(os.path.realpath(p))
    return tuple(sorted(out))


def plan(ro: list, *, rw: list = (), tmp_mb: int = DEFAULT_TMP_MB, memory_mb: int | None = None,
         cwd: str | None = None, user: str = "nobody", nproc: int = NPROC) -> dict:
    return {"contain": str(CONTAIN_SCRIPT), "user": user,
            "ro": [str(Path(p).resolve()) for p in [*ro, *python_paths()]],
            "rw": [str(Path(p).resolve()) for p in rw], "mask": list(site_dirs()),
            "tmp_mb": int(tmp_mb), "memory_mb": memory_mb, "nproc": int(nproc),
            "cwd": str(cwd) if cwd else "/"}


def lambda_plan(spec) -> dict:
    """The walls of a Lambda execution environment (awslambda.worker_pool.FunctionSpec)."""
    return plan(list(spec.ro_paths), tmp_mb=spec.ephemeral_mb, memory_mb=spec.memory_size,
                cwd=str(spec.code_dir))


def wrap(argv: list[str], ro: list, rw: list = (), cwd: str | None = None,
         memory_mb: int | None = None, tmp_mb: int = DEFAULT_TMP_MB,
         user: str = "nobody", nproc: int = NPROC) -> list[str]:
    """argv run inside an environment of its own (module doc)."""
    doc = plan(ro, rw=rw, memory_mb=memory_mb, cwd=cwd, tmp_mb=tmp_mb, user=user, nproc=nproc)
    return [interpreter(), "-I", "-S", str(CONTAIN_SCRIPT), json.dumps(doc), "--", *argv]


@functools.lru_cache(maxsize=1)
def _probe() -> tuple[bool, str]:
    try:
        proc = subprocess.run(wrap(["/bin/sh", "-c", "echo ok"], []), capture_output=True,
                              text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        return False, str(exc)
    if proc.returncode == 0 and proc.stdout.strip() == "ok":
        return True, ""
    return False, (proc.stderr.strip().splitlines() or [f"status {proc.returncode}"])[-1]


def available(option: str | None = "auto") -> bool:
    """Can processes be contained here (and is it wanted)?"""
    if option == "off" or _disabled() or not sys.platform.startswith("linux"):
        return False
    return _probe()[0]


def describe(option: str | None = "auto") -> dict:
    """What holds, for `localcloud status`."""
    on = available(option)
    doc = {"contained": on}
    if on:
        doc.update({
            "user": ("functions as nobody (uid 65534), instance hosts as root of their own "
                     "user namespace (nobody outside); no capabilities"
                     if os.getuid() == 0 else
                     f"uid {os.getuid()} (yours) in a user namespace, no capabilities"),
            "processes": f"own pid namespace; at most {NPROC} per function environment, "
                         f"{HOST_NPROC} per instance-host command",
            "memory": "functions: MemorySize; instance hosts: the instance type's memory "
                      "(proportional set size polled every 20 ms)",
            "files": "own root: system dirs, code, layers, runtime SDK read-only; "
                     "instance hosts: their own runtime read-only, their host dir; "
                     "private /tmp of EphemeralStorage MB",
        })
    elif option == "off" or _disabled():
        doc["why"] = "switched off (isolation=off / LOCALCLOUD_ISOLATION=off)"
    elif not sys.platform.startswith("linux"):
        doc["why"] = f"{sys.platform} has no Linux namespaces"
    else:
        doc["why"] = _probe()[1]
    return doc
