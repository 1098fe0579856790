"""Rows of a dataset (``model_code.table.Table``) as the numeric matrix a model takes.

Numbers pass through (a missing one is imputed with the fill the dataset file asks for:
the training rows' mean or median, or a constant); a category becomes one 0/1 column per
category, in the dataset file's order (a missing one is imputed with the most frequent
category of the training rows, or a constant). The fills are fitted once, on the training
rows, and travel inside the serving export, so predict encodes a request exactly as training
encoded the data. numpy and the standard library only.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np


class EncodeError(ValueError):
    """Rows that the encoder cannot turn into numbers (a missing value without a fill)."""


class Encoder:
    """``features``: ``[{"name", "type", "categories"?, "fill"?}]``; ``fill`` is None for a
    feature whose missing values are refused."""

    def __init__(self, features):
        self.features = [dict(f) for f in features]
        names = []
        # the number features' output columns and fills (NaN: a missing value is refused):
        # transform imputes all of them at once
        number_out, number_fill, number_names = [], [], []
        for f in self.features:
            if f["type"] == "category":
                names += [f"{f['name']}={c}" for c in f["categories"]]
            else:
                number_out.append(len(names))
                number_fill.append(np.nan if f["fill"] is None else float(f["fill"]))
                number_names.append(f["name"])
                names.append(f["name"])
        self.output_names = tuple(names)
        self._number_out = np.array(number_out, dtype=np.intp)
        self._number_fill = np.array(number_fill, dtype=np.float64)
        self._number_refused = np.isnan(self._number_fill)
        self._number_names = tuple(number_names)

    @classmethod
    def fit(cls, spec, table) -> "Encoder":
        """The encoder of ``spec``'s features with its fills fitted on ``table`` (training rows)."""
        out = []
        for f in spec.features:
            col = table.columns[f.name]
            fill = None
            if f.missing == "constant":
                fill = f.fill
            elif f.is_category and f.missing == "most_frequent":
                present = [v for v in col.tolist() if v is not None]
                counts = {c: present.count(c) for c in f.categories}
                fill = max(f.categories, key=lambda c: counts[c])  # ties: the first listed
            elif not f.is_category and f.missing != "refuse":
                vals = col[~np.isnan(col)]
                if not vals.size:
                    fill = 0.0
                elif f.missing == "mean":
                    fill = float(np.mean(vals))
                elif f.missing == "median":
                    fill = float(np.median(vals))
                else:  # most_frequent number
                    uniq, counts = np.unique(vals, return_counts=True)
                    fill = float(uniq[np.argmax(counts)])
            d = {"name": f.name, "type": f.type, "fill": fill}
            if f.is_category:
                d["categories"] = list(f.categories)
            out.append(d)
        return cls(out)

    @property
    def identity(self) -> bool:
        """Numbers only and nothing to impute: the matrix is the columns side by side."""
        return all(f["type"] != "category" and f["fill"] is None for f in self.features)

    def transform(self, table) -> np.ndarray:
        n = table.n_rows
        X = np.empty((n, len(self.output_names)), dtype=np.float64)
        j = 0
        for f in self.features:
            col = table.columns[f["name"]]
            if f["type"] == "category":
                cats = f["categories"]
                if f["fill"] is not None:
                    col = np.where(np.equal(col, None), f["fill"], col)
                elif any(v is None for v in col.tolist()):
                    raise EncodeError(f"{f['name']!r} has a missing value and no fill")
                for c in cats:
                    X[:, j] = col == c
                    j += 1
            else:
                X[:, j] = col
                j += 1
        if self._number_out.size:
            numbers = X[:, self._number_out]
            missing = np.isnan(numbers)
            if missing.any():
                refused = missing[:, self._number_refused].any(axis=0)
                if refused.any():
                    first = self._number_names[int(np.flatnonzero(self._number_refused)[refused.argmax()])]
                    raise EncodeError(f"{first!r} has a missing value and no fill")
                X[:, self._number_out] = np.where(missing, self._number_fill, numbers)
        return X

    def to_dict(self) -> dict:
        return {"features": [dict(f) for f in self.features]}

    @classmethod
    def from_dict(cls, doc: Mapping) -> "Encoder":
        return cls(doc["features"])

    @classmethod
    def plain(cls, names) -> "Encoder":
        """Numbers only, none missing (an export written before encoders existed)."""
        return cls([{"name": n, "type": "number", "fill": None} for n in names])
