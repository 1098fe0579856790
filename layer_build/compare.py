"""Train heavy, serve light, in numbers: the predict function's numpy layer beside the
scikit-learn stack it would need to serve the pickled model (notebook 03).

    from layer_build.compare import compare_stacks
    cmp = compare_stacks("local")            # builds (cached) both, measures cold imports
    print(cmp.table())                       # sizes against 250 MB unzipped / 50 MB zipped
    mlpipe.plots.plot_layer_stacks(cmp)      # the size chart

Each stack is measured as the function would be deployed with it: its packages layer, the
model-code layer and the function's own zip, unzipped together against AWS's 250 MiB, and
the packages zip against the 50 MiB direct-upload limit. The cold import is the median of
``runs`` fresh isolated interpreters (``python -I -S -B``, only the layers on sys.path):
numpy + the export loader + one prediction for ``numpy``; numpy, joblib and scikit-learn's
pipeline + fit/predict for ``scikit-learn``.
"""
from __future__ import annotations

import statistics
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from . import sources
from .build import (DEFAULT_OUT, MODEL_CODE, LayerArtifact, build_model_code_layer, build_packages_layer,
                    default_function_dir, function_size)
from .limits import MAX_DIRECT_UPLOAD_BYTES, MAX_UNZIPPED_BYTES, MIB, SizeReport

STACK_ORDER = ("numpy", "scikit-learn")


@dataclass(frozen=True)
class StackMeasure:
    stack: str
    layer: LayerArtifact            # the packages layer of this stack
    report: SizeReport              # packages + model-code layers + the function's zip
    cold_import_s: float | None     # median, isolated; None when not measured
    cold_import_predict_s: float | None
    packages: dict = field(default_factory=dict)   # {distribution: version}

    def row(self) -> dict:
        return {"stack": self.stack, "packages": ", ".join(sorted(self.packages)),
                "layer_unzipped_bytes": self.layer.unzipped_bytes, "layer_zipped_bytes": self.layer.zipped_bytes,
                "total_unzipped_bytes": self.report.total_unzipped_bytes,
                "unzipped_share_of_limit": self.report.total_unzipped_bytes / MAX_UNZIPPED_BYTES,
                "upload": "via S3" if self.layer.zipped_bytes > MAX_DIRECT_UPLOAD_BYTES else "direct",
                "within_limits": not self.report.over_limit,
                "cold_import_s": self.cold_import_s, "cold_import_predict_s": self.cold_import_predict_s}


@dataclass(frozen=True)
class StackComparison:
    target: str
    stacks: tuple[StackMeasure, ...]
    max_unzipped_bytes: int = MAX_UNZIPPED_BYTES
    max_direct_upload_bytes: int = MAX_DIRECT_UPLOAD_BYTES

    def stack(self, name: str) -> StackMeasure:
        for s in self.stacks:
            if s.stack == name:
                return s
        raise KeyError(name)

    def rows(self) -> list[dict]:
        return [s.row() for s in self.stacks]

    def to_dict(self) -> dict:
        return {"target": self.target, "limits": {"max_unzipped_bytes": self.max_unzipped_bytes,
                                                  "max_direct_upload_bytes": self.max_direct_upload_bytes},
                "stacks": self.rows()}

    def table(self) -> str:
        head = ("stack", "layer MiB", "zip MiB", "function+layers MiB", "upload", "cold import s")
        lines = [head]
        for r in self.rows():
            cold = "-" if r["cold_import_s"] is None else f"{r['cold_import_s']:.3f}"
            lines.append((r["stack"], f"{r['layer_unzipped_bytes'] / MIB:.1f}", f"{r['layer_zipped_bytes'] / MIB:.1f}",
                          f"{r['total_unzipped_bytes'] / MIB:.1f}", r["upload"], cold))
        lines.append(("AWS limit", "", f"{self.max_direct_upload_bytes / MIB:.0f} direct",
                      f"{self.max_unzipped_bytes / MIB:.0f}", "", ""))
        widths = [max(len(str(r[i])) for r in lines) for i in range(len(head))]
        out = ["  ".join(str(c).ljust(w) if i in (0, 4) else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
               for r in lines]
        out.insert(1, "-" * len(out[0]))
        return "\n".join(line.rstrip() for line in out)


def _cold(zips: Sequence[Path], stack: str, runs: int) -> tuple[float, float]:
    from .verify import extract_layers, run_isolated

    with tempfile.TemporaryDirectory(prefix="stack-cold-") as tmp:
        dirs = extract_layers(list(zips), Path(tmp))
        got = [run_isolated(dirs, stack=stack) for _ in range(runs)]
    return (statistics.median(g["import_seconds"] for g in got),
            statistics.median(g["import_predict_seconds"] for g in got))


def measure_stack(stack: str, target: str = "local", out: Path | str | None = None, *, measure_cold: bool = True,
                  runs: int = 3, progress: Callable[[str], None] = lambda m: None) -> StackMeasure:
    """Build (or take from the cache) one stack's packages layer with the model-code layer and
    report their sizes, with the function's zip, against AWS's limits."""
    sources.stack_roots(stack)  # a clear error for an unknown stack
    out = Path(out or DEFAULT_OUT)
    packages = build_packages_layer(target, out, stack=stack, progress=progress)
    code = build_model_code_layer(target, out, progress=progress)
    artifacts = [packages.size(), code.size()]
    if default_function_dir().is_dir():
        artifacts.append(function_size(default_function_dir(), out))
    report = SizeReport(tuple(artifacts))
    cold = (None, None)
    if measure_cold and target == "local":  # an aws build's binaries do not run here
        progress(f"{stack}: cold import, median of {runs} isolated interpreters")
        cold = _cold([packages.zip_path, code.zip_path], stack, runs)
    return StackMeasure(stack, packages, report, cold[0], cold[1], dict(packages.versions))


def compare_stacks(target: str = "local", out: Path | str | None = None, *, stacks: Sequence[str] = STACK_ORDER,
                   measure_cold: bool = True, runs: int = 3,
                   progress: Callable[[str], None] = lambda m: None) -> StackComparison:
    """Both stacks, measured side by side (see the module docstring)."""
    return StackComparison(target, tuple(measure_stack(s, target, out, measure_cold=measure_cold, runs=runs,
                                                       progress=progress) for s in stacks))
