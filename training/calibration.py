"""Calibration of a fine-tuned intent model: temperature, the confidence threshold, the nearest-neighbour rule.

    calibration = calibrate(val_logits, val_gold, val_emb, train_emb, train_gold, settings)   # -> calibration.json

Each estimate says when it cannot be trusted and falls back, with a warning, instead of collapsing:

- **temperature**: fitted on validation (the NLL minimum), bounded to ``[0.5, 10]``; with fewer than
  ``MIN_PER_INTENT`` validation messages per intent (or ``MIN_VALIDATION`` in all) it stays 1.0;
- **confidence threshold**: the ``oos_rejection`` quantile of the confidence of simulated out-of-scope validation
  messages (each scored with its own intent removed); not set on a validation split that small;
- **nearest-neighbour rule** (:mod:`pipeline.nlu.oos`): the score keeping ``oos_keep`` of the known messages,
  estimated by the held-out-intents rule on validation, or on the training messages themselves (leave one out)
  when validation is small. It needs no calibration, so it holds on a 40-row data set.
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np

from pipeline.nlu.classifier import softmax
from pipeline.nlu.oos import choose_knn_threshold, held_out_intent_scores

logger = logging.getLogger(__name__)

MIN_PER_INTENT = 3
MIN_VALIDATION = 30
TEMPERATURE_BOUNDS = (0.5, 10.0)


def simulated_oos_confidence(probs: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """Confidence each message would get if its own intent did not exist.

    Out-of-scope messages look like in-scope ones whose intent is missing from
    the label set: drop the gold class, renormalise, take the maximum. Rows
    whose gold label is unknown (-1) are used as they are.
    """
    q = probs.copy()
    rows = np.flatnonzero(gold >= 0)
    q[rows, gold[rows]] = 0.0
    q /= np.clip(q.sum(axis=1, keepdims=True), 1e-12, None)
    return q.max(axis=1)


def choose_threshold(probs: np.ndarray, gold: np.ndarray, rejection: float) -> dict[str, float | None]:
    """Out-of-scope confidence threshold chosen on validation data, without out-of-scope examples.

    The threshold is the ``rejection`` quantile of :func:`simulated_oos_confidence`:
    that fraction of simulated out-of-scope messages falls under it. Also
    returns the fraction of correct in-scope validation predictions it keeps.
    """
    if rejection <= 0:
        return {"threshold": None, "simulated_oos_rejected": 0.0, "in_scope_kept": 1.0}
    oos = simulated_oos_confidence(probs, gold)
    threshold = float(np.quantile(oos, rejection))
    correct = probs.argmax(axis=1) == gold
    kept = float((probs.max(axis=1)[correct] >= threshold).mean()) if correct.any() else 0.0
    return {"threshold": threshold, "simulated_oos_rejected": float((oos < threshold).mean()), "in_scope_kept": kept}


def enough_validation(gold: np.ndarray, n_labels: int) -> bool:
    """At least MIN_PER_INTENT messages per intent on average, and MIN_VALIDATION in all."""
    known = int((gold >= 0).sum())
    return known >= MIN_VALIDATION and known >= MIN_PER_INTENT * n_labels


def bounded_temperature(logits: np.ndarray, gold: np.ndarray, trusted: bool) -> float:
    from evaluation.metrics import fit_temperature

    if not trusted:
        return 1.0
    known = gold >= 0
    fitted = float(fit_temperature(logits[known], gold[known]))
    low, high = TEMPERATURE_BOUNDS
    if not low <= fitted <= high:
        logger.warning("The fitted temperature %.3g is outside [%g, %g] (the validation split is too easy or too "
                       "noisy to calibrate on); using %g.", fitted, low, high, min(max(fitted, low), high))
    return min(max(fitted, low), high)


def knn_rule(val_emb: np.ndarray | None, val_gold: np.ndarray, train_emb: np.ndarray, train_gold: np.ndarray,
             k: int, keep: float, trusted: bool) -> dict[str, Any]:
    """The nearest-neighbour threshold, from validation when there is enough of it, else from the training set."""
    if trusted and val_emb is not None:
        mask = val_gold >= 0
        known, unknown = held_out_intent_scores(val_emb[mask], val_gold[mask], train_emb, train_gold, k, same=False)
        estimate = "validation messages against the training index (held-out intents: own intent removed)"
    else:
        known, unknown = held_out_intent_scores(train_emb, train_gold, train_emb, train_gold, k, same=True)
        estimate = "training messages, leave one out (held-out intents: own intent removed); validation is too small"
    chosen = choose_knn_threshold(known, unknown, keep)
    return {"method": "knn", "k": k, "threshold": chosen["threshold"], "keep": keep, "estimate": estimate,
            "known_kept": chosen["known_kept"], "simulated_unknown_rejected": chosen["unknown_rejected"]}


def calibrate(val_logits: np.ndarray, val_gold: np.ndarray, n_labels: int, *, oos_rejection: float,
              val_emb: np.ndarray | None = None, train_emb: np.ndarray | None = None,
              train_gold: np.ndarray | None = None, oos_k: int = 1, oos_keep: float = 0.95) -> dict[str, Any]:
    """The content of ``calibration.json`` (see the module docstring)."""
    trusted = enough_validation(val_gold, n_labels)
    if not trusted:
        logger.warning("Only %d validation messages for %d intents (fewer than %d each): the temperature stays 1 and "
                       "no confidence threshold is set; the nearest-neighbour out-of-scope rule is estimated on the "
                       "training messages instead.", int((val_gold >= 0).sum()), n_labels, MIN_PER_INTENT)
    temperature = bounded_temperature(val_logits, val_gold, trusted)
    probs = softmax(val_logits, temperature)
    chosen = choose_threshold(probs, val_gold, oos_rejection) if trusted else {
        "threshold": None, "simulated_oos_rejected": None, "in_scope_kept": None}
    out: dict[str, Any] = {
        "temperature": temperature,
        "threshold": chosen["threshold"],
        "threshold_method": (f"{oos_rejection:.3g} quantile of the confidence of simulated out-of-scope validation "
                             "messages (each scored with its own intent removed)") if trusted else
                            "none: the validation split is too small to choose a confidence threshold",
        "validation_in_scope_kept": chosen["in_scope_kept"],
        "validation_simulated_oos_rejected": chosen["simulated_oos_rejected"],
        "validation_messages": int((val_gold >= 0).sum()),
    }
    if train_emb is not None and train_gold is not None and len(train_emb) > 1:
        out["oos"] = knn_rule(val_emb, val_gold, train_emb, train_gold, oos_k, oos_keep, trusted)
    return out
