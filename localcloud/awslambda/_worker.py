"""The Lambda execution environment: run as `python -I -S _worker.py` by awslambda.runtime.

Standard library only (it runs before sys.path holds anything else). Protocol, JSON lines:
  stdin  <- {"init": {...}} once, then {"id", "payload", "deadline_ms", "arn"} per invoke
  fd R   -> one line per request: init reply, then one reply per invoke
fd R is a private copy of the original stdout; fd 1 itself is pointed at stderr, so stray
writes to the process's stdout never corrupt the protocol. print()/logging inside the
function are captured per invoke and returned in "logs" (they go to CloudWatch Logs).
"""
import io
import json
import logging
import os
import sys
import time
import traceback


def _contain(plan):
    """Enter the execution environment's walls (localcloud/core/_contain.py, loaded by path:
    nothing of the local cloud is importable here). Returns inside them; this process
    becomes the environment's supervisor and never returns from it."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_localcloud_contain", plan["contain"])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.enter(plan)


if os.environ.get("LOCALCLOUD_SANDBOX"):
    try:
        _contain(json.loads(os.environ.pop("LOCALCLOUD_SANDBOX")))
    except Exception as exc:  # fail closed: never run a function unisolated by surprise
        sys.stderr.write(f"localcloud: could not isolate the execution environment: {exc}\n")
        sys.stderr.flush()
        os._exit(70)

_RESP_FD = os.dup(1)
os.dup2(2, 1)


class _Capture(io.TextIOBase):
    """sys.stdout / sys.stderr of the function: collects text for the current invoke."""

    def __init__(self):
        self.parts = []

    def writable(self):
        return True

    def write(self, s):
        if s:
            self.parts.append(s)
        return len(s)

    def take(self):
        text = "".join(self.parts)
        self.parts = []
        return text

    @property
    def encoding(self):
        return "utf-8"


_CAPTURE = _Capture()


class LambdaContext:
    def __init__(self, request_id, arn, deadline_ms, env):
        self.aws_request_id = request_id
        self.invoked_function_arn = arn
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        # a string, as AWS's Python runtime (awslambdaric's LambdaContext) gives it
        self.memory_limit_in_mb = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        return max(0, int(self._deadline_ms - time.time() * 1000))

    def __repr__(self):
        return (f"LambdaContext(aws_request_id={self.aws_request_id!r}, "
                f"function_name={self.function_name!r})")


class _RequestIdFilter(logging.Filter):
    request_id = ""

    def filter(self, record):
        record.aws_request_id = _RequestIdFilter.request_id
        return True


def _setup_logging():
    # AWS's format; the handler ends each record with one newline (no blank line between).
    handler = logging.StreamHandler(_CAPTURE)
    handler.setFormatter(logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
        "%Y-%m-%dT%H:%M:%S"))
    handler.formatter.converter = time.gmtime
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.WARNING)  # Lambda's default; functions lower it themselves


def _send(obj):
    data = (json.dumps(obj, separators=(",", ":")) + "\n").encode()
    view = memoryview(data)
    while view:
        n = os.write(_RESP_FD, view)
        view = view[n:]


def _error(exc, request_id=None, error_type=None, message=None, with_trace=True):
    doc = {"errorMessage": message if message is not None else str(exc),
           "errorType": error_type or type(exc).__name__}
    if request_id:
        doc["requestId"] = request_id
    doc["stackTrace"] = (traceback.format_list(traceback.extract_tb(exc.__traceback__)[1:])
                         if with_trace else [])
    return doc


def _log_error(doc, exc=None):
    lines = [f"[ERROR] {doc['errorType']}: {doc['errorMessage']}"]
    if exc is not None and doc.get("stackTrace"):
        lines.append("Traceback (most recent call last):")
        lines.extend(s.rstrip("\n") for s in doc["stackTrace"])
    _CAPTURE.write("\n".join(lines) + "\n")


def _load_handler(handler_spec):
    module_name, _, func_name = handler_spec.rpartition(".")
    if not module_name or not func_name:
        return None, {"errorMessage": f"Bad handler '{handler_spec}': not enough values to unpack "
                                      "(expected 2, got 1)",
                      "errorType": "Runtime.MalformedHandlerName", "stackTrace": []}
    import importlib
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as exc:
        doc = _error(exc, error_type="Runtime.ImportModuleError",
                     message=f"Unable to import module '{module_name}': {exc}", with_trace=False)
        return None, doc
    except SyntaxError as exc:
        doc = _error(exc, error_type="Runtime.UserCodeSyntaxError",
                     message=f"Syntax error in module '{module_name}': {exc}")
        return None, doc
    except Exception as exc:  # noqa: BLE001 - reported to the caller as AWS does
        return None, _error(exc)
    func = getattr(module, func_name, None)
    if func is None:
        return None, {"errorMessage": f"Handler '{func_name}' missing on module '{module_name}'",
                      "errorType": "Runtime.HandlerNotFound", "stackTrace": []}
    return func, None


_STATUS_FD = None


def _max_rss_mb():
    """Peak resident memory of this process (VmHWM) in MB, for REPORT's Max Memory Used.

    Read from /proc/self/status (kept open, one pread per invoke): getrusage's ru_maxrss is
    kept across fork+exec on Linux, so it would report the local cloud's own peak (~200 MB),
    not the function's."""
    global _STATUS_FD
    try:
        if _STATUS_FD is None:
            _STATUS_FD = os.open("/proc/self/status", os.O_RDONLY)
        data = os.pread(_STATUS_FD, 8192, 0)
        start = data.index(b"VmHWM:")
        return int(data[start + 6:data.index(b"kB", start)]) // 1024
    except (OSError, ValueError):
        pass
    try:
        import resource
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak // (1 << 20) if sys.platform == "darwin" else peak // 1024  # bytes there
    except (ImportError, OSError):
        return 0


def main():
    stdin = sys.stdin.buffer
    init = json.loads(stdin.readline())["init"]
    sys.path[:0] = init["sys_path"]
    sys.stdout = sys.stderr = _CAPTURE
    _setup_logging()
    env = os.environ
    t0 = time.perf_counter()
    handler, init_error = _load_handler(init["handler"])
    init_ms = (time.perf_counter() - t0) * 1000
    if init_error:
        _log_error(init_error)
    _send({"init_ok": init_error is None, "error": init_error, "logs": _CAPTURE.take(),
           "init_ms": init_ms})
    if init_error:
        return
    for line in stdin:
        req = json.loads(line)
        rid = req["id"]
        _RequestIdFilter.request_id = rid
        ctx = LambdaContext(rid, req["arn"], req["deadline_ms"], env)
        reply = {"id": rid}
        t0 = time.perf_counter()
        try:
            raw = req.get("payload") or ""
            event = json.loads(raw) if raw.strip() else {}
            result = handler(event, ctx)
            try:
                reply["result"] = json.dumps(result, separators=(",", ":"))
            except (TypeError, ValueError) as exc:
                doc = {"errorMessage": f"Unable to marshal response: {exc}",
                       "errorType": "Runtime.MarshalError", "requestId": rid, "stackTrace": []}
                _log_error(doc)
                reply["error"] = doc
        except Exception as exc:  # noqa: BLE001 - the function's error, reported as AWS does
            doc = _error(exc, rid)
            _log_error(doc, exc)
            reply["error"] = doc
        reply["duration_ms"] = (time.perf_counter() - t0) * 1000
        reply["max_rss_mb"] = _max_rss_mb()
        reply["logs"] = _CAPTURE.take()
        _send(reply)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
