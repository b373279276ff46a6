"""Evaluation figures as PNG files: confusion matrix, reliability diagram, per-label F1, confidence histogram.

Drawn with matplotlib's object API on the Agg canvas (no display, no pyplot
global state), so it runs on servers and in tests::

    from evaluation.plots import plot_reliability_diagram
    plot_reliability_diagram(evaluation.bins, "runs/eval/reliability_diagram.png", ece=evaluation.aggregate["ece"])

Figure size and tick font scale with the number of labels, so 27 Bitext and 77
BANKING77 intents both stay readable.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 110


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    return path


def _tick_font(n: int) -> float:
    return float(np.clip(11.0 - n / 10.0, 6.5, 9.0))


def _select_labels(labels: list[str], matrix: np.ndarray, max_labels: int) -> list[int]:
    """Indices of the ``max_labels`` labels with the most errors (in their original order)."""
    if len(labels) <= max_labels:
        return list(range(len(labels)))
    off = matrix.astype(float).copy()
    np.fill_diagonal(off, 0.0)
    errors = off.sum(axis=0) + off.sum(axis=1)
    keep = np.argsort(-errors, kind="stable")[:max_labels]
    return sorted(int(i) for i in keep)


def plot_confusion_matrix(
    labels: Sequence[str],
    matrix: Any,
    path: str | Path,
    normalize: bool = True,
    max_labels: int = 80,
) -> Path:
    """Heat map of gold (rows) vs predicted (columns); rows normalised to recall when ``normalize``.

    Above ``max_labels`` labels only those with the most errors are drawn (the
    title says so). Cell values are written in when there are at most 30 labels.
    """
    labels = [str(x) for x in labels]
    m = np.asarray(matrix, dtype=float)
    if m.shape != (len(labels), len(labels)):
        raise ValueError(f"matrix must be {len(labels)}x{len(labels)} to match labels. Got shape {m.shape}.")
    keep = _select_labels(labels, m, max_labels)
    m = m[np.ix_(keep, keep)]
    shown = [labels[i] for i in keep]
    n = len(shown)
    if normalize:
        rows = m.sum(axis=1, keepdims=True)
        m = np.divide(m, rows, out=np.zeros_like(m), where=rows > 0)
    side = float(np.clip(3.0 + 0.22 * n, 6.0, 22.0))
    fig = Figure(figsize=(side + 1.5, side))
    ax = fig.add_subplot()
    # Power-law colour scale: small off-diagonal rates stay visible next to a bright diagonal.
    from matplotlib.colors import PowerNorm

    vmax = 1.0 if normalize else max(float(m.max()), 1.0)
    im = ax.imshow(m, cmap="Blues", norm=PowerNorm(gamma=0.5, vmin=0.0, vmax=vmax), interpolation="nearest")
    cbar = fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02)
    cbar.set_label("share of gold row" if normalize else "count")
    font = _tick_font(n)
    ax.set_xticks(range(n), shown, rotation=90, fontsize=font)
    ax.set_yticks(range(n), shown, fontsize=font)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_xticks(np.arange(-0.5, n, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, n, 1), minor=True)
    ax.grid(which="minor", color="0.9", linewidth=0.3)
    ax.tick_params(which="minor", length=0)
    if n <= 30:
        for i in range(n):
            for j in range(n):
                if m[i, j] > 0:
                    text = f"{m[i, j]:.2f}".lstrip("0") if normalize else str(int(m[i, j]))
                    if normalize and m[i, j] >= 0.995:
                        text = "1"
                    elif normalize and m[i, j] < 0.005:
                        text = "<.01"
                    ax.text(j, i, text, ha="center", va="center", fontsize=font - 1,
                            color="white" if m[i, j] > 0.5 * vmax else "black")
    title = "Confusion matrix" + (" (row-normalised)" if normalize else "")
    if n < len(labels):
        title += f": {n} of {len(labels)} labels, those with the most errors"
    ax.set_title(title)
    return _save(fig, path)


def plot_reliability_diagram(bins: Sequence[dict], path: str | Path, ece: float) -> Path:
    """Accuracy per confidence bin against the diagonal, with the number of predictions per bin below."""
    fig = Figure(figsize=(6.0, 7.0))
    ax, ax_n = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1], "hspace": 0.08})
    lowers = np.array([b["lower"] for b in bins])
    widths = np.array([b["upper"] - b["lower"] for b in bins])
    counts = np.array([b["count"] for b in bins])
    filled = counts > 0
    acc = np.array([b["accuracy"] if b["count"] else 0.0 for b in bins])
    conf = np.array([b["confidence"] if b["count"] else 0.0 for b in bins])
    ax.bar(lowers[filled], acc[filled], width=widths[filled], align="edge", color="#4c72b0",
           edgecolor="black", linewidth=0.5, label="accuracy")
    gap_lo, gap_hi = np.minimum(acc, conf), np.maximum(acc, conf)
    ax.bar(lowers[filled], (gap_hi - gap_lo)[filled], bottom=gap_lo[filled], width=widths[filled], align="edge",
           color="#dd8452", alpha=0.45, edgecolor="#dd8452", hatch="//", label="gap to mean confidence")
    ax.plot([0, 1], [0, 1], linestyle="--", color="0.3", linewidth=1, label="perfect calibration")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.set_title(f"Reliability diagram (ECE = {ece:.4f}, n = {int(counts.sum())})")
    ax.legend(loc="upper left", fontsize=8)
    ax_n.bar(lowers, np.maximum(counts, 0), width=widths, align="edge", color="0.55", edgecolor="black",
             linewidth=0.5)
    if counts.max() > 0 and counts.max() > 20 * max(1, counts[filled].min()):
        ax_n.set_yscale("log")
    ax_n.set_ylabel("predictions")
    ax_n.set_xlabel("confidence")
    return _save(fig, path)


def plot_per_label_f1(report: dict[str, dict], path: str | Path) -> Path:
    """Horizontal bars of F1 per label, worst at the top, with support in the tick label."""
    items = sorted(report.items(), key=lambda kv: (kv[1]["f1"], kv[0]))
    n = len(items)
    fig = Figure(figsize=(8.0, float(np.clip(1.0 + 0.2 * n, 3.0, 18.0))))
    ax = fig.add_subplot()
    f1 = [v["f1"] for _, v in items]
    y = np.arange(n)[::-1]  # worst first, at the top
    colours = ["#c44e52" if v < 0.8 else "#dd8452" if v < 0.95 else "#4c72b0" for v in f1]
    ax.barh(y, f1, color=colours, height=0.75)
    font = _tick_font(n)
    ax.set_yticks(y, [f"{k} ({v['support']})" for k, v in items], fontsize=font)
    for yi, v in zip(y, f1):
        ax.text(min(v, 1.0) + 0.005, yi, f"{v:.3f}", va="center", fontsize=font - 0.5)
    ax.set_xlim(0, 1.08)
    ax.set_ylim(-0.6, n - 0.4)
    ax.set_xlabel("F1")
    macro = float(np.mean(f1)) if f1 else 0.0
    ax.axvline(macro, color="0.3", linestyle="--", linewidth=1)
    ax.set_title(f"F1 per intent (support in brackets); dashed: macro-F1 = {macro:.4f}")
    return _save(fig, path)


def plot_confidence_histogram(confidences: Any, correct: Any, path: str | Path, n_bins: int = 20) -> Path:
    """Histogram of confidence for right and wrong predictions (log counts when bin heights differ > 20x)."""
    conf = np.asarray(confidences, dtype=float).reshape(-1)
    corr = np.asarray(correct, dtype=bool).reshape(-1)
    fig = Figure(figsize=(7.0, 4.5))
    ax = fig.add_subplot()
    edges = np.linspace(0, 1, n_bins + 1)
    ax.hist([conf[corr], conf[~corr]], bins=edges, color=["#4c72b0", "#c44e52"],
            label=[f"correct ({int(corr.sum())})", f"wrong ({int((~corr).sum())})"], edgecolor="black",
            linewidth=0.4)
    counts = np.concatenate([np.histogram(conf[corr], edges)[0], np.histogram(conf[~corr], edges)[0]])
    if counts.max() > 20 * max(1, counts[counts > 0].min(initial=1)):
        ax.set_yscale("log")  # one tall bin (usually confident and right) would flatten the rest
    ax.set_xlim(0, 1)
    ax.set_xlabel("confidence of the predicted label")
    ax.set_ylabel("predictions")
    ax.set_title("Confidence of right and wrong predictions")
    ax.legend(loc="upper left")
    return _save(fig, path)
