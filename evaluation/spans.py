"""Span-level precision, recall and F1 for BIO tags and entity spans (exact span and type match).

The chunking follows conlleval and seqeval's default mode: a chunk starts at
``B-X``, or at ``I-X`` when the previous tag is ``O`` or of another type, and
runs over the following ``I-X`` tags. A predicted span counts only when its
type, start and end all equal a gold span's::

    >>> bio_spans(["B-city", "I-city", "O", "I-date"])
    [('city', 0, 2), ('date', 3, 4)]
    >>> span_scores([["B-city", "I-city", "O"]], [["B-city", "O", "O"]])["f1"]
    0.0

:func:`entity_scores` scores character spans (``(type, start, end)`` per
message) the same way, for the pipeline's entities.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

from pipeline.nlu.words import bio_spans, split_tag  # noqa: F401  (re-exported: the chunking lives at answer time)


def _prf(tp: int, n_pred: int, n_gold: int) -> dict[str, float | int]:
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": n_gold, "predicted": n_pred, "correct": tp}


def score_span_sets(gold: Iterable[tuple], pred: Iterable[tuple]) -> dict:
    """Micro P/R/F1 and per-type scores of two sets of ``(example, type, start, end)`` tuples."""
    gold, pred = set(gold), set(pred)
    correct = gold & pred
    out = _prf(len(correct), len(pred), len(gold))
    by_gold, by_pred, by_tp = (Counter(t[1] for t in s) for s in (gold, pred, correct))
    out["per_type"] = {kind: _prf(by_tp[kind], by_pred[kind], by_gold[kind]) for kind in sorted(set(by_gold) | set(by_pred))}
    return out


def span_scores(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict:
    """Span P/R/F1 (micro over all spans) and per type, from gold and predicted tag sequences."""
    if len(gold) != len(pred):
        raise ValueError(f"span_scores needs as many predicted sequences as gold ones. Got {len(pred)} and {len(gold)}.")
    gold_set, pred_set = set(), set()
    for i, (g, p) in enumerate(zip(gold, pred)):
        if len(g) != len(p):
            raise ValueError(f"Sequence {i} has {len(g)} gold tags but {len(p)} predicted tags.")
        gold_set.update((i, *span) for span in bio_spans(g))
        pred_set.update((i, *span) for span in bio_spans(p))
    return score_span_sets(gold_set, pred_set)


def entity_scores(gold: Sequence[Iterable[tuple[str, int, int]]], pred: Sequence[Iterable[tuple[str, int, int]]]) -> dict:
    """The same scores for character spans: one iterable of ``(type, start, end)`` per message."""
    if len(gold) != len(pred):
        raise ValueError(f"entity_scores needs as many predicted lists as gold ones. Got {len(pred)} and {len(gold)}.")
    gold_set = {(i, *span) for i, spans in enumerate(gold) for span in spans}
    pred_set = {(i, *span) for i, spans in enumerate(pred) for span in spans}
    return score_span_sets(gold_set, pred_set)


def format_span_report(scores: dict, digits: int = 4) -> str:
    """A plain-text table: one row per type, then the micro average."""
    width = max([len("micro avg")] + [len(k) for k in scores.get("per_type", {})])
    lines = [f"{'':<{width}}  precision  recall     f1  support"]
    for kind, s in scores.get("per_type", {}).items():
        lines.append(f"{kind:<{width}}  {s['precision']:9.{digits}f}  {s['recall']:6.{digits}f}  {s['f1']:.{digits}f}  {s['support']:7d}")
    lines.append(f"{'micro avg':<{width}}  {scores['precision']:9.{digits}f}  {scores['recall']:6.{digits}f}  "
                 f"{scores['f1']:.{digits}f}  {scores['support']:7d}")
    return "\n".join(lines)
