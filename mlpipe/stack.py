"""The stack context: settings, names and clients, made once per command and handed down.

Every resource module (``buckets``, ``network``, ``iam``, ``instance``, ``functions``,
``logs``, ``queues``, ``notifications``, ``schedule``, ``layers``, ``registry``, ``api``)
takes a ``Stack`` as its first argument and asks it for names (``stack.names``),
settings (``stack.settings``) and clients (``stack.client("s3")``); none derives a name
from the settings itself.

Progress, one convention: a resource function returns ``Report`` objects (what it
created, found, updated, deleted) and says what it is *waiting for* through
``stack.say(line)``; the orchestrators (``deploy``, ``teardown``) print the reports.
``say`` is silent unless the command gave a ``progress`` callable.

One convention: resource functions take a Stack and nothing else. Only the entry points
take Settings and make the Stack once (``Stack.load``): the ``mlpipe`` CLI, ``deploy.deploy``,
``teardown.destroy`` / ``verify_destroyed``, and a notebook's first cell.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

from .clients import client as _client
from .config import Settings, load_settings
from .names import Names, names_for

Progress = Callable[[str], None]


def _quiet(_line: str) -> None:
    pass


@dataclass(frozen=True)
class Stack:
    settings: Settings
    names: Names
    progress: Progress = field(default=_quiet, compare=False)

    @classmethod
    def load(cls, settings: Optional[Settings] = None, *, names: Optional[Names] = None,
             progress: Optional[Progress] = None) -> "Stack":
        """The stack of ``settings`` (default: the environment's), its names asked of the target once."""
        settings = settings or load_settings()
        return cls(settings, names or names_for(settings), progress or _quiet)

    def client(self, service: str):
        """The (cached) boto3 client of ``service`` on this stack's target."""
        return _client(service, self.settings)

    def say(self, line: str) -> None:
        """A progress line (waits, retries): shown by the command, silent otherwise."""
        self.progress(line)

    def with_progress(self, progress: Optional[Progress]) -> "Stack":
        return Stack(self.settings, self.names, progress or _quiet)

    def with_(self, **changes) -> "Stack":
        """The same stack with some settings changed (``Settings.with_``): a model kind, the
        usage plan's limits. Settings that names derive from (stack, region, target, endpoint)
        make another stack: ``Stack.load`` that one."""
        named = {"stack", "region", "target", "endpoint_url"} & set(changes)
        if named:
            raise ValueError(f"{', '.join(sorted(named))} name another stack: use Stack.load(settings.with_(...))")
        return Stack(self.settings.with_(**changes), self.names, self.progress)

    @property
    def is_aws(self) -> bool:
        return self.settings.is_aws

    @property
    def is_local(self) -> bool:
        return self.settings.is_local

