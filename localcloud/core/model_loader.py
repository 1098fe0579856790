"""One botocore data loader per process for the local cloud (AWS's service models and
endpoints parsed once).

Every botocore session builds a loader of its own, with its own cache: a session made to ask
one question parses `endpoints.json` or a service model again. moto does that as it is imported
(EC2's availability zones call boto3's `get_available_regions` three times, each on a new
session), and so do the cloud's own model lookups. `share()` makes every session of the process
take the loader of its data path from one table, and keeps boto3 from appending its data
directory to a shared loader more than once. The models are read-only once loaded.
"""
from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_loaders: dict = {}


class _UniquePaths(list):
    """A loader's search paths: boto3 appends its data directory to each session's loader."""

    def append(self, path: Any) -> None:
        if path not in self:
            super().append(path)


def share() -> None:
    """Make botocore sessions made from now on in this process share their data loader."""
    import botocore.session

    if getattr(botocore.session.create_loader, "localcloud_shared", False):
        return
    original = botocore.session.create_loader

    def create_loader(search_path_string: Any = None) -> Any:
        with _lock:
            loader = _loaders.get(search_path_string)
            if loader is None:
                loader = original(search_path_string)
                loader._search_paths = _UniquePaths(loader._search_paths)
                _loaders[search_path_string] = loader
            return loader

    create_loader.localcloud_shared = True  # type: ignore[attr-defined]
    botocore.session.create_loader = create_loader
