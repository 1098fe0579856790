"""API Gateway's control plane answers with the status codes AWS gives (moto answers 200).

AWS answers each operation with the code its service model names (botocore's
`apigateway/2015-07-09/service-2.json`, the `responseCode` of each operation's `http`):
201 Created for the Create*/Put*/Import*/Generate* operations (CreateRestApi, CreateResource,
PutMethod, PutIntegration, CreateDeployment, ...), 202 Accepted for most Delete* operations,
204 for the others (https://docs.aws.amazon.com/apigateway/latest/api/API_CreateRestApi.html:
"If the action is successful, the service sends back an HTTP 201 response."). A 202/204
answer has no body. `iam.statuses.model_status_middleware` rewrites moto's 2xx status to
the model's.

A RestApi (API_RestApi) is answered without the members that were never set (`version`,
`binaryMediaTypes`, `tags`, `description`, `policy`: moto sends them empty or null) and with
its endpoint's `ipAddressType` (`ipv4`, `dualstack` for a PRIVATE API, as AWS defaults it:
https://docs.aws.amazon.com/apigateway/latest/api/API_EndpointConfiguration.html).
CreateRestApi keeps the `binaryMediaTypes` and `version` it is given (moto drops them and
answers a made-up `version: V1`).
Hooks: `moto.apigateway.models.RestAPI.to_dict`, `APIGatewayResponse.create_rest_api`.
"""
from __future__ import annotations

from typing import Any, Callable

from ..iam.statuses import model_status_middleware

VERSION_GIVEN = "localcloud_version_given"  # set on moto's RestAPI by create_rest_api below
MOTO_DEFAULT_VERSION = "V1"


def create_rest_api(original: Callable) -> Callable:
    def create(self: Any) -> Any:
        import json

        status, headers, body = original(self)
        if status >= 300 or self._get_param("name") is None:
            return status, headers, body  # an error, or an OpenAPI import
        api = self.backend.get_rest_api(json.loads(body)["id"])
        version, media = self._get_param("version"), self._get_param("binaryMediaTypes")
        setattr(api, VERSION_GIVEN, bool(version))
        if version:
            api.version = version
        if media:
            api.binaryMediaTypes = list(media)
        return status, headers, json.dumps(api.to_dict())

    return create


def rest_api_dict(original: Callable) -> Callable:
    def to_dict(self: Any) -> dict:
        doc = original(self)
        if doc.get("version") == MOTO_DEFAULT_VERSION and not getattr(self, VERSION_GIVEN, False):
            doc.pop("version")
        for key in ("version", "binaryMediaTypes", "tags", "description", "policy",
                    "minimumCompressionSize"):
            if doc.get(key) in (None, "", [], {}):
                doc.pop(key, None)
        conf = doc.get("endpointConfiguration")
        if isinstance(conf, dict) and not conf.get("ipAddressType"):
            types = conf.get("types") or []
            conf["ipAddressType"] = "dualstack" if "PRIVATE" in types else "ipv4"
        return doc

    return to_dict


def install(cloud: Any) -> None:
    from moto.apigateway.models import RestAPI
    from moto.apigateway.responses import APIGatewayResponse

    cloud.hook(RestAPI, "to_dict", rest_api_dict)
    cloud.hook(APIGatewayResponse, "create_rest_api", create_rest_api)
    cloud.add_middleware(model_status_middleware("apigateway"))
