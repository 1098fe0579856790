"""API Gateway documentation parts (moto 5.2 has none): Create/Get/Update/Delete
DocumentationPart, GetDocumentationParts and ImportDocumentationParts' refusal of a document
it cannot read (https://docs.aws.amazon.com/apigateway/latest/api/API_DocumentationPart.html).

A part is `{id, location: {type, path?, method?, statusCode?, name?}, properties}` where
`properties` is a JSON string; `location.type` is one of AWS's twelve
(https://docs.aws.amazon.com/apigateway/latest/api/API_DocumentationPartLocation.html).
UpdateDocumentationPart accepts only `replace /properties`. The parts live on moto's RestAPI
object (attribute `localcloud_documentation_parts`), so they are kept and deleted with it.
Importing parts from an OpenAPI document (`x-amazon-apigateway-documentation`) is not
served: such a request answers 501 NotImplemented unless the document cannot be read (400
`Unable to build importer with provided input.`, as AWS answers).
"""
from __future__ import annotations

import json
import random
import string
from typing import Any

from .updates import ApiError, bad_request, not_found, replaced_path

ATTR = "localcloud_documentation_parts"
LOCATION_TYPES = ("RESPONSE_BODY", "RESPONSE", "METHOD", "MODEL", "AUTHORIZER",
                  "RESPONSE_HEADER", "RESOURCE", "PATH_PARAMETER", "REQUEST_BODY",
                  "QUERY_PARAMETER", "API", "REQUEST_HEADER")  # AWS's order in its message
MISSING = "Invalid Documentation part identifier specified"


def parts(api: Any) -> dict:
    found = getattr(api, ATTR, None)
    if found is None:
        found = {}
        setattr(api, ATTR, found)
    return found


def _id() -> str:
    return "".join(random.choices(string.ascii_lowercase + string.digits, k=6))


def create(api: Any, doc: dict) -> dict:
    location = doc.get("location") if isinstance(doc.get("location"), dict) else {}
    kind = location.get("type")
    if kind not in LOCATION_TYPES:
        raise ApiError(400, "ValidationException", (
            f"1 validation error detected: Value '{kind}' at "
            "'createDocumentationPartInput.location.type' failed to satisfy constraint: Member "
            f"must satisfy enum value set: [{', '.join(LOCATION_TYPES)}]"))
    properties = doc.get("properties")
    if not isinstance(properties, str):
        raise bad_request("Invalid properties: must be a JSON string")
    try:
        json.loads(properties)
    except ValueError:
        raise bad_request("Documentation part properties must be valid JSON") from None
    part = {"id": _id(), "location": {k: v for k, v in location.items() if v is not None},
            "properties": properties}
    parts(api)[part["id"]] = part
    return dict(part)


def update(part: dict, operations: list[dict]) -> dict:
    for op in operations:
        replaced_path(op, ("/properties",))
        part["properties"] = op.get("value")
    return dict(part)


def _readable(body: bytes) -> bool:
    try:
        doc = json.loads(body)
    except ValueError:
        try:
            import yaml
            doc = yaml.safe_load(body)
        except Exception:  # noqa: BLE001 - yaml's errors are many; any is "cannot read"
            return False
    return isinstance(doc, dict) and ("openapi" in doc or "swagger" in doc)


def serve(backend: Any, verb: str, segs: list[str], body: bytes) -> tuple[int, Any] | None:
    """(status, document) for /restapis/{id}/documentation/parts[/{part}]."""
    api = backend.apis.get(segs[1])
    if api is None:
        return None
    store = parts(api)
    if len(segs) == 4:
        if verb == "GET":
            return 200, {"item": [dict(p) for p in store.values()]}  # the wire name of `items`
        if verb == "POST":
            try:
                doc = json.loads(body or b"{}")
            except ValueError:
                raise ApiError(400, "SerializationException", "Malformed request body") from None
            return 201, create(api, doc if isinstance(doc, dict) else {})
        if verb == "PUT":
            if not _readable(body):
                raise bad_request("Unable to build importer with provided input.")
            return None  # importing parts is not served: moto answers NotImplemented
        return None
    part = store.get(segs[4])
    if part is None:
        raise not_found(MISSING)
    if verb == "GET":
        return 200, dict(part)
    if verb == "DELETE":
        store.pop(segs[4])
        return 202, {}
    if verb == "PATCH":
        try:
            doc = json.loads(body or b"{}")
        except ValueError:
            raise ApiError(400, "SerializationException", "Malformed request body") from None
        ops = (doc.get("patchOperations") or []) if isinstance(doc, dict) else []
        if not isinstance(ops, list) or not all(isinstance(op, dict) for op in ops):
            raise ApiError(400, "SerializationException",
                           "patchOperations must be a list of PatchOperation objects")
        return 200, update(part, ops)
    return None
