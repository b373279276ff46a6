"""Classification metrics: accuracy, macro-F1, per-intent report, calibration (ECE, temperature).

Pure NumPy (no scikit-learn import: it pulls SciPy and pandas, seconds at start-up), shared by training (to pick checkpoints and fit the
temperature) and by evaluation (to score a test split)::

    >>> accuracy(["a", "b"], ["a", "a"])
    0.5
    >>> round(expected_calibration_error([0.9, 0.6], [True, False], n_bins=10), 3)
    0.35

Conventions: macro-F1 averages over the labels present in gold or predictions
(a label only ever predicted counts with F1 0); calibration bins are equal-width,
right-closed ``(lower, upper]`` with the first bin also holding confidence 0.
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np

from pipeline.nlu.classifier import softmax  # noqa: F401  (one softmax for runtime and evaluation; re-exported)
from pipeline.types import IntentPrediction

logger = logging.getLogger(__name__)


def _check_pair(gold: Sequence[Any], pred: Sequence[Any]) -> tuple[list[str], list[str]]:
    gold, pred = [str(g) for g in gold], [str(p) for p in pred]
    if len(gold) != len(pred):
        raise ValueError(f"gold and pred must have the same length. Got {len(gold)} and {len(pred)}.")
    if not gold:
        raise ValueError("gold and pred are empty; a metric needs at least one example.")
    return gold, pred


def accuracy(gold: Sequence[str], pred: Sequence[str]) -> float:
    """Fraction of examples whose prediction equals the gold label."""
    gold, pred = _check_pair(gold, pred)
    return sum(g == p for g, p in zip(gold, pred)) / len(gold)


def confusion_counts(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """Counts ``matrix[i, j]`` of gold ``labels[i]`` predicted as ``labels[j]`` (pairs outside ``labels`` ignored).

    Same result as ``sklearn.metrics.confusion_matrix(gold, pred, labels=labels)``,
    without importing scikit-learn (and SciPy and pandas with it) at start-up.
    """
    index = {str(label): i for i, label in enumerate(labels)}
    matrix = np.zeros((len(index), len(index)), dtype=np.int64)
    for g, p in zip(gold, pred):
        i, j = index.get(str(g)), index.get(str(p))
        if i is not None and j is not None:
            matrix[i, j] += 1
    return matrix


def _prf(gold: list[str], pred: list[str], labels: list[str]) -> tuple[np.ndarray, ...]:
    """Per-label precision, recall, F1, support; 0 where undefined (sklearn's ``zero_division=0``)."""
    index = {label: i for i, label in enumerate(labels)}
    tp, n_pred, n_gold = (np.zeros(len(labels)) for _ in range(3))
    for g, p in zip(gold, pred):
        if g in index:
            n_gold[index[g]] += 1
        if p in index:
            n_pred[index[p]] += 1
            if g == p:
                tp[index[p]] += 1
    precision = np.divide(tp, n_pred, out=np.zeros_like(tp), where=n_pred > 0)
    recall = np.divide(tp, n_gold, out=np.zeros_like(tp), where=n_gold > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(tp), where=total > 0)
    return precision, recall, f1, n_gold.astype(int)


def macro_f1(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str] | None = None) -> float:
    """Unweighted mean F1 over ``labels`` (default: every label in gold or pred).

    A label that is only predicted, never gold, has F1 0 and lowers the mean.
    Equals ``sklearn.metrics.f1_score(gold, pred, labels=labels, average="macro", zero_division=0)``.
    """
    gold, pred = _check_pair(gold, pred)
    labels = sorted(set(gold) | set(pred)) if labels is None else [str(x) for x in labels]
    return float(_prf(gold, pred, labels)[2].mean()) if labels else 0.0


def per_intent_report(gold: Sequence[str], pred: Sequence[str], top_confusions: int = 3) -> dict[str, dict]:
    """Per label: precision, recall, f1, support and the labels its messages were mistaken for.

    ``confused_with`` reads the label's gold row of the confusion matrix: the
    ``top_confusions`` wrong predictions with their counts, most frequent first
    (ties by name).
    """
    gold, pred = _check_pair(gold, pred)
    labels = sorted(set(gold) | set(pred))
    p, r, f, s = _prf(gold, pred, labels)
    wrong: dict[str, Counter] = {label: Counter() for label in labels}
    for g, q in zip(gold, pred):
        if g != q:
            wrong[g][q] += 1
    report = {}
    for i, label in enumerate(labels):
        top = sorted(wrong[label].items(), key=lambda kv: (-kv[1], kv[0]))[:top_confusions]
        report[label] = {
            "precision": float(p[i]),
            "recall": float(r[i]),
            "f1": float(f[i]),
            "support": int(s[i]),
            "confused_with": [{"label": lbl, "count": int(n)} for lbl, n in top],
        }
    return report


def _bin_index(confidences: np.ndarray, n_bins: int) -> np.ndarray:
    # Right-closed bins (lower, upper]; searchsorted on the inner edges puts an
    # edge value into the bin it closes, and 0 into the first bin.
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return np.searchsorted(edges[1:-1], confidences, side="left")


def _check_calibration(confidences: Any, correct: Any, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    conf = np.asarray(confidences, dtype=float).reshape(-1)
    corr = np.asarray(correct, dtype=bool).reshape(-1)
    if conf.shape != corr.shape:
        raise ValueError(f"confidences and correct must have the same length. Got {conf.size} and {corr.size}.")
    if conf.size == 0:
        raise ValueError("confidences is empty; calibration needs at least one prediction.")
    if np.isnan(conf).any() or conf.min() < 0.0 or conf.max() > 1.0 + 1e-6:
        raise ValueError(f"confidences must be probabilities in [0, 1]. Got min {conf.min()!r}, max {conf.max()!r}.")
    if not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"The 'n_bins' parameter must be an int >= 1. Got {n_bins!r}.")
    return np.clip(conf, 0.0, 1.0), corr


def reliability_bins(confidences: Any, correct: Any, n_bins: int = 15) -> list[dict]:
    """Equal-width confidence bins: lower, upper, count, accuracy, confidence (None when empty)."""
    conf, corr = _check_calibration(confidences, correct, n_bins)
    idx = _bin_index(conf, n_bins)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = []
    for b in range(n_bins):
        mask = idx == b
        n = int(mask.sum())
        bins.append({
            "lower": float(edges[b]),
            "upper": float(edges[b + 1]),
            "count": n,
            "accuracy": float(corr[mask].mean()) if n else None,
            "confidence": float(conf[mask].mean()) if n else None,
        })
    return bins


def expected_calibration_error(confidences: Any, correct: Any, n_bins: int = 15) -> float:
    """ECE = sum over bins of (bin share) * |bin accuracy - bin mean confidence| (Guo et al., 2017)."""
    bins = reliability_bins(confidences, correct, n_bins)
    total = sum(b["count"] for b in bins)
    return float(sum(b["count"] / total * abs(b["accuracy"] - b["confidence"]) for b in bins if b["count"]))


def _nll_grad(logits: np.ndarray, labels: np.ndarray, beta: float) -> float:
    """d/d(beta) of the mean NLL of softmax(beta * logits): E_p[z] - z_gold, averaged."""
    p = softmax(logits * beta)
    return float(np.mean((p * logits).sum(axis=1) - logits[np.arange(len(labels)), labels]))


def nll(logits: Any, labels: Any, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of integer ``labels`` under softmax(logits / T)."""
    z = np.asarray(logits, dtype=np.float64) / float(temperature)
    y = np.asarray(labels, dtype=int)
    z = z - z.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean())


def fit_temperature(
    logits: Any,
    labels: Any,
    *,
    min_temperature: float = 0.01,
    max_temperature: float = 100.0,
    tol: float = 1e-7,
) -> float:
    """The temperature T > 0 that minimises the NLL of softmax(logits / T) on held-out data.

    The mean NLL is convex in beta = 1/T, so its derivative is monotone and a
    bisection on log(beta) finds the optimum exactly (to ``tol`` in log T),
    deterministically and without scipy. When the optimum lies outside
    [min_temperature, max_temperature] (e.g. every validation example is
    already right with a margin) the nearest bound is returned and a warning
    logged.
    """
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels).reshape(-1)
    if z.ndim != 2 or z.shape[0] == 0 or z.shape[1] < 2:
        raise ValueError(f"logits must be a 2-D array (n_examples, n_labels >= 2). Got shape {z.shape}.")
    if y.shape[0] != z.shape[0] or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be {z.shape[0]} integer class indices. Got {y.shape[0]} of dtype {y.dtype}.")
    if y.min() < 0 or y.max() >= z.shape[1]:
        raise ValueError(f"labels must be in [0, {z.shape[1] - 1}]. Got values in [{y.min()}, {y.max()}].")
    if not 0 < min_temperature < max_temperature:
        raise ValueError(
            f"Temperature bounds must satisfy 0 < min_temperature < max_temperature. "
            f"Got {min_temperature!r} and {max_temperature!r}."
        )
    lo, hi = np.log(1.0 / max_temperature), np.log(1.0 / min_temperature)  # in log(beta)
    if _nll_grad(z, y, np.exp(lo)) >= 0:
        logger.warning("Temperature fit hit the upper bound %.3g: the logits carry almost no signal "
                       "about the validation labels.", max_temperature)
        return float(max_temperature)
    if _nll_grad(z, y, np.exp(hi)) <= 0:
        logger.warning("Temperature fit hit the lower bound %.3g: the validation NLL still falls below it "
                       "(nearly equal logits of an under-trained model, or every validation prediction right "
                       "with a wide margin).", min_temperature)
        return float(min_temperature)
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        if _nll_grad(z, y, np.exp(mid)) < 0:
            lo = mid
        else:
            hi = mid
    return float(np.exp(-0.5 * (lo + hi)))


@dataclass
class ClassificationEvaluation:
    """Scores of a classifier on one split: aggregate numbers, per-example rows, report, confusion matrix."""

    aggregate: dict[str, float]
    per_example: list[dict]
    report: dict[str, dict]
    confusion: dict[str, Any]
    unknown_labels: dict[str, int] = field(default_factory=dict)
    bins: list[dict] = field(default_factory=list)
    primary_metric: str = "macro_f1"

    @property
    def primary(self) -> float:
        return self.aggregate[self.primary_metric]

    @property
    def errors(self) -> list[dict]:
        """Misclassified examples, most confident first."""
        return sorted((e for e in self.per_example if not e["correct"]), key=lambda e: -e["confidence"])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate_classification(
    texts: Sequence[str],
    gold: Sequence[str],
    predictions: Sequence[IntentPrediction],
    probabilities: np.ndarray | None,
    labels: Sequence[str],
    *,
    n_bins: int = 15,
) -> ClassificationEvaluation:
    """Score predictions against gold labels.

    ``labels`` are the model's labels (index order of ``probabilities``). A gold
    label the model does not know is counted as an error it could not avoid and
    listed in ``unknown_labels``; accuracy and macro-F1 include those examples,
    ``accuracy_known`` leaves them out. ``ece`` uses each prediction's
    (calibrated) confidence; ``nll`` needs ``probabilities``.
    """
    texts, gold, labels = list(texts), [str(g) for g in gold], [str(x) for x in labels]
    if not (len(texts) == len(gold) == len(predictions)):
        raise ValueError(f"texts, gold and predictions must have the same length. "
                         f"Got {len(texts)}, {len(gold)} and {len(predictions)}.")
    pred = [p.label for p in predictions]
    conf = np.array([p.confidence for p in predictions], dtype=float)
    known_set = set(labels)
    known = np.array([g in known_set for g in gold], dtype=bool)
    unknown = dict(sorted(Counter(g for g in gold if g not in known_set).items()))
    if unknown:
        logger.warning("%d gold label(s) unknown to the model (%d examples): %s", len(unknown),
                       sum(unknown.values()), ", ".join(list(unknown)[:10]))
    correct = np.array([g == p for g, p in zip(gold, pred)], dtype=bool)
    in_scope = np.array([p.in_scope for p in predictions], dtype=bool)
    bins = reliability_bins(conf, correct, n_bins)
    aggregate: dict[str, float] = {
        "accuracy": accuracy(gold, pred),
        "macro_f1": macro_f1(gold, pred),
        "ece": expected_calibration_error(conf, correct, n_bins),
        "n": len(gold),
        "n_unknown": int((~known).sum()),
        "accuracy_known": float(correct[known].mean()) if known.any() else 0.0,
        "mean_confidence": float(conf.mean()),
        "in_scope_rate": float(in_scope.mean()),
        "accuracy_in_scope": float(correct[in_scope].mean()) if in_scope.any() else 0.0,
    }
    if probabilities is not None:
        probs = np.asarray(probabilities, dtype=float)
        if probs.shape != (len(gold), len(labels)):
            raise ValueError(f"probabilities must have shape ({len(gold)}, {len(labels)}). Got {probs.shape}.")
        if known.any():
            index = {label: i for i, label in enumerate(labels)}
            p_gold = probs[np.flatnonzero(known), [index[g] for g in np.array(gold)[known]]]
            aggregate["nll"] = float(-np.log(np.clip(p_gold, 1e-12, 1.0)).mean())
    per_example = [
        {
            "message": t, "gold": g, "pred": p.label, "confidence": float(p.confidence), "correct": bool(c),
            "in_scope": bool(p.in_scope), "known_label": bool(k),
            "top": [{"label": lbl, "probability": float(pr)} for lbl, pr in p.ranking[:3]],
        }
        for t, g, p, c, k in zip(texts, gold, predictions, correct, known)
    ]
    cm_labels = labels + [x for x in sorted(set(gold) | set(pred)) if x not in known_set]
    matrix = confusion_counts(gold, pred, cm_labels)
    return ClassificationEvaluation(
        aggregate=aggregate,
        per_example=per_example,
        report=per_intent_report(gold, pred),
        confusion={"labels": cm_labels, "matrix": matrix.tolist()},
        unknown_labels=unknown,
        bins=bins,
    )
