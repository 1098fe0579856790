"""Write the prev/next navigation cells of the numbered notebooks.

    python -m tools.navigation

Each notebook gets a markdown cell at the top and one at the bottom, found by the
``<!--NAVIGATION-->`` marker (so running this again replaces them rather than
adding more). Only markdown cells change: execution counts and outputs stay.
"""
from __future__ import annotations

import sys
from pathlib import Path

import nbformat

MARKER = "<!--NAVIGATION-->"
NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def title_of(path: Path) -> str:
    """'04_wire_lambdas_and_ec2.ipynb' -> '04 Wire lambdas and ec2'."""
    number, _, rest = path.stem.partition("_")
    return f"{number} {rest.replace('_', ' ').capitalize()}"


def navigation_line(paths: list[Path], i: int) -> str:
    parts = []
    if i > 0:
        parts.append(f"[< {title_of(paths[i - 1])}]({paths[i - 1].name})")
    parts.append(f"**{title_of(paths[i])}**")
    if i + 1 < len(paths):
        parts.append(f"[{title_of(paths[i + 1])} >]({paths[i + 1].name})")
    return f"{MARKER}\n" + " | ".join(parts)


def add_navigation(paths: list[Path]) -> list[Path]:
    changed = []
    for i, path in enumerate(paths):
        nb = nbformat.read(path, as_version=4)
        line = navigation_line(paths, i)
        cells = [c for c in nb.cells if not (c.cell_type == "markdown" and c.source.startswith(MARKER))]
        new_cells = [nbformat.v4.new_markdown_cell(line), *cells, nbformat.v4.new_markdown_cell(line)]
        old = [c.source for c in nb.cells]
        if old != [c.source for c in new_cells]:
            nb.cells = new_cells
            nbformat.write(nb, path)
            changed.append(path)
    return changed


def main() -> int:
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    for path in add_navigation(paths):
        print(f"navigation: updated {path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
