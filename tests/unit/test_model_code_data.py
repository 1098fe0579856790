"""model_code.data: the CSV data contract, and every way a file is rejected."""
import subprocess
import sys

import numpy as np
import pytest

from model_code.data import HEADER, DataError, Dataset, load_csv, load_many, parse_csv, write_csv
from model_code.schema import FEATURE_NAMES, FEATURES

GOOD_ROW = [f"{f.max / 4:g}" for f in FEATURES] + ["1"]  # inside every plausible range
MAXES = np.array([f.max for f in FEATURES])


def _csv(header=HEADER, rows=(GOOD_ROW, GOOD_ROW, GOOD_ROW)):
    lines = [",".join(f'"{c}"' if "," in c else c for c in header)]
    lines += [",".join(r) for r in rows]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _rows_with(row_no, col, value, n=3):
    """n good rows, with data row ``row_no`` (1-based) having ``value`` in column ``col``."""
    rows = [list(GOOD_ROW) for _ in range(n)]
    rows[row_no - 1][HEADER.index(col)] = value
    return rows


def _write(tmp_path, data, name="batch_bad.csv"):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_round_trip_is_exact(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.random((7, 30)) * MAXES
    y = np.array([0, 1, 1, 0, 1, 0, 1])
    path = write_csv(tmp_path / "sub" / "d.csv", X, y)
    ds = load_csv(path)
    assert isinstance(ds, Dataset) and ds.path == str(path) and ds.paths == (str(path),)
    assert np.array_equal(ds.X, X) and np.array_equal(ds.y, y)
    assert ds.X.dtype == np.float64 and ds.y.dtype == np.int64
    header = (tmp_path / "sub" / "d.csv").read_text().splitlines()[0]
    assert header.split(",") == list(FEATURE_NAMES) + ["target"]
    assert ds.class_counts() == {"malignant (0)": 3, "benign (1)": 4}


def test_columns_in_any_order_bom_crlf_and_trailing_blank_lines_are_fine(tmp_path):
    order = list(reversed(HEADER))
    row = [repr(f.max / (i + 2)) for i, f in enumerate(FEATURES)] + ["0"]
    by_name = dict(zip(HEADER, row))
    text = ",".join(order) + "\r\n" + ",".join(by_name[c] for c in order) + "\r\n\r\n\n"
    ds = load_csv(_write(tmp_path, b"\xef\xbb\xbf" + text.encode()))
    assert ds.X[0].tolist() == [f.max / (i + 2) for i, f in enumerate(FEATURES)] and ds.y.tolist() == [0]


def test_labels_written_as_floats_are_accepted():
    ds = parse_csv(_csv(rows=[GOOD_ROW[:-1] + ["0.0"], GOOD_ROW[:-1] + ["1.0"]]))
    assert ds.y.tolist() == [0, 1]


@pytest.mark.parametrize("value", ["1e308", "-0.5", "61"])
def test_values_outside_the_plausible_range_are_refused_naming_file_row_and_column(tmp_path, value):
    path = _write(tmp_path, _csv(rows=_rows_with(2, "mean radius", value)))
    with pytest.raises(DataError) as err:
        load_csv(path)
    assert str(err.value) == (f"batch_bad.csv: row 2, column 'mean radius': {float(value)!r} is outside the "
                              "plausible range 0 to 60")


def test_the_bounds_themselves_are_accepted():
    lo = parse_csv(_csv(rows=[[f"{f.min:g}" for f in FEATURES] + ["0"]]))
    hi = parse_csv(_csv(rows=[[repr(f.max) for f in FEATURES] + ["1"]]))
    assert lo.X.min() == 0 and hi.X[0].tolist() == [f.max for f in FEATURES]


def test_load_many_concatenates_in_order(tmp_path):
    a = write_csv(tmp_path / "a.csv", np.zeros((2, 30)), [0, 1])
    b = write_csv(tmp_path / "b.csv", np.tile(MAXES / 2, (3, 1)), [1, 1, 0])
    ds = load_many([a, b])
    assert ds.n_rows == 5 and ds.y.tolist() == [0, 1, 1, 1, 0] and ds.paths == (a, b)
    with pytest.raises(DataError, match="no data files"):
        load_many([])


REJECTIONS = [
    # (case id, file bytes, expected message after "batch_bad.csv: ")
    ("empty file", b"", "the file is empty"),
    ("only blank lines", b"\n\n", "no header row"),
    ("not utf-8", _csv().replace(b"mean radius", b"mean r\xe9dius", 1), "not UTF-8 text (byte 0xe9"),
    ("no rows", _csv(rows=()), "no data rows (only a header)"),
    ("missing column", _csv(header=HEADER[1:], rows=[GOOD_ROW[1:]]), "header: missing column 'mean radius'"),
    ("missing label column", _csv(header=HEADER[:-1], rows=[GOOD_ROW[:-1]]), "header: missing column 'target'"),
    ("extra column", _csv(header=HEADER + ("id",), rows=[GOOD_ROW + ["7"]]), "header: unexpected column 'id'"),
    ("duplicate column", _csv(header=HEADER + ("mean area",), rows=[GOOD_ROW + ["7"]]), "header: duplicate column 'mean area'"),
    ("misspelt column", _csv(header=("mean radiuss",) + HEADER[1:]), "header: missing column 'mean radius'"),
    ("non-numeric cell", _csv(rows=_rows_with(3, "mean radius", "abc")), "row 3, column 'mean radius': 'abc' is not a number"),
    ("empty cell", _csv(rows=_rows_with(2, "worst area", "")), "row 2, column 'worst area': empty cell"),
    ("blank cell", _csv(rows=_rows_with(1, "worst area", "  ")), "row 1, column 'worst area': empty cell"),
    ("nan cell", _csv(rows=_rows_with(2, "area error", "nan")), "row 2, column 'area error': 'nan' is not a finite number"),
    ("inf cell", _csv(rows=_rows_with(3, "area error", "-inf")), "row 3, column 'area error': '-inf' is not a finite number"),
    ("label 2", _csv(rows=_rows_with(2, "target", "2")), "row 2, column 'target': '2' is not a label"),
    ("label 0.5", _csv(rows=_rows_with(1, "target", "0.5")), "row 1, column 'target': '0.5' is not a label"),
    ("label text", _csv(rows=_rows_with(3, "target", "benign")), "row 3, column 'target': 'benign' is not a number"),
    ("label empty", _csv(rows=_rows_with(3, "target", "")), "row 3, column 'target': empty cell"),
    ("short row", _csv(rows=[GOOD_ROW, GOOD_ROW[:-2]]), "row 2: has 29 cells, the header has 31"),
    ("long row", _csv(rows=[GOOD_ROW + ["1"]]), "row 1: has 32 cells, the header has 31"),
]


@pytest.mark.parametrize("data, expected", [c[1:] for c in REJECTIONS], ids=[c[0] for c in REJECTIONS])
def test_bad_file_is_rejected_with_file_column_and_row(tmp_path, data, expected):
    path = _write(tmp_path, data)
    with pytest.raises(DataError) as exc:
        load_csv(path)
    message = str(exc.value)
    assert message.startswith("batch_bad.csv: "), message
    assert expected in message, message
    assert "Traceback" not in message and "\n" not in message


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match=r"nope.csv: cannot read"):
        load_csv(tmp_path / "nope.csv")


def test_write_csv_checks_shapes(tmp_path):
    with pytest.raises(ValueError, match=r"shape \(n, 30\)"):
        write_csv(tmp_path / "x.csv", np.zeros((2, 29)), [0, 1])
    with pytest.raises(ValueError, match="y must have shape"):
        write_csv(tmp_path / "x.csv", np.zeros((2, 30)), [0])


def test_train_cli_reports_a_bad_file_without_traceback(tmp_path):
    from model_code.dataset import write_split

    write_split(tmp_path, n_batches=2)
    (tmp_path / "batch_02.csv").write_bytes(_csv(rows=_rows_with(3, "mean radius", "abc")))
    proc = subprocess.run(
        [sys.executable, "-m", "model_code.train", "--json", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "batch_02.csv: row 3, column 'mean radius': 'abc' is not a number" in proc.stderr
    assert "Traceback" not in proc.stderr
