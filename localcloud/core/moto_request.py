"""Which moto backend a raw request belongs to: its account and region, decided the way
moto's own dispatch decides (``BaseResponse``), for the parts of localcloud that answer a
request themselves (fast Lambda Invoke, SSM and API Gateway calls moto lacks)."""
from __future__ import annotations

import os


def access_key(environ: dict) -> str:
    """The request's access key id, as moto's BaseResponse.get_access_key finds it."""
    from moto.core.responses import BaseResponse

    match = BaseResponse.access_key_regex.search(environ.get("HTTP_AUTHORIZATION", ""))
    return match.group(1) if match else "AKIAEXAMPLE"


def region_of(environ: dict) -> str:
    """The region from the URL host, the User-Agent or the SigV4 scope (moto's regexes)."""
    from moto.core.responses import BaseResponse

    full_url = f"http://{environ.get('HTTP_HOST', '')}{environ.get('PATH_INFO', '')}"
    url_match = BaseResponse.region_regex.search(full_url)
    if url_match:
        return url_match.group(1)
    ua_match = BaseResponse.region_from_useragent_regex.search(environ.get("HTTP_USER_AGENT", ""))
    if ua_match:
        return ua_match.group(1)
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if "AWS4" in auth:
        return auth.split(",")[0].split("/")[2]
    return BaseResponse.default_region


def account_of(environ: dict) -> str:
    """moto's BaseResponse.get_current_account, in its order of priority."""
    account = os.environ.get("MOTO_ACCOUNT_ID") or environ.get("HTTP_X_MOTO_ACCOUNT_ID")
    if account:
        return account
    from moto.iam.models import get_account_id_from

    return get_account_id_from(access_key(environ))


def backend_for(backends, environ: dict):
    """``backends[account][region]`` for this request (e.g. moto's ``ssm_backends``)."""
    return backends[account_of(environ)][region_of(environ)]
