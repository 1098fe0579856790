"""Rules botocore's models do not carry, each from AWS's documentation:

| Rule | Code, status | AWS documentation |
|---|---|---|
| S3 bucket names: 3-63 chars, lower-case letters, digits, `.`, `-`; start/end alnum; no `..`, not an IP address, no `xn--`/`sthree-` prefix, no `-s3alias`/`--ol-s3` suffix | `InvalidBucketName`, 400 | https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html |
| S3 object keys at most 1024 bytes of UTF-8 | `KeyTooLongError`, 400 | https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html , https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html |
| `Content-MD5`: base64 of the 16-byte MD5 of the body; unreadable -> `InvalidDigest`, different -> `BadDigest` | 400 | https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html , ErrorResponses.html |
| `x-amz-content-sha256`: the hex SHA-256 of the body, or `UNSIGNED-PAYLOAD` / `STREAMING-*`; different -> `XAmzContentSHA256Mismatch`, unreadable -> `InvalidArgument` | 400 | https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html |
| `max-keys`, `max-uploads`, `max-parts`, `part-number-marker`: integers 0..2147483647 | `InvalidArgument`, 400 | https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html |
| Conditional writes: one of `If-None-Match` (only `*`) and `If-Match` (an ETag, not `*`) | `NotImplemented` 501 with `Header` | https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html |
| XML request bodies: well formed, no DTD or entities, the payload's root element and members | `MalformedXML`, 400 | https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html |
| Bucket policies: JSON object, `Statement` with `Effect` Allow/Deny, `Principal`, `Action`, `Resource` | `MalformedPolicy`, 400 | https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html , https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-policies.html |
| IAM policy and trust documents: JSON, `Statement` present, nesting no deeper than the grammar allows | `MalformedPolicyDocument`, 400 | https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html |
| `x-amz-grant-*` headers: `id=` (a canonical user ID), `uri=` or `emailAddress=` grantees, quoted or not | `InvalidArgument`, 400 | https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObjectAcl.html |
| A method an S3 resource has no operation for (POST on an object without a subresource) | `MethodNotAllowed`, 405 | https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html |
| Lambda code: `ZipFile`, `S3Bucket`+`S3Key` or `ImageUri` | `InvalidParameterValueException`, 400 | https://docs.aws.amazon.com/lambda/latest/api/API_FunctionCode.html |
| API Gateway tag operations: a resource ARN | `BadRequestException`, 400 | https://docs.aws.amazon.com/apigateway/latest/api/API_TagResource.html |
| SSM parameter names: letters, digits, `.-_`, `/`-separated paths; a read of a path must begin with `/` (AWS's recorded answer) | `ValidationException`, 400 | https://docs.aws.amazon.com/systems-manager/latest/userguide/sysman-paramstore-su-create.html |
| CloudWatch Logs StartQuery: one of `logGroupName`, `logGroupNames`, `logGroupIdentifiers` | `InvalidParameterException`, 400 | https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_StartQuery.html |
| EventBridge event patterns: a JSON object | `InvalidEventPatternException`, 400 | https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html |
| S3 tags: keys and values of letters, digits, spaces and `_ . : / = + - @`, no key twice, no `aws:` key; `x-amz-tagging` URL-encoded without duplicates | `InvalidTag` / `InvalidArgument`, 400 | https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObjectTagging.html , https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/Using_Tags.html#tag-restrictions |
| S3 notification key filters: each `FilterRule` a `Name` (`prefix`/`suffix`) and a `Value` | `MalformedXML` / `InvalidArgument`, 400 | https://docs.aws.amazon.com/AmazonS3/latest/API/API_FilterRule.html |
| S3 Object Lock configuration: `ObjectLockEnabled` Enabled, a rule's default retention with a mode and one of Days/Years | `MalformedXML`, 400 | https://docs.aws.amazon.com/AmazonS3/latest/API/API_DefaultRetention.html |
| S3 Transfer Acceleration: no bucket with a `.` in its name | `InvalidRequest`, 400 | https://docs.aws.amazon.com/AmazonS3/latest/userguide/transfer-acceleration.html |
| S3 versioning: `Status` Enabled or Suspended; a document with neither status nor MFA delete | `MalformedXML` / `IllegalVersioningConfigurationException`, 400 | https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutBucketVersioning.html |
| S3 part numbers 1..10,000 | `InvalidArgument`, 400 | https://docs.aws.amazon.com/AmazonS3/latest/API/API_UploadPart.html |
| S3 RestoreObject: `Days` unless a SELECT restore | `MalformedXML`, 400 | https://docs.aws.amazon.com/AmazonS3/latest/API/API_RestoreObject.html |
| STS role ARNs: `arn:<partition>:iam::<12 digits>:role/<path+name>` | `ValidationError` "Request ARN is invalid", 400 | https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-arns |
| STS AssumeRoleWithSAML: a base64 SAML response | `InvalidIdentityToken`, 400 | https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRoleWithSAML.html |
| API Gateway PutRestApi/ImportRestApi: an OpenAPI/Swagger document (JSON or YAML) with `paths` | `BadRequestException`, 400 | https://docs.aws.amazon.com/apigateway/latest/api/API_PutRestApi.html |
| IAM `Path` members: begin and end with `/` | `ValidationError` "The specified value for path is invalid. ...", 400 | https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-friendly-names |
| Lambda `EphemeralStorage.Size` at most 10,240 MB (the model says 32,768) | `ValidationException`, 400 | https://docs.aws.amazon.com/lambda/latest/dg/configuration-ephemeral-storage.html |
| S3 PutObjectLockConfiguration without a body | `MissingRequestBodyError` "Request Body is empty", 400 | https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html |
| Lambda FunctionName/Qualifier: a full ARN of another region; a Qualifier differing from the name's; DeleteFunction of `$LATEST` or an alias; tags on a version or alias ARN; AddPermission on `$LATEST` or for a principal that is not `*`, an account, an ARN or a service; a layer version below 1 | `ResourceNotFoundException` 404 / `InvalidParameterValueException` 400 | https://docs.aws.amazon.com/lambda/latest/api/API_DeleteFunction.html , https://docs.aws.amazon.com/lambda/latest/api/API_GetFunction.html (wording: AWS's recorded answers) |
| Lambda Invoke payloads: 6 MB synchronous, 1 MB asynchronous (`Event`; 256 KB before Oct 2025) | `RequestEntityTooLargeException`, 413 | https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html |

Each rule returns None (fine) or a `Refusal`.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import json
import re
from dataclasses import dataclass, field
from typing import Any

from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException
from xml.etree.ElementTree import ParseError


@dataclass
class Refusal:
    code: str
    message: str
    status: int = 400
    extra: dict = field(default_factory=dict)  # more S3 <Error> elements


# ---- S3 ------------------------------------------------------------------------------------
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
MAX_KEY_BYTES = 1024
# ListObjects words the argument maxKeys, ListParts by its query name (moto's tests record
# "Argument max-parts must be an integer between 0 and 2147483647")
_INT_ARGS = {"max-keys": "maxKeys", "max-uploads": "maxUploads", "max-parts": "max-parts",
             "part-number-marker": "part-number-marker"}
_INT_MAX = 2147483647
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


def bucket_name(name: str) -> Refusal | None:
    bad = (not _BUCKET.fullmatch(name) or ".." in name or ".-" in name or "-." in name
           or name.startswith(("xn--", "sthree-", "amzn-s3-demo-"))
           or name.endswith(("-s3alias", "--ol-s3", ".mrap", "--x-s3")))
    if not bad:
        try:
            ipaddress.IPv4Address(name)
            bad = True
        except ValueError:
            pass
    if bad:
        return Refusal("InvalidBucketName", "The specified bucket is not valid.",
                       extra={"BucketName": name})
    return None


def key_length(key: str) -> Refusal | None:
    n = len(key.encode("utf-8", "surrogatepass"))
    if n > MAX_KEY_BYTES:
        return Refusal("KeyTooLongError", "Your key is too long",
                       extra={"MaxSizeAllowed": str(MAX_KEY_BYTES), "Size": str(n)})
    return None


def part_number(query: dict) -> Refusal | None:
    raw = query.get("partNumber")
    if raw is None:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= 10000:
        return Refusal("InvalidArgument", "Part number must be an integer between 1 and 10000, "
                       "inclusive", extra={"ArgumentName": "partNumber", "ArgumentValue": raw})
    return None


def int_arguments(query: dict) -> Refusal | None:
    for name, arg in _INT_ARGS.items():
        raw = query.get(name)
        if raw is None:
            continue
        try:
            value = int(raw)
        except ValueError:
            value = None
        if value is None or not 0 <= value <= _INT_MAX or not raw.strip().lstrip("-").isdigit():
            if value is None or value > _INT_MAX:
                msg = f"Provided {name} not an integer or within integer range"
            else:
                msg = f"Argument {arg} must be an integer between 0 and {_INT_MAX}"
            return Refusal("InvalidArgument", msg,
                           extra={"ArgumentName": name, "ArgumentValue": raw})
    return None


def content_md5(header: str, body: bytes) -> Refusal | None:
    try:
        digest = base64.b64decode(header.strip(), validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != 16:
        return Refusal("InvalidDigest", "The Content-MD5 you specified was invalid.",
                       extra={"Content-MD5": header})
    if hashlib.md5(body, usedforsecurity=False).digest() != digest:
        return Refusal("BadDigest", "The Content-MD5 you specified did not match what we received.",
                       extra={"ExpectedDigest": header,
                              "CalculatedDigest": base64.b64encode(
                                  hashlib.md5(body, usedforsecurity=False).digest()).decode()})
    return None


def content_sha256(header: str, body: bytes) -> Refusal | None:
    value = header.strip()
    if value == "UNSIGNED-PAYLOAD" or value.startswith("STREAMING-"):
        return None
    if not _HEX64.fullmatch(value):
        return Refusal("InvalidArgument", "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, "
                       "STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, "
                       "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, "
                       "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD, "
                       "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER or a valid sha256 value.",
                       extra={"ArgumentName": "x-amz-content-sha256", "ArgumentValue": header})
    computed = hashlib.sha256(body).hexdigest()
    if computed != value.lower():
        return Refusal("XAmzContentSHA256Mismatch",
                       "The provided 'x-amz-content-sha256' header does not match what was computed.",
                       extra={"ClientComputedContentSHA256": value,
                              "S3ComputedContentSHA256": computed})
    return None


def conditional_write(if_none_match: str | None, if_match: str | None) -> Refusal | None:
    """The conditional-write headers' grammar (AWS's recorded answers): not both at once,
    `If-None-Match` only `*`, `If-Match` an ETag (never `*`). Whether the condition holds is
    evaluated against the object by `localcloud.s3.conditional`."""
    not_implemented = "A header you provided implies functionality that is not implemented"
    if if_none_match is not None and if_match is not None:
        return Refusal("NotImplemented", not_implemented, status=501, extra={
            "Header": "If-Match,If-None-Match",
            "additionalMessage": "Multiple conditional request headers present in the request"})
    for name, value, allowed in (("If-None-Match", if_none_match, True),
                                 ("If-Match", if_match, False)):
        if value is not None and (value.strip() == "*") != allowed:
            return Refusal("NotImplemented", not_implemented, status=501, extra={
                "Header": name, "additionalMessage":
                    f"We don't accept the provided value of {name} header for this API"})
    return None


def _tag_chars_ok(text: str) -> bool:
    """AWS's tag character set: Unicode letters, digits, spaces and `_ . : / = + - @`."""
    return all(ch.isalnum() or ch.isspace() or ch in "_.:/=+-@" for ch in text)


def tag_set(body: bytes, bucket: bool) -> tuple[Refusal | None, bool]:
    """PutBucketTagging / PutObjectTagging: (refusal, has_tag_set). A `Tagging` without a
    `TagSet` removes every tag, as an empty one does (AWS's recorded answers); keys and values
    in AWS's tag character set, no key twice, no `aws:` key."""
    try:
        root = SafeET.fromstring(body, forbid_dtd=True)
    except (ParseError, DefusedXmlException, ValueError, UnicodeError):
        return None, True  # the payload check words it
    if _local(root.tag) != "Tagging":
        return None, True  # the payload check refuses it
    tagset = next((c for c in root if _local(c.tag) == "TagSet"), None)
    if tagset is None:
        return None, False
    return tag_list(list(tagset), "System tags cannot be added/updated by requester" if bucket
                    else "Your TagKey cannot be prefixed with aws:", True), True


AWS_PREFIX_AT_CREATE = ('User-defined tag keys can\'t start with "aws:". This prefix is reserved '
                        'for system tags. Remove "aws:" from your tag keys and try again.')


def tag_list(tags: list, aws_prefix: str, name_key: bool) -> Refusal | None:
    """`<Tag><Key/><Value/></Tag>` elements checked as S3 checks them (see `tag_set`)."""
    seen = set()
    for tag in tags:
        fields = {_local(c.tag): (c.text or "") for c in tag}
        if "Key" not in fields or "Value" not in fields:
            return Refusal("MalformedXML", MALFORMED_XML)
        key, value = fields["Key"], fields["Value"]
        if key in seen:
            return Refusal("InvalidTag", "Cannot provide multiple Tags with the same key",
                           extra={"TagKey": key})
        seen.add(key)
        if key.startswith("aws:"):
            return Refusal("InvalidTag", aws_prefix, extra={"TagKey": key} if name_key else {})
        if not key or len(key) > 128 or not _tag_chars_ok(key):
            return Refusal("InvalidTag", "The TagKey you have provided is invalid",
                           extra={"TagKey": key})
        if len(value) > 256 or not _tag_chars_ok(value):
            return Refusal("InvalidTag", "The TagValue you have provided is invalid",
                           extra={"TagKey": key, "TagValue": value})
    return None


def create_bucket_tags(body: bytes) -> Refusal | None:
    """CreateBucket's `CreateBucketConfiguration/Tags` (tags set at creation)."""
    try:
        root = SafeET.fromstring(body, forbid_dtd=True)
    except (ParseError, DefusedXmlException, ValueError, UnicodeError):
        return None  # the payload check words it
    tags = next((c for c in root if _local(c.tag) == "Tags"), None)
    return None if tags is None else tag_list(list(tags), AWS_PREFIX_AT_CREATE, False)


def notification_filters(body: bytes) -> Refusal | None:
    """PutBucketNotificationConfiguration's key filters: each `FilterRule` has a `Name` and a
    `Value` (else MalformedXML), the name `prefix` or `suffix` (AWS's recorded answers)."""
    try:
        root = SafeET.fromstring(body, forbid_dtd=True)
    except (ParseError, DefusedXmlException, ValueError, UnicodeError):
        return None  # the payload check words it
    for rule in root.iter():
        if _local(rule.tag) != "FilterRule":
            continue
        fields = {_local(c.tag): (c.text or "") for c in rule}
        if "Name" not in fields or "Value" not in fields:
            return Refusal("MalformedXML", MALFORMED_XML)
        if fields["Name"].lower() not in ("prefix", "suffix"):
            return Refusal("InvalidArgument", "filter rule name must be either prefix or suffix",
                           extra={"ArgumentName": "FilterRule.Name",
                                  "ArgumentValue": fields["Name"]})
    return None


def object_lock_configuration(body: bytes) -> Refusal | None:
    """PutObjectLockConfiguration's document: `ObjectLockEnabled` Enabled; a `Rule` holds a
    `DefaultRetention` with a `Mode` (GOVERNANCE or COMPLIANCE) and exactly one of `Days` and
    `Years` (API_DefaultRetention; AWS answers MalformedXML otherwise)."""
    try:
        root = SafeET.fromstring(body, forbid_dtd=True)
    except (ParseError, DefusedXmlException, ValueError, UnicodeError):
        return None  # the payload check words it
    kids = {_local(c.tag): c for c in root}
    bad = Refusal("MalformedXML", MALFORMED_XML)
    if (kids.get("ObjectLockEnabled") is None or
            (kids["ObjectLockEnabled"].text or "").strip() != "Enabled"):
        return bad
    rule = kids.get("Rule")
    if rule is None:
        return None
    retention = next((c for c in rule if _local(c.tag) == "DefaultRetention"), None)
    if retention is None:
        return bad
    fields = {_local(c.tag): (c.text or "").strip() for c in retention}
    if fields.get("Mode") not in ("GOVERNANCE", "COMPLIANCE") or \
            ("Days" in fields) == ("Years" in fields):
        return bad
    return None


def versioning_configuration(body: bytes) -> Refusal | None:
    """PutBucketVersioning: `Status` Enabled or Suspended (case matters; MalformedXML
    otherwise); a document naming neither a status nor MFA delete is
    `IllegalVersioningConfigurationException` (AWS's recorded answers)."""
    try:
        root = SafeET.fromstring(body, forbid_dtd=True)
    except (ParseError, DefusedXmlException, ValueError, UnicodeError):
        return None  # the payload check words it
    fields = {_local(c.tag): (c.text or "").strip() for c in root}
    if "Status" in fields and fields["Status"] not in ("Enabled", "Suspended"):
        return Refusal("MalformedXML", MALFORMED_XML)
    if "Status" not in fields and "MfaDelete" not in fields:
        return Refusal("IllegalVersioningConfigurationException",
                       "The Versioning element must be specified")
    return None


ACCELERATE_DOTS = ("S3 Transfer Acceleration is not supported for buckets with periods (.) in "
                   "their names")


def tagging_header(value: str) -> Refusal | None:
    """`x-amz-tagging` (PutObject, CreateMultipartUpload, CopyObject): URL-encoded query
    parameters, each key once, in AWS's tag character set."""
    from urllib.parse import parse_qsl

    pairs = parse_qsl(value, keep_blank_values=True)
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)) or not all(_tag_chars_ok(k) and _tag_chars_ok(v)
                                              for k, v in pairs):
        return Refusal("InvalidArgument", "The header 'x-amz-tagging' shall be encoded as UTF-8 "
                       "then URLEncoded URL query parameters without tag name duplicates.",
                       extra={"ArgumentName": "x-amz-tagging", "ArgumentValue": value})
    return None


MALFORMED_XML = ("The XML you provided was not well-formed or did not validate against our "
                 "published schema")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _xml_fits(elem: Any, node: Any, depth: int = 0) -> bool:
    """Does `elem` fit the shape `node` (a botocore shape): known children, scalars without
    children, required members present?"""
    if depth > 32:
        return False
    t = node.type_name
    if t == "structure":
        members = {}
        for name, sub in node.members.items():
            if sub.serialization.get("location"):
                continue
            members[sub.serialization.get("name", name)] = sub
            if sub.type_name == "list" and sub.serialization.get("flattened"):
                members[sub.member.serialization.get("name", sub.serialization.get("name", name))] = sub
        for child in elem:
            sub = members.get(_local(child.tag))
            if sub is None:
                return False
            if sub.type_name == "list" and sub.serialization.get("flattened"):
                if not _xml_fits(child, sub.member, depth + 1):
                    return False
            elif not _xml_fits(child, sub, depth + 1):
                return False
        present = {_local(c.tag) for c in elem}
        for name in node.required_members:
            sub = node.members[name]
            if sub.serialization.get("location") or sub.serialization.get("xmlAttribute"):
                continue  # a header, or an attribute (a Grantee's xsi:type), not a child
            wire = sub.serialization.get("name", name)
            if sub.type_name == "list" and sub.serialization.get("flattened"):
                wire = sub.member.serialization.get("name", wire)
            if wire not in present:
                return False
        return True
    if t == "list":
        item = node.member
        wire = item.serialization.get("name", "member")
        return all(_local(c.tag) == wire and _xml_fits(c, item, depth + 1) for c in elem)
    if t == "map":
        return True
    if len(elem):
        return False  # a scalar with child elements
    text = (elem.text or "").strip()
    try:
        if t in ("integer", "long"):
            int(text)
        elif t in ("float", "double"):
            float(text)
        elif t == "boolean":
            return text in ("true", "false")
    except ValueError:
        return False
    if getattr(node, "enum", None) and text not in node.enum and t == "string":
        return True  # enum values: S3 answers its own codes per field; moto's checks stand
    return True


def xml_payload(body: bytes, payload_shape: Any, root_name: str, required: bool) -> Refusal | None:
    """An S3 XML request body: parsed without DTDs or entities (billion laughs, XXE), its root
    named as the model says, its elements the payload shape's."""
    if not body.strip():
        return Refusal("MalformedXML", MALFORMED_XML) if required else None
    try:
        root = SafeET.fromstring(body, forbid_dtd=True)
    except (ParseError, DefusedXmlException, ValueError, UnicodeError):
        return Refusal("MalformedXML", MALFORMED_XML)
    if payload_shape is None:
        return None
    if _local(root.tag) != root_name or not _xml_fits(root, payload_shape):
        return Refusal("MalformedXML", MALFORMED_XML)
    return None


_GRANTEE = re.compile(r'\s*(id|uri|emailaddress)=("[^"]*"|[^",]*)\s*', re.IGNORECASE)
_CANONICAL_ID = re.compile(r"[0-9a-fA-F]{64}")


def grant_headers(environ: dict) -> Refusal | None:
    """`x-amz-grant-*`: a comma-separated list of `id=...`, `uri=...` or `emailAddress=...`
    grantees, the value quoted or not (the AWS CLI's own examples send
    `uri=http://acs.amazonaws.com/groups/global/AllUsers`); an `id` is a canonical user ID
    (64 hex digits), else S3 answers "Invalid id" (PutObjectAcl / PutBucketAcl API reference)."""
    for name in ("READ", "WRITE", "READ_ACP", "WRITE_ACP", "FULL_CONTROL"):
        value = environ.get("HTTP_X_AMZ_GRANT_" + name)
        if value is None:
            continue
        for part in value.split(","):
            m = _GRANTEE.fullmatch(part)
            ok = m is not None and (m.group(1).lower() != "id"
                                    or _CANONICAL_ID.fullmatch(m.group(2).strip('"')))
            if not ok:
                return Refusal("InvalidArgument", "Invalid id",
                               extra={"ArgumentName": "x-amz-grant-" + name.lower().replace("_", "-"),
                                      "ArgumentValue": value})
    return None


METHOD_NOT_ALLOWED = Refusal("MethodNotAllowed",
                             "The specified method is not allowed against this resource.",
                             status=405)


# ---- policies (S3 bucket policies, IAM documents) -------------------------------------------
MAX_POLICY_DEPTH = 8  # Statement[ {Condition {operator {key [values]}}}] is 6 deep


def json_depth_ok(text: str, limit: int = MAX_POLICY_DEPTH) -> bool:
    depth = 0
    in_str = esc = False
    for ch in text:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return False
        elif ch in "]}":
            depth -= 1
    return True


def _policy_doc(text: str) -> dict | None:
    if not json_depth_ok(text):
        return None
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) else None


def _statements(doc: dict) -> list | None:
    st = doc.get("Statement")
    if isinstance(st, dict):
        st = [st]
    if not isinstance(st, list) or not st or not all(isinstance(s, dict) for s in st):
        return None
    return st


def _strings(value: Any) -> bool:
    if isinstance(value, str):
        return True
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)


def bucket_policy(body: bytes, bucket: str) -> Refusal | None:
    text = body.decode("utf-8", "replace")
    if not text.lstrip().startswith("{"):
        return Refusal("MalformedPolicy", "Policies must be valid JSON and the first byte must be '{'")
    doc = _policy_doc(text)
    if doc is None:
        return Refusal("MalformedPolicy", "Policies must be valid JSON and the first byte must be '{'")
    statements = _statements(doc)
    if statements is None:
        return Refusal("MalformedPolicy", "Missing required field Statement")
    for st in statements:
        if st.get("Effect") not in ("Allow", "Deny"):
            return Refusal("MalformedPolicy", "Invalid effect: " + str(st.get("Effect"))
                           if "Effect" in st else "Missing required field Effect")
        if "Principal" not in st and "NotPrincipal" not in st:
            return Refusal("MalformedPolicy", "Missing required field Principal")
        actions = st.get("Action", st.get("NotAction"))
        if actions is None:
            return Refusal("MalformedPolicy", "Missing required field Action")
        if not _strings(actions) or any(
                a != "*" and not a.lower().startswith("s3:")
                for a in ([actions] if isinstance(actions, str) else actions)):
            return Refusal("MalformedPolicy", "Policy has invalid action")
        resources = st.get("Resource", st.get("NotResource"))
        if resources is None:
            return Refusal("MalformedPolicy", "Missing required field Resource")
        if not _strings(resources) or any(
                not (r.startswith(f"arn:aws:s3:::{bucket}") or r in ("*", "arn:aws:s3:::*"))
                for r in ([resources] if isinstance(resources, str) else resources)):
            return Refusal("MalformedPolicy", "Policy has invalid resource")
    return None


def iam_policy_document(text: str) -> Refusal | None:
    """A policy or trust document given to IAM: JSON, a Statement, grammar-deep at most.
    (moto's own validator then checks the grammar's elements, with AWS's messages.)"""
    if not json_depth_ok(text):
        return Refusal("MalformedPolicyDocument", "Syntax errors in policy.")
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        return Refusal("MalformedPolicyDocument", "This policy contains invalid Json")
    if not isinstance(doc, dict) or "Statement" not in doc:
        return Refusal("MalformedPolicyDocument", "Syntax errors in policy.")
    st = doc["Statement"]
    if not (isinstance(st, dict) or (isinstance(st, list) and all(isinstance(s, dict) for s in st))):
        return Refusal("MalformedPolicyDocument", "Syntax errors in policy.")
    return None


# Which IAM operations carry which document member.
IAM_DOCUMENTS = {
    "CreateRole": "AssumeRolePolicyDocument",
    "UpdateAssumeRolePolicy": "PolicyDocument",
    "PutRolePolicy": "PolicyDocument",
    "PutUserPolicy": "PolicyDocument",
    "PutGroupPolicy": "PolicyDocument",
    "CreatePolicy": "PolicyDocument",
    "CreatePolicyVersion": "PolicyDocument",
    "PutRolePermissionsBoundary": None,
}


# ---- Lambda -------------------------------------------------------------------------------
SYNC_PAYLOAD_MAX = 6 * 1024 * 1024       # 6,291,456 bytes
ASYNC_PAYLOAD_MAX = 1024 * 1024          # 1 MB since Oct 2025 (was 256 KB)


_SSM_NAME = re.compile(r"/?[a-zA-Z0-9_.\-]+(/[a-zA-Z0-9_.\-]+)*")
_SSM_NAME_MSG = ('Parameter name: can\'t be prefixed with "aws" or "ssm" (case-insensitive). '
                 "If formed as a path, it can consist of sub-paths divided by slash symbol; each "
                 "sub-path can be formed as a mix of letters, numbers and the following 3 "
                 "symbols .-_")


def ssm_parameter_name(name: str, selector_allowed: bool, read: bool = False) -> Refusal | None:
    """A parameter name as SSM takes it; `read` (GetParameter, GetParameters): a name with
    a hierarchy must be fully qualified (`/a/b/c`, not `a/b/c`), as AWS answers a read (a
    top-level name is found with or without its leading slash)."""
    if name.startswith("arn:"):
        name = name.split(":parameter", 1)[-1] or "x"
    elif read and "/" in name.split(":", 1)[0] and not name.startswith("/"):
        return Refusal("ValidationException", _SSM_NAME_MSG)
    if selector_allowed and ":" in name:
        # `name:version` or `name:label`; a malformed selector (`name:2:3`) is a parameter
        # that is not found (ParameterNotFound), which the service answers itself
        name, _, selector = name.partition(":")
        if not selector:
            return Refusal("ValidationException", _SSM_NAME_MSG)
    # the "aws"/"ssm" prefixes are refused by the service itself, in AWS's words for each
    # form (a name, a path, which prefix)
    if not _SSM_NAME.fullmatch(name):
        return Refusal("ValidationException", _SSM_NAME_MSG)
    return None


def logs_start_query(params: dict) -> Refusal | None:
    if not (params.get("logGroupName") or params.get("logGroupNames")
            or params.get("logGroupIdentifiers")):
        return Refusal("InvalidParameterException",
                       "Specify exactly one of logGroupName, logGroupNames or logGroupIdentifiers")
    return None


def logs_names(op: str, params: dict) -> Refusal | None:
    """CloudWatch Logs' own refusals before its model's (recorded AWS answers, LocalStack's
    test_logs_groups / test_logs_streams snapshots): a group or stream name over 512
    characters; DescribeLogGroups with both a prefix and a pattern; DescribeLogStreams with
    both a group name and a group identifier."""
    if op in ("CreateLogGroup", "CreateLogStream") and any(
            isinstance(params.get(k), str) and len(params[k]) > 512
            for k in ("logGroupName", "logStreamName")):
        return Refusal("InvalidParameterException", "Invalid LogGroup or LogStream, both must "
                       "have length less than or equal to 512.")
    if op == "DescribeLogGroups" and params.get("logGroupNamePrefix") and \
            params.get("logGroupNamePattern"):
        return Refusal("InvalidParameterException", "LogGroup name prefix and LogGroup name "
                       "pattern are mutually exclusive parameters.")
    if op == "DescribeLogStreams" and params.get("logGroupName") and \
            params.get("logGroupIdentifier"):
        return Refusal("ValidationException", "LogGroup name and LogGroup ARN are mutually "
                       "exclusive parameters.")
    return None


def event_pattern(pattern: Any) -> Refusal | None:
    if pattern is None or pattern == "":  # an empty pattern is none (a scheduled rule's)
        return None
    try:
        doc = json.loads(pattern) if isinstance(pattern, str) and json_depth_ok(pattern, 32) else None
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        return Refusal("InvalidEventPatternException",
                       "Event pattern is not valid. Reason: Filter is not an object")
    return None


_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+")


def role_arn(arn: Any) -> Refusal | None:
    if isinstance(arn, str) and not _ROLE_ARN.fullmatch(arn):
        return Refusal("ValidationError", "Request ARN is invalid")
    return None


def saml_assertion(value: Any) -> Refusal | None:
    if not isinstance(value, str):
        return None
    try:
        base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return Refusal("InvalidIdentityToken", "Invalid base64 SAMLResponse")
    return None


def code_source(code: Any) -> Refusal | None:
    """CreateFunction's Code / PublishLayerVersion's Content: a zip, an S3 bucket and key, or
    an image (FunctionCode, LayerVersionContentInput in the Lambda API reference)."""
    if not isinstance(code, dict):
        return None
    if code.get("ZipFile") or code.get("ImageUri") or (code.get("S3Bucket") and code.get("S3Key")):
        return None
    return Refusal("InvalidParameterValueException", "Please provide a source for function code.")


def apigateway_arn(arn: str) -> Refusal | None:
    """Tag operations take an API Gateway resource ARN (arn:aws:apigateway:region::/path)."""
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn" or parts[2] != "apigateway" or not parts[5].startswith("/"):
        return Refusal("BadRequestException", f"Invalid ARN: {arn}")
    return None


def openapi_document(body: bytes) -> Refusal | None:
    """PutRestApi / ImportRestApi: the body is an OpenAPI (or Swagger) definition, JSON or
    YAML, with `paths` (API Gateway's wording, as moto's tests record it)."""
    import json

    import yaml

    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        doc = None
    try:
        if doc is None:
            doc = yaml.safe_load(body or b"")
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        return Refusal("BadRequestException",
                       f"Failed to parse the uploaded OpenAPI document due to: {str(exc)[:200]}")
    if not isinstance(doc, dict) or not isinstance(doc.get("paths"), dict):
        return Refusal("BadRequestException", "Failed to parse the uploaded OpenAPI document due "
                                              "to: 'paths' is a required property")
    return None


# IAM's own answer to a Path that does not begin and end with `/` (moto records it for
# CreateVirtualMFADevice); every IAM Path member has the same pattern.
IAM_PATH_INVALID = ("The specified value for path is invalid. It must begin and end with / and "
                    "contain only alphanumeric characters and/or / characters.")

# AttachRolePolicy / AttachUserPolicy with a PolicyArn that is no ARN (a policy's bare name):
# ValidationError "Invalid ARN:  Could not be parsed!" (two spaces; AWS's recorded answers,
# LocalStack's test_iam.snapshot.json test_role_attach_policy / test_user_attach_policy), where
# moto answers NoSuchEntity.
IAM_ARN_CHECKED = ("AttachRolePolicy", "AttachUserPolicy")
IAM_ARN_UNPARSABLE = "Invalid ARN:  Could not be parsed!"


def iam_policy_arn(operation: str | None, arn: Any) -> Refusal | None:
    if operation not in IAM_ARN_CHECKED or not isinstance(arn, str):
        return None
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn" or not parts[1] or not parts[2] or not parts[5]:
        return Refusal("ValidationError", IAM_ARN_UNPARSABLE)
    return None


# IAM's service-specific credential operations leave the value (and an enum's values) out of
# their validation messages: "Value at 'serviceSpecificCredentialId' failed to satisfy
# constraint: Member must satisfy regular expression pattern: [\w]+", "Value at 'status'
# failed to satisfy constraint: Member must satisfy enum value set" (AWS's recorded answers,
# LocalStack's test_iam.snapshot.json, TestIAMServiceSpecificCredentials).
IAM_VALUE_UNQUOTED = ("UpdateServiceSpecificCredential", "ResetServiceSpecificCredential",
                      "DeleteServiceSpecificCredential", "CreateServiceSpecificCredential",
                      "ListServiceSpecificCredentials")
_QUOTED_VALUE = re.compile(r"^Value '.*?' at '", re.S)
_ENUM_VALUES = re.compile(r"enum value set: \[[^\]]*\]$")


def iam_unquoted(operation: str | None, errors: list[str]) -> list[str]:
    if operation not in IAM_VALUE_UNQUOTED:
        return errors
    return [_ENUM_VALUES.sub("enum value set", _QUOTED_VALUE.sub("Value at '", e))
            for e in errors]


LAMBDA_EPHEMERAL_MAX_MB = 10240


def lambda_ephemeral_storage(params: dict, errors: list[str]) -> list[str]:
    """EphemeralStorage.Size is 512..10,240 MB (the Lambda guide); botocore's model allows
    32,768. Replaces the model's upper bound with the documented one."""
    size = (params.get("EphemeralStorage") or {}).get("Size") \
        if isinstance(params.get("EphemeralStorage"), dict) else None
    errors = [e for e in errors if not (" at 'ephemeralStorage.size' " in e
                                        and "less than or equal to" in e)]
    if isinstance(size, int) and not isinstance(size, bool) and size > LAMBDA_EPHEMERAL_MAX_MB:
        errors.append(f"Value '{size}' at 'ephemeralStorage.size' failed to satisfy constraint: "
                      f"Member must have value less than or equal to {LAMBDA_EPHEMERAL_MAX_MB}")
    return errors


def invoke_payload(size: int, invocation_type: str | None) -> Refusal | None:
    limit = ASYNC_PAYLOAD_MAX if invocation_type == "Event" else SYNC_PAYLOAD_MAX
    if size > limit:
        return Refusal("RequestEntityTooLargeException",
                       f"Request must be smaller than {limit} bytes for the InvokeFunction operation",
                       status=413)
    return None


# A Lambda FunctionName: a name, a partial ARN (`<account>:function:<name>`) or a full ARN,
# each with an optional `:<qualifier>` (API_GetFunction, "FunctionName").
_FN_ARN = re.compile(r"arn:[^:]*:lambda:([^:]*):([^:]*):function(?::([^:]*))?(?::([^:]*))?")
_FN_PARTIAL = re.compile(r"(\d{12}:)?(function:)?([^:]+)(?::([^:]*))?")
_ALIAS = re.compile(r"(?!^[0-9]+$)[a-zA-Z0-9-_]+")
QUALIFIER_MISMATCH = "The derived qualifier from the function name does not match the specified qualifier."


@dataclass
class FunctionRef:
    name: str
    qualifier: str | None = None   # the one the FunctionName carries
    region: str | None = None      # a full ARN's region


def function_ref(function_name: str) -> FunctionRef | None:
    """What a FunctionName names (None when it does not parse as one)."""
    m = _FN_ARN.fullmatch(function_name)
    if m:
        # `arn:aws:lambda:<region>:<account>:function` names the function "function" (AWS's
        # not-found answer for it)
        return FunctionRef(m.group(3) or "function", m.group(4), m.group(1))
    m = _FN_PARTIAL.fullmatch(function_name)
    if m and not function_name.startswith("arn:"):
        return FunctionRef(m.group(3), m.group(4))
    return None


def lambda_function_ref(operation: str, function_name: Any, qualifier: Any,
                        region: str) -> Refusal | None:
    """What Lambda refuses from the FunctionName and Qualifier alone, before it looks the
    function up (recorded AWS answers: a full ARN of another region is 404 "not reachable";
    a Qualifier differing from the one in the name, `$LATEST` or an alias to DeleteFunction
    are InvalidParameterValueException)."""
    if not isinstance(function_name, str):
        return None
    ref = function_ref(function_name)
    if ref is None:
        return None
    if ref.region and ref.region != region:
        return Refusal("ResourceNotFoundException", f"Functions from '{ref.region}' are not "
                       f"reachable in this region ('{region}')", status=404)
    if isinstance(qualifier, str) and ref.qualifier is not None and qualifier != ref.qualifier:
        return Refusal("InvalidParameterValueException", QUALIFIER_MISMATCH)
    if operation == "AddPermission" and (qualifier if isinstance(qualifier, str)
                                         else ref.qualifier) == "$LATEST":
        return Refusal("InvalidParameterValueException",
                       "We currently do not support adding policies for $LATEST.")
    if operation == "DeleteFunction":
        q = qualifier if isinstance(qualifier, str) else ref.qualifier
        if q == "$LATEST":
            return Refusal("InvalidParameterValueException",
                           "$LATEST version cannot be deleted without deleting the function.")
        if q is not None and _ALIAS.fullmatch(q):
            return Refusal("InvalidParameterValueException",
                           "Deletion of aliases is not currently supported.")
    return None


_TAG_OPS = ("TagResource", "UntagResource", "ListTags")


def lambda_tag_resource(operation: str, resource: Any) -> Refusal | None:
    """Tags belong to a function, not to one of its versions or aliases (API_TagResource)."""
    if operation in _TAG_OPS and isinstance(resource, str):
        m = _FN_ARN.fullmatch(resource)
        if m and m.group(4) is not None:
            return Refusal("InvalidParameterValueException", "Tags on function aliases and "
                           "versions are not supported. Please specify a function ARN.")
    return None


_SERVICE_PRINCIPAL = re.compile(r"[a-z0-9.-]+\.(amazonaws\.com(\.cn)?|amazon\.com)")


def lambda_principal(principal: Any) -> Refusal | None:
    """AddPermission's Principal: `*`, an account id, an ARN or an AWS service principal
    (API_AddPermission)."""
    if not isinstance(principal, str) or principal == "*" or principal.startswith("arn:") \
            or re.fullmatch(r"\d{12}", principal) or _SERVICE_PRINCIPAL.fullmatch(principal):
        return None
    return Refusal("InvalidParameterValueException",
                   "The provided principal was invalid. Please check the principal and try again.")


_LAYER_VERSION_OPS = ("GetLayerVersion", "DeleteLayerVersion", "GetLayerVersionPolicy",
                      "AddLayerVersionPermission", "RemoveLayerVersionPermission")


def lambda_layer_version(operation: str, version: Any) -> Refusal | None:
    """Layer versions count from 1 (API_GetLayerVersion; AWS's recorded answer)."""
    if operation in _LAYER_VERSION_OPS and isinstance(version, (str, int)):
        try:
            low = int(version) < 1
        except ValueError:
            return None
        if low:
            return Refusal("InvalidParameterValueException", "Layer Version Cannot be less than 1")
    return None
