"""The committed notebooks as a student meets them on the web: in order, with outputs,
run top to bottom (counts 1..N), no stored errors, each opening with what it does,
creates and costs, each ending with a "Try it" section, linked to its neighbours, and
no secret printed whole."""
import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
EXPECTED = ["00_setup", "01_build_model", "02_create_buckets", "03_package_layers",
            "04_wire_lambdas_and_ec2", "05_configure_api_gateway", "06_predict",
            "07_continuous_training", "08_your_own_data", "99_teardown"]


def _load(path):
    return json.loads(path.read_text())


def _text(cell):
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def test_the_numbered_set_is_complete():
    assert [p.stem for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_as_run_top_to_bottom_with_outputs_and_no_errors(path):
    code = [c for c in _load(path)["cells"] if c["cell_type"] == "code"]
    assert [c["execution_count"] for c in code] == list(range(1, len(code) + 1)), \
        "re-run the notebook top to bottom in a fresh kernel (make notebooks)"
    assert any(c.get("outputs") for c in code), "stored without outputs"
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"stored error output: {errors[0].get('ename')}: {errors[0].get('evalue')}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_opens_with_what_it_does_creates_and_costs_and_ends_with_try_it(path):
    md = [_text(c) for c in _load(path)["cells"] if c["cell_type"] == "markdown"]
    intro = next(t for t in md if t.lstrip().startswith("# "))
    for words in ("What it does", "What it creates", "What it would cost on AWS"):
        assert words in intro, f"the opening cell lacks '{words}'"
    assert any(t.lstrip().startswith("## Try it") for t in md), "no closing 'Try it' section"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_navigation_links_point_at_the_neighbours(path):
    i = NOTEBOOKS.index(path)
    cells = _load(path)["cells"]
    nav = [_text(c) for c in cells if c["cell_type"] == "markdown" and _text(c).startswith("<!--NAVIGATION-->")]
    assert len(nav) == 2, "run `python -m tools.navigation`"
    if i > 0:
        assert f"({NOTEBOOKS[i - 1].name})" in nav[0]
    if i + 1 < len(NOTEBOOKS):
        assert f"({NOTEBOOKS[i + 1].name})" in nav[0]


SECRET = re.compile(r"(api[_ -]?key|x-api-key)\W{0,6}([A-Za-z0-9]{20,})", re.IGNORECASE)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_api_key_printed_whole(path):
    for cell in _load(path)["cells"]:
        for out in cell.get("outputs", []):
            text = out.get("text") or "".join(str(v) for v in (out.get("data") or {}).values())
            text = "".join(text) if isinstance(text, list) else text
            match = SECRET.search(text)
            assert match is None, f"an API key is printed whole: {match.group(0)[:30]}..."


README = Path(__file__).resolve().parents[2] / "README.md"
FIGURE = re.compile(r"`(\d\d_[a-z0-9_]+\.png)`")


def _look_at_figures():
    """{notebook stem: [figure file names]} from the README's course table ("look at" column)."""
    found = {}
    for line in README.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and re.fullmatch(r"`\d\d_\w+`", cells[0]):
            found[cells[0].strip("`")] = FIGURE.findall(cells[3])
    return found


def test_the_readme_names_the_figures_students_look_at():
    figures = _look_at_figures()
    assert set(figures) == set(EXPECTED), "the README's course table lists every notebook"
    named = [f for fs in figures.values() for f in fs]
    for wanted in ("01_learning_curve.png", "04_run_timeline.png", "07_metrics_per_version.png"):
        assert wanted in named


@pytest.mark.parametrize("stem,figure", [(s, f) for s, fs in _look_at_figures().items() for f in fs])
def test_each_figure_the_readme_names_is_an_image_in_the_committed_notebook(stem, figure):
    path = NOTEBOOKS[EXPECTED.index(stem)]
    cells = [c for c in _load(path)["cells"] if c["cell_type"] == "code" and figure in _text(c)]
    assert cells, f"{path.name} has no cell that makes {figure}"
    for cell in cells:
        kinds = [k for o in cell.get("outputs", []) for k in (o.get("data") or {})]
        assert "image/png" in kinds, (f"{path.name}: the cell that makes {figure} shows no image "
                                      f"(outputs: {kinds or 'none'}); is the inline backend on?")
