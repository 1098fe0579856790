"""Plots for the notebooks. Each function returns a matplotlib ``Figure`` and, given
``path``, also saves it as PNG (parent folders created).

Figures are built with ``matplotlib.figure.Figure`` rather than pyplot, so this module
sets no backend, leaks no open figures, and works under ``Agg`` (tests, CI) as well as
in Jupyter (``%matplotlib inline`` shows a Figure that is a cell's last expression).

Sections: the model (notebook 01). Add later plots (metrics per model version, latency
histograms, layer sizes, ...) as new sections, with the same signature habits:
data in, ``*, path=None, title=None`` keywords, a Figure out.
"""
from __future__ import annotations

import os
from typing import Iterable, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

DPI = 100
CLASS_COLORS = {0: "#d62728", 1: "#1f77b4"}  # malignant red, benign blue
CLASS_NAMES = {0: "malignant (0)", 1: "benign (1)"}


def points_outside(fig: Figure) -> dict:
    """Data points a reader cannot see: ``outside_axes`` (line vertices, scatter points and
    annotated points beyond an axes' limits) and ``under_legend`` (markers and scatter points
    a legend inside the axes covers). Both must be 0 for a figure the notebooks show."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import PathCollection

    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    renderer = fig.canvas.get_renderer()
    fig.draw(renderer)
    outside = under = 0
    for ax in fig.axes:
        (x0, x1), (y0, y1) = sorted(ax.get_xlim()), sorted(ax.get_ylim())
        pts, marked = [], []
        for line in ax.lines:
            xy = np.column_stack([np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)])
            if xy.ndim == 2 and len(xy) and line.get_transform() == ax.transData:
                pts.append(xy)
                if line.get_marker() not in (None, "None", "", " "):
                    marked.append(xy)
        for coll in ax.collections:
            if isinstance(coll, PathCollection) and coll.get_offset_transform() == ax.transData:
                xy = np.asarray(coll.get_offsets(), float)
                if len(xy):
                    pts.append(xy)
                    marked.append(xy)
        for text in ax.texts:
            xy = getattr(text, "xy", None)
            if xy is not None and getattr(text, "xycoords", None) == "data":
                pts.append(np.asarray([xy], float))
        for xy in pts:
            xy = xy[np.isfinite(xy).all(axis=1)]
            tol_x, tol_y = 1e-9 * max(1.0, abs(x1 - x0)), 1e-9 * max(1.0, abs(y1 - y0))
            outside += int(((xy[:, 0] < x0 - tol_x) | (xy[:, 0] > x1 + tol_x)
                            | (xy[:, 1] < y0 - tol_y) | (xy[:, 1] > y1 + tol_y)).sum())
        legend = ax.get_legend()
        if legend is not None and marked:
            box = legend.get_window_extent(renderer)
            inside_axes = ax.get_window_extent(renderer)
            if box.overlaps(inside_axes):
                for xy in marked:
                    xy = xy[np.isfinite(xy).all(axis=1)]
                    disp = ax.transData.transform(xy)
                    under += int(sum(box.contains(px, py) for px, py in disp))
    return {"outside_axes": outside, "under_legend": under}


def _png_with_check(fig: Figure):
    """IPython's image/png for a Figure: the PNG, and in its metadata the ``points_outside``
    check (tests read it back from the committed notebooks)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, dpi=DPI, format="png", bbox_inches="tight")
    return buf.getvalue(), {"mlpipe": points_outside(fig)}


def _register_ipython_formatter() -> None:
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    shell.display_formatter.formatters["image/png"].for_type(Figure, _png_with_check)


def save(fig: Figure, path: str | os.PathLike | None) -> Figure:
    """Save ``fig`` as PNG at ``path`` (if given) and return it (in Jupyter, shown with its
    ``points_outside`` check in the output's metadata)."""
    _register_ipython_formatter()
    if path is not None:
        path = os.fspath(path)
        parent = os.path.dirname(path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        fig.savefig(path, dpi=DPI, format="png", bbox_inches="tight")
    return fig


def _figure(ncols: int = 1, width: float = 5.0, height: float = 4.0):
    fig = Figure(figsize=(width * ncols, height), layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, axes


# --- the model (notebook 01) -------------------------------------------------------


def plot_feature_distributions(
    dataset,
    features: Sequence[str] = ("mean radius", "worst concave points"),
    *,
    bins: int = 30,
    path=None,
    title: str | None = None,
) -> Figure:
    """Histograms of ``features`` by class. ``dataset`` has ``.X`` (n, 30) and ``.y``."""
    from model_code.schema import FEATURE_NAMES

    unknown = [f for f in features if f not in FEATURE_NAMES]
    if unknown:
        raise ValueError(f"unknown feature {unknown[0]!r}")
    X, y = np.asarray(dataset.X), np.asarray(dataset.y)
    fig, axes = _figure(len(features), width=4.5, height=3.5)
    for ax, name in zip(axes, features):
        col = X[:, FEATURE_NAMES.index(name)]
        edges = np.histogram_bin_edges(col, bins=bins)
        for label in (0, 1):
            ax.hist(col[y == label], bins=edges, alpha=0.6, color=CLASS_COLORS[label],
                    label=f"{CLASS_NAMES[label]}: {(y == label).sum()}")
        ax.set_xlabel(name)
        ax.set_ylabel("rows")
        ax.legend(fontsize="small")
    fig.suptitle(title or f"Feature distributions by class ({len(y)} rows)")
    return save(fig, path)


def plot_roc(model, X, y, *, label: str | None = None, path=None, title: str | None = None) -> Figure:
    """The ROC curve of ``model`` on (X, y), with its AUC in the legend."""
    from model_code.evaluate import roc_points

    r = roc_points(model, X, y)
    fig, (ax,) = _figure(1, width=4.5, height=4.5)
    ax.plot(r["fpr"], r["tpr"], lw=2, label=f"{label or 'model'} (AUC = {r['auc']:.4f})")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="chance")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate (benign = positive)")
    ax.set_title(title or f"ROC curve on the holdout ({len(np.asarray(y))} rows)")
    ax.legend(loc="lower right")
    return save(fig, path)


def plot_confusion(metrics: Mapping, *, path=None, title: str | None = None) -> Figure:
    """The confusion matrix from an ``evaluate()`` dict (rows: true label, cols: predicted)."""
    cm = np.asarray(metrics["confusion_matrix"], dtype=int)
    if cm.shape != (2, 2):
        raise ValueError(f"confusion_matrix must be 2x2, got shape {cm.shape}")
    fig, (ax,) = _figure(1, width=4.2, height=3.8)
    im = ax.imshow(cm, cmap="Blues")
    fig.colorbar(im, ax=ax, shrink=0.8)
    names = [CLASS_NAMES[0], CLASS_NAMES[1]]
    ax.set_xticks([0, 1], labels=names)
    ax.set_yticks([0, 1], labels=names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    threshold = cm.max() / 2 if cm.max() else 0.5
    for i in range(2):
        for j in range(2):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=14,
                    color="white" if cm[i, j] > threshold else "black")
    ax.set_title(title or f"Confusion matrix ({cm.sum()} rows)")
    return save(fig, path)


def plot_learning_curve(
    points: Iterable[Mapping],
    *,
    metrics: Sequence[str] = ("roc_auc", "accuracy", "f1"),
    path=None,
    title: str | None = None,
) -> Figure:
    """Holdout metrics vs. rows trained on, from ``learning_curve_over_batches``'s points
    (``{"batch": i, "rows": n, <metric>: value, ...}``)."""
    points = list(points)
    if not points:
        raise ValueError("no points to plot")
    rows = [p["rows"] for p in points]
    fig, (ax,) = _figure(1, width=6.0, height=4.0)
    for name in metrics:
        values = [p.get(name) for p in points]
        ax.plot(rows, [np.nan if v is None else v for v in values], marker="o", label=name)
    ax.set_xlabel("rows trained on / batches trained on")
    ax.set_ylabel("holdout metric")
    ax.set_xticks(rows, labels=[f"{p['rows']}\n1-{p['batch']}" if p["batch"] > 1 else f"{p['rows']}\n1"
                                for p in points])
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title(title or "Learning curve over the arrival batches")
    return save(fig, path)


def plot_task_evaluation(spec, fitted, holdout, *, path=None, title: str | None = None) -> Figure:
    """The holdout plots the dataset's task calls for: ROC and precision-recall curves
    (binary), the confusion matrix with the class labels (multiclass), predicted vs. true
    and the residuals (regression). ``fitted`` is ``model_code.tabular.fit``'s result,
    ``holdout`` a ``model_code.table.Table``."""
    y = np.asarray(holdout.y)
    out = fitted.output(holdout)
    n = len(y)
    if spec.task == "binary":
        from sklearn.metrics import auc, precision_recall_curve, roc_curve

        score = out[:, 1]
        fpr, tpr, _ = roc_curve(y, score)
        prec, rec, _ = precision_recall_curve(y, score)
        fig, (a1, a2) = _figure(2, width=4.6, height=4.0)
        a1.plot(fpr, tpr, label=f"AUC {auc(fpr, tpr):.4f}")
        a1.plot([0, 1], [0, 1], color="#999999", linestyle="--")
        a1.set_xlabel("false positive rate")
        a1.set_ylabel("true positive rate")
        a1.set_title("ROC")
        a1.legend(loc="lower right")
        a2.plot(rec, prec, label=f"positive: {spec.class_labels[1]}")
        a2.set_xlabel("recall")
        a2.set_ylabel("precision")
        a2.set_title("precision-recall")
        a2.legend(loc="lower left")
    elif spec.task == "multiclass":
        k = len(spec.classes)
        pred = np.argmax(out, axis=1)
        cm = np.zeros((k, k), dtype=int)
        for t, p in zip(y.tolist(), pred.tolist()):
            cm[t, p] += 1
        fig, (ax,) = _figure(1, width=1.2 * k + 2.5, height=1.1 * k + 2.0)
        im = ax.imshow(cm, cmap="Blues")
        fig.colorbar(im, ax=ax, shrink=0.8)
        ax.set_xticks(range(k), labels=spec.class_labels, rotation=30, ha="right")
        ax.set_yticks(range(k), labels=spec.class_labels)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        threshold = cm.max() / 2 if cm.max() else 0.5
        for i in range(k):
            for j in range(k):
                ax.text(j, i, str(cm[i, j]), ha="center", va="center",
                        color="white" if cm[i, j] > threshold else "black")
        ax.set_title("confusion matrix")
    else:
        fig, (a1, a2) = _figure(2, width=4.6, height=4.0)
        a1.scatter(y, out, s=12, alpha=0.7)
        lo, hi = float(min(y.min(), out.min())), float(max(y.max(), out.max()))
        a1.plot([lo, hi], [lo, hi], color="#999999", linestyle="--")
        a1.set_xlabel(f"true {spec.target}")
        a1.set_ylabel(f"predicted {spec.target}")
        a1.set_title("predicted vs. true")
        a2.scatter(out, out - y, s=12, alpha=0.7)
        a2.axhline(0, color="#999999", linestyle="--")
        a2.set_xlabel(f"predicted {spec.target}")
        a2.set_ylabel("residual (predicted - true)")
        a2.set_title("residuals")
    fig.suptitle(title or f"{spec.name}: holdout ({n} rows)")
    return save(fig, path)


# --- the pipeline (notebooks 04 and 07) ----------------------------------------------

STATUS_COLORS = {"succeeded": "#2ca02c", "rejected": "#ff7f0e", "failed": "#d62728"}


def plot_run_timeline(moments: Sequence[tuple], *, path=None, title: str | None = None) -> Figure:
    """One run as a timeline: ``moments`` are ``(label, seconds from upload)`` from
    ``mlpipe.watch.run_timeline``. The span between 'instance running' (or the first
    moment) and the last moment is drawn as the instance's bar."""
    moments = list(moments)
    if not moments:
        raise ValueError("no moments to plot")
    fig, (ax,) = _figure(1, width=8.0, height=0.45 * len(moments) + 1.2)
    labels = [m[0] for m in moments]
    times = [m[1] for m in moments]
    ys = list(range(len(moments)))[::-1]
    start = next((t for label, t in moments if "running" in label), times[0])
    ax.axvspan(start, times[-1], color="#1f77b4", alpha=0.08, label="instance on (approx.)")
    for y, label, t in zip(ys, labels, times):
        color = "#d62728" if "failed" in label else "#333333"
        ax.plot([t], [y], marker="o", color=color)
        ax.annotate(f"{t:.1f} s", (t, y), textcoords="offset points", xytext=(6, -3), fontsize=8)
    ax.set_yticks(ys, labels=labels)
    ax.set_xlabel("seconds since the data was uploaded")
    ax.set_xlim(left=min(0.0, times[0]) - 0.2, right=times[-1] * 1.12 + 0.5)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(title or "One training run, upload to instance stopped")
    return save(fig, path)


def plot_metrics_per_version(
    runs: Iterable[Mapping],
    *,
    metric: str = "roc_auc",
    reference: Iterable[Mapping] | None = None,
    path=None,
    title: str | None = None,
) -> Figure:
    """Holdout ``metric`` of every model the pipeline trained, by number of data files
    trained on, coloured by run status; ``reference`` (notebook 01's learning-curve
    points) is drawn as a line, so the pipeline-made curve can be compared with it."""
    runs = [r for r in runs if r.get("model_version") and (r.get("metrics") or {}).get(metric) is not None]
    if not runs:
        raise ValueError(f"no runs with a model and a {metric} to plot")
    fig, (ax,) = _figure(1, width=7.0, height=4.0)
    if reference is not None:
        ref = list(reference)
        ax.plot([p["batch"] for p in ref], [p[metric] for p in ref], color="#999999", linestyle="--",
                marker=".", label="notebook 01 (trained locally)")
    for status, color in STATUS_COLORS.items():
        sel = [r for r in runs if r.get("status") == status]
        if sel:
            ax.scatter([len(r.get("inputs") or []) for r in sel], [r["metrics"][metric] for r in sel],
                       color=color, s=60, zorder=3, label=f"pipeline: {status}")
    for r in runs:
        ax.annotate(r["model_version"], (len(r.get("inputs") or []), r["metrics"][metric]),
                    textcoords="offset points", xytext=(5, 5), fontsize=8)
    ax.set_xlabel("data files trained on")
    ax.set_ylabel(f"holdout {metric}")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.margins(x=0.12, y=0.2)   # room for every point and its version label inside the axes
    ax.grid(alpha=0.3)
    # beside the axes, never over a point (a rejected model sits low, where "lower right" was)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, borderaxespad=0)
    ax.set_title(title or f"Holdout {metric} per model version")
    return save(fig, path)


# --- serving (notebooks 03 and 06): layer sizes against AWS's limits, API latency ------------

MIB = 1024 * 1024
ARTIFACT_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")


def plot_layer_sizes(report, *, path=None, title: str | None = None) -> Figure:
    """Two panels from a ``layer_build`` SizeReport (or its ``to_dict()``): left, the function
    and its layers unzipped, stacked in one bar against the 250 MB limit for all of them
    together; right, each zip against the 50 MB direct-upload limit (larger ones go through S3)."""
    d = report.to_dict() if hasattr(report, "to_dict") else dict(report)
    arts = list(d.get("artifacts") or [])
    if not arts:
        raise ValueError("the size report has no artifacts to plot")
    limits = d["limits"]
    unzip_limit = limits["max_unzipped_bytes"] / MIB
    zip_limit = limits["max_direct_upload_bytes"] / MIB
    fig, (ax_u, ax_z) = _figure(2, width=5.0, height=4.2)

    bottom = 0.0
    for i, a in enumerate(arts):
        mib = a["unzipped_bytes"] / MIB
        ax_u.bar([0], [mib], bottom=bottom, width=0.5, color=ARTIFACT_COLORS[i % len(ARTIFACT_COLORS)],
                 label=f"{a['name']} ({mib:.1f})")
        bottom += mib
    ax_u.axhline(unzip_limit, color="#d62728", linestyle="--", label=f"AWS limit ({unzip_limit:.0f})")
    ax_u.annotate(f"{bottom:.1f} MiB", (0, bottom), textcoords="offset points", xytext=(0, 4),
                  ha="center", fontsize=9)
    ax_u.set_xticks([0], labels=["function + layers"])
    ax_u.set_xlim(-0.8, 0.8)
    ax_u.set_ylim(0, max(unzip_limit, bottom) * 1.35)
    ax_u.set_ylabel("MiB")
    ax_u.set_title("unzipped (limit for all together)", fontsize=10)
    ax_u.legend(loc="upper right", fontsize=8)

    xs = np.arange(len(arts))
    zipped = [a["zipped_bytes"] / MIB for a in arts]
    colors = [ARTIFACT_COLORS[i % len(ARTIFACT_COLORS)] for i in range(len(arts))]
    ax_z.bar(xs, zipped, width=0.6, color=colors)
    for x, z in zip(xs, zipped):
        via = " (S3)" if z > zip_limit else ""
        ax_z.annotate(f"{z:.1f}{via}", (x, z), textcoords="offset points", xytext=(0, 3), ha="center", fontsize=8)
    ax_z.axhline(zip_limit, color="#ff7f0e", linestyle="--", label=f"direct upload limit ({zip_limit:.0f})")
    ax_z.set_xticks(xs, labels=[a["name"] for a in arts], rotation=15, fontsize=8)
    ax_z.set_ylim(0, max(zip_limit, max(zipped)) * 1.35)
    ax_z.set_ylabel("MiB")
    ax_z.set_title("zipped (limit per zip uploaded directly)", fontsize=10)
    ax_z.legend(loc="upper right", fontsize=8)
    fig.suptitle(title or "Lambda deployment sizes against AWS's limits")
    return save(fig, path)


def plot_latency_histogram(seconds: Iterable[float], *, percentiles: Sequence[float] = (50, 99),
                           bins: int = 30, path=None, title: str | None = None) -> Figure:
    """A histogram of round-trip latencies (seconds in, milliseconds drawn) with a vertical
    line per percentile."""
    ms = np.asarray(list(seconds), dtype=float) * 1000.0
    if ms.size == 0:
        raise ValueError("no latencies to plot")
    fig, (ax,) = _figure(1, width=7.0, height=3.8)
    ax.hist(ms, bins=bins, color="#1f77b4", alpha=0.8)
    for q, color in zip(percentiles, ("#2ca02c", "#d62728", "#9467bd", "#8c564b")):
        v = float(np.percentile(ms, q))
        ax.axvline(v, color=color, linestyle="--", label=f"p{q:g} = {v:.1f} ms")
    ax.set_xlabel("round trip (ms)")
    ax.set_ylabel("requests")
    ax.legend(loc="upper right", fontsize=9)
    ax.set_title(title or f"Latency of {ms.size} requests through the API")
    return save(fig, path)


def plot_layer_stacks(comparison, *, path=None, title: str | None = None) -> Figure:
    """``layer_build.compare.compare_stacks``'s result (or its ``to_dict()``) as two panels, one bar
    per package stack: left, function + layers unzipped against the 250 MB limit; right, the
    packages layer's zip against the 50 MB direct-upload limit."""
    d = comparison.to_dict() if hasattr(comparison, "to_dict") else dict(comparison)
    rows = list(d.get("stacks") or [])
    if not rows:
        raise ValueError("the comparison has no stacks to plot")
    limits = d["limits"]
    fig, (ax_u, ax_z) = _figure(2, width=5.0, height=4.2)
    xs = np.arange(len(rows))
    colors = [ARTIFACT_COLORS[i % len(ARTIFACT_COLORS)] for i in range(len(rows))]
    for ax, key, limit, label in ((ax_u, "total_unzipped_bytes", limits["max_unzipped_bytes"], "unzipped limit"),
                                  (ax_z, "layer_zipped_bytes", limits["max_direct_upload_bytes"], "direct upload limit")):
        vals = [r[key] / MIB for r in rows]
        ax.bar(xs, vals, width=0.6, color=colors)
        for x, v in zip(xs, vals):
            ax.annotate(f"{v:.1f}", (x, v), textcoords="offset points", xytext=(0, 3), ha="center", fontsize=8)
        ax.axhline(limit / MIB, color="#d62728", linestyle="--", label=f"{label} ({limit / MIB:.0f})")
        ax.set_xticks(xs, labels=[r["stack"] for r in rows])
        ax.set_ylim(0, max(limit / MIB, max(vals)) * 1.3)
        ax.set_ylabel("MiB")
        ax.legend(loc="upper left", fontsize=8)
    ax_u.set_title("function + layers, unzipped", fontsize=10)
    ax_z.set_title("packages layer, zipped", fontsize=10)
    fig.suptitle(title or "What serving carries: numpy export vs. scikit-learn stack")
    return save(fig, path)
