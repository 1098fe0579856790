"""The bundled example datasets as CSV files (dev side: scikit-learn's bundled data, numpy).

Each has a reviewed dataset file in ``model_code/datasets/<name>.toml``:

- ``breast_cancer`` (binary, the default): scikit-learn's Wisconsin breast cancer data, 569 rows.
- ``wine`` (multiclass): scikit-learn's wine data, 178 wines of 3 cultivars, 13 measurements.
- ``diabetes`` (regression): scikit-learn's diabetes data (unscaled), 442 patients, 10 measurements,
  the target a disease progression score one year later.
- ``apartments`` (regression): a SMALL SYNTHETIC set made here with a fixed seed (not real
  data): monthly rent from area, rooms, district and balcony, with categorical features and
  missing values, to show imputation and one-hot encoding.

    python -m model_code.examples wine build/wine.csv
"""
from __future__ import annotations

import sys

import numpy as np

from .data import write_rows_csv as _write_rows

NAMES = ("breast_cancer", "wine", "diabetes", "apartments")


def _sklearn(loader, path: str, **kw) -> str:
    raw = loader(**kw)
    names = [str(n) for n in raw.feature_names]
    target = raw.target
    ints = np.issubdtype(np.asarray(target).dtype, np.integer)
    rows = ([repr(float(v)) for v in x] + [str(int(t)) if ints else repr(float(t))]
            for x, t in zip(raw.data.tolist(), target.tolist()))
    return _write_rows(path, [*names, "target"], rows)


def apartments_rows(n: int = 400, seed: int = 7):
    """The synthetic apartments (header, rows): rent = f(area, rooms, district, balcony) + noise,
    with about 5% of area, district and year_built missing."""
    rng = np.random.default_rng(seed)
    districts = np.array(["center", "north", "south", "harbour"])
    premium = {"center": 450.0, "north": 120.0, "south": 0.0, "harbour": 300.0}
    rows = []
    for i in range(n):
        area = float(np.round(rng.uniform(25, 140), 1))
        rooms = int(np.clip(np.round(area / 30 + rng.normal(0, 0.6)), 1, 6))
        district = str(rng.choice(districts))
        balcony = "yes" if rng.random() < 0.45 else "no"
        year = int(rng.integers(1900, 2024))
        rent = 250 + 11.5 * area + 40 * rooms + premium[district] + (60 if balcony == "yes" else 0) \
            + 1.2 * (year - 1960) + rng.normal(0, 90)
        cells = [f"apt-{i + 1:04d}", repr(area), str(rooms), district, balcony, str(year), repr(round(rent, 2))]
        if rng.random() < 0.05:
            cells[1] = ""
        if rng.random() < 0.05:
            cells[3] = ""
        if rng.random() < 0.05:
            cells[5] = ""
        rows.append(cells)
    return ["id", "area_m2", "rooms", "district", "balcony", "year_built", "rent"], rows


def write_csv(name: str, path: str) -> str:
    """Write the bundled example ``name`` as a CSV at ``path``."""
    from sklearn import datasets

    if name == "breast_cancer":
        return _sklearn(datasets.load_breast_cancer, path)
    if name == "wine":
        return _sklearn(datasets.load_wine, path)
    if name == "diabetes":
        return _sklearn(datasets.load_diabetes, path, scaled=False)
    if name == "apartments":
        header, rows = apartments_rows()
        return _write_rows(path, header, rows)
    raise ValueError(f"no bundled example {name!r}; choose one of {', '.join(NAMES)}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print("usage: python -m model_code.examples NAME OUT.csv", file=sys.stderr)
        sys.exit(2)
    print(write_csv(sys.argv[1], sys.argv[2]))
