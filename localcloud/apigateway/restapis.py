"""CreateRestApi refused as AWS refuses it (recorded AWS answers; moto accepts all of these).

In AWS's order: the model's enums first, all named in one ValidationException
(`endpointConfiguration.types` is a list: `Value '[wrong]' … Member must satisfy constraint:
[Member must satisfy enum value set: [PRIVATE, EDGE, REGIONAL]]`; `ipAddressType` one of
`[ipv4, dualstack]`), then API Gateway's own rules, each a BadRequestException:

- `description` may be left out, not empty: `Description cannot be an empty string`;
- `minimumCompressionSize` 0..10485760 (https://docs.aws.amazon.com/apigateway/latest/api/API_CreateRestApi.html):
  `Invalid minimum compression size, must be between 0 and 10485760`;
- `endpointConfiguration.types`: exactly one type (`[]`: `REGIONAL Configuration and EDGE
  Configuration cannot be both DISABLED.`; two: `Cannot create an api with multiple Endpoint
  Types.`); a PRIVATE API is dualstack only (`Only dualstack ipAddressType is supported for
  Private APIs.`).
"""
from __future__ import annotations

from .updates import ApiError, bad_request

ENDPOINT_TYPES = ("PRIVATE", "EDGE", "REGIONAL")
IP_ADDRESS_TYPES = ("ipv4", "dualstack")
MAX_COMPRESSION = 10485760


def check_create(doc: dict) -> None:
    """Raise ApiError as AWS refuses a CreateRestApi body (not an import: that has no name)."""
    conf = doc.get("endpointConfiguration")
    conf = conf if isinstance(conf, dict) else {}
    types = conf.get("types")
    ip_type = conf.get("ipAddressType")
    errors = []
    if isinstance(types, list) and any(t not in ENDPOINT_TYPES for t in types):
        errors.append(
            f"Value '[{', '.join(str(t) for t in types)}]' at "
            "'createRestApiInput.endpointConfiguration.types' failed to satisfy constraint: "
            "Member must satisfy constraint: [Member must satisfy enum value set: "
            "[PRIVATE, EDGE, REGIONAL]]")
    if ip_type is not None and ip_type not in IP_ADDRESS_TYPES:
        errors.append(
            f"Value '{ip_type}' at 'createRestApiInput.endpointConfiguration.ipAddressType' "
            "failed to satisfy constraint: Member must satisfy enum value set: [ipv4, dualstack]")
    if errors:
        count = f"{len(errors)} validation error{'s' if len(errors) > 1 else ''} detected: "
        raise ApiError(400, "ValidationException", count + "; ".join(errors))
    if doc.get("description") == "":
        raise bad_request("Description cannot be an empty string")
    size = doc.get("minimumCompressionSize")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool)
                             or not 0 <= size <= MAX_COMPRESSION):
        raise bad_request("Invalid minimum compression size, must be between 0 and 10485760")
    if isinstance(types, list):
        if not types:
            raise bad_request("REGIONAL Configuration and EDGE Configuration cannot be both "
                              "DISABLED.")
        if len(types) > 1:
            raise bad_request("Cannot create an api with multiple Endpoint Types.")
        if types[0] == "PRIVATE" and ip_type == "ipv4":
            raise bad_request("Only dualstack ipAddressType is supported for Private APIs.")


def serve(verb: str, segs: list[str], body: bytes, content_type: str) -> None:
    """POST /restapis with a JSON body naming the API: refuse what AWS refuses."""
    import json

    if verb != "POST" or segs != ["restapis"] or "json" not in (content_type or "json"):
        return
    try:
        doc = json.loads(body or b"{}")
    except ValueError:
        return
    if isinstance(doc, dict) and "name" in doc:
        check_create(doc)
