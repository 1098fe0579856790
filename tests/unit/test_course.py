"""The course as an instructor teaches it: every "Try it" exercise has its starting code in a
tagged cell or a named test, and an answer in docs/instructor/answers.md whose expected outcome
the committed (executed) notebook shows; three checkpoints per notebook; two 90-minute sessions;
and the committed outputs are answers, not walls (60 lines at most, only secrets masked, every
plotted point visible).

``COURSE_NOTEBOOKS=build/walkthrough`` checks the executed copies of a walkthrough instead of
the committed notebooks (what the lead's ``make notebooks`` will commit)."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NB_DIR = REPO / os.environ.get("COURSE_NOTEBOOKS", "notebooks")
NOTEBOOKS = sorted(NB_DIR.glob("[0-9][0-9]_*.ipynb"))
SOURCES = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
INSTRUCTOR = REPO / "docs" / "instructor"
EXERCISE = re.compile(r"\*\*(E\d\d\.\d+)\*\*")
MAX_LINES = 60


def _cells(path):
    return json.loads(path.read_text())["cells"]


def _text(value):
    return "".join(value) if isinstance(value, list) else (value or "")


def _tags(cell):
    return cell.get("metadata", {}).get("tags", [])


def exercises_in_notebooks() -> dict:
    """{exercise id: (notebook path, tagged cell or None)} from the notebooks' Try it sections."""
    found = {}
    for path in SOURCES:
        cells = _cells(path)
        tagged = {t[len("exercise-"):]: c for c in cells for t in _tags(c) if t.startswith("exercise-")}
        for cell in cells:
            if cell["cell_type"] == "markdown" and _text(cell["source"]).lstrip().startswith("## Try it"):
                for eid in EXERCISE.findall(_text(cell["source"])):
                    assert eid not in found, f"{eid} appears twice"
                    found[eid] = (path, tagged.get(eid))
        orphans = set(tagged) - set(found)
        assert not orphans, f"{path.name}: cells tagged for exercises its Try it does not list: {orphans}"
    return found


def answers() -> dict:
    """{exercise id: the answer's text} from docs/instructor/answers.md (### E05.3 ... headings)."""
    text = (INSTRUCTOR / "answers.md").read_text()
    parts = re.split(r"^### (E\d\d\.\d+)\b.*$", text, flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def test_every_notebook_has_exercises_with_ids_of_its_own_number():
    found = exercises_in_notebooks()
    for path in SOURCES:
        ids = [e for e, (p, _) in found.items() if p == path]
        assert ids, f"{path.name}: its Try it names no exercise (**E{path.name[:2]}.1** ...)"
        assert all(e[1:3] == path.name[:2] for e in ids), (path.name, ids)


def test_every_exercise_has_one_answer_and_every_answer_an_exercise():
    found, given = exercises_in_notebooks(), answers()
    assert sorted(found) == sorted(given), (f"no answer for {sorted(set(found) - set(given))}; "
                                            f"answers without exercise: {sorted(set(given) - set(found))}")


def _proof(answer: str) -> str:
    m = re.search(r"\*\*Proof:\*\*(.*?)(?:\n- \*\*|\Z)", answer, flags=re.S)
    assert m, "the answer has no **Proof:** line"
    return m.group(1)


def test_every_exercise_is_proven_by_its_tagged_cell_or_by_named_tests_that_exist():
    found, given = exercises_in_notebooks(), answers()
    for eid, (path, cell) in found.items():
        proof = _proof(given[eid])
        tests = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", proof)
        if cell is not None:
            assert f"exercise-{eid}" in proof, f"{eid}: the proof should name its cell `exercise-{eid}`"
            assert _text(cell["source"]).startswith(f"# {eid}"), f"{eid}: its cell should open with '# {eid}: ...'"
            assert re.findall(r"expects `([^`]+)`", proof), f"{eid}: name what the cell's output shows (expects `...`)"
        else:
            assert tests, f"{eid} has no tagged cell: its proof must name the tests that show its outcome"
        for file, name in tests:
            source = (REPO / file).read_text()
            assert re.search(rf"^def {name}\(", source, flags=re.M), f"{eid}: {file}::{name} does not exist"


@pytest.mark.parametrize("eid", sorted(e for e, (_, c) in exercises_in_notebooks().items() if c is not None))
def test_each_tagged_exercise_shows_its_expected_outcome(eid):
    path = NB_DIR / exercises_in_notebooks()[eid][0].name
    cell = next(c for c in _cells(path) if f"exercise-{eid}" in _tags(c))
    shown = "\n".join(_text(o.get("text")) or _text((o.get("data") or {}).get("text/plain"))
                      for o in cell.get("outputs", []))
    for expected in re.findall(r"expects `([^`]+)`", _proof(answers()[eid])):
        assert expected in shown, f"{eid}: the executed cell does not show {expected!r}:\n{shown[:800]}"


def test_three_checkpoints_with_answers_per_notebook():
    text = (INSTRUCTOR / "checkpoints.md").read_text()
    sections = dict(re.findall(r"^## (\d\d)\b.*?\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S))
    for path in SOURCES:
        body = sections.get(path.name[:2])
        assert body, f"checkpoints.md has no section '## {path.name[:2]} ...'"
        assert len(re.findall(r"^\d\. \*\*Q:\*\*", body, flags=re.M)) == 3, path.name
        assert len(re.findall(r"\*\*A:\*\*", body)) == 3, path.name


def test_two_sessions_of_90_minutes_cover_every_notebook():
    text = (INSTRUCTOR / "timing.md").read_text()
    sessions = re.split(r"^## Session", text, flags=re.M)[1:]
    assert len(sessions) == 2
    covered = set()
    for s in sessions:
        minutes = [int(m) for m in re.findall(r"^\|[^|\n]*\|\s*(\d+)\s*\|", s, flags=re.M)]
        assert sum(minutes) == 90, f"a session sums to {sum(minutes)} minutes"
        covered |= set(re.findall(r"\b(\d\d)_\w+", s))
    assert {p.name[:2] for p in SOURCES} <= covered


def test_the_real_aws_session_names_each_step():
    text = (INSTRUCTOR / "real-aws.md").read_text()
    for step in ("mlpipe doctor", "mlpipe deploy", "mlpipe outputs --console", "mlpipe destroy", "cost"):
        assert step in text, step


# --------------------------------------------------------------------------- answers, not walls


def _outputs(path):
    for i, cell in enumerate(_cells(path)):
        if cell["cell_type"] != "code":
            continue
        streams = "".join(_text(o.get("text")) for o in cell.get("outputs", []) if o["output_type"] == "stream")
        shown = [streams] if streams else []
        shown += [_text((o.get("data") or {}).get("text/plain")) for o in cell.get("outputs", [])
                  if o["output_type"] in ("execute_result", "display_data")]
        yield i, cell, shown


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_output_is_longer_than_60_lines(path):
    for i, _, shown in _outputs(path):  # a cell's output: what it printed and what it returned
        n = sum(len(text.splitlines()) for text in shown)
        assert n <= MAX_LINES, f"{path.name} cell {i}: an output of {n} lines (summarize; show_full for all)"


# a masked value (xxxx****) is a secret only where a key, a token or a password is named
MASK = re.compile(r"\*{4}")
SECRET_CONTEXT = re.compile(r"x-api-key|api_key|apiKey|'value': '\w{0,4}\*{4}'|value=|Secret|Token|Password",
                            re.IGNORECASE)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_only_secrets_are_masked(path):
    for i, _, shown in _outputs(path):
        for line in "\n".join(shown).splitlines():
            if MASK.search(line):
                assert SECRET_CONTEXT.search(line) and "'path':" not in line, \
                    f"{path.name} cell {i}: a masked value that is not a secret: {line.strip()[:120]}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_figure_shows_every_point(path):
    for i, cell in enumerate(_cells(path)):
        for out in cell.get("outputs", []):
            if "image/png" not in (out.get("data") or {}):
                continue
            check = ((out.get("metadata") or {}).get("image/png") or {}).get("mlpipe")
            assert check is not None, f"{path.name} cell {i}: a figure without its check (mlpipe.plots draws them)"
            assert check == {"outside_axes": 0, "under_legend": 0}, f"{path.name} cell {i}: {check}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_kernel_warning_in_outputs(path):
    for i, _, shown in _outputs(path):
        assert "without encryption" not in "\n".join(shown), f"{path.name} cell {i}"
