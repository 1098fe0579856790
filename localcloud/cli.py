"""The `localcloud` CLI and `ensure_running()`.

  localcloud up [--port P] [--detach] [--fresh] [--like-aws] [--no-default-vpc]
                                        serve on 127.0.0.1:P (default 4566 or $LOCALCLOUD_PORT),
                                        restoring what the cloud on that port held (--fresh: empty);
                                        --like-aws adds AWS's delays (LOCALCLOUD_PROFILE=aws)
  localcloud status [--port P]          is one answering, what does it hold? (exit 0 yes, 1 no)
  localcloud env [--port P]             export lines: the cloud's operator key, endpoint, region
  localcloud down [--port P]            stop it (its state is saved; workers and hosts end)
  localcloud reset [--port P]           wipe every resource and the saved state
  localcloud logs FUNCTION [--follow]   print CloudWatch Logs of /aws/lambda/FUNCTION
  localcloud iam-report [--json] [--clear]  every IAM denial (or would-be denial) and its fix

`up --iam enforce|audit|off` (or $LOCALCLOUD_IAM): enforce (default) refuses what AWS's IAM
refuses, audit lets it through and records it, off checks nothing.
`up --auth aws|any` (or $LOCALCLOUD_AUTH): aws (default) verifies every request's signature
against the keys the cloud knows (its operator key in $LOCALCLOUD_HOME/<port>/credentials,
IAM users' keys, STS sessions); any accepts any unknown key as the operator (moto's way).

A cloud keeps its pid file, log file and state under $LOCALCLOUD_HOME/<port>/ (default
~/.cache/localcloud): state/saved/ holds the snapshot (localcloud.state).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .core.cloud import LocalCloud, default_port, endpoint_for, health
from .core.paths import RESET_PATH, SHUTDOWN_PATH
from .core.operator import control_request, home, key_path

START_TIMEOUT_S = 60.0


def run_dir(port: int) -> Path:
    return home() / str(port)


def _post(endpoint: str, path: str, timeout: float = 30.0) -> dict:
    with control_request(endpoint, path, "POST", timeout=timeout) as resp:
        return json.loads(resp.read() or b"{}")


# The operator's AWS credentials and profiles never reach the cloud's process (nor,
# through it, a function or an instance host: /proc/<pid>/environ is readable by them).
_OPERATOR_AWS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                 "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_WEB_IDENTITY_TOKEN_FILE",
                 "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME", "AWS_CREDENTIAL_EXPIRATION")


def server_env(environ: dict | None = None) -> dict[str, str]:
    """The environment a cloud's server process starts from: the caller's without any AWS_*
    variable (credentials, profiles, endpoints, regions), with AWS config and credential
    files pointed at /dev/null so no profile is read, and `LOCALCLOUD_CLEAN_ENV=1`."""
    environ = dict(os.environ if environ is None else environ)
    env = {k: v for k, v in environ.items() if not k.startswith("AWS_")}
    env.update(AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
               AWS_EC2_METADATA_DISABLED="true", LOCALCLOUD_CLEAN_ENV="1")
    return env


def _holds_operator_credentials() -> bool:
    return any(k in os.environ for k in _OPERATOR_AWS) or \
        os.environ.get("LOCALCLOUD_CLEAN_ENV") != "1"


def saved_dir(port: int) -> Path:
    return run_dir(port) / "state" / "saved"


def start_detached(port: int, up_args: list[str] | None = None) -> str:
    """Start `localcloud up` in the background; return its endpoint once it answers.
    `up_args`: more `up` options (e.g. ["--like-aws"], ["--fresh"])."""
    endpoint = endpoint_for(port)
    d = run_dir(port)
    d.mkdir(parents=True, exist_ok=True)
    log_path = d / "localcloud.log"
    with open(log_path, "ab") as log_file:
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-c", "import sys; from localcloud.cli import main; "
             "sys.exit(main(sys.argv[1:]))", "up", "--port", str(port), *(up_args or [])],
            stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file, env=server_env(),
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
        time.sleep(0.05)
    return endpoint


def saved_state_lines(doc: dict | None, warnings_only: bool = False) -> list[str]:
    """What a cloud that just started did with its saved state, for the terminal: set aside
    (and why), objects lost to damaged blobs, and (unless `warnings_only`) what it restored."""
    st = (doc or {}).get("state") or {}
    lines = []
    if st.get("set_aside"):
        lines.append(f"localcloud: WARNING {st.get('notice')}")
    elif st.get("notice") and not warnings_only:
        lines.append(f"localcloud: {st['notice']}")
    for lost in st.get("lost") or []:
        lines.append(f"localcloud: WARNING lost {lost}")
    return lines


def ensure_running(port: int | None = None, *, like_aws: bool = False) -> str:
    """The endpoint of a local cloud on `port` (default $LOCALCLOUD_PORT or 4566): reuse one
    that answers, else start a detached one (`like_aws=True`: with AWS's delays, as
    `localcloud up --like-aws`; $LOCALCLOUD_PROFILE=aws does the same). For notebooks."""
    port = default_port() if port is None else int(port)
    endpoint = endpoint_for(port)
    if health(endpoint) is not None:
        return endpoint
    endpoint = start_detached(port, ["--like-aws"] if like_aws else None)
    for line in saved_state_lines(health(endpoint), warnings_only=True):
        print(line)
    return endpoint


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


def _serve(port: int, fresh: bool = False, options: dict | None = None) -> int:
    import shutil

    from .core.logfile import quiet_third_party
    from .core.profile import describe

    quiet_third_party()
    state = run_dir(port) / "state"
    # what ran in the last process (execution environments' /tmp) never outlives it
    shutil.rmtree(state / "lambda" / "tmp", ignore_errors=True)
    try:
        cloud = LocalCloud(port=port, state_dir=state, persist=True, fresh=fresh,
                           **(options or {}))
    except ValueError as exc:  # a bad LOCALCLOUD_* setting
        print(f"localcloud: {exc}", file=sys.stderr)
        return 2
    try:
        cloud.start()
    except OSError as exc:
        print(f"localcloud: cannot listen on 127.0.0.1:{port}: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # a setting out of range (e.g. LOCALCLOUD_EC2_TRANSITION_SECONDS)
        print(f"localcloud: {exc}", file=sys.stderr)
        return 2
    print(f"localcloud up at {cloud.endpoint_url} (pid {os.getpid()}, state {state})")
    print(f"localcloud {describe(cloud.profile)}")
    for line in saved_state_lines({"state": cloud.state.describe()}):
        print(line)
    if cloud.state.restored:
        print("localcloud: holds " + _counts_line(cloud.state.restored))
    elif not fresh:
        print("localcloud: nothing saved on this port; starting empty")
    print(_key_line(port))
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


def _key_line(port: int) -> str:
    return (f"localcloud: operator key in {key_path(port)} (mode 0600); "
            f"`eval $(localcloud env --port {port})` exports it for the AWS CLI")


def _client_key(port: int) -> dict[str, str]:
    from .core.operator import for_port
    key = for_port(port)
    if key is None:
        return {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    return {"aws_access_key_id": key.access_key_id, "aws_secret_access_key": key.secret_access_key}


def _env(port: int) -> int:
    """Export lines for the AWS CLI and other tools: this cloud's operator key and endpoint."""
    from .core.operator import for_port
    key = for_port(port)
    if key is None:
        print(f"localcloud: no operator key at {key_path(port)}: start the cloud first "
              f"(`localcloud up --port {port} --detach`)", file=sys.stderr)
        return 1
    region = os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    print(f"export AWS_ACCESS_KEY_ID={key.access_key_id}")
    print(f"export AWS_SECRET_ACCESS_KEY={key.secret_access_key}")
    print("unset AWS_SESSION_TOKEN AWS_SECURITY_TOKEN AWS_PROFILE")
    print(f"export AWS_ENDPOINT_URL={endpoint_for(port)}")
    print(f"export AWS_DEFAULT_REGION={region}")
    return 0


def _counts_line(counts: dict) -> str:
    return ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items())) or "nothing"


def _status(port: int) -> int:
    endpoint = endpoint_for(port)
    doc = health(endpoint)
    if doc is None:
        print(f"localcloud: nothing answers at {endpoint}")
        meta_path = saved_dir(port) / "meta.json"
        if meta_path.exists():
            try:
                meta = json.loads(meta_path.read_text())
            except ValueError:
                meta = {}
            print(f"saved state {saved_dir(port)} (saved {meta.get('saved_at')}): "
                  f"{_counts_line(meta.get('counts') or {})}; `localcloud up` restores it")
        return 1
    print(f"localcloud up at {endpoint} (pid {doc.get('pid')}, state {doc.get('state_dir')}, "
          f"IAM {doc.get('iam', 'off')})")
    if doc.get("profile"):
        prof = dict(doc["profile"])
        name = prof.pop("name", "default")
        print(f"profile {name}: " + ", ".join(f"{k}={v}" for k, v in prof.items()))
    st = doc.get("state")
    if st:
        print(f"saved state {st['path']} (last saved {st.get('saved_at') or 'not yet'}"
              f"{', changes pending' if st.get('dirty') else ''}): "
              f"{_counts_line(st.get('counts') or {})}")
        if st.get("notice"):
            print(f"  {st['notice']}")
        for lost in st.get("lost") or []:
            print(f"  LOST {lost}")
        if not st.get("journal", True):
            print("  journal off: a crash loses up to one snapshot interval")
    else:
        print("state: not kept (this cloud was started without persist)")
    iso = doc.get("isolation")
    if isinstance(iso, dict):
        if iso.get("contained"):
            print("isolation: functions and instance hosts contained (Linux namespaces)")
            for key in ("user", "processes", "memory", "files"):
                if key in iso:
                    print(f"  {key}: {iso[key]}")
        else:
            print("isolation: NOT contained, environment rules only "
                  f"({iso.get('why') or 'unavailable'}; see README)")
    return 0


def _logs(function: str, follow: bool, port: int) -> int:
    import boto3

    endpoint = endpoint_for(port)
    if health(endpoint) is None:
        print(f"localcloud: nothing answers at {endpoint}", file=sys.stderr)
        return 1
    client = boto3.client("logs", endpoint_url=endpoint,
                          region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
                          **_client_key(port))
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
    up.add_argument("--fresh", action="store_true",
                    help="start empty: forget what this port's cloud held")
    up.add_argument("--like-aws", action="store_true",
                    help="AWS's delays: IAM propagation, instance start/stop, SSM registration "
                         "(same as LOCALCLOUD_PROFILE=aws)")
    up.add_argument("--no-default-vpc", action="store_true",
                    help="an account without a default VPC: RunInstances needs a subnet")
    up.add_argument("--iam", choices=("enforce", "audit", "off"), default=None,
                    help="IAM enforcement (default: $LOCALCLOUD_IAM or enforce)")
    up.add_argument("--auth", choices=("aws", "any"), default=None,
                    help="signatures: aws (default; $LOCALCLOUD_AUTH) verifies them against the "
                         "keys the cloud knows; any takes any unknown key as the operator")
    sub.add_parser("env", help="print export lines (the operator key, endpoint, region)")
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
        running = health(endpoint)
        if running is not None:
            print(f"localcloud already up at {endpoint}")
            if args.fresh:
                _post(endpoint, RESET_PATH)
                print("localcloud: --fresh: reset, it holds nothing now")
            prof = running.get("profile") or {}
            name = prof.get("name", "default")
            if (args.like_aws and name != "aws") or \
                    (args.no_default_vpc and prof.get("default_vpc", True)):
                print(f"localcloud: it runs with profile {name}; `localcloud down --port {port}` "
                      "first to start it with other options", file=sys.stderr)
            print(_key_line(port))
            print(f"export AWS_ENDPOINT_URL={endpoint}")
            return 0
        options: dict = {}
        up_args: list[str] = []
        if args.like_aws:
            options["profile"] = "aws"
            up_args.append("--like-aws")
        if args.no_default_vpc:
            options["default_vpc"] = False
            up_args.append("--no-default-vpc")
        if args.iam:
            options["iam"] = args.iam
            up_args += ["--iam", args.iam]
        if args.auth:
            options["auth"] = args.auth
            up_args += ["--auth", args.auth]
        if args.detach:
            start_detached(port, up_args + (["--fresh"] if args.fresh else []))
            print(f"localcloud up at {endpoint} (detached; log {run_dir(port) / 'localcloud.log'})")
            for line in saved_state_lines(health(endpoint)):
                print(line)
            print(_key_line(port))
            print(f"export AWS_ENDPOINT_URL={endpoint}")
            return 0
        if _holds_operator_credentials():
            # Serve from a clean environment: this process's own environ block (readable
            # at /proc/<pid>/environ) must not hold the operator's credentials.
            sys.stdout.flush()
            argv = ["up", "--port", str(port)] + (["--fresh"] if args.fresh else []) + up_args
            os.execve(sys.executable, [sys.executable, "-c",
                                       "import sys; from localcloud.cli import main; "
                                       f"sys.exit(main({argv!r}))"], server_env())
        return _serve(port, fresh=args.fresh, options=options)
    if args.cmd == "status":
        return _status(port)
    if args.cmd == "env":
        return _env(port)
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
        print(f"localcloud at {endpoint} reset: all resources, workers, hosts and the saved "
              "state gone")
        return 0
    if args.cmd == "logs":
        return _logs(args.function, args.follow, port)
    if args.cmd == "iam-report":
        from .iam.cli import iam_report
        return iam_report(endpoint, as_json=args.json, clear=args.clear)
    return 2


if __name__ == "__main__":
    sys.exit(main())
