"""Calibration that holds on any data: bounded temperature, a fallback on small validation sets, the kNN rule."""
from __future__ import annotations

import logging

import numpy as np
import pytest

from pipeline.nlu.oos import choose_knn_threshold, held_out_intent_scores, knn_score, load_index, save_index
from training.calibration import calibrate, enough_validation


def unit(rows):
    rows = np.asarray(rows, dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


# two intents, two tight clusters of training messages
TRAIN = unit([[1, 0.1, 0], [1, -0.1, 0], [1, 0, 0.1], [0.1, 1, 0], [-0.1, 1, 0], [0, 1, 0.1]])
TRAIN_Y = np.array([0, 0, 0, 1, 1, 1])


def test_knn_score_leaves_out_the_query_itself_and_its_intent():
    own = knn_score(TRAIN, TRAIN, 1, exclude_rows=np.arange(6))
    assert np.all(own > 0.98)  # the nearest other message of its cluster
    other = knn_score(TRAIN, TRAIN, 1, index_labels=TRAIN_Y, exclude=TRAIN_Y)
    assert np.all(other < 0.2)  # without its own intent: only the other cluster
    known, unknown = held_out_intent_scores(TRAIN, TRAIN_Y, TRAIN, TRAIN_Y, 1, same=True)
    chosen = choose_knn_threshold(known, unknown, keep=1.0)
    assert chosen["known_kept"] == 1.0 and chosen["unknown_rejected"] == 1.0


def test_small_validation_falls_back_without_collapsing(caplog):
    logits = np.array([[30.0, -30.0], [-30.0, 30.0]])  # two easy validation messages: a naive fit would give T ~ 0
    gold = np.array([0, 1])
    assert not enough_validation(gold, 2)
    with caplog.at_level(logging.WARNING, logger="training.calibration"):
        out = calibrate(logits, gold, 2, oos_rejection=0.9, val_emb=TRAIN[[0, 3]], train_emb=TRAIN, train_gold=TRAIN_Y)
    assert out["temperature"] == 1.0 and out["threshold"] is None
    assert out["oos"]["estimate"].startswith("training messages, leave one out")
    assert out["oos"]["simulated_unknown_rejected"] == 1.0
    assert "Only 2 validation messages for 2 intents" in caplog.text


def test_temperature_is_bounded(caplog):
    rng = np.random.default_rng(0)
    gold = np.repeat([0, 1, 2], 20)
    logits = np.full((60, 3), -50.0)
    logits[np.arange(60), gold] = 50.0  # perfectly separable: the NLL keeps falling as T -> 0
    with caplog.at_level(logging.WARNING, logger="training.calibration"):
        out = calibrate(logits + rng.normal(0, 0.01, logits.shape), gold, 3, oos_rejection=0.9)
    assert out["temperature"] == 0.5 and "outside [0.5, 10]" in caplog.text
    assert out["threshold"] is not None and "oos" not in out


def test_index_round_trip(tmp_path):
    save_index(tmp_path, TRAIN, TRAIN_Y)
    emb, labels = load_index(tmp_path)
    np.testing.assert_allclose(emb, TRAIN, atol=1e-3)
    assert labels.tolist() == TRAIN_Y.tolist() and load_index(tmp_path / "none") is None


def test_a_confident_prediction_skips_the_nearest_neighbour_test():
    from pipeline.nlu.classifier import IntentClassifier

    clf = IntentClassifier("unused", oos_confident=0.9)
    clf.threshold, clf.oos_threshold = 0.7, 0.65
    assert [clf.decide(c, k) for c, k in ((0.93, 0.5), (0.85, 0.5), (0.85, 0.7), (0.6, 0.9))] == [True, False, True, False]
    clf.oos_confident = None  # the shipped rule: both tests always
    assert clf.decide(0.93, 0.5) is False
