"""The one boto3 client factory of the operator side.

``client("s3", settings)`` returns a client for the chosen target:

- local: the local cloud's endpoint and that cloud's operator key, read from the
  key file the cloud keeps for its port (``local_credentials``); never the shell's
  credentials, so nothing leaves the machine;
- aws: the standard credential chain and region, no endpoint override; endpoint
  variables such as ``AWS_ENDPOINT_URL`` are ignored so that a shell set up for
  the local cloud cannot send "aws" calls somewhere else.

Clients are built lazily and cached per (settings, service); nothing is created
at import time.

AWS errors have one vocabulary here, used by every module of the operator side:
``error_code(exc)`` (the service's error code), ``is_not_found(exc)`` (any of the codes
AWS uses for "no such resource", across services) and ``get_or_none(call, **kwargs)``
(the call's answer, or None when what it asks for does not exist).
"""
from __future__ import annotations

import configparser
import os
import threading
from pathlib import Path
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
)

from . import calls
from .config import MlpipeError, Settings, load_settings

# Every error code AWS answers with when the thing asked for does not exist, across the
# services the stack uses (S3 HEAD requests answer a bare "404"/"NotFound").
NOT_FOUND_CODES = frozenset({
    "404", "NotFound", "NoSuchKey", "NoSuchBucket", "NoSuchEntity", "NoSuchTagSet",
    "NoSuchBucketPolicy", "NoSuchPublicAccessBlockConfiguration",
    "ServerSideEncryptionConfigurationNotFoundError", "ResourceNotFoundException",
    "NotFoundException", "InvocationDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist", "InvalidVpcID.NotFound", "InvalidSubnetID.NotFound",
    "InvalidInternetGatewayID.NotFound", "InvalidRouteTableID.NotFound",
    "InvalidInstanceID.NotFound", "InvalidAssociationID.NotFound",
})


def error_code(exc: BaseException) -> str:
    """The AWS error code of a ClientError (``""`` for anything else)."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def error_message(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Message", ""))
    return str(exc)


def is_not_found(exc: BaseException) -> bool:
    """True when AWS answered that the resource (bucket, key, role, function...) does not exist."""
    return error_code(exc) in NOT_FOUND_CODES


def _aws_errors() -> tuple:
    from botocore.exceptions import BotoCoreError
    from botocore.parsers import ResponseParserError

    return (ClientError, BotoCoreError, ResponseParserError)


# Anything a call to AWS raises that is AWS's (or the answer's) fault, not our code's: an
# error answer, a transport or credentials failure, an answer botocore cannot parse.
AWS_ERRORS = _aws_errors()


def get_or_none(call, *missing_codes: str, **kwargs):
    """``call(**kwargs)``, or None when AWS answers "not found" (or one of ``missing_codes``)."""
    try:
        return call(**kwargs)
    except ClientError as exc:
        if is_not_found(exc) or error_code(exc) in missing_codes:
            return None
        raise

def delete_if_present(call, **kwargs) -> bool:
    """``call(**kwargs)`` (a Delete/Remove operation): True when it deleted, False when AWS
    answered "not found" (already gone: what a repeated destroy meets)."""
    return get_or_none(call, **kwargs) is not None


# A local cloud verifies signatures: it keeps its operator key in
# $LOCALCLOUD_HOME/<port>/credentials (AWS shared-credentials format, mode 0600; default home
# ~/.cache/localcloud). These dummy keys are used only when there is no such file (a cloud
# started with `--auth any`, or an in-process moto mock).
LOCAL_CREDENTIALS = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
}


def local_key_file(endpoint_url: str) -> Path:
    port = urlsplit(endpoint_url).port or 80
    home = os.environ.get("LOCALCLOUD_HOME") or str(Path.home() / ".cache" / "localcloud")
    return Path(home) / str(port) / "credentials"


def local_credentials(endpoint_url: str) -> dict[str, str]:
    """The local cloud's operator key for ``endpoint_url`` (read from its key file)."""
    parser = configparser.ConfigParser()
    try:
        with open(local_key_file(endpoint_url), encoding="utf-8") as f:
            parser.read_file(f)
        return {"aws_access_key_id": parser["default"]["aws_access_key_id"].strip(),
                "aws_secret_access_key": parser["default"]["aws_secret_access_key"].strip()}
    except (OSError, KeyError, configparser.Error):
        return dict(LOCAL_CREDENTIALS)

_lock = threading.Lock()
_cache: dict = {}
_accounts: dict = {}


class CredentialsError(MlpipeError):
    """No usable AWS credentials (or the local cloud is not reachable)."""


# API Gateway's control plane is throttled per account (CreateDeployment, UpdateUsagePlan,
# DeleteRestApi allow one call every few seconds, DeleteRestApi one per 30 s): a class sharing
# an account meets TooManyRequestsException. botocore's standard mode retries that code
# (it is in its throttling list) with jittered exponential backoff capped at 20 s; API
# Gateway's clients get enough attempts to outlast a 30 s window.
MAX_ATTEMPTS = {"apigateway": (12, 4)}  # service: (aws, local)


def max_attempts(service: str, settings: Settings) -> int:
    aws, local = MAX_ATTEMPTS.get(service, (5, 2))
    return aws if settings.is_aws else local


def _config(settings: Settings, service: str = "") -> Config:
    kwargs = dict(
        region_name=settings.region,
        # The local cloud is on this machine: a refused connection means it is not
        # running, and retrying for long would only delay the message that says so.
        retries={"mode": "standard", "max_attempts": max_attempts(service, settings)},
        connect_timeout=10,
        read_timeout=70,
    )
    if settings.is_aws:
        kwargs["ignore_configured_endpoint_urls"] = True
    return Config(**kwargs)


_loader = None  # botocore's data loader, shared by every session made here


def _botocore_session():
    """A new botocore session reading AWS's service models through one shared loader: each
    session would otherwise parse the models again (EC2's alone is megabytes of JSON), once
    per client made, again after every clear_cache()."""
    global _loader
    import botocore.session

    session = botocore.session.get_session()
    if _loader is None:
        _loader = session.get_component("data_loader")
    else:
        session.register_component("data_loader", _loader)
    return session


def _session(settings: Settings):
    """The boto3 session of the target: the local cloud's credentials, or the standard chain."""
    kwargs = local_credentials(settings.endpoint_url) if settings.is_local else {}
    session = boto3.session.Session(botocore_session=_botocore_session(), region_name=settings.region,
                                    **kwargs)
    paths = session._loader.search_paths  # boto3 appends its own data directory each time
    paths[:] = list(dict.fromkeys(paths))
    return session


def client(service: str, settings: Settings | None = None):
    """A boto3 client for ``service`` on the target of ``settings`` (cached)."""
    settings = settings or load_settings()
    key = (settings, service)
    with _lock:
        found = _cache.get(key)
        if found is not None:
            return found
        session = _session(settings)
        if settings.is_local:
            made = session.client(service, endpoint_url=settings.endpoint_url,
                                  config=_config(settings, service))
        else:
            made = session.client(service, config=_config(settings, service))
        calls.attach(made)  # records its calls while a mlpipe.calls.record() is active
        _cache[key] = made
        return made


def credentials(settings: Settings | None = None):
    """The (frozen) credentials ``client()`` signs with on this target, e.g. to sign an HTTP
    request yourself with ``botocore.auth.SigV4Auth`` (notebook 05)."""
    settings = settings or load_settings()
    creds = _session(settings).get_credentials()
    if creds is None:
        raise CredentialsError("MLPIPE_TARGET=aws but no AWS credentials were found: run `aws configure` "
                               "or `aws sso login`")
    return creds.get_frozen_credentials()


def clear_cache() -> None:
    """Forget every cached client and account id (tests; after credentials change)."""
    with _lock:
        _cache.clear()
        _accounts.clear()


def check_credentials(settings: Settings | None = None) -> dict:
    """Who are we? ``{"account": ..., "arn": ..., "user_id": ...}`` or a clear CredentialsError."""
    settings = settings or load_settings()
    sts = client("sts", settings)
    try:
        ident = sts.get_caller_identity()
    except EndpointConnectionError:
        if settings.is_local:
            raise CredentialsError(
                f"the local cloud is not reachable at {settings.endpoint_url}: start it with "
                "`localcloud up --detach` (or set LOCALCLOUD_PORT to the port it runs on)"
            ) from None
        raise CredentialsError(
            f"cannot reach AWS STS in region {settings.region}: check the network and AWS_REGION"
        ) from None
    except (NoCredentialsError, PartialCredentialsError):
        raise CredentialsError(
            "MLPIPE_TARGET=aws but no AWS credentials were found: run `aws configure` or "
            "`aws sso login`, or set AWS_PROFILE / AWS_ACCESS_KEY_ID+AWS_SECRET_ACCESS_KEY "
            "(or use the offline target: unset MLPIPE_TARGET)"
        ) from None
    except ClientError as exc:
        code = error_code(exc)
        if code in ("ExpiredToken", "ExpiredTokenException", "RequestExpired"):
            raise CredentialsError(
                "your AWS credentials have expired: refresh them (`aws sso login`, or new "
                "temporary keys) and try again"
            ) from None
        if code in ("InvalidClientTokenId", "SignatureDoesNotMatch", "UnrecognizedClientException",
                    "AccessDenied", "AuthFailure"):
            raise CredentialsError(
                f"AWS rejected your credentials ({code}): check AWS_PROFILE or the access key pair"
            ) from None
        raise
    result = {"account": ident["Account"], "arn": ident["Arn"], "user_id": ident.get("UserId")}
    with _lock:
        _accounts[settings] = result["account"]
    return result


def account_id(settings: Settings | None = None) -> str:
    """The 12-digit account id of the target (one STS call, then cached)."""
    settings = settings or load_settings()
    with _lock:
        found = _accounts.get(settings)
    if found:
        return found
    return check_credentials(settings)["account"]


def describe_target(settings: Settings | None = None) -> str:
    """One line every entry point shows first: which account and region we act on."""
    settings = settings or load_settings()
    acct = account_id(settings)
    line = f"target={settings.target} account={acct} region={settings.region} stack={settings.stack}"
    if settings.is_local:
        line += f" endpoint={settings.endpoint_url}"
    return line
