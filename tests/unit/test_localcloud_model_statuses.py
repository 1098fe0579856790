"""localcloud/iam/statuses.py: success statuses and bodies as each operation's model names."""
from localcloud.iam.statuses import model_status_middleware

_AUTH = ("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/{svc}/aws4_request, "
         "SignedHeaders=host, Signature=00")


def _call(svc: str, method: str, path: str, body: bytes) -> tuple[str, bytes]:
    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]

    seen = {}

    def start_response(status, headers, exc_info=None):
        seen["status"] = status

    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "",
               "HTTP_AUTHORIZATION": _AUTH.format(svc=svc), "wsgi.input": None}
    out = b"".join(model_status_middleware(svc)(app)(environ, start_response))
    return seen["status"], out


def test_a_202_delete_with_an_output_keeps_its_body():
    # DeleteEventSourceMapping answers 202 with the mapping (State Deleting)
    status, body = _call("lambda", "DELETE", "/2015-03-31/event-source-mappings/abc",
                         b'{"UUID": "abc", "State": "Deleting"}')
    assert status.startswith("202") and b"Deleting" in body


def test_a_202_delete_without_an_output_is_empty():
    status, body = _call("apigateway", "DELETE", "/restapis/abc123", b"{}")
    assert status.startswith("202") and body == b""
