"""S3 POST Object (a browser-based upload: `generate_presigned_post`, an HTML form) held to its
policy document as S3 holds it ("Browser-Based Uploads Using POST", "Creating a POST Policy"
in the S3 API reference):

- the policy is base64 JSON with `expiration` (ISO 8601) and `conditions`; past its
  expiration -> 403 `AccessDenied` "Invalid according to Policy: Policy expired.";
- every condition must hold: `{"field": "value"}` and `["eq", "$field", "value"]` exact,
  `["starts-with", "$field", "prefix"]` (an empty prefix: any value), `{"bucket": ...}` the
  bucket posted to, `["content-length-range", min, max]` the file's size (else 400
  `EntityTooSmall` / `EntityTooLarge`); a failed one -> 403 `AccessDenied` "Invalid according
  to Policy: Policy Condition failed: [...]";
- every form field except `x-amz-signature`, `signature`, `awsaccesskeyid`, `file`, `policy`
  and `x-ignore-*` must appear in a condition, else 403 `AccessDenied` "Invalid according to
  Policy: Extra input fields: <name>";
- field names match case-insensitively, values exactly.

The signature over the policy and the signer are checked by `auth.py`; what the signer may
do (`s3:PutObject` on the key) is IAM's (`requests.parse` reads the form's key).
"""
from __future__ import annotations

import base64
import datetime as _dt
import io
import json
from dataclasses import dataclass

EXEMPT = ("x-amz-signature", "signature", "awsaccesskeyid", "file", "policy")


@dataclass
class Form:
    fields: dict[str, str]        # lower-cased name -> value (text fields)
    file_name: str | None = None
    file_size: int | None = None


class PolicyError(Exception):
    """kind: "policy" (403 AccessDenied), "too-large" / "too-small" (400), "malformed"."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message


def parse_form(content_type: str, body: bytes) -> Form:
    from werkzeug.formparser import parse_form_data

    env = {"REQUEST_METHOD": "POST", "CONTENT_TYPE": content_type,
           "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)}
    try:
        _, form, files = parse_form_data(env)
    except Exception:  # noqa: BLE001 - a malformed form: no fields
        return Form({})
    fields = {k.lower(): form.get(k) for k in form.keys()}
    upload = files.get("file")
    if upload is None:
        return Form(fields)
    data = upload.stream.read()
    return Form(fields, upload.filename or "", len(data))


def decode(policy: str) -> dict:
    try:
        doc = json.loads(base64.b64decode(policy, validate=False))
    except ValueError:
        raise PolicyError("malformed", "Invalid Policy: Invalid JSON.") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("conditions", []), list):
        raise PolicyError("malformed", "Invalid Policy: Invalid 'conditions' value.")
    if "expiration" not in doc:
        raise PolicyError("malformed", "Invalid Policy: Policy missing expiration.")
    return doc


def _expiration(value: object) -> _dt.datetime:
    text = str(value)
    for fmt in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return _dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
    raise PolicyError("malformed", f"Invalid Policy: Invalid 'expiration' value: '{text}'")


def _show(cond: object) -> str:
    return json.dumps(cond).replace(", ", ",").replace(",", ", ")


def check(doc: dict, form: Form, bucket: str, now: _dt.datetime) -> None:
    """PolicyError unless the form is what the policy allows."""
    if _expiration(doc["expiration"]) <= now:
        raise PolicyError("policy", "Invalid according to Policy: Policy expired.")
    values = dict(form.fields)
    values["bucket"] = bucket
    named: set[str] = set()
    for cond in doc.get("conditions") or []:
        if isinstance(cond, dict):
            if len(cond) != 1:
                raise PolicyError("malformed", "Invalid Policy: Invalid Simple-Condition: "
                                  "Simple-Conditions must have exactly one property specified.")
            (name, want), = cond.items()
            name = name.lower()
            named.add(name)
            if values.get(name) != str(want):
                raise PolicyError("policy", "Invalid according to Policy: Policy Condition "
                                  f"failed: [\"eq\", \"${name}\", {json.dumps(str(want))}]")
            continue
        if not isinstance(cond, list) or not cond:
            raise PolicyError("malformed", "Invalid Policy: Invalid Condition.")
        op = str(cond[0]).lower()
        if op == "content-length-range" and len(cond) == 3:
            try:
                low, high = int(cond[1]), int(cond[2])
            except (TypeError, ValueError):
                raise PolicyError("malformed", "Invalid Policy: Invalid content-length-range "
                                  "condition.") from None
            size = form.file_size or 0
            if size > high:
                raise PolicyError("too-large", "Your proposed upload exceeds the maximum "
                                  "allowed size")
            if size < low:
                raise PolicyError("too-small", "Your proposed upload is smaller than the "
                                  "minimum allowed size")
            continue
        if op not in ("eq", "starts-with") or len(cond) != 3 or \
                not str(cond[1]).startswith("$"):
            raise PolicyError("malformed", f"Invalid Policy: Invalid Condition: {_show(cond)}")
        name = str(cond[1])[1:].lower()
        named.add(name)
        have = values.get(name)
        want = str(cond[2])
        ok = (have == want) if op == "eq" else (want == "" or (have or "").startswith(want))
        if not ok:
            raise PolicyError("policy", "Invalid according to Policy: Policy Condition failed: "
                              f"{_show(cond)}")
    extra = [n for n in form.fields if n not in named and n not in EXEMPT and
             not n.startswith("x-ignore-")]
    if extra:
        raise PolicyError("policy", "Invalid according to Policy: Extra input fields: " +
                          ", ".join(extra))


def object_key(form: Form) -> str | None:
    """The key the object is stored under (`${filename}` replaced by the file's name)."""
    key = form.fields.get("key")
    if key is None:
        return None
    return key.replace("${filename}", form.file_name or "")
