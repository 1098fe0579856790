"""What a cloud's start does before it imports moto, to import less and parse less.

- ``skip_unused_imports``: moto's apigateway imports jsonschema, which imports
  ``rfc3987_syntax`` (when installed) only for the optional ``iri`` format checks; that
  module compiles 39 lark grammars at import (1-5 s, most of a start). Nothing here checks
  formats, so it is not imported: jsonschema treats it as absent (its own ImportError path).
- ``share_region_lists``: moto's EC2 lists the partitions' regions at import with three new
  boto3 Sessions, and moto's backends list each service's regions the same way; every new
  botocore Session parses botocore's endpoints.json (1.25 MB) and the service's model (EC2's
  is megabytes) again to answer ``get_available_regions``. The answer depends only on
  botocore's own data, so in this process one session answers it, once per (service,
  partition, non-regional), for every session; one with a data path of its own is answered
  as before.
"""
from __future__ import annotations

import functools
import sys

_REGIONS: dict[tuple[str, str, bool], tuple[str, ...]] = {}


def skip_unused_imports() -> None:
    if "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]


def share_region_lists() -> None:
    import threading

    from botocore.session import Session

    original = Session.get_available_regions
    if getattr(original, "localcloud_shared", False):
        return
    reference: list = []  # the one session that parses botocore's data, made on first use
    lock = threading.Lock()

    @functools.wraps(original)
    def get_available_regions(self, service_name, partition_name="aws", allow_non_regional=False):
        if self.get_config_variable("data_path"):
            return original(self, service_name, partition_name, allow_non_regional)
        key = (service_name, partition_name, bool(allow_non_regional))
        regions = _REGIONS.get(key)
        if regions is None:
            with lock:
                if not reference:
                    reference.append(Session())
                regions = _REGIONS[key] = tuple(original(reference[0], service_name,
                                                         partition_name, allow_non_regional))
        return list(regions)

    get_available_regions.localcloud_shared = True  # type: ignore[attr-defined]
    Session.get_available_regions = get_available_regions


def prepare_imports() -> None:
    skip_unused_imports()
    share_region_lists()
