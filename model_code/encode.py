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
        for f in self.features:
            if f["type"] == "category":
                names += [f"{f['name']}={c}" for c in f["categories"]]
            else:
                names.append(f["name"])
        self.output_names = tuple(names)

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
                col = np.asarray(col, dtype=np.float64)
                if f["fill"] is not None:
                    col = np.where(np.isnan(col), f["fill"], col)
                elif np.isnan(col).any():
                    raise EncodeError(f"{f['name']!r} has a missing value and no fill")
                X[:, j] = col
                j += 1
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
