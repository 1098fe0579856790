"""moto's SSM, patched where a valid request gets a 500 (tripwires in
tests/unit/test_localcloud_validation_rules.py).

moto keeps parameters in a `defaultdict(list)` (`SimpleSystemManagerBackend._parameters`):
reading a name that does not exist (a label, a history request) leaves an empty version list
behind, and every later DescribeParameters / GetParameter of it raises IndexError. A missing
parameter is dropped before those reads, so one request cannot poison later ones.
"""
from __future__ import annotations

from typing import Any

PATCH_POINTS = [("moto.ssm.models", "SimpleSystemManagerBackend", "describe_parameters"),
               ("moto.ssm.models", "SimpleSystemManagerBackend", "get_parameter")]
# and the instance attribute `_parameters` (a dict of name -> version list)


def _prune(backend: Any) -> None:
    params = backend._parameters
    for name in [n for n, versions in list(params.items()) if not versions]:
        params.pop(name, None)


def install(cloud: Any) -> None:
    from moto.ssm.models import SimpleSystemManagerBackend

    def pruned(original):
        def wrapper(self, *args, **kwargs):
            _prune(self)
            return original(self, *args, **kwargs)
        return wrapper

    cloud.hook(SimpleSystemManagerBackend, "describe_parameters", pruned)
    cloud.hook(SimpleSystemManagerBackend, "get_parameter", pruned)
