"""IAM in the local cloud: every Lambda and instance runs as its role, and every request
made with a role's (or IAM user's) credentials is evaluated against its policies.

Pieces: `policy` (the evaluator), `conditions` (condition operators), `dataset` (actions,
resource types and ARN formats from AWS's service authorization reference, via parliament),
`requests` (a raw request -> operation and parameters, via botocore's models), `engine`
(per service: IAM action, resource ARNs, context), `credentials` (role sessions through
moto's STS), `report` (denials and proposed fixes), `service` (the cloud's `cloud.iam`,
the WSGI middleware, modes).

`auth` verifies every request's SigV4 signature against the keys the cloud knows (the
operator's, IAM users', STS sessions') before IAM decides what the signer may do.

`install(cloud)` is an extension hook (the last one, so the middleware sees every request).
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable

from . import auth, session_tokens
from .report import DenialLog
from .service import MODES, IamService, InvokeDenied, middleware_factory, resolve_mode

__all__ = ["install", "IamService", "InvokeDenied", "MODES", "resolve_mode"]


def _load_managed_policies() -> Callable[[], None]:
    """moto loads AWS's managed policies (service-role/AWSLambdaBasicExecutionRole, ...) into
    each account's IAM only when asked; ask, for every backend created from now on."""
    from moto.iam import models

    original = models.load_iam_aws_managed_policies
    models.load_iam_aws_managed_policies = lambda: True

    def restore() -> None:
        models.load_iam_aws_managed_policies = original
    return restore


def _warm_dataset() -> None:
    """Read the IAM dataset (10 MB of JSON) in the background, not on a function's first call."""
    from . import dataset
    if dataset._INDEX is None:
        threading.Thread(target=dataset.service, args=("s3",), name="localcloud-iam-dataset",
                         daemon=True).start()


def install(cloud: Any) -> Callable[[], None]:
    denials = getattr(cloud, "_iam_denials", None)
    if denials is None:  # kept across a reset: it is the cloud's audit trail
        path = Path(cloud.state_dir) / "iam-report.jsonl" if cloud.state_dir else None
        denials = DenialLog(path)
        cloud._iam_denials = denials
    previous = getattr(cloud, "iam", None)
    mode = previous.mode if previous is not None else resolve_mode(cloud.options.get("iam"))
    cloud.iam = IamService(cloud, denials, mode)
    restore = _load_managed_policies()
    cloud.add_middleware(session_tokens.middleware_factory)  # inside IAM's check
    from . import answers, patches, served, service_credentials, simulate
    cloud.iam_service_credentials, handlers = service_credentials.install(cloud)
    handlers.update(simulate.HANDLERS)
    handlers.update(answers.HANDLERS)
    cloud.add_middleware(served.middleware_factory(handlers))  # inside IAM's check
    cloud.add_middleware(middleware_factory)
    patches.install(cloud, cloud.iam_service_credentials)
    auth.install(cloud)  # its middleware is localcloud.iam.auth_layer, installed last
    _warm_dataset()

    def uninstall() -> None:
        restore()
        cloud.iam.store.clear()
        auth.forget_key_file(cloud)
    return uninstall
