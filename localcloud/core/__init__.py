"""The local cloud's core: `LocalCloud` (moto's server hosted in our process, the extension
points every service package uses), the HTTP side (`server`) and which moto backend a raw
request belongs to (`moto_request`). Imports no service package."""
from .cloud import (DEFAULT_ACCOUNT, DEFAULT_PORT, DEFAULT_REGION, InvokeResult, LocalCloud,
                    active_cloud, default_port, endpoint_for, free_port, health)

__all__ = ["DEFAULT_ACCOUNT", "DEFAULT_PORT", "DEFAULT_REGION", "InvokeResult", "LocalCloud",
           "active_cloud", "default_port", "endpoint_for", "free_port", "health"]
