"""The operator's key pair of a cloud: made once per port, kept in its home directory.

`localcloud up` (and any LocalCloud that verifies signatures) keeps the pair in
`$LOCALCLOUD_HOME/<port>/credentials` (default home ~/.cache/localcloud), mode 0600, in the
AWS shared-credentials format (`AWS_SHARED_CREDENTIALS_FILE` can point at it), and reuses it
across restarts. Requests signed with it are the operator's: an administrator, and the only
one the control paths (`/_localcloud/*`, `/moto-api/*`) answer.

`signed_control_headers(...)` signs a control request with that key (botocore's SigV4Auth,
service `localcloud`), as the CLI and `health()` do.
"""
from __future__ import annotations

import configparser
import os
import secrets
import string
from dataclasses import dataclass
from pathlib import Path

SECTION = "default"
CONTROL_SERVICE = "localcloud"  # the credential scope's service of a signed control request


@dataclass(frozen=True)
class OperatorKey:
    access_key_id: str
    secret_access_key: str

    def env(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": self.access_key_id,
                "AWS_SECRET_ACCESS_KEY": self.secret_access_key}


def home() -> Path:
    return Path(os.environ.get("LOCALCLOUD_HOME") or Path.home() / ".cache" / "localcloud")


def key_path(port: int) -> Path:
    return home() / str(port) / "credentials"


def generate() -> OperatorKey:
    alphabet = string.ascii_uppercase + string.digits
    akid = "LKIA" + "".join(secrets.choice(alphabet) for _ in range(16))
    secret = "".join(secrets.choice(string.ascii_letters + string.digits + "+/")
                     for _ in range(40))
    return OperatorKey(akid, secret)


def read(path: Path) -> OperatorKey | None:
    """The key in `path`, or None if there is none (or it is unreadable / malformed)."""
    parser = configparser.ConfigParser()
    try:
        with open(path, encoding="utf-8") as f:
            parser.read_file(f)
        return OperatorKey(parser[SECTION]["aws_access_key_id"].strip(),
                           parser[SECTION]["aws_secret_access_key"].strip())
    except (OSError, KeyError, configparser.Error):
        return None


def write(path: Path, key: OperatorKey, endpoint: str = "") -> None:
    """Write `key` to `path` (mode 0600, its directory 0700 when we create it)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    text = (f"# localcloud operator key{' for ' + endpoint if endpoint else ''}: this cloud's "
            "administrator.\n# `localcloud env` prints it as export lines. Never an AWS key.\n"
            f"[{SECTION}]\naws_access_key_id = {key.access_key_id}\n"
            f"aws_secret_access_key = {key.secret_access_key}\n")
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)


def load_or_create(path: Path, endpoint: str = "") -> OperatorKey:
    """The key kept in `path` (made and written there first if there is none)."""
    key = read(path)
    if key is None:
        key = generate()
        write(path, key, endpoint)
    elif (path.stat().st_mode & 0o077) != 0:
        os.chmod(path, 0o600)  # someone widened it: only the operator may read it
    return key


def for_port(port: int) -> OperatorKey | None:
    return read(key_path(port))


def signed_control_headers(key: OperatorKey, method: str, url: str, body: bytes = b"",
                           headers: dict | None = None) -> dict[str, str]:
    """Headers (Authorization, X-Amz-Date, ...) that sign a control request with `key`."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    req = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    SigV4Auth(Credentials(key.access_key_id, key.secret_access_key), CONTROL_SERVICE,
              "us-east-1").add_auth(req)
    return dict(req.headers.items())


def port_of(endpoint_url: str) -> int | None:
    from urllib.parse import urlsplit
    try:
        return urlsplit(endpoint_url).port or 80
    except ValueError:
        return None


def control_request(endpoint_url: str, path: str, method: str = "GET", body: bytes = b"",
                    timeout: float = 30.0, key: OperatorKey | None = None):
    """A urllib request to a control path, signed with the operator key of that port (read
    from its key file) and carrying the browser guard's control header. Returns the open
    response (a context manager); raises urllib's errors as urlopen does."""
    import urllib.request

    from .guard import CONTROL_HEADER

    url = endpoint_url.rstrip("/") + path
    headers = {CONTROL_HEADER: "1"}
    if key is None:
        port = port_of(endpoint_url)
        key = for_port(port) if port is not None else None
    if key is not None:
        headers = signed_control_headers(key, method, url, body, headers)
    req = urllib.request.Request(url, data=body if method != "GET" else None, method=method,
                                 headers=headers)
    return urllib.request.urlopen(req, timeout=timeout)  # noqa: S310 - loopback only
