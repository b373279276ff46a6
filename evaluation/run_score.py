"""Per-example records of a batch evaluation run, and the metrics computed from them.

    python -c "from evaluation.run_score import compute_metrics; print(compute_metrics('runs/X/predictions.jsonl', labels=[])[0])"

:func:`make_record` turns one example and its pipeline output into the JSON line written to
``predictions.jsonl`` (message, gold and predicted intent, confidence, snippets, reply, checks,
stage at fault). :func:`compute_metrics` reads that file back line by line and keeps only small
per-example columns (gold, prediction, confidence, a few floats), so a run over 100k messages
never holds the full predictions in memory.

Stage at fault, first that applies: a gold out-of-scope message answered, a wrong intent or a
right one under the confidence threshold -> ``nlu``; no retrieved snippet carries the gold
intent (or, with gold snippet ids, none of them is retrieved) -> ``retrieval``; a guardrail
fired or the reply is a fallback -> ``nlg``; else ``ok``.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from evaluation.metrics import expected_calibration_error, macro_f1, per_intent_report, reliability_bins
from evaluation.ranking import first_relevant_rank, hit_at_k, reciprocal_rank
from pipeline.types import to_dict

OOS_LABELS = frozenset({"oos", "out_of_scope", "out-of-scope"})
STAGES = ("nlu", "retrieval", "nlg", "ok")
HANDOFF_INTENTS = frozenset({"contact_human_agent"})  # rows whose replies are a hand-off by design


def stage_at_fault(rec: dict[str, Any], nlu_only: bool) -> tuple[str, str]:
    """``(stage, reason)`` for one record (see the module docstring)."""
    if rec["gold_oos"]:
        return ("nlu", "out_of_scope_answered") if rec["in_scope"] else ("ok", "")
    if not rec["correct"]:
        return "nlu", "wrong_intent"
    if not rec["in_scope"]:
        return "nlu", "low_confidence"
    if nlu_only:
        return "ok", ""
    if rec.get("route") == "handoff":  # a request for a person is handed off by design (reported separately)
        return ("ok", "") if rec["gold"] in HANDOFF_INTENTS else ("nlu", "false_handoff")
    if not rec.get("snippet_has_gold_intent", False):
        return "retrieval", "no_gold_snippet"
    if rec["checks"]:
        return "nlg", "guardrail:" + ",".join(rec["checks"])
    if rec["fallback"]:
        return "nlg", "fallback:" + rec["fallback"]
    return "ok", ""


def make_record(index: int, example: Any, turn: Any, labels: set[str], rouge: float | None = None,
                reference: str | None = None, keep_pii: bool = False) -> dict[str, Any]:
    """The JSON line of one example and its :class:`pipeline.types.Turn` (``turn.reply`` is None for NLU only).

    Emails, phone and card numbers in the message, reply, reference and entity texts are masked
    (:mod:`pipeline.privacy`) unless ``keep_pii``; entity offsets refer to the original message.
    """
    from pipeline.privacy import mask_entities, mask_pii

    mask = (lambda text: text) if keep_pii else mask_pii  # noqa: E731
    prediction, reply = turn.intent, turn.reply
    gold_oos = example.intent in OOS_LABELS or example.intent not in labels
    rec: dict[str, Any] = {
        "index": index, "message": mask(example.message), "gold": example.intent, "pred": prediction.label,
        "confidence": round(float(prediction.confidence), 6), "in_scope": bool(prediction.in_scope),
        "correct": prediction.label in example.intents, "gold_oos": gold_oos,
        "known_label": example.intent in labels,
        "ranking": [[lbl, round(p, 6)] for lbl, p in prediction.ranking[:3]],
    }
    if len(example.intents) > 1:
        rec["gold_intents"] = list(example.intents)
    if getattr(turn, "tone", None) is not None:
        t = turn.tone
        rec["tone"] = {"sentiment": t.sentiment, "score": t.sentiment_score, "urgency": t.urgency, "cues": list(t.cues)}
    entities = list(turn.entities)
    if entities or getattr(example, "entities", None) is not None:
        shown = mask_entities(entities) if not keep_pii else [to_dict(e) for e in entities]
        rec["entities"] = [{**d, "confidence": round(float(d["confidence"]), 4)} for d in shown]
    if getattr(example, "entities", None) is not None:
        rec["gold_entities"] = [[kind, start, end] for kind, start, end in example.entities]
    if reply is not None:
        snippets = turn.snippets
        rec["snippets"] = [{"id": s.id, "score": None if s.score is None else round(float(s.score), 6),
                            "intents": list(s.intents)} for s in snippets]
        gold = set(example.intents)
        rec["intent_consistency"] = (sum(bool(gold & set(s.intents)) for s in snippets) / len(snippets)) if snippets else None
        rec["snippet_has_gold_intent"] = any(gold & set(s.intents) for s in snippets)
        if example.snippet_ids:
            rec["gold_snippet_ids"] = list(example.snippet_ids)
            rec["gold_snippet_rank"] = first_relevant_rank([s.id for s in snippets], example.snippet_ids)
            rec["snippet_has_gold_intent"] = rec["gold_snippet_rank"] is not None
        rec.update(reply=mask(reply.text), generator=reply.generator, checks=list(reply.checks), fallback=reply.fallback,
                   reply_words=len(reply.text.split()), route=turn.route)
        if reference is not None:
            rec["reference"] = mask(reference)
            rec["rougeL_f"] = None if rouge is None else round(float(rouge), 6)
    else:
        rec.update(checks=[], fallback=None)
    rec["stage"], rec["fault_reason"] = stage_at_fault(rec, nlu_only=reply is None)
    return rec


def iter_records(path: str | Path) -> Iterator[dict[str, Any]]:
    """Complete JSON lines of a predictions file (a truncated last line is skipped)."""
    with Path(path).open(encoding="utf-8") as handle:
        for line in handle:
            if line.endswith("\n") and line.strip():
                yield json.loads(line)


@dataclass
class Columns:
    """The small per-example columns kept to compute metrics and draw the plots."""

    gold: list[str] = field(default_factory=list)
    pred: list[str] = field(default_factory=list)
    confidence: list[float] = field(default_factory=list)
    correct: list[bool] = field(default_factory=list)
    in_scope: list[bool] = field(default_factory=list)
    gold_oos: list[bool] = field(default_factory=list)
    known: list[bool] = field(default_factory=list)
    stage: Counter = field(default_factory=Counter)
    reasons: Counter = field(default_factory=Counter)
    consistency: list[float] = field(default_factory=list)
    ranks: list[int | None] = field(default_factory=list)
    rouge: list[float] = field(default_factory=list)
    answered_passed: list[bool] = field(default_factory=list)
    fallback: list[bool] = field(default_factory=list)
    reply_words: list[int] = field(default_factory=list)
    checks_fired: Counter = field(default_factory=Counter)
    handoff_gold: list[bool] = field(default_factory=list)  # per row with a reply: gold intent is a hand-off intent
    handed_off: list[bool] = field(default_factory=list)  # per row with a reply: routed to a hand-off
    rouge_gold: list[str] = field(default_factory=list)  # the gold intent of each ROUGE score
    gold_entities: list[list[tuple[str, int, int]]] = field(default_factory=list)
    pred_entities: list[list[tuple[str, int, int]]] = field(default_factory=list)
    sentiment: Counter = field(default_factory=Counter)
    urgency: Counter = field(default_factory=Counter)
    cues: Counter = field(default_factory=Counter)
    tone_handoffs: int = 0  # rows handed off whose gold intent is not a hand-off intent and the tone was negative and urgent

    def add(self, rec: dict[str, Any]) -> None:
        self.gold.append(rec["gold"])
        self.pred.append(rec["pred"])
        self.confidence.append(rec["confidence"])
        self.correct.append(rec["correct"])
        self.in_scope.append(rec["in_scope"])
        self.gold_oos.append(rec["gold_oos"])
        self.known.append(rec["known_label"])
        self.stage[rec["stage"]] += 1
        if "gold_entities" in rec:
            self.gold_entities.append([tuple(g) for g in rec["gold_entities"]])
            self.pred_entities.append([(e["type"], e["start"], e["end"]) for e in rec.get("entities", [])])
        if "tone" in rec:
            self.sentiment[rec["tone"]["sentiment"]] += 1
            self.urgency[rec["tone"]["urgency"]] += 1
            self.cues.update(rec["tone"]["cues"])
            upset = rec["tone"]["sentiment"] == "negative" and rec["tone"]["urgency"] == "high"
            self.tone_handoffs += int(upset and rec.get("route") == "handoff" and rec["gold"] not in HANDOFF_INTENTS)
        if rec["fault_reason"]:
            self.reasons[rec["fault_reason"].split(":")[0]] += 1
        if "reply" not in rec:
            return
        if rec.get("intent_consistency") is not None:
            self.consistency.append(rec["intent_consistency"])
        if "gold_snippet_ids" in rec:
            self.ranks.append(rec["gold_snippet_rank"])
        if rec.get("rougeL_f") is not None:
            self.rouge.append(rec["rougeL_f"])
            self.rouge_gold.append(rec["gold"])
        if rec["in_scope"] and rec.get("route", "answer") == "answer":
            self.answered_passed.append(not rec["checks"])
        self.handoff_gold.append(rec["gold"] in HANDOFF_INTENTS)
        self.handed_off.append(rec.get("route") == "handoff")
        self.fallback.append(rec["fallback"] is not None)
        self.reply_words.append(rec["reply_words"])
        self.checks_fired.update(rec["checks"])


def _mean(values: Iterable[float]) -> float | None:
    values = list(values)
    return float(np.mean(values)) if values else None


def oos_metrics(cols: Columns) -> dict[str, Any]:
    """In-scope accuracy, OOS recall/precision and AUROC (1 - confidence as the OOS score)."""
    gold_oos = np.array(cols.gold_oos, dtype=bool)
    pred_oos = ~np.array(cols.in_scope, dtype=bool)
    correct = np.array(cols.correct, dtype=bool)
    out: dict[str, Any] = {
        "n_oos": int(gold_oos.sum()),
        "in_scope_accuracy": float((correct & ~pred_oos)[~gold_oos].mean()) if (~gold_oos).any() else None,
        "oos_recall": float(pred_oos[gold_oos].mean()),
        "oos_precision": float(gold_oos[pred_oos].mean()) if pred_oos.any() else None,
        "auroc": None,
    }
    if (~gold_oos).any():
        from sklearn.metrics import roc_auc_score

        out["auroc"] = float(roc_auc_score(gold_oos, 1.0 - np.array(cols.confidence)))
    return out


def entity_metrics(gold: list[list[tuple[str, int, int]]], pred: list[list[tuple[str, int, int]]]) -> dict[str, Any]:
    """Span P/R/F1 (exact span and type) per entity type, over the types the gold annotation has.

    Predicted entities of other types (e.g. a date found by the patterns in data that only
    annotates order numbers) are left out of the precision and counted in ``other_types``.
    """
    from evaluation.spans import entity_scores

    types = {kind for spans in gold for kind, _, _ in spans}
    kept = [[p for p in spans if p[0] in types] for spans in pred]
    out = entity_scores(gold, kept)
    out.update(n_messages=len(gold), scored_types=sorted(types),
               other_types=dict(sorted(Counter(p[0] for spans in pred for p in spans if p[0] not in types).items())))
    return out


def handoff_metrics(cols: Columns) -> dict[str, Any]:
    """The rows a hand-off changes by design (gold ``contact_human_agent``), apart from the rest."""
    gold, routed = np.array(cols.handoff_gold, dtype=bool), np.array(cols.handed_off, dtype=bool)
    other = [r for r, g in zip(cols.rouge, cols.rouge_gold) if g not in HANDOFF_INTENTS]
    return {"n_gold_handoff_intent": int(gold.sum()), "gold_handoff_intent_handed_off": int((gold & routed).sum()),
            "other_rows_handed_off": int((~gold & routed).sum()),
            "rougeL_f_other_rows": _mean(other), "n_other_rows_with_reference": len(other)}


def tone_metrics(cols: Columns) -> dict[str, Any]:
    """How the messages read (pipeline.nlu.tone): sentiment and urgency shares, the cues, and the escalations."""
    n = sum(cols.sentiment.values())
    out: dict[str, Any] = {f"{k}_share": cols.sentiment.get(k, 0) / n for k in ("negative", "neutral", "positive")}
    out["high_urgency_share"] = cols.urgency.get("high", 0) / n
    out["handed_off_for_tone"] = cols.tone_handoffs if cols.reply_words else None
    out["cues"] = dict(sorted(cols.cues.items()))
    return out


def compute_metrics(path: str | Path, labels: list[str], n_bins: int = 15) -> tuple[dict[str, Any], Columns]:
    """Metrics of every stage from a predictions file, and the columns they were computed from."""
    cols = Columns()
    for rec in iter_records(path):
        cols.add(rec)
    n = len(cols.gold)
    if n == 0:
        return {"n": 0}, cols
    correct = np.array(cols.correct, dtype=bool)
    unknown = Counter(g for g, k, o in zip(cols.gold, cols.known, cols.gold_oos) if not k and g not in OOS_LABELS)
    nlu: dict[str, Any] = {
        "n": n, "accuracy": float(correct.mean()), "macro_f1": macro_f1(cols.gold, cols.pred),
        "ece": expected_calibration_error(cols.confidence, correct, n_bins),
        "mean_confidence": float(np.mean(cols.confidence)), "in_scope_rate": float(np.mean(cols.in_scope)),
        "unknown_labels": dict(sorted(unknown.items())), "n_unknown": int(sum(unknown.values())),
        "reliability_bins": reliability_bins(cols.confidence, correct, n_bins),
        "per_intent": per_intent_report(cols.gold, cols.pred),
    }
    if any(cols.gold_oos):
        nlu["oos"] = oos_metrics(cols)
    metrics: dict[str, Any] = {"n": n, "nlu": nlu}
    if cols.gold_entities:
        metrics["entities"] = entity_metrics(cols.gold_entities, cols.pred_entities)
    if cols.sentiment:
        metrics["tone"] = tone_metrics(cols)
    if cols.reply_words:
        retrieval: dict[str, Any] = {"intent_consistency": _mean(cols.consistency), "n_with_snippets": len(cols.consistency)}
        if cols.ranks:
            retrieval.update({"hit@1": _mean(hit_at_k(r, 1) for r in cols.ranks), "hit@3": _mean(hit_at_k(r, 3) for r in cols.ranks),
                              "mrr": _mean(reciprocal_rank(r) for r in cols.ranks), "n_with_gold_snippets": len(cols.ranks)})
        metrics["retrieval"] = retrieval
        metrics["nlg"] = {
            "rougeL_f": _mean(cols.rouge), "n_with_reference": len(cols.rouge),
            "guardrail_pass_rate": _mean(cols.answered_passed), "n_answered": len(cols.answered_passed),
            "fallback_rate": _mean(cols.fallback), "mean_reply_words": _mean(cols.reply_words),
            "checks_fired": dict(sorted(cols.checks_fired.items())),
        }
        metrics["handoff"] = handoff_metrics(cols)
    metrics["end_to_end"] = {"stage_at_fault": {s: int(cols.stage.get(s, 0)) for s in STAGES},
                             "ok_rate": cols.stage.get("ok", 0) / n, "fault_reasons": dict(sorted(cols.reasons.items()))}
    return metrics, cols
