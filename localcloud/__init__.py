"""localcloud: an offline AWS. moto's API plus what moto does not run (Lambda execution,
S3 event delivery, instance hosts with SSM Run Command, schedules, the API Gateway data plane).

Public API: `LocalCloud`, `InvokeResult`, `ensure_running`; CLI `localcloud`; pytest fixture
`local_cloud` in `localcloud.pytest_plugin`. Imports nothing else of this project.
"""
from .core.cloud import InvokeResult, LocalCloud, active_cloud, default_port
from .cli import ensure_running

__all__ = ["LocalCloud", "InvokeResult", "ensure_running", "active_cloud", "default_port"]
