"""An execution environment's walls, entered in-process (standard library only: it runs inside
`python -I -S` before anything else is importable). Used by Lambda workers
(`awslambda/_worker.py`) and instance hosts (`python -I -S _contain.py PLAN -- argv...`).

`enter(plan)` forks the calling process into two:

- the **supervisor** (the process the local cloud started, outside the new pid namespace)
  never returns: it polls the environment's memory (proportional set size of every process
  in it) and kills the whole environment when it is over `memory_mb`, exiting
  `MEMORY_EXIT`; otherwise it exits with the environment's status. Killing the supervisor
  kills the environment (PR_SET_PDEATHSIG on its first process, the pid namespace's init:
  when init dies, the kernel kills every process in the namespace; `setsid` changes
  nothing).
- the **environment** returns from `enter`, in a new user namespace: a Lambda environment as
  uid 65534 (`nobody`, inside and out) when the operator is root; an instance host
  (`user: "root"`) as uid 0 inside = 65534 outside when the operator is root (root of its
  own namespace only, held to RLIMIT_NPROC); otherwise as uid 0 inside = the operator's own
  uid outside (the only uid an unprivileged user may map); pid 1 of a
  new pid namespace, with no capabilities at all (bounding set emptied, `no_new_privs`,
  SECBIT_NOROOT: even exec of a setuid or root-owned program gains nothing), at most
  `nproc` processes (RLIMIT_NPROC, counted per user namespace), and a root file system of
  its own (pivot_root) holding only:
    /usr /bin /sbin /lib* /etc    the system's, read-only
    plan["ro"]                    read-only, at their own paths (code, layers, the runtime's
                                  SDK, the Python installation)
    plan["rw"]                    writable, at their own paths (an instance's host dir)
    plan["mask"]                  covered by an empty read-only directory (e.g. the
                                  system Python's site-packages)
    /tmp                          a private tmpfs of plan["tmp_mb"] MB (ENOSPC beyond)
    /dev                          null zero full random urandom tty, a small /dev/shm
    /proc                         this pid namespace's, /proc/sys and friends read-only
  Nothing else exists: not the operator's home, the repository, its venv, the local cloud's
  state directory, /var, /run, /work...
"""
import ctypes
import os
import resource
import signal
import sys
import time

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID = 0x00020000, 0x10000000, 0x20000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_NOATIME, MS_NODIRATIME, MS_BIND = 32, 1024, 2048, 4096
MS_REC, MS_PRIVATE, MS_RELATIME = 0x4000, 1 << 18, 1 << 21
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP = 1, 4, 24
PR_SET_SECUREBITS, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 28, 38, 47, 4
# SECBIT_NOROOT | its lock | SECBIT_NO_CAP_AMBIENT_RAISE | its lock
SECUREBITS = 0x01 | 0x02 | 0x40 | 0x80
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "arm64": 41}
NOBODY = 65534
MEMORY_EXIT = 200  # the supervisor's status when it killed the environment for its memory
STAGE = "/dev/shm"  # where the new root is assembled (in the environment's own mount ns)
SYSTEM_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc")
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")

_libc = None


def _lib():
    global _libc
    if _libc is None:
        c = ctypes
        _libc = c.CDLL(None, use_errno=True)
        _libc.mount.argtypes = [c.c_char_p, c.c_char_p, c.c_char_p, c.c_ulong, c.c_char_p]
        _libc.umount2.argtypes = [c.c_char_p, c.c_int]
        _libc.prctl.argtypes = [c.c_int, c.c_ulong, c.c_ulong, c.c_ulong, c.c_ulong]
        _libc.unshare.argtypes = [c.c_int]
    return _libc


def _check(rc, what):
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(src, dst, fstype, flags, data=None):
    _check(_lib().mount(src and src.encode(), dst.encode(), fstype and fstype.encode(), flags,
                        data and data.encode()), f"mount {dst}")


def _prctl(option, arg=0):
    _check(_lib().prctl(option, arg, 0, 0, 0), f"prctl {option}")


def _kept_flags(path):
    """The flags a read-only remount must keep (a mount from a more privileged namespace has
    them locked: dropping one is refused)."""
    st = os.statvfs(path)
    flags = 0
    for st_bit, ms_bit in ((os.ST_NOSUID, MS_NOSUID), (os.ST_NODEV, MS_NODEV),
                           (os.ST_NOEXEC, MS_NOEXEC), (os.ST_NOATIME, MS_NOATIME),
                           (os.ST_NODIRATIME, MS_NODIRATIME), (os.ST_RELATIME, MS_RELATIME)):
        if st.f_flag & st_bit:
            flags |= ms_bit
    return flags


def _remount_ro(path):
    _mount(None, path, None, MS_BIND | MS_REMOUNT | MS_RDONLY | _kept_flags(path))


def _bind(src, dst, ro=True):
    if os.path.isdir(src):
        os.makedirs(dst, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        open(dst, "ab").close()
    _mount(src, dst, None, MS_BIND | MS_REC)
    if ro:
        _remount_ro(dst)


def _unescape(s):
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\" and i + 3 < len(s) and s[i + 1:i + 4].isdigit():
            out.append(chr(int(s[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def _under(path, roots):
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def _build_root(plan):
    root = STAGE
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=4m")
    # /tmp first: code kept under /tmp (a LOCALCLOUD_HOME there) is bound on top of it
    os.makedirs(root + "/tmp", exist_ok=True)
    _mount("tmpfs", root + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV,
           f"mode=1777,size={int(plan.get('tmp_mb', 512))}m")
    bound = []
    for top in SYSTEM_DIRS:
        src = "/" + top
        if os.path.islink(src):
            os.symlink(os.readlink(src), root + src)
        elif os.path.isdir(src):
            _bind(src, root + src)
            bound.append(src)
    for p in plan.get("ro", []):
        if os.path.exists(p) and not _under(p, bound):
            _bind(p, root + p)
            bound.append(p)
    rw = [p for p in plan.get("rw", []) if os.path.exists(p)]
    for p in rw:
        _bind(p, root + p, ro=False)
    for p in plan.get("mask", []):
        if os.path.isdir(root + p):
            _mount("tmpfs", root + p, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k")
    os.makedirs(root + "/dev", exist_ok=True)
    _mount("tmpfs", root + "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=64k")
    for name in DEVICES:
        if os.path.exists("/dev/" + name):
            _bind("/dev/" + name, root + "/dev/" + name, ro=False)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{root}/dev/{name}")
    os.mkdir(root + "/dev/shm")
    _mount("tmpfs", root + "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=64m")
    os.makedirs(root + "/proc", exist_ok=True)
    _mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for sub in ("sys", "sysrq-trigger", "bus", "fs", "irq"):
        p = f"{root}/proc/{sub}"
        if os.path.exists(p):
            _mount(p, p, None, MS_BIND)
            _remount_ro(p)
    # every mount that came in under a read-only bind (e.g. a file bind-mounted into /etc)
    # is made read-only too: a recursive bind keeps submounts as they were
    writable = [root + "/dev", root + "/proc"] + [root + p for p in rw]
    with open("/proc/self/mountinfo", "rb") as f:
        points = [_unescape(line.split()[4].decode()) for line in f]
    for mp in points:
        if mp.startswith(root + "/") and mp != root + "/tmp" and not _under(mp, writable):
            try:
                _remount_ro(mp)
            except OSError:
                pass  # already read-only, or gone
    os.chdir(root)
    number = SYS_PIVOT_ROOT.get(os.uname().machine)
    if number is not None and _lib().syscall(number, b".", b".") == 0:
        _check(_lib().umount2(b".", MNT_DETACH), "umount old root")
    else:  # no pivot_root here: chroot (no capability is left to leave it)
        os.chroot(".")
    os.chdir("/")
    try:
        os.chdir(plan.get("cwd") or "/")
    except OSError:
        pass


def _drop_privileges(as_nobody):
    with open("/proc/sys/kernel/cap_last_cap", "rb") as f:
        last = int(f.read())
    _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    for cap in range(last + 1):
        _prctl(PR_CAPBSET_DROP, cap)
    _prctl(PR_SET_SECUREBITS, SECUREBITS)
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    if as_nobody:  # the operator is root: the environment runs as nobody, in and out
        os.setgroups([])
        os.setresgid(NOBODY, NOBODY, NOBODY)
        os.setresuid(NOBODY, NOBODY, NOBODY)
        _prctl(PR_SET_DUMPABLE, 1)  # the supervisor may still read its memory figures

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    _check(_lib().capset(ctypes.byref(Header(0x20080522, 0)), (Data * 2)()), "capset")


def _tree(pid):
    out, stack = [], [pid]
    while stack:
        p = stack.pop()
        out.append(p)
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children", "rb") as f:
                    stack.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            pass
    return out


def _rss_bytes(pids, page):
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/statm", "rb") as f:
                total += int(f.read().split()[1]) * page
        except (OSError, ValueError, IndexError):
            pass
    return total


def memory_bytes(pid, limit=None):
    """The memory of a process tree: the sum of its processes' proportional set sizes (pages
    shared after fork counted once, not once per process). With `limit`, the cheap resident
    sizes are summed first (Pss <= Rss) and the proportional ones only when they exceed it."""
    pids = _tree(pid)
    page = os.sysconf("SC_PAGE_SIZE")
    if limit is not None:
        rss = _rss_bytes(pids, page)
        if rss <= limit:
            return rss
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/smaps_rollup", "rb") as f:
                data = f.read()
            i = data.index(b"\nPss:")
            total += int(data[i + 5:data.index(b"kB", i)]) * 1024
        except (OSError, ValueError):
            total += _rss_bytes([p], page)
    return total


def _supervise(child, plan):
    for fd in (0, 1):  # the environment holds the pipes: its death is their EOF
        try:
            os.close(fd)
        except OSError:
            pass

    def stop(signum, frame):
        try:
            os.kill(child, signal.SIGKILL)
        finally:
            os._exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    limit = int(plan["memory_mb"]) * 1024 * 1024 if plan.get("memory_mb") else None
    interval = 0.02
    while True:
        pid, status = os.waitpid(child, os.WNOHANG)
        if pid:
            os._exit(128 + os.WTERMSIG(status) if os.WIFSIGNALED(status)
                     else os.WEXITSTATUS(status))
        if limit:
            t0 = time.monotonic()
            used = memory_bytes(child, limit)
            if used > limit:
                os.kill(child, signal.SIGKILL)
                os.waitpid(child, 0)
                sys.stderr.write(f"localcloud: environment {child} used {used >> 20} MB of "
                                 f"{plan['memory_mb']} MB: killed\n")
                sys.stderr.flush()
                os._exit(MEMORY_EXIT)
            # a tree of many processes is costly to walk: poll it less often
            interval = min(0.5, max(0.02, (time.monotonic() - t0) * 10))
        time.sleep(interval)


def enter(plan):
    """Enter the environment (see module doc). Returns in the environment; the calling
    process becomes its supervisor and never returns."""
    libc = _lib()
    # a Lambda environment runs as nobody when the operator is root; an instance host as
    # the operator's own uid (root on EC2 too), without capabilities (plan["user"] == "self")
    # plan["user"] == "root" (instance hosts): root inside the environment, but never root
    # outside: when the operator is root, uid 0 inside is nobody (65534) outside, so the
    # kernel holds it to RLIMIT_NPROC (real root is exempt) and it owns nothing of root's.
    root_as_nobody = os.getuid() == 0 and plan.get("user") == "root"
    as_nobody = os.getuid() == 0 and plan.get("user") not in ("self", "root")
    helper = None
    if as_nobody or root_as_nobody:  # only a process outside may map another uid: a helper
        # root_as_nobody: uid 0 inside is nobody outside and the real root shows as nobody
        # inside (mapped, so the walls can still be built as it; dropped before the command)
        maps = f"0 {NOBODY} 1\n{NOBODY} 0 1\n" if root_as_nobody else \
            f"0 0 1\n{NOBODY} {NOBODY} 1\n"
        r, w = os.pipe()
        helper = os.fork()
        if helper == 0:
            os.close(w)
            os.read(r, 1)
            ppid = os.getppid()
            try:
                for name in ("uid_map", "gid_map"):
                    with open(f"/proc/{ppid}/{name}", "wb") as f:
                        f.write(maps.encode())
            except OSError:
                os._exit(1)
            os._exit(0)
        os.close(r)
    uid, gid = os.getuid(), os.getgid()
    _check(libc.unshare(CLONE_NEWUSER | CLONE_NEWPID), "unshare")
    if helper is not None:
        os.write(w, b"x")
        os.close(w)
        _, status = os.waitpid(helper, 0)
        if status != 0:
            raise OSError("could not map the environment's users (root, nobody)")
    else:
        for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"),
                           ("gid_map", f"0 {gid} 1")):
            with open(f"/proc/self/{name}", "wb") as f:
                f.write(text.encode())
    child = os.fork()
    if child:
        _supervise(child, plan)
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    _check(libc.unshare(CLONE_NEWNS), "unshare mount namespace")
    _build_root(plan)
    nproc = int(plan.get("nproc", 1024))
    resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if root_as_nobody:  # become the namespace's root, i.e. nobody outside
        os.setgroups([])
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
        _prctl(PR_SET_DUMPABLE, 1)  # the supervisor may still read its memory figures
    _drop_privileges(as_nobody)
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # again: a change of uid cleared it


def main(argv):
    """`python -I -S _contain.py PLAN_JSON -- argv...`: argv run inside the environment."""
    import json

    plan = json.loads(argv[1])
    cmd = argv[3:] if len(argv) > 2 and argv[2] == "--" else argv[2:]
    try:
        enter(plan)
    except Exception as exc:  # fail closed: never run unisolated by surprise
        sys.stderr.write(f"localcloud: could not isolate the environment: {exc}\n")
        os._exit(70)
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    main(sys.argv)
