"""GetParameter and GetParameters answered as AWS answers them where moto differs.

- **A top-level parameter is found with or without its leading slash, under the name asked
  for**: `param-1` read as `/param-1` answers `"Name": "/param-1"` (moto finds it but answers
  `param-1`). A path read without its leading slash (`a/b/c`) is refused by the validation
  layer (localcloud/validation/rules.py).
- **Secrets Manager references** (`/aws/reference/secretsmanager/<secret>[:<version id or
  staging label>]`): read only `WithDecryption` (else `ValidationException`); the parameter
  is named by the reference, a `SecureString` whose value is that version's string (the
  current one without a selector), with `SourceResult` (the secret's GetSecretValue answer as
  JSON, member names starting lower case, `ARN` as is). In GetParameters, a secret that does
  not exist is one of the `InvalidParameters` like any other missing name, not an error for
  the whole call; in GetParameter it is `ParameterNotFound`.
  (https://docs.aws.amazon.com/systems-manager/latest/userguide/integration-ps-secretsmanager.html;
  the shape is what LocalStack's AWS-validated test_ssm.py checks against AWS.)

A reference is read with the caller's `ssm:GetParameter(s)` permission only; AWS also checks
`secretsmanager:GetSecretValue` on the secret, which the local cloud does not.
"""
from __future__ import annotations

import json
import re
from typing import Any, Callable

from localcloud.core.body import read_json_object, replace_body, rewrite_response
from localcloud.core.moto_request import account_of, region_of

from . import patches, wire

SECRET_PREFIX = "/aws/reference/secretsmanager/"
_GET_ONE, _GET_MANY = "AmazonSSM.GetParameter", "AmazonSSM.GetParameters"


def _lower_first(doc: dict) -> dict:
    return {(k if k == "ARN" else k[:1].lower() + k[1:]): v for k, v in doc.items()}


NEEDS_DECRYPTION = "WithDecryption flag must be True for retrieving a Secret Manager secret."
_VERSION_ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def secret_parameter(account: str, region: str, name: str) -> dict | None:
    """The parameter a Secrets Manager reference reads, or None when there is no such secret
    (or no such version of it)."""
    secret_id, _, selector = name[len(SECRET_PREFIX):].partition(":")
    by_id = bool(_VERSION_ID.fullmatch(selector))
    secret = patches.secret_value(account, region, secret_id, selector if by_id else None,
                                  None if by_id else selector or None)
    if secret is None:
        return None
    created = secret["CreatedDate"]
    created = created.timestamp() if hasattr(created, "timestamp") else float(created)
    source = _lower_first({k: v for k, v in secret.items() if k != "SecretBinary"})
    source["createdDate"] = created
    return {"Name": name, "Type": "SecureString", "Value": secret.get("SecretString"),
            "Version": 0, "LastModifiedDate": created,
            "SourceResult": json.dumps(source, default=str)}


def _as_asked(parameter: dict, asked: Any) -> None:
    """`Name` as the caller asked for it, when moto found it under the other spelling."""
    found = parameter.get("Name")
    if isinstance(asked, str) and isinstance(found, str) and found != asked \
            and found.lstrip("/") == asked.lstrip("/"):
        parameter["Name"] = asked


def _json_ok(status: str, _headers: list) -> bool:
    return status.startswith("200")


def _get_one(app: Callable, environ: dict, start_response: Callable, req: dict) -> Any:
    name = req.get("Name")
    if isinstance(name, str) and name.startswith(SECRET_PREFIX):
        if req.get("WithDecryption") is not True:
            return wire.error(start_response, "ValidationException", NEEDS_DECRYPTION)
        found = secret_parameter(account_of(environ), region_of(environ), name)
        if found is None:
            return wire.error(start_response, "ParameterNotFound",
                              f"An error occurred (ParameterNotFound) when referencing Secrets "
                              f"Manager: Secret {name} not found.")
        return wire.answer(start_response, "200 OK", {"Parameter": found})

    def rewrite(status: str, headers: list, body: bytes) -> tuple[str, list, bytes]:
        doc = json.loads(body)
        _as_asked(doc.get("Parameter") or {}, name)
        return status, headers, json.dumps(doc).encode()

    return rewrite_response(app, environ, start_response, _json_ok, rewrite)


def _get_many(app: Callable, environ: dict, start_response: Callable, req: dict) -> Any:
    names = req.get("Names")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        return app(environ, start_response)
    secrets = [n for n in names if n.startswith(SECRET_PREFIX)]
    others = [n for n in names if not n.startswith(SECRET_PREFIX)]
    if secrets and req.get("WithDecryption") is not True:
        return wire.error(start_response, "ValidationException", NEEDS_DECRYPTION)
    found, missing = [], []
    for name in secrets:
        parameter = secret_parameter(account_of(environ), region_of(environ), name)
        (found.append(parameter) if parameter else missing.append(name))
    if secrets and not others:
        return wire.answer(start_response, "200 OK", {"Parameters": found, "InvalidParameters": missing})
    if secrets:
        replace_body(environ, json.dumps(dict(req, Names=others)).encode())

    def rewrite(status: str, headers: list, body: bytes) -> tuple[str, list, bytes]:
        doc = json.loads(body)
        for parameter in doc.get("Parameters") or []:
            asked = next((n for n in others if n.lstrip("/") == str(parameter.get("Name")).lstrip("/")),
                         None)
            _as_asked(parameter, asked)
        doc["Parameters"] = (doc.get("Parameters") or []) + found
        doc["InvalidParameters"] = (doc.get("InvalidParameters") or []) + missing
        return status, headers, json.dumps(doc).encode()

    return rewrite_response(app, environ, start_response, _json_ok, rewrite)


def middleware(app: Callable, _cloud: Any = None) -> Callable:
    def serve(environ: dict, start_response: Callable) -> Any:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target not in (_GET_ONE, _GET_MANY):
            return app(environ, start_response)
        req = read_json_object(environ)
        if req is None:
            return app(environ, start_response)
        if target == _GET_ONE:
            return _get_one(app, environ, start_response, req)
        return _get_many(app, environ, start_response, req)
    return serve


def install(cloud: Any) -> None:
    cloud.add_middleware(middleware)
