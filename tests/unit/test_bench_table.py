"""`make bench` rewrites its table in docs/BENCHMARKS.md (not the README), between the markers."""
from pathlib import Path

import pytest

import bench.__main__ as bench

REPO = Path(__file__).resolve().parents[2]


def test_the_committed_benchmarks_page_has_the_markers_and_the_readme_points_to_it():
    text = bench.BENCHMARKS.read_text()
    assert bench.BENCHMARKS == REPO / "docs" / "BENCHMARKS.md"
    assert text.count(bench.BEGIN) == 1 and text.count(bench.END) == 1
    readme = (REPO / "README.md").read_text()
    assert bench.BEGIN not in readme and "docs/BENCHMARKS.md" in readme


def test_update_table_replaces_only_what_is_between_the_markers(tmp_path):
    page = tmp_path / "B.md"
    page.write_text(f"# head\n\n{bench.BEGIN}\nold\n{bench.END}\ntail\n")
    table = bench.render([{"name": "x p50", "value": 1.234, "unit": "ms", "goal": "<= 2 ms"}])
    bench.update_table(table, "Measured today.", page)
    assert page.read_text() == (f"# head\n\n{bench.BEGIN}\nMeasured today.\n\n| figure | measured | goal |\n"
                                f"|---|---|---|\n| x p50 | 1.23 ms | <= 2 ms |\n{bench.END}\ntail\n")
    page.write_text("no markers")
    with pytest.raises(ValueError, match="markers"):
        bench.update_table(table, "m", page)
