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
answers a made-up `version: V1`), and is created with AWS's two default models, `Empty` and
`Error` (`DEFAULT_MODELS`, through moto's `RestAPI.add_model`).

A Method, Integration and IntegrationResponse are answered as API_Method, API_Integration and
API_IntegrationResponse show them: members never set are absent (moto sends them null or
empty: `methodResponses: {}`, `responseTemplates: {}`, `requestParameters: null`), an
integration's `cacheNamespace` defaults to its resource's id, its `timeoutInMillis` to 29000,
its `passthroughBehavior` to WHEN_NO_MATCH, and `cacheKeyParameters` is always a list; an
integration response's empty `selectionPattern` is kept (moto drops it).

A request validator's flags never set are answered `false` (moto: null); GetStages filters
by its `deploymentId` query parameter (moto ignores it); a Stage is answered as API_Stage
shows it (`stage_dict`: cacheClusterStatus, tracingEnabled, createdDate, lastUpdatedDate).

A VPC link answers CreateVpcLink `PENDING` and is `AVAILABLE` ("Your vpc link is ready for
use") from then on, with `tags` (`{}`; CreateVpcLink and GetVpcLinks omit empty ones); an integration keeps its `connectionId` (moto drops
it).

Calls naming something that does not exist are refused in AWS's words (`control.middleware`).
Hooks: `moto.apigateway.models.RestAPI.to_dict`, `APIGatewayResponse.create_rest_api`
(calls `RestAPI.add_model`),
`Method.to_json`, `Integration.to_json`, `IntegrationResponse.to_json`,
`APIGatewayBackend.put_integration`, `RequestValidator.to_dict`, `APIGatewayResponse.get_stages`, `VpcLink.to_json`,
`APIGatewayResponse.create_vpc_link`, `APIGatewayResponse.get_vpc_links`, `Stage.to_json`,
`Stage.apply_operations`, `APIGatewayBackend.import_rest_api` and `.put_rest_api` (their
documentation parts),
`APIGatewayResponse.put_integration`.
"""
from __future__ import annotations

from typing import Any, Callable

from ..iam.statuses import model_status_middleware

VERSION_GIVEN = "localcloud_version_given"  # set on moto's RestAPI by create_rest_api below
MOTO_DEFAULT_VERSION = "V1"


# Every REST API AWS creates has these two models (recorded GetModels answers; the console's
# "Empty" and "Error"), which a method's requestModels/responseModels may name at once.
DEFAULT_MODELS = {
    "Empty": ("This is a default empty schema model",
              '{\n  "$schema": "http://json-schema.org/draft-04/schema#",\n'
              '  "title" : "Empty Schema",\n  "type" : "object"\n}'),
    "Error": ("This is a default error schema model",
              '{\n  "$schema" : "http://json-schema.org/draft-04/schema#",\n'
              '  "title" : "Error Schema",\n  "type" : "object",\n'
              '  "properties" : {\n    "message" : { "type" : "string" }\n  }\n}'),
}


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
        for name, (description, schema) in DEFAULT_MODELS.items():
            if name not in api.models:
                api.add_model(name=name, description=description, schema=schema,
                              content_type="application/json")
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


DEFAULT_TIMEOUT_MS = 29000  # https://docs.aws.amazon.com/apigateway/latest/api/API_Integration.html


def _without_unset(doc: dict, keep: tuple = ()) -> dict:
    return {k: v for k, v in doc.items() if k in keep or v not in (None, {}, [])}


def method_dict(original: Callable) -> Callable:
    def to_json(self: Any) -> dict:
        return _without_unset(original(self), keep=("apiKeyRequired",))

    return to_json


def integration_dict(original: Callable) -> Callable:
    def to_json(self: Any) -> dict:
        doc = original(self)
        doc.setdefault("passthroughBehavior", "WHEN_NO_MATCH")
        if doc.get("passthroughBehavior") is None:
            doc["passthroughBehavior"] = "WHEN_NO_MATCH"
        if doc.get("timeoutInMillis") is None:
            doc["timeoutInMillis"] = DEFAULT_TIMEOUT_MS
        else:
            try:
                doc["timeoutInMillis"] = int(doc["timeoutInMillis"])
            except (TypeError, ValueError):
                pass
        connection_id = getattr(self, CONNECTION_ID, None) or getattr(self, "connection_id", None)
        if connection_id:
            doc["connectionId"] = connection_id
        return _without_unset(doc, keep=("cacheKeyParameters",))

    return to_json


def integration_response_dict(original: Callable) -> Callable:
    def to_json(self: Any) -> dict:
        doc = original(self)
        if self.selection_pattern is not None:
            doc["selectionPattern"] = self.selection_pattern
        if not doc.get("responseTemplates"):
            doc.pop("responseTemplates", None)
        return doc

    return to_json


def put_integration(original: Callable) -> Callable:
    def put(self: Any, function_id: str, resource_id: str, *args: Any, **kwargs: Any) -> Any:
        integration = original(self, function_id, resource_id, *args, **kwargs)
        if integration.cache_namespace is None:
            integration.cache_namespace = resource_id
        return integration

    return put


def request_validator_dict(original: Callable) -> Callable:
    def to_dict(self: Any) -> dict:
        doc = original(self)
        for flag in ("validateRequestBody", "validateRequestParameters"):
            doc[flag] = bool(doc.get(flag))  # AWS answers false for a flag never set
        return doc

    return to_dict


def get_stages(original: Callable) -> Callable:
    def stages(self: Any) -> Any:
        import json

        out = original(self)
        wanted = (self.querystring.get("deploymentId") or [None])[0]
        if not wanted:
            return out
        doc = json.loads(out)
        doc["item"] = [s for s in doc.get("item", []) if s.get("deploymentId") == wanted]
        return json.dumps(doc)

    return stages


def import_rest_api(original: Callable) -> Callable:
    """ImportRestApi also imports the document's documentation parts."""
    def imported(self: Any, api_doc: dict, fail_on_warnings: bool) -> Any:
        from . import docparts

        api = original(self, api_doc, fail_on_warnings)
        docparts.import_parts(api, api_doc, "overwrite")
        return api

    return imported


def put_rest_api(original: Callable) -> Callable:
    """PutRestApi also imports the document's documentation parts (merged or overwritten)."""
    def put(self: Any, function_id: str, api_doc: dict, fail_on_warnings: bool,
            mode: str = "merge") -> Any:
        from . import docparts

        api = original(self, function_id, api_doc, fail_on_warnings, mode)
        docparts.import_parts(api, api_doc, mode)
        return api

    return put


STAGE_TIMES = "localcloud_stage_times"  # set on moto's Stage: (created, last updated), epoch s


def stage_dict(original: Callable) -> Callable:
    """A Stage as API_Stage shows it: `cacheClusterStatus` NOT_AVAILABLE without a cache,
    `tracingEnabled` false, `createdDate` and `lastUpdatedDate`; no empty `description`,
    `variables` or `accessLogSettings` (moto sends them "" / {} / null)."""
    def to_json(self: Any) -> dict:
        import time

        doc = original(self)
        times = getattr(self, STAGE_TIMES, None)
        if times is None:
            now = int(time.time())
            times = (now, now)
            setattr(self, STAGE_TIMES, times)
        doc.setdefault("cacheClusterStatus", "NOT_AVAILABLE")
        doc.setdefault("tracingEnabled", False)
        doc["createdDate"], doc["lastUpdatedDate"] = times
        for key in ("description", "variables", "accessLogSettings"):
            if doc.get(key) in (None, "", {}):
                doc.pop(key, None)
        return doc

    return to_json


def stage_updated(original: Callable) -> Callable:
    def apply(self: Any, *args: Any, **kwargs: Any) -> Any:
        import time

        out = original(self, *args, **kwargs)
        created = (getattr(self, STAGE_TIMES, None) or (int(time.time()),))[0]
        setattr(self, STAGE_TIMES, (created, int(time.time())))
        return out

    return apply


VPC_LINK_READY = "Your vpc link is ready for use"
CONNECTION_ID = "localcloud_connection_id"  # set on moto's Integration (moto drops it)


def vpc_link_dict(original: Callable) -> Callable:
    def to_json(self: Any) -> dict:
        doc = original(self)
        doc["tags"] = doc.get("tags") or {}
        if doc.get("description") is None:
            doc.pop("description", None)
        if doc.get("status") == "AVAILABLE":
            doc["statusMessage"] = VPC_LINK_READY
        return doc

    return to_json


def create_vpc_link(original: Callable) -> Callable:
    def create(self: Any) -> Any:
        import json

        status, headers, body = original(self)
        if status >= 300:
            return status, headers, body
        doc = json.loads(body)
        doc["status"] = "PENDING"  # CreateVpcLink answers while the link is provisioned
        doc.pop("statusMessage", None)
        if not doc.get("tags"):
            doc.pop("tags", None)  # AWS's CreateVpcLink and GetVpcLinks omit empty tags
        return status, headers, json.dumps(doc)

    return create


def get_vpc_links(original: Callable) -> Callable:
    def links(self: Any) -> Any:
        import json

        out = original(self)
        body = out[2] if isinstance(out, tuple) else out
        doc = json.loads(body)
        for item in doc.get("item", []):
            if not item.get("tags"):
                item.pop("tags", None)
        body = json.dumps(doc)
        return (out[0], out[1], body) if isinstance(out, tuple) else body

    return links


def put_integration_response(original: Callable) -> Callable:
    def put(self: Any) -> Any:
        import json

        status, headers, body = original(self)
        connection_id = self._get_param("connectionId")
        if status >= 300 or not connection_id:
            return status, headers, body
        parts = self.path.split("/")
        integration = self.backend.get_integration(parts[2], parts[4], parts[6])
        setattr(integration, CONNECTION_ID, connection_id)
        return status, headers, json.dumps(integration.to_json())

    return put


def install(cloud: Any) -> None:
    from moto.apigateway.models import (
        APIGatewayBackend, Integration, IntegrationResponse, Method, RequestValidator, RestAPI, Stage,
        VpcLink,
    )
    from moto.apigateway.responses import APIGatewayResponse

    from . import control

    cloud.hook(RestAPI, "to_dict", rest_api_dict)
    cloud.hook(APIGatewayResponse, "create_rest_api", create_rest_api)
    cloud.hook(Method, "to_json", method_dict)
    cloud.hook(Integration, "to_json", integration_dict)
    cloud.hook(IntegrationResponse, "to_json", integration_response_dict)
    cloud.hook(APIGatewayBackend, "put_integration", put_integration)
    cloud.hook(RequestValidator, "to_dict", request_validator_dict)
    cloud.hook(APIGatewayResponse, "get_stages", get_stages)
    cloud.hook(Stage, "to_json", stage_dict)
    cloud.hook(APIGatewayBackend, "import_rest_api", import_rest_api)
    cloud.hook(APIGatewayBackend, "put_rest_api", put_rest_api)
    cloud.hook(Stage, "apply_operations", stage_updated)
    cloud.hook(VpcLink, "to_json", vpc_link_dict)
    cloud.hook(APIGatewayResponse, "create_vpc_link", create_vpc_link)
    cloud.hook(APIGatewayResponse, "get_vpc_links", get_vpc_links)
    cloud.hook(APIGatewayResponse, "put_integration", put_integration_response)
    cloud.add_middleware(control.middleware)
    cloud.add_middleware(model_status_middleware("apigateway"))
