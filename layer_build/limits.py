"""Sizes against AWS Lambda's deployment limits.

AWS states the limits in MB meaning MiB: 250 MB = 262,144,000 bytes unzipped for a function and
all its layers together; 50 MB = 52,428,800 bytes for a zip uploaded directly in the API call
(bigger zips go through S3); at most 5 layers per function. The table prints MiB.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

MIB = 1024 * 1024
MAX_UNZIPPED_BYTES = 250 * MIB
MAX_DIRECT_UPLOAD_BYTES = 50 * MIB
MAX_LAYERS = 5


@dataclass(frozen=True)
class ArtifactSize:
    name: str
    kind: str              # "layer" or "function"
    unzipped_bytes: int
    zipped_bytes: int
    path: str | None = None

    @property
    def needs_s3(self) -> bool:
        return self.zipped_bytes > MAX_DIRECT_UPLOAD_BYTES


@dataclass(frozen=True)
class SizeReport:
    artifacts: tuple[ArtifactSize, ...]
    max_unzipped_bytes: int = MAX_UNZIPPED_BYTES
    max_direct_upload_bytes: int = MAX_DIRECT_UPLOAD_BYTES
    max_layers: int = MAX_LAYERS
    notes: tuple[str, ...] = field(default=())

    @property
    def layers(self) -> tuple[ArtifactSize, ...]:
        return tuple(a for a in self.artifacts if a.kind == "layer")

    @property
    def total_unzipped_bytes(self) -> int:
        return sum(a.unzipped_bytes for a in self.artifacts)

    @property
    def too_many_layers(self) -> bool:
        return len(self.layers) > self.max_layers

    @property
    def over_limit(self) -> bool:
        """True when AWS would refuse the function with these layers."""
        return self.total_unzipped_bytes > self.max_unzipped_bytes or self.too_many_layers

    @property
    def needs_s3(self) -> tuple[str, ...]:
        """Names of the zips too big to upload directly (publish them through S3). Truthy if any."""
        return tuple(a.name for a in self.artifacts if a.zipped_bytes > self.max_direct_upload_bytes)

    def problems(self) -> list[str]:
        out = []
        if self.total_unzipped_bytes > self.max_unzipped_bytes:
            parts = ", ".join(f"{a.name} {a.unzipped_bytes / MIB:.1f} MiB" for a in self.artifacts)
            out.append(f"function + layers unzipped {self.total_unzipped_bytes / MIB:.1f} MiB "
                       f"({self.total_unzipped_bytes} bytes) is over AWS's limit of "
                       f"{self.max_unzipped_bytes / MIB:.0f} MiB ({self.max_unzipped_bytes} bytes): {parts}")
        if self.too_many_layers:
            out.append(f"{len(self.layers)} layers is over AWS's limit of {self.max_layers}")
        return out

    def table(self) -> str:
        rows = [("artifact", "kind", "unzipped MiB", "zipped MiB", "upload")]
        for a in self.artifacts:
            rows.append((a.name, a.kind, f"{a.unzipped_bytes / MIB:.1f}", f"{a.zipped_bytes / MIB:.1f}",
                         "via S3 (> 50 MiB)" if a.zipped_bytes > self.max_direct_upload_bytes else "direct"))
        rows.append(("total", f"{len(self.layers)}/{self.max_layers} layers",
                     f"{self.total_unzipped_bytes / MIB:.1f}", "", ""))
        rows.append(("AWS limit", "", f"{self.max_unzipped_bytes / MIB:.1f}",
                     f"{self.max_direct_upload_bytes / MIB:.1f} direct", ""))
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        lines = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w) if i < 4 else c
                           for i, (c, w) in enumerate(zip(r, widths))).rstrip() for r in rows]
        lines.insert(1, "-" * len(lines[0]))
        verdict = ("OVER THE LIMIT: " + "; ".join(self.problems())) if self.over_limit else (
            f"within limits ({(self.max_unzipped_bytes - self.total_unzipped_bytes) / MIB:.1f} MiB to spare)")
        lines.append(verdict)
        lines.extend(self.notes)
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "artifacts": [asdict(a) | {"needs_s3": a.needs_s3} for a in self.artifacts],
            "total_unzipped_bytes": self.total_unzipped_bytes,
            "limits": {"max_unzipped_bytes": self.max_unzipped_bytes,
                       "max_direct_upload_bytes": self.max_direct_upload_bytes,
                       "max_layers": self.max_layers},
            "over_limit": self.over_limit,
            "needs_s3": list(self.needs_s3),
            "problems": self.problems(),
            "notes": list(self.notes),
        }
