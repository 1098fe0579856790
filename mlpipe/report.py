"""What an ``ensure_*`` / ``delete_*`` step did, for people and for tests."""
from __future__ import annotations

from dataclasses import dataclass, field

# created / found / updated: ensure_*; deleted / absent: delete_*; planned: deploy --plan;
# skipped: a step that could not run (with the reason in details["reason"]).
ACTIONS = ("created", "found", "updated", "deleted", "absent", "planned", "skipped")


@dataclass(frozen=True)
class Report:
    action: str
    kind: str
    name: str
    arn: str | None = None
    details: dict = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self):
        if self.action not in ACTIONS:
            raise ValueError(f"unknown report action {self.action!r}")

    @property
    def changed(self) -> bool:
        return self.action in ("created", "updated", "deleted")

    def __str__(self) -> str:
        extra = ""
        if self.details.get("reason"):
            extra = f"  ({self.details['reason']})"
        elif self.details.get("changes"):
            extra = f"  ({', '.join(self.details['changes'])})"
        return f"{self.action:<8} {self.kind:<16} {self.name}{extra}"


def summarize(reports) -> str:
    """One line: how many of each action, or that nothing changed."""
    counts: dict = {}
    for r in reports:
        counts[r.action] = counts.get(r.action, 0) + 1
    if not any(r.changed for r in reports):
        return f"nothing changed: {counts.get('found', 0)} resources already in place" + (
            f", {counts['skipped']} skipped" if counts.get("skipped") else "")
    return ", ".join(f"{n} {a}" for a, n in sorted(counts.items()))
