"""The signature check as the cloud's outermost layer.

Installed after every other extension (``localcloud.core.cloud._EXTENSIONS``), so a request
is verified exactly as it was signed: before the validation layer normalises its body (an
API Gateway ``Update*`` without ``patchOperations``, a JSON ``null``) or IAM reads it. The
key store and the operator key are set up by ``localcloud.iam.install`` (``auth.install``).
"""
from __future__ import annotations

from typing import Any

from . import auth


def install(cloud: Any) -> None:
    cloud.add_middleware(auth.middleware_factory)  # outermost: who signed, before anything
