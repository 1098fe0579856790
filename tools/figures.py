"""The architecture picture the notebooks open with, drawn with matplotlib.

    python -m tools.figures            # (or `make figures`) writes docs/figures/architecture*.png

One drawing, three highlights: ``architecture.png`` (everything, notebook 00),
``architecture-part1.png`` (the glue that trains: notebook 04) and
``architecture-part2.png`` (the API that serves: notebook 05). The other part is drawn
faded, so each notebook shows where what it builds sits in the whole.
"""
from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "docs" / "figures"

# name -> (x, y, label, part); the canvas is 0..16 by 0..9
BOXES = {
    "client": (0.3, 7.4, "data file\n(CSV)", 1),
    "input": (3.6, 7.4, "S3 input bucket\ndata/*.csv", 1),
    "trigger": (6.9, 7.4, "Trigger\nLambda", 1),
    "worker": (6.9, 5.2, "Worker\nLambda", 1),
    "ec2": (10.2, 7.4, "EC2 instance\n(trains, SSM)", 1),
    "output": (13.5, 7.4, "S3 output bucket\nmodels/ runs/", 0),
    "stop": (13.5, 5.2, "Stop-EC2\nLambda", 1),
    "reaper": (10.2, 5.2, "Reaper Lambda\n(every minute)", 1),
    "user": (0.3, 1.2, "client\n(HTTP POST)", 2),
    "apigw": (3.9, 1.2, "API Gateway\nREST API\nkey + usage plan", 2),
    "predict": (8.1, 1.2, "Predict Lambda\n[numpy | model code]", 2),
    "layers": (8.1, 3.2, "Lambda layers\n(notebook 03)", 2),
}
W, H = 2.4, 1.1
ARROWS = [
    ("client", "input", "upload", 1), ("input", "trigger", "S3 event", 1), ("trigger", "ec2", "start", 1),
    ("trigger", "worker", "invoke", 1), ("worker", "ec2", "SSM SendCommand", 1),
    ("ec2", "output", "model, record", 1), ("output", "stop", "S3 event", 1), ("stop", "ec2", "stop", 1),
    ("reaper", "ec2", "stop if idle", 1),
    ("user", "apigw", "x-api-key", 2), ("apigw", "predict", "AWS_PROXY", 2),
    ("layers", "predict", "", 2), ("predict", "output", "reads models/latest.json", 2),
]
COLORS = {1: "#1f77b4", 2: "#d62728", 0: "#7b4fa0"}
TITLES = {
    "all": "The pipeline: Part 1 trains (blue), Part 2 serves (red); the output bucket joins them",
    "part1": "Notebook 04 builds Part 1: compute as glue (continuous training)",
    "part2": "Notebook 05 builds Part 2: compute as backend (the predict API)",
}
FILES = {"all": "architecture.png", "part1": "architecture-part1.png", "part2": "architecture-part2.png"}


def _centre(name: str) -> tuple:
    x, y, _, _ = BOXES[name]
    return x + W / 2, y + H / 2


def _edge(name: str, towards: tuple, pad: float = 0.12) -> tuple:
    """Where the line from the centre of box ``name`` to ``towards`` leaves the box."""
    cx, cy = _centre(name)
    dx, dy = towards[0] - cx, towards[1] - cy
    sx = (W / 2 + pad) / abs(dx) if dx else float("inf")
    sy = (H / 2 + pad) / abs(dy) if dy else float("inf")
    s = min(sx, sy)
    return cx + dx * s, cy + dy * s


def draw(highlight: str = "all"):
    """The figure with ``highlight`` ('all', 'part1', 'part2') in colour and the rest faded."""
    if highlight not in TITLES:
        raise ValueError(f"highlight must be one of {', '.join(TITLES)}, not {highlight!r}")
    lit = {"all": {0, 1, 2}, "part1": {0, 1}, "part2": {0, 2}}[highlight]
    fig, ax = plt.subplots(figsize=(13, 6.4))
    ax.set_xlim(0, 16.2)
    ax.set_ylim(0.8, 9.2)
    ax.axis("off")
    ax.set_title(TITLES[highlight], fontsize=12, loc="left")
    for name, (x, y, label, part) in BOXES.items():
        on = part in lit
        color = COLORS[part]
        ax.add_patch(FancyBboxPatch((x, y), W, H, boxstyle="round,pad=0.06",
                                    facecolor=color if on else "#eeeeee", alpha=0.18 if on else 1.0,
                                    edgecolor=color if on else "#bbbbbb", linewidth=2 if on else 1))
        ax.text(x + W / 2, y + H / 2, label, ha="center", va="center", fontsize=9,
                color="black" if on else "#aaaaaa")
    for a, b, label, part in ARROWS:
        on = part in lit
        color = COLORS[part] if on else "#cccccc"
        (x1, y1), (x2, y2) = _edge(a, _centre(b)), _edge(b, _centre(a))
        ax.add_patch(FancyArrowPatch((x1, y1), (x2, y2), arrowstyle="-|>", mutation_scale=14,
                                     color=color, linewidth=1.6 if on else 1, shrinkA=0, shrinkB=0))
        if label:
            ax.text((x1 + x2) / 2 + (0.12 if x1 == x2 else 0), (y1 + y2) / 2 + (0 if x1 == x2 else 0.12),
                    label, ha="left" if x1 == x2 else "center", va="center" if x1 == x2 else "bottom",
                    fontsize=8, color=color if on else "#bbbbbb",
                    bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5})
    ax.text(0.3, 8.8, "Part 1: compute as glue", color=COLORS[1] if 1 in lit else "#bbbbbb", fontsize=11)
    ax.text(0.3, 2.7, "Part 2: compute as backend", color=COLORS[2] if 2 in lit else "#bbbbbb", fontsize=11)
    fig.tight_layout()
    return fig


def write_all(out: Path = OUT) -> list:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for highlight, name in FILES.items():
        fig = draw(highlight)
        path = out / name
        # no timestamps or software tags: the same drawing gives the same bytes
        fig.savefig(path, dpi=80, metadata={"Software": None})
        plt.close(fig)
        written.append(path)
    return written


def main() -> int:
    for path in write_all():
        print(f"figures: wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
