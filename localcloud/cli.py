"""The `localcloud` CLI and `ensure_running()`.

  localcloud up [--port P] [--detach]   serve on 127.0.0.1:P (default 4566 or $LOCALCLOUD_PORT)
  localcloud status [--port P]          is one answering? (exit 0 yes, 1 no)
  localcloud down [--port P]            stop a detached one (and its worker processes)
  localcloud reset [--port P]           wipe every resource, end workers and instance hosts
  localcloud logs FUNCTION [--follow]   print CloudWatch Logs of /aws/lambda/FUNCTION
  localcloud iam-report [--json] [--clear]  every IAM denial (or would-be denial) and its fix

`up --iam enforce|audit|off` (or $LOCALCLOUD_IAM): enforce (default) refuses what AWS's IAM
refuses, audit lets it through and records it, off checks nothing.

A detached cloud keeps its pid file, log file and state under $LOCALCLOUD_HOME/<port>/
(default ~/.cache/localcloud).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from .core.cloud import LocalCloud, default_port, endpoint_for, health
from .core.paths import RESET_PATH, SHUTDOWN_PATH

START_TIMEOUT_S = 60.0


def home() -> Path:
    return Path(os.environ.get("LOCALCLOUD_HOME") or Path.home() / ".cache" / "localcloud")


def run_dir(port: int) -> Path:
    return home() / str(port)


def _post(endpoint: str, path: str, timeout: float = 30.0) -> dict:
    req = urllib.request.Request(endpoint + path, data=b"", method="POST")
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read() or b"{}")


def start_detached(port: int, iam: str | None = None) -> str:
    """Start `localcloud up` in the background; return its endpoint once it answers."""
    endpoint = endpoint_for(port)
    d = run_dir(port)
    d.mkdir(parents=True, exist_ok=True)
    log_path = d / "localcloud.log"
    with open(log_path, "ab") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-c", "import sys; from localcloud.cli import main; "
             f"sys.exit(main({['up', '--port', str(port)] + (['--iam', iam] if iam else [])!r}))"],
            stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file,
            start_new_session=True, close_fds=True)
    (d / "pid").write_text(str(proc.pid))
    deadline = time.monotonic() + START_TIMEOUT_S
    while health(endpoint) is None:
        if proc.poll() is not None:
            raise RuntimeError(f"local cloud on port {port} exited at start "
                               f"(status {proc.returncode}); see {log_path}")
        if time.monotonic() > deadline:
            proc.terminate()
            raise RuntimeError(f"local cloud on port {port} did not answer in "
                               f"{START_TIMEOUT_S:.0f}s; see {log_path}")
        time.sleep(0.1)
    return endpoint


def ensure_running(port: int | None = None) -> str:
    """The endpoint of a local cloud on `port` (default $LOCALCLOUD_PORT or 4566): reuse one
    that answers, else start a detached one. For notebooks."""
    port = default_port() if port is None else int(port)
    endpoint = endpoint_for(port)
    if health(endpoint) is not None:
        return endpoint
    return start_detached(port)


def stop_detached(port: int, timeout: float = 15.0) -> bool:
    """Stop the cloud on `port`. True if one was running."""
    endpoint = endpoint_for(port)
    pid_file = run_dir(port) / "pid"
    was_up = health(endpoint) is not None
    if was_up:
        try:
            _post(endpoint, SHUTDOWN_PATH)
        except OSError:
            pass
    pid = int(pid_file.read_text()) if pid_file.exists() else None
    deadline = time.monotonic() + timeout
    while pid is not None and _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if pid is not None and _alive(pid):  # did not stop in time: end its whole group
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        was_up = True
    if pid_file.exists():
        pid_file.unlink()
    return was_up or pid is not None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie child of ours counts as gone
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def _serve(port: int, iam: str | None = None) -> int:
    from .core.logfile import quiet_third_party

    quiet_third_party()
    state = run_dir(port) / "state"
    if state.exists():
        import shutil
        shutil.rmtree(state, ignore_errors=True)
    cloud = LocalCloud(port=port, state_dir=state, iam=iam)
    try:
        cloud.start()
    except OSError as exc:
        print(f"localcloud: cannot listen on 127.0.0.1:{port}: {exc}", file=sys.stderr)
        return 1
    print(f"localcloud up at {cloud.endpoint_url} (pid {os.getpid()}, state {state})")
    print(f"export AWS_ENDPOINT_URL={cloud.endpoint_url}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: cloud.stop())
    try:
        while not cloud.wait_stopped(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        cloud.stop()
    return 0


def _logs(function: str, follow: bool, port: int) -> int:
    import boto3

    endpoint = endpoint_for(port)
    if health(endpoint) is None:
        print(f"localcloud: nothing answers at {endpoint}", file=sys.stderr)
        return 1
    client = boto3.client("logs", endpoint_url=endpoint,
                          region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    group = f"/aws/lambda/{function}"
    seen: set[str] = set()
    start = 0
    while True:
        try:
            events = client.filter_log_events(logGroupName=group, startTime=start)["events"]
        except client.exceptions.ResourceNotFoundException:
            events = []
            if not follow:
                print(f"localcloud: no logs yet for {function} ({group})", file=sys.stderr)
                return 1
        for e in events:
            if e["eventId"] in seen:
                continue
            seen.add(e["eventId"])
            start = max(start, e["timestamp"])
            print(e["message"], flush=True)
        if not follow:
            return 0
        time.sleep(0.5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="localcloud", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="serve the local cloud")
    up.add_argument("--detach", action="store_true", help="run in the background")
    up.add_argument("--iam", choices=("enforce", "audit", "off"), default=None,
                    help="IAM enforcement (default: $LOCALCLOUD_IAM or enforce)")
    rep = sub.add_parser("iam-report", help="IAM denials and the statements that were lacking")
    rep.add_argument("--json", action="store_true", help="the report as JSON")
    rep.add_argument("--clear", action="store_true", help="empty the report after printing")
    for name in ("status", "down", "reset"):
        sub.add_parser(name)
    logs_p = sub.add_parser("logs", help="print a function's CloudWatch Logs")
    logs_p.add_argument("function")
    logs_p.add_argument("--follow", "-f", action="store_true")
    for p in sub.choices.values():
        p.add_argument("--port", type=int, default=None,
                       help="default: $LOCALCLOUD_PORT or 4566")
    args = parser.parse_args(argv)
    port = default_port() if args.port is None else args.port
    endpoint = endpoint_for(port)

    if args.cmd == "up":
        if health(endpoint) is not None:
            print(f"localcloud already up at {endpoint}")
            print(f"export AWS_ENDPOINT_URL={endpoint}")
            return 0
        if args.detach:
            start_detached(port, args.iam)
            print(f"localcloud up at {endpoint} (detached; log {run_dir(port) / 'localcloud.log'})")
            print(f"export AWS_ENDPOINT_URL={endpoint}")
            return 0
        return _serve(port, args.iam)
    if args.cmd == "status":
        doc = health(endpoint)
        if doc is None:
            print(f"localcloud: nothing answers at {endpoint}")
            return 1
        print(f"localcloud up at {endpoint} (pid {doc.get('pid')}, state {doc.get('state_dir')}, "
              f"IAM {doc.get('iam', 'off')})")
        return 0
    if args.cmd == "down":
        if stop_detached(port):
            print(f"localcloud at {endpoint} stopped")
        else:
            print(f"localcloud: nothing was running at {endpoint}")
        return 0
    if args.cmd == "reset":
        if health(endpoint) is None:
            print(f"localcloud: nothing answers at {endpoint}", file=sys.stderr)
            return 1
        _post(endpoint, RESET_PATH)
        print(f"localcloud at {endpoint} reset: all resources, workers and hosts gone")
        return 0
    if args.cmd == "logs":
        return _logs(args.function, args.follow, port)
    if args.cmd == "iam-report":
        from .iam.cli import iam_report
        return iam_report(endpoint, as_json=args.json, clear=args.clear)
    return 2


if __name__ == "__main__":
    sys.exit(main())
