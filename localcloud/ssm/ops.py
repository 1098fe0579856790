"""SSM OpsItems and UpdateMaintenanceWindow, as AWS's SSM examples use them (moto has neither).

AWS's SDK examples for Systems Manager (the "getting started" scenario) create a maintenance
window, change it with UpdateMaintenanceWindow and delete it; and create an OpsItem
(CreateOpsItem: Title, Source, Category, Severity, Description), change and resolve it
(UpdateOpsItem: Title, Description, Status), find it (DescribeOpsItems filtered by OpsItemId)
and delete it (DeleteOpsItem). Those calls are served here, as the API reference describes
them:

- CreateOpsItem answers OpsItemId (`oi-` + 12 hex digits) and OpsItemArn; the item is `Open`,
  of type `/aws/issue` unless OpsItemType says otherwise, Version 1, created and last modified
  by the caller.
- GetOpsItem answers the OpsItem; an unknown id is `OpsItemNotFoundException`.
- UpdateOpsItem changes the members it names and LastModifiedBy/Time; unknown id:
  `OpsItemNotFoundException`; a Status outside the model's enum: `ValidationException`.
- DescribeOpsItems: OpsItemFilters (Key, Values, Operator Equal/Contains) on OpsItemId,
  Status, Title, Source, Severity, Category, OpsItemType; MaxResults 1..50 and NextToken.
- DeleteOpsItem removes it; it is idempotent (no error for an id already gone).
- UpdateMaintenanceWindow changes the window's members it names (`Replace` clears the
  optional ones it leaves out) and answers the window; unknown id: `DoesNotExistException`.

OpsItems live per account and region, kept across restarts with the cloud's state
(`register_state`). The moto objects a maintenance window update touches are named in
patches.py (with tripwires).
"""
from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any, Callable

from localcloud.core.body import read_json_object
from localcloud.core.moto_request import account_of, region_of

from . import patches, wire

_PREFIX = "AmazonSSM."
SERVED = frozenset(_PREFIX + op for op in (
    "CreateOpsItem", "GetOpsItem", "UpdateOpsItem", "DescribeOpsItems", "DeleteOpsItem",
    "UpdateMaintenanceWindow"))

_FILTER_KEYS = {"OpsItemId": "OpsItemId", "Status": "Status", "Title": "Title",
                "Source": "Source", "Severity": "Severity", "Category": "Category",
                "OpsItemType": "OpsItemType", "Priority": "Priority"}
_SUMMARY = ("CreatedBy", "CreatedTime", "LastModifiedBy", "LastModifiedTime", "Priority",
            "Source", "Status", "OpsItemId", "Title", "OperationalData", "Category", "Severity",
            "OpsItemType")
_UPDATABLE = ("Title", "Description", "Status", "Priority", "Category", "Severity",
              "Notifications", "RelatedOpsItems", "ActualStartTime", "ActualEndTime",
              "PlannedStartTime", "PlannedEndTime")


class ServiceError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _status_values() -> tuple[str, ...]:
    import botocore.session

    shape = botocore.session.get_session().get_service_model("ssm").shape_for("OpsItemStatus")
    return tuple(shape.enum)


class OpsItems:
    """The OpsItems of every account and region: {(account, region): {id: item}}."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[tuple[str, str], dict[str, dict]] = {}
        self._statuses: tuple[str, ...] | None = None

    # -- state ---------------------------------------------------------------------------
    def dump(self) -> dict:
        with self._lock:
            return {f"{a}|{r}": dict(items) for (a, r), items in self._items.items()}

    def load(self, value: dict) -> None:
        with self._lock:
            self._items = {tuple(k.split("|", 1)): dict(v) for k, v in value.items()}

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    # -- operations ----------------------------------------------------------------------
    def create(self, account: str, region: str, caller: str, req: dict) -> dict:
        missing = [m for m in ("Description", "Source", "Title") if not req.get(m)]
        if missing:
            raise ServiceError("ValidationException", "; ".join(
                f"Value null at '{m[:1].lower()}{m[1:]}' failed to satisfy constraint: "
                "Member must not be null" for m in missing))
        now = time.time()
        item_id = "oi-" + uuid.uuid4().hex[:12]
        item = {k: req[k] for k in ("Title", "Description", "Source", "Priority", "Category",
                                    "Severity", "OperationalData", "Notifications",
                                    "RelatedOpsItems", "ActualStartTime", "ActualEndTime",
                                    "PlannedStartTime", "PlannedEndTime") if k in req}
        item.update({
            "OpsItemId": item_id, "OpsItemType": req.get("OpsItemType") or "/aws/issue",
            "Status": "Open", "Version": "1", "CreatedBy": caller, "LastModifiedBy": caller,
            "CreatedTime": now, "LastModifiedTime": now,
            "OpsItemArn": f"arn:aws:ssm:{region}:{account}:opsitem/{item_id}",
        })
        with self._lock:
            self._items.setdefault((account, region), {})[item_id] = item
        return {"OpsItemId": item_id, "OpsItemArn": item["OpsItemArn"]}

    def _find(self, account: str, region: str, item_id: Any) -> dict:
        item = self._items.get((account, region), {}).get(item_id) if isinstance(item_id, str) \
            else None
        if item is None:
            raise ServiceError("OpsItemNotFoundException",
                               f"OpsItemId {item_id} not found.")
        return item

    def get(self, account: str, region: str, req: dict) -> dict:
        with self._lock:
            return {"OpsItem": dict(self._find(account, region, req.get("OpsItemId")))}

    def update(self, account: str, region: str, caller: str, req: dict) -> dict:
        status = req.get("Status")
        if status is not None:
            if self._statuses is None:
                self._statuses = _status_values()
            if status not in self._statuses:
                raise ServiceError(
                    "ValidationException",
                    f"1 validation error detected: Value '{status}' at 'status' failed to "
                    "satisfy constraint: Member must satisfy enum value set: "
                    f"[{', '.join(self._statuses)}]")
        with self._lock:
            item = self._find(account, region, req.get("OpsItemId"))
            for key in _UPDATABLE:
                if key in req:
                    item[key] = req[key]
            if "OperationalData" in req:
                item["OperationalData"] = {**item.get("OperationalData", {}),
                                           **req["OperationalData"]}
            for key in req.get("OperationalDataToDelete") or []:
                item.get("OperationalData", {}).pop(key, None)
            item["Version"] = str(int(item["Version"]) + 1)
            item["LastModifiedBy"] = caller
            item["LastModifiedTime"] = time.time()
        return {}

    def describe(self, account: str, region: str, req: dict) -> dict:
        filters = req.get("OpsItemFilters") or []
        for f in filters:
            if f.get("Key") not in _FILTER_KEYS or f.get("Operator") not in (
                    "Equal", "Contains") or not f.get("Values"):
                raise ServiceError("OpsItemInvalidParameterException",
                                   f"Invalid filter: {json.dumps(f)[:200]}")
        size = req.get("MaxResults") or 50
        if not isinstance(size, int) or not 1 <= size <= 50:
            raise ServiceError("ValidationException",
                               f"1 validation error detected: Value '{size}' at 'maxResults' "
                               "failed to satisfy constraint: Member must have value less "
                               "than or equal to 50")
        token = req.get("NextToken")
        start = int(token) if isinstance(token, str) and token.isdigit() else 0
        with self._lock:
            items = sorted(self._items.get((account, region), {}).values(),
                           key=lambda i: (i["CreatedTime"], i["OpsItemId"]))
            chosen = [{k: i[k] for k in _SUMMARY if k in i} for i in items
                      if all(_matches(i, f) for f in filters)]
        page = chosen[start:start + size]
        doc: dict = {"OpsItemSummaries": page}
        if start + size < len(chosen):
            doc["NextToken"] = str(start + size)
        return doc

    def delete(self, account: str, region: str, req: dict) -> dict:
        with self._lock:
            self._items.get((account, region), {}).pop(req.get("OpsItemId"), None)
        return {}


def _matches(item: dict, f: dict) -> bool:
    value = str(item.get(_FILTER_KEYS[f["Key"]], ""))
    if f["Operator"] == "Equal":
        return value in f["Values"]
    return any(v in value for v in f["Values"])


def update_maintenance_window(backend: Any, req: dict) -> dict:
    from moto.ssm.exceptions import DoesNotExistException

    window_id = req.get("WindowId")
    try:
        window = backend.get_maintenance_window(window_id)
    except DoesNotExistException:
        raise ServiceError("DoesNotExistException",
                           f"Maintenance window {window_id} does not exist") from None
    patches.update_window(window, req)
    doc = patches.window_json(window)
    return {k: doc[k] for k in ("WindowId", "Name", "Description", "StartDate", "EndDate",
                                "Schedule", "ScheduleTimezone", "ScheduleOffset", "Duration",
                                "Cutoff", "AllowUnassociatedTargets", "Enabled")
            if doc.get(k) is not None}


def _caller_arn(environ: dict, account: str) -> str:
    caller = environ.get("localcloud.caller")
    arn = caller.arn if caller is not None else ""
    return arn or f"arn:aws:iam::{account}:root"


def middleware_factory(store: OpsItems) -> Callable:
    def factory(app: Callable, _cloud: Any) -> Callable:
        def middleware(environ: dict, start_response: Callable) -> Any:
            target = environ.get("HTTP_X_AMZ_TARGET", "")
            if target not in SERVED:
                return app(environ, start_response)
            req = read_json_object(environ)
            if req is None:
                return wire.error(start_response, "SerializationException", "body is not JSON")
            account, region = account_of(environ), region_of(environ)
            op = target[len(_PREFIX):]
            try:
                if op == "CreateOpsItem":
                    doc = store.create(account, region, _caller_arn(environ, account), req)
                elif op == "GetOpsItem":
                    doc = store.get(account, region, req)
                elif op == "UpdateOpsItem":
                    doc = store.update(account, region, _caller_arn(environ, account), req)
                elif op == "DescribeOpsItems":
                    doc = store.describe(account, region, req)
                elif op == "DeleteOpsItem":
                    doc = store.delete(account, region, req)
                else:
                    from moto.ssm.models import ssm_backends
                    doc = update_maintenance_window(ssm_backends[account][region], req)
            except ServiceError as exc:
                return wire.error(start_response, exc.code, exc.message)
            return wire.answer(start_response, "200 OK", doc)
        return middleware
    return factory


def install(cloud: Any) -> None:
    store = OpsItems()
    cloud.ops_items = store  # for tests
    cloud.register_state("ssm.ops_items", store.dump, store.load)
    patches.install_windows(cloud)
    cloud.add_middleware(middleware_factory(store))
