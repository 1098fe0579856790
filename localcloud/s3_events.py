"""S3 event delivery (skeleton: being written)."""
from __future__ import annotations


class S3EventDelivery:
    def __init__(self, cloud):
        self.cloud = cloud


def install(cloud):
    return None
