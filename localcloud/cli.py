"""The `localcloud` CLI (skeleton: being written)."""
from __future__ import annotations


def ensure_running(port=None) -> str:
    raise NotImplementedError


def main(argv=None) -> int:
    raise NotImplementedError
