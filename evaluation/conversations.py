"""Score the assistant on scripted conversations: intents per turn, clarification answers, carried entities, hand-off.

    python -m evaluation.conversations                                  # the held-out part of knowledge_base/conversations.yaml
    python -m evaluation.conversations --part dev --intent-model artifacts/intent-bitext --output-dir runs/conv-dev
    python -m evaluation.conversations --config configs/respond/default.yaml --json

Each conversation is replayed turn by turn through one assistant (built by ``pipeline.assistant.build_assistant``)
with a clock that advances a few seconds a turn, or ``idle_minutes``. A turn that states the clarification it
assumes (``pending``) gets it put into the conversation first, so its answer is scored even when the model would
not have asked; a turn marked ``status: handed_off`` is played on a handed-off conversation.

Metrics (primary: turn intent accuracy): turn intent accuracy; clarification resolution rate (answers naming one
of the offered topics resolved to it); ignored clarifications read as new messages; entity carry-over accuracy
(every expected order/invoice number in the reply, no replaced or expired one); hand-off precision and recall
(near misses are the negatives); handed-off behaviour. Writes ``turns.jsonl`` (one record per turn, with the stage
at fault), ``metrics.json``, ``report.md`` and ``resolved_config.json`` into the output folder.
"""
from __future__ import annotations

import argparse
import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from pipeline.artifacts import atomic_dir, check_output_dir, library_versions, write_json, write_resolved_config
from pipeline.errors import CliParser, cli_main
from pipeline.utils import setup_logging

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
START = 1_800_000_000.0  # the replay clock (seconds); only differences matter
STEP_S = 5.0


def _norm(value: str) -> str:
    return value.lstrip("#").casefold()


def in_reply(value: str, reply: str) -> bool:
    """A number is named when it appears in the reply (a leading '#' and case ignored)."""
    return _norm(value) in reply.casefold()


def replay(assistant: Any, conversation: Any) -> list[dict[str, Any]]:
    """Play one scripted conversation; one scored record per turn."""
    from pipeline.conversation import Conversation
    from pipeline.types import Offer

    assistant.warm_up()
    words = assistant.stage("nlg").phrasing  # the topics a clarification question would offer
    conv, now, records = Conversation(id=conversation.id), START, []
    for number, scripted in enumerate(conversation.turns, start=1):
        now += (scripted.idle_minutes * 60.0) if scripted.idle_minutes is not None else STEP_S
        if scripted.pending:
            conv.pending = [Offer(i, words.topic(i)) for i in scripted.pending]
            conv.pending_text = conv.turns[-1].query if conv.turns else None
        if scripted.status == "handed_off" and conv.status != "handed_off":
            conv.handoff()
        status_before = conv.status
        turn = assistant.respond(conv, scripted.user, now=now)
        records.append(score_turn(conversation, number, scripted, turn, status_before))
    return records


def score_turn(conversation: Any, number: int, scripted: Any, turn: Any, status_before: str) -> dict[str, Any]:
    """The record of one turn: what was expected, what happened, and the first stage at fault."""
    reply = turn.reply.text if turn.reply is not None else ""
    carried = {e.text for e in turn.reply_entities()}
    rec: dict[str, Any] = {
        "conversation": conversation.id, "part": conversation.part, "kinds": conversation.kinds, "turn": number,
        "user": scripted.user, "expected_intent": scripted.intent, "predicted_intent": turn.intent.label if turn.intent else None,
        "confidence": round(turn.intent.confidence, 4) if turn.intent else None, "resolution": turn.resolution,
        "route": turn.route, "status_before": status_before, "status_after": turn.status, "reply": reply,
        "pending": scripted.pending, "follow_up": scripted.follow_up, "vague": scripted.vague,
        "expected_handoff": scripted.handoff, "handed_off": turn.route == "handoff",
        "snippets": [s.id for s in turn.snippets], "notes": turn.notes,
    }
    if scripted.status == "handed_off":
        rec["handed_off_ok"] = turn.route == "handed_off" or (turn.route == "answer" and turn.intent.label == scripted.intent)
    if scripted.intent is not None and status_before != "handed_off":
        rec["intent_ok"] = (turn.route == "handoff") if scripted.handoff else (turn.intent.label == scripted.intent and turn.route != "handoff")
    if scripted.pending and scripted.intent is not None:
        offered = scripted.intent in scripted.pending
        rec["clarification_answer"] = offered
        rec["clarification_ok"] = (turn.resolution == "clarification") == offered and turn.intent.label == scripted.intent
    if scripted.entities or scripted.absent:
        missing = [v for v in scripted.entities.values() if not in_reply(v, reply)]
        present = [v for v in scripted.absent if in_reply(v, reply)]
        rec.update(entities_expected=dict(scripted.entities), entities_missing=missing, absent_present=present,
                   entities_ok=not missing and not present)
    rec["fault"] = fault(rec, scripted, carried)
    return rec


def fault(rec: dict[str, Any], scripted: Any, carried: set[str]) -> str:
    """The first stage at fault for a turn, or '' when it went as expected."""
    if rec["status_before"] != "handed_off" and rec["handed_off"] != bool(scripted.handoff):
        return "policy: missed hand-off" if scripted.handoff else "policy: false hand-off"
    if rec.get("handed_off_ok") is False:
        return "policy: answered a handed-off conversation"
    if rec.get("clarification_ok") is False:
        return "nlu: clarification answer"
    if rec.get("intent_ok") is False:
        return "nlu: follow-up intent" if scripted.follow_up else "nlu: intent"
    if rec.get("absent_present"):
        return "conversation: stale entity"
    if rec.get("entities_missing"):
        known = {_norm(v) for v in carried}
        lost = [v for v in rec["entities_missing"] if _norm(v) not in known]
        if lost:
            return "conversation: entity not carried"
        return "nlg: entity not in reply" if rec["route"] == "answer" else f"policy: {rec['route']} reply"
    return ""


def _rate(values: list[bool]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def compute_metrics(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Aggregate metrics of turn records (see the module docstring)."""
    pick = lambda key: [r[key] for r in records if key in r]  # noqa: E731
    answers = [r["clarification_ok"] for r in records if r.get("clarification_answer")]
    ignored = [r["clarification_ok"] for r in records if r.get("clarification_answer") is False]
    scored = [r for r in records if r["status_before"] != "handed_off"]  # every turn of an active conversation
    tp = sum(r["handed_off"] and bool(r["expected_handoff"]) for r in scored)
    predicted = sum(r["handed_off"] for r in scored)
    gold = sum(bool(r["expected_handoff"]) for r in scored)
    faults: dict[str, int] = {}
    for r in records:
        if r["fault"]:
            faults[r["fault"]] = faults.get(r["fault"], 0) + 1
    return {
        "primary_metric": "turn_intent_accuracy",
        "conversations": len({r["conversation"] for r in records}), "turns": len(records),
        "turn_intent_accuracy": _rate(pick("intent_ok")), "n_intent_turns": len(pick("intent_ok")),
        "follow_up_intent_accuracy": _rate([r["intent_ok"] for r in records if r["follow_up"] and "intent_ok" in r]),
        "clarification_resolution_rate": _rate(answers), "n_clarification_answers": len(answers),
        "ignored_clarification_accuracy": _rate(ignored), "n_ignored_clarifications": len(ignored),
        "entity_carry_over_accuracy": _rate(pick("entities_ok")), "n_entity_turns": len(pick("entities_ok")),
        "handoff_precision": round(tp / predicted, 4) if predicted else None,
        "handoff_recall": round(tp / gold, 4) if gold else None, "n_handoff_requests": gold, "n_handed_off": predicted,
        "handed_off_behaviour": _rate(pick("handed_off_ok")), "n_handed_off_turns": len(pick("handed_off_ok")),
        "turns_ok": _rate([not r["fault"] for r in records]), "faults": dict(sorted(faults.items())),
    }


TABLE_KEYS = ("turn_intent_accuracy", "follow_up_intent_accuracy", "clarification_resolution_rate",
              "ignored_clarification_accuracy", "entity_carry_over_accuracy", "handoff_precision", "handoff_recall",
              "handed_off_behaviour", "turns_ok")


def format_table(metrics: dict[str, Any]) -> str:
    lines = [f"{metrics['conversations']} conversations, {metrics['turns']} turns"]
    for key in TABLE_KEYS:
        value = metrics[key]
        lines.append(f"  {key:<32} {'n/a' if value is None else f'{value:.3f}'}")
    if metrics["faults"]:
        lines.append("  faults: " + ", ".join(f"{k} {v}" for k, v in metrics["faults"].items()))
    return "\n".join(lines)


def render_report(metrics: dict[str, Any], records: list[dict[str, Any]], part: str) -> str:
    lines = [f"# Conversations ({part})", "", "| metric | value |", "| --- | --- |"]
    lines += [f"| {k} | {'n/a' if metrics[k] is None else f'{metrics[k]:.3f}'} |" for k in TABLE_KEYS]
    lines += ["", "## Turns that failed", "", "| conversation | turn | message | expected | got | fault |", "| --- | --- | --- | --- | --- | --- |"]
    for r in records:
        if r["fault"]:
            got = f"{r['predicted_intent']} ({r['route']}, {r['resolution']})"
            message = r["user"].replace("|", "\\|")
            lines.append(f"| {r['conversation']} | {r['turn']} | {message} | {r['expected_intent'] or '-'} | {got} | {r['fault']} |")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = CliParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--set", dest="conversation_set", default=None, help="Conversation set YAML (default: knowledge_base/conversations.yaml).")
    p.add_argument("--part", choices=("test", "dev", "all"), default="test", help="Which part to replay (default: %(default)s, the held-out one).")
    p.add_argument("--config", default=None, help="Respond YAML config (configs/respond/...).")
    p.add_argument("--intent-model", default=None, help="Intent model folder or Hub id (default: the cached bootstrap model).")
    p.add_argument("--kb", default=None, help="Knowledge-base folder (default: the packaged demo store).")
    p.add_argument("--output-dir", default=None, help="Where to write results (default: runs/conversations/<timestamp>).")
    p.add_argument("--overwrite", action="store_true", help="Replace --output-dir if it is not empty.")
    p.add_argument("--json", action="store_true", help="Print metrics.json to stdout instead of the table.")
    p.add_argument("-v", "--verbose", action="count", default=0)
    p.add_argument("-q", "--quiet", action="store_true")
    return p.parse_args(argv)


@cli_main
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(args.verbose, args.quiet)
    from knowledge_base.conversation_set import load_conversation_set
    from pipeline.assistant import build_assistant, load_respond_config

    out = Path(args.output_dir or REPO_ROOT / "runs" / "conversations" / datetime.now().strftime("%Y%m%d-%H%M%S"))
    check_output_dir(out, args.overwrite)  # cheap checks first
    config = load_respond_config(args.config, {"nlu": {"model": args.intent_model}, "retrieval": {"kb_path": args.kb}})
    conversations = [c for c in load_conversation_set(args.conversation_set) if args.part in ("all", c.part)]
    assistant = build_assistant(config)
    records = [rec for conv in conversations for rec in replay(assistant, conv)]
    metrics = {**compute_metrics(records), "part": args.part, "versions": library_versions()}
    with atomic_dir(out) as tmp:
        write_json(tmp / "metrics.json", metrics)
        (tmp / "report.md").write_text(render_report(metrics, records, args.part), encoding="utf-8")
        write_resolved_config(tmp, {"respond": config.to_dict(), "conversation_set": args.conversation_set,
                                    "part": args.part})
        with open(tmp / "turns.jsonl", "w", encoding="utf-8") as fh:
            for rec in records:
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    print(json.dumps(metrics, indent=2) if args.json else format_table(metrics) + f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
