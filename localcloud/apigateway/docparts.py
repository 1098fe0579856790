"""API Gateway documentation parts (moto 5.2 has none): Create/Get/Update/Delete
DocumentationPart, GetDocumentationParts and ImportDocumentationParts' refusal of a document
it cannot read (https://docs.aws.amazon.com/apigateway/latest/api/API_DocumentationPart.html).

A part is `{id, location: {type, path?, method?, statusCode?, name?}, properties}` where
`properties` is a JSON string; `location.type` is one of AWS's twelve
(https://docs.aws.amazon.com/apigateway/latest/api/API_DocumentationPartLocation.html).
UpdateDocumentationPart accepts only `replace /properties`. The parts live on moto's RestAPI
object (attribute `localcloud_documentation_parts`), so they are kept and deleted with it.
ImportDocumentationParts (and ImportRestApi/PutRestApi, through `patches.import_rest_api`)
take the parts of an OpenAPI document's `x-amazon-apigateway-documentation` (a path-bound
location without a path is `/`); a document that cannot be read is refused with 400
`Unable to build importer with provided input.`, as AWS answers.
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


def _document(body: bytes) -> dict | None:
    """The OpenAPI document in the body (JSON or YAML); None when it cannot be read."""
    try:
        doc = json.loads(body)
    except ValueError:
        try:
            import yaml
            doc = yaml.safe_load(body)
        except Exception:  # noqa: BLE001 - yaml's errors are many; any is "cannot read"
            return None
    return doc if isinstance(doc, dict) and ("openapi" in doc or "swagger" in doc) else None


# location types whose part is about a path (AWS fills in "/" when the document names none)
_PATH_TYPES = ("RESOURCE", "METHOD", "PATH_PARAMETER", "QUERY_PARAMETER", "REQUEST_HEADER",
               "REQUEST_BODY", "RESPONSE", "RESPONSE_HEADER", "RESPONSE_BODY")


def import_parts(api: Any, doc: dict, mode: str = "merge") -> list[str]:
    """The document's `x-amazon-apigateway-documentation.documentationParts` as parts
    (`overwrite`: they replace every part; `merge`: a part at the same location is replaced);
    the new parts' ids in the document's order."""
    section = doc.get("x-amazon-apigateway-documentation")
    entries = section.get("documentationParts") if isinstance(section, dict) else None
    store = parts(api)
    if mode == "overwrite":
        store.clear()
    ids = []
    for entry in entries if isinstance(entries, list) else []:
        location = dict(entry.get("location") or {}) if isinstance(entry, dict) else {}
        if location.get("type") in _PATH_TYPES:
            location.setdefault("path", "/")
        for pid in [k for k, p in store.items() if p["location"] == location]:
            store.pop(pid)
        properties = entry.get("properties") if isinstance(entry, dict) else None
        ids.append(create(api, {"location": location,
                                "properties": json.dumps(properties if properties is not None
                                                         else {})})["id"])
    return ids


def serve(backend: Any, verb: str, segs: list[str], body: bytes,
          mode: str = "merge") -> tuple[int, Any] | None:
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
            doc = _document(body)
            if doc is None:
                raise bad_request("Unable to build importer with provided input.")
            return 200, {"ids": import_parts(api, doc, mode)}
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
