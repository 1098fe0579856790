"""Lambda execution (skeleton: being written)."""
from __future__ import annotations


class LambdaRuntime:
    def __init__(self, cloud):
        self.cloud = cloud

    def invoke_by_name(self, name, payload, **kw):
        raise NotImplementedError("lambda runtime not written yet")


def install(cloud):
    return None
