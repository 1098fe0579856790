"""The Lambda runtime's own SDK: the boto3/botocore a function finds without bundling its own,
installed by `make setup` into build/lambda-runtime/ (never the operator's venv).

AWS's Python runtimes include the SDK for Python; which version depends on the runtime version
and the Region, and AWS updates it over time ("Runtime-included SDK versions" in the Lambda
developer guide). The versions pinned here are the ones AWS's runtimes table listed for
python3.12 (boto3-1.34.42 / botocore-1.34.42): older than this project's own boto3, as a
function meets it on AWS. Code that needs a newer SDK bundles it in its zip or a layer (AWS's
advice), and a bundled copy comes first on sys.path, as on AWS.

    python -m localcloud.awslambda.runtime_sdk install   # what `make setup` runs
    python -m localcloud.awslambda.runtime_sdk path      # where it is
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

LAMBDA_SDK = {"boto3": "1.34.42", "botocore": "1.34.42"}
_REPO = Path(__file__).resolve().parents[2]
STAMP = "localcloud-sdk.json"


def sdk_dir() -> Path:
    """Where the runtime's SDK is: $LOCALCLOUD_LAMBDA_SDK, else build/lambda-runtime/ in the
    checkout this package runs from."""
    env = os.environ.get("LOCALCLOUD_LAMBDA_SDK")
    return Path(env) if env else _REPO / "build" / "lambda-runtime"


def installed(dest: Path | None = None) -> dict | None:
    """The stamp of an installed SDK ({"boto3": v, "botocore": v}), or None."""
    try:
        doc = json.loads(((dest or sdk_dir()) / STAMP).read_text())
    except (OSError, ValueError):
        return None
    return doc if doc == LAMBDA_SDK else None


def install(dest: Path | None = None) -> Path:
    """pip install --target the pinned SDK (and its dependencies) into dest, atomically."""
    dest = dest or sdk_dir()
    if installed(dest):
        return dest
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-input",
                    "--disable-pip-version-check", "--target", str(tmp),
                    *(f"{k}=={v}" for k, v in LAMBDA_SDK.items())], check=True)
    for junk in tmp.glob("bin"):
        shutil.rmtree(junk, ignore_errors=True)
    (tmp / STAMP).write_text(json.dumps(LAMBDA_SDK))
    shutil.rmtree(dest, ignore_errors=True)
    os.rename(tmp, dest)
    return dest


def require() -> Path:
    """The installed SDK dir, or a clear error saying how to install it."""
    d = sdk_dir()
    if not installed(d):
        raise RuntimeError(f"the Lambda runtime's SDK (boto3 {LAMBDA_SDK['boto3']}) is not "
                           f"installed in {d}: run `make setup` (or `python -m "
                           "localcloud.awslambda.runtime_sdk install`)")
    return d


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else "path"
    if cmd == "install":
        print(install())
    elif cmd == "path":
        print(sdk_dir())
    else:
        sys.exit("usage: python -m localcloud.awslambda.runtime_sdk install|path")
