"""Metrics on literal inputs whose values were computed by hand."""
from __future__ import annotations

import math

import numpy as np
import pytest

from evaluation.metrics import (
    accuracy,
    confusion_counts,
    evaluate_classification,
    expected_calibration_error,
    fit_temperature,
    macro_f1,
    nll,
    per_intent_report,
    reliability_bins,
    softmax,
)
from pipeline.types import IntentPrediction

# 6 examples: a 3x (2 right, 1 as b), b 2x (1 right, 1 as c), c 1x (right).
GOLD = ["a", "a", "a", "b", "b", "c"]
PRED = ["a", "a", "b", "b", "c", "c"]


def test_accuracy_by_hand():
    assert accuracy(GOLD, PRED) == pytest.approx(4 / 6)


def test_macro_f1_by_hand():
    # a: P=1, R=2/3, F1=0.8; b: P=1/2, R=1/2, F1=0.5; c: P=1/2, R=1, F1=2/3 -> mean 59/90
    assert macro_f1(GOLD, PRED) == pytest.approx(59 / 90)


def test_macro_f1_counts_a_label_only_predicted_as_zero():
    # gold {a}, pred {a, d}: a has P=1/2, R=1, F1=2/3; d has F1=0 -> 1/3
    assert macro_f1(["a", "a"], ["a", "d"]) == pytest.approx(1 / 3)
    assert macro_f1(["a", "a"], ["a", "d"], labels=["a"]) == pytest.approx(2 / 3)


def test_numpy_metrics_match_scikit_learn():
    from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

    rng = np.random.default_rng(0)
    gold = [f"l{i}" for i in rng.integers(0, 7, 300)]
    pred = [g if rng.random() < 0.6 else f"l{i}" for g, i in zip(gold, rng.integers(0, 9, 300))]  # l7, l8 only predicted
    labels = sorted(set(gold) | set(pred))
    assert macro_f1(gold, pred) == pytest.approx(f1_score(gold, pred, average="macro", zero_division=0), abs=1e-12)
    assert macro_f1(gold, pred, labels=["l0", "l3"]) == pytest.approx(
        f1_score(gold, pred, labels=["l0", "l3"], average="macro", zero_division=0), abs=1e-12)
    p, r, f, s = precision_recall_fscore_support(gold, pred, labels=labels, zero_division=0)
    report = per_intent_report(gold, pred)
    assert [report[x]["precision"] for x in labels] == pytest.approx(p.tolist(), abs=1e-12)
    assert [report[x]["recall"] for x in labels] == pytest.approx(r.tolist(), abs=1e-12)
    assert [report[x]["f1"] for x in labels] == pytest.approx(f.tolist(), abs=1e-12)
    assert [report[x]["support"] for x in labels] == s.tolist()
    assert confusion_counts(gold, pred, labels).tolist() == confusion_matrix(gold, pred, labels=labels).tolist()


def test_confusion_counts_by_hand():
    assert confusion_counts(GOLD, PRED, ["a", "b", "c"]).tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]


def test_metrics_reject_mismatched_lengths():
    with pytest.raises(ValueError, match="same length. Got 2 and 1"):
        accuracy(["a", "b"], ["a"])


def test_per_intent_report_values_and_confusions():
    report = per_intent_report(GOLD, PRED)
    assert list(report) == ["a", "b", "c"]
    assert report["a"] == {"precision": 1.0, "recall": pytest.approx(2 / 3), "f1": pytest.approx(0.8),
                           "support": 3, "confused_with": [{"label": "b", "count": 1}]}
    assert report["b"]["confused_with"] == [{"label": "c", "count": 1}]
    assert report["c"]["confused_with"] == []
    assert report["c"]["precision"] == 0.5 and report["c"]["recall"] == 1.0


def test_confusions_sorted_by_count_then_name_and_truncated():
    gold = ["x"] * 6
    pred = ["z", "y", "z", "w", "v", "x"]
    report = per_intent_report(gold, pred, top_confusions=2)
    assert report["x"]["confused_with"] == [{"label": "z", "count": 2}, {"label": "v", "count": 1}]


def test_ece_two_bins_by_hand():
    # bin [0, .5]: conf .1,.3,.4 (mean 0.8/3), 1 of 3 right -> |1/3 - 0.8/3| * 3/4 = 0.05
    # bin (.5, 1]: conf .8, right -> |1 - .8| * 1/4 = 0.05
    conf = np.array([0.1, 0.3, 0.4, 0.8])
    correct = np.array([True, False, False, True])
    assert expected_calibration_error(conf, correct, n_bins=2) == pytest.approx(0.1)


def test_reliability_bins_by_hand():
    bins = reliability_bins([0.1, 0.3, 0.4, 0.8], [True, False, False, True], n_bins=2)
    assert bins[0] == {"lower": 0.0, "upper": 0.5, "count": 3, "accuracy": pytest.approx(1 / 3),
                       "confidence": pytest.approx(0.8 / 3)}
    assert bins[1] == {"lower": 0.5, "upper": 1.0, "count": 1, "accuracy": 1.0, "confidence": 0.8}
    # right-closed bins: 0.5 belongs to the first, 0 too; empty bins have None
    bins = reliability_bins([0.0, 0.5], [True, True], n_bins=4)
    assert [b["count"] for b in bins] == [1, 1, 0, 0]
    assert bins[3]["accuracy"] is None


def test_ece_perfectly_calibrated_is_zero_and_bad_input_raises():
    assert expected_calibration_error([1.0, 1.0], [True, True]) == 0.0
    with pytest.raises(ValueError, match="probabilities in \\[0, 1\\]"):
        expected_calibration_error([1.5], [True])


def test_softmax_and_temperature():
    p = softmax(np.array([[np.log(3.0), 0.0]]))
    assert p == pytest.approx(np.array([[0.75, 0.25]]))
    p2 = softmax(np.array([[2 * np.log(3.0), 0.0]]), temperature=2.0)
    assert p2 == pytest.approx(np.array([[0.75, 0.25]]))
    with pytest.raises(ValueError, match="'temperature'"):
        softmax([[1.0, 2.0]], temperature=0)


def test_fit_temperature_exact_optimum():
    # Every example has logits [2 ln 3, 0] and 3 of 4 are class 0: NLL is minimal when
    # softmax gives 0.75 to class 0, i.e. (2 ln 3) / T = ln 3, T = 2.
    logits = np.array([[2 * np.log(3.0), 0.0]] * 4)
    labels = np.array([0, 0, 0, 1])
    t = fit_temperature(logits, labels)
    assert t == pytest.approx(2.0, abs=1e-5)
    assert nll(logits, labels, t) < nll(logits, labels, 1.0)


def _synthetic(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """True logits and labels drawn from softmax(true logits) (Gumbel-max sampling)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=2.0, size=(n, k))
    y = np.argmax(z + rng.gumbel(size=(n, k)), axis=1)
    return z, y


@pytest.mark.parametrize("true_t", [0.5, 1.0, 3.0])
def test_fit_temperature_recovers_known_temperature(true_t):
    z, y = _synthetic(20000, 10, seed=0)
    # A model whose logits are z * T is over- (T > 1) or under-confident (T < 1) by exactly T.
    assert fit_temperature(z * true_t, y) == pytest.approx(true_t, rel=0.03)


def test_fit_temperature_bounds_and_errors():
    separable = np.array([[5.0, 0.0], [0.0, 5.0]])
    assert fit_temperature(separable, np.array([0, 1])) == 0.01
    assert fit_temperature(separable, np.array([1, 0])) == 100.0  # always wrong: flatten as far as allowed
    with pytest.raises(ValueError, match="labels must be in \\[0, 1\\]"):
        fit_temperature(separable, np.array([0, 2]))
    with pytest.raises(ValueError, match="integer class indices"):
        fit_temperature(separable, np.array(["a", "b"]))


def _pred(label: str, conf: float, in_scope: bool = True) -> IntentPrediction:
    return IntentPrediction(label, conf, [(label, conf)], in_scope)


def test_evaluate_classification_aggregate_and_unknown_gold():
    labels = ["a", "b"]
    texts = ["m1", "m2", "m3", "m4"]
    gold = ["a", "b", "b", "zzz"]  # "zzz" is unknown to the model
    preds = [_pred("a", 0.9), _pred("b", 0.8), _pred("a", 0.6, in_scope=False), _pred("b", 0.7)]
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    ev = evaluate_classification(texts, gold, preds, probs, labels, n_bins=10)
    agg = ev.aggregate
    assert agg["accuracy"] == 0.5
    assert agg["n"] == 4 and agg["n_unknown"] == 1
    assert agg["accuracy_known"] == pytest.approx(2 / 3)
    assert agg["in_scope_rate"] == 0.75
    assert agg["accuracy_in_scope"] == pytest.approx(2 / 3)
    # nll over the 3 known-gold examples: -(ln .9 + ln .8 + ln .4) / 3
    assert agg["nll"] == pytest.approx(-(math.log(0.9) + math.log(0.8) + math.log(0.4)) / 3)
    # a: P=1/2 R=1 F1=2/3; b: P=1/2 R=1/2 F1=1/2; zzz: 0 -> macro 7/18
    assert agg["macro_f1"] == pytest.approx(7 / 18)
    assert ev.primary == agg["macro_f1"] and ev.primary_metric == "macro_f1"
    assert ev.unknown_labels == {"zzz": 1}
    assert ev.confusion["labels"] == ["a", "b", "zzz"]
    assert ev.confusion["matrix"] == [[1, 0, 0], [1, 1, 0], [0, 1, 0]]
    assert [e["message"] for e in ev.errors] == ["m4", "m3"]  # most confident error first
    assert ev.per_example[3]["known_label"] is False
    assert ev.report["b"]["confused_with"] == [{"label": "a", "count": 1}]


def test_evaluate_classification_checks_probability_shape():
    with pytest.raises(ValueError, match="shape \\(1, 2\\)"):
        evaluate_classification(["m"], ["a"], [_pred("a", 0.9)], np.array([[1.0, 0.0, 0.0]]), ["a", "b"])
