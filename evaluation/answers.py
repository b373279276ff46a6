"""Do replies answer first, and only what was asked? Answer-first replies against the full grounded ones.

    python -m evaluation.answers --output-dir runs/answers                                   # retrieval_set.yaml, both styles
    python -m evaluation.answers --retrieval-set knowledge_base/retrieval_dev.yaml --second-threshold 0.55 0.65 0.75

The whole assistant (predicted intents) answers every message of a labelled retrieval set once per reply style
(``nlg.style``: ``full``, the earlier realizer, and ``answer_first``). The policy sentences a reply quotes are found in
its text (each retrieved snippet's sentences, in second person). Per style, for the ``single`` messages:

- answer precision: the share of quoted sentences that come from a gold snippet;
- answer recall: whether the gold snippets' sentence closest to the message (retrieval's cosine) is quoted;
- answer first: whether the first quoted sentence comes from a gold snippet;
- reply length in words (median, max), and the guardrail pass rate;

and on ``knowledge_base/yes_no_set.yaml`` (``--yes-no-part``): replies that start with the right "Yes," / "No,"
(after the apology a negative message gets, and an "About order ...:" acknowledgement), and with the wrong one. ``blind.md`` holds 30 messages (seed 42) with
the two replies in random order, unlabelled; ``blind_key.json`` says which is which.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import statistics
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from pipeline.artifacts import atomic_dir, check_output_dir, write_json
from pipeline.errors import CliParser, cli_main
from pipeline.utils import setup_logging

REPO_ROOT = Path(__file__).resolve().parents[1]
STYLES = ("full", "answer_first")


def quoted_sentences(turn: Any) -> list[tuple[str, int, str]]:
    """(snippet id, sentence index, text) of each policy sentence the reply quotes, in the order they appear."""
    from pipeline.sentences import second_person, split_sentences

    reply = turn.reply.text if turn.reply else ""
    found = []
    for snippet in [*turn.snippets, *(s for c in turn.concerns for s in c.snippets)]:
        for j, sentence in enumerate(split_sentences(snippet.text)):
            text = second_person(sentence)
            at = reply.find(text[1:])  # the first letter may be lower-cased ("Yes, you can ...")
            if at >= 0 and not any(f[0] == snippet.id and f[1] == j for f in found):
                found.append((snippet.id, j, text, at))
    return [(sid, j, text) for sid, j, text, _ in sorted(found, key=lambda f: f[3])]


def score_turn(turn: Any, gold_ids: list[str]) -> dict[str, Any]:
    quoted = quoted_sentences(turn)
    gold = set(gold_ids)
    closest = None
    for snippet in turn.snippets:
        if snippet.id in gold and snippet.sentence_scores:
            j = max(range(len(snippet.sentence_scores)), key=lambda i: snippet.sentence_scores[i])
            if closest is None or snippet.sentence_scores[j] > closest[2]:
                closest = (snippet.id, j, snippet.sentence_scores[j])
    return {"precision": sum(q[0] in gold for q in quoted) / len(quoted) if quoted else 0.0,
            "recall": closest is not None and any(q[0] == closest[0] and q[1] == closest[1] for q in quoted),
            "first": bool(quoted) and quoted[0][0] in gold, "words": len((turn.reply.text if turn.reply else "").split()),
            "passed": not (turn.reply.checks if turn.reply else []), "quoted": len(quoted)}


def direct_answer(reply: str, apology: str = "") -> str | None:
    """The "Yes" or "No" a reply opens with, after the acknowledgements that may come first: the knowledge base's
    apology to an upset customer (the tone rule) and "About order ...:"."""
    if apology and reply.startswith(apology):
        reply = reply[len(apology):].lstrip()
    m = re.match(r"^(?:About (?:order|invoice) \S+: )?(Yes|No),", reply)
    return m.group(1) if m else None


def run_style(assistant: Any, examples: list[Any], yes_no: list[dict[str, Any]]) -> tuple[dict[str, Any], list[Any]]:
    turns = assistant.answer([ex.message for ex in examples])
    rows = [score_turn(t, ex.snippet_ids) for ex, t in zip(examples, turns) if ex.kind == "single"]
    words = [score_turn(t, ex.snippet_ids)["words"] for ex, t in zip(examples, turns)]
    mean = lambda key: round(sum(r[key] for r in rows) / max(len(rows), 1), 4)  # noqa: E731
    out = {"n_single": len(rows), "answer_precision": mean("precision"), "answer_recall": mean("recall"),
           "answer_first": mean("first"), "guardrail_pass": round(sum(score_turn(t, ex.snippet_ids)["passed"]
                                                                          for ex, t in zip(examples, turns)) / len(turns), 4),
           "median_words": statistics.median(words), "max_words": max(words), "mean_words": round(statistics.mean(words), 1)}
    if yes_no:
        replies = [t.reply.text for t in assistant.answer([item["message"] for item in yes_no])]
        apology = assistant.stage("nlg").phrasing.apology()
        got = [direct_answer(r, apology) for r in replies]
        expected = [str(item["answer"]).capitalize() for item in yes_no]
        out["yes_no"] = {"n": len(yes_no), "right": sum(g == e for g, e in zip(got, expected)),
                         "wrong": sum(g is not None and g != e for g, e in zip(got, expected)),
                         "none": sum(g is None for g in got)}
    return out, turns


def blind_sample(examples: list[Any], by_style: dict[str, list[Any]], n: int = 30, seed: int = 42) -> tuple[str, list[dict]]:
    rng = random.Random(seed)
    picks = sorted(rng.sample(range(len(examples)), min(n, len(examples))))
    lines, key = ["# 30 messages, two replies each, in random order", ""], []
    for number, i in enumerate(picks, start=1):
        order = list(STYLES)
        rng.shuffle(order)
        lines += [f"## {number}. {examples[i].message}", ""]
        for label, style in zip("AB", order):
            lines += [f"**{label}.** {by_style[style][i].reply.text}", ""]
        key.append({"number": number, "A": order[0], "B": order[1]})
    return "\n".join(lines), key


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = CliParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--retrieval-set", default=None, help="Labelled retrieval set (default: knowledge_base/retrieval_set.yaml).")
    p.add_argument("--yes-no-set", default=str(REPO_ROOT / "knowledge_base" / "yes_no_set.yaml"))
    p.add_argument("--yes-no-part", choices=("dev", "test", "all"), default="test")
    p.add_argument("--config", default=None, help="Respond YAML config.")
    p.add_argument("--intent-model", default=None, help="Intent model folder (default: the cached bootstrap model).")
    p.add_argument("--second-threshold", type=float, nargs="+", default=None,
                   help="answer_first: nlg.second_threshold values to compare (settings are chosen on the dev set).")
    p.add_argument("--output-dir", default=None, help="Run folder (default: runs/answers/<timestamp>).")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--json", action="store_true")
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p.parse_args(argv)


@cli_main
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(args.verbose, quiet=args.verbose == 0)
    from knowledge_base.loader import load_retrieval_set
    from pipeline.assistant import build_assistant, load_respond_config

    out = Path(args.output_dir or REPO_ROOT / "runs" / "answers" / datetime.now().strftime("%Y%m%d-%H%M%S"))
    check_output_dir(out, args.overwrite)
    examples = load_retrieval_set(args.retrieval_set)
    yes_no = [i for i in yaml.safe_load(Path(args.yes_no_set).read_text()) if args.yes_no_part in ("all", i.get("part"))]
    assistant = build_assistant(load_respond_config(args.config, {"nlu": {"model": args.intent_model}}))
    assistant.warm_up()
    reply = assistant.stage("nlg")
    results, by_style = {}, {}
    runs = [("full", None)] + [("answer_first", t) for t in (args.second_threshold or [None])]
    for style, threshold in runs:
        reply.config.style = style
        if threshold is not None:
            reply.config.second_threshold = threshold
        from pipeline.reply.generators import grounded_generator

        reply.generator = reply.grounded = grounded_generator(reply.config)
        reply.generator.phrasing = reply.phrasing
        name = style if threshold is None else f"{style} (second_threshold {threshold:g})"
        results[name], by_style[style] = run_style(assistant, examples, yes_no)
    text, key = blind_sample(examples, by_style)
    with atomic_dir(out) as tmp:
        write_json(tmp / "metrics.json", results)
        (tmp / "blind.md").write_text(text, encoding="utf-8")
        write_json(tmp / "blind_key.json", key)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    cols = ("answer_precision", "answer_recall", "answer_first", "median_words", "max_words", "guardrail_pass")
    print(f"{'style':<40} " + " ".join(f"{c:>16}" for c in cols) + "  yes/no right / wrong / none")
    for name, r in results.items():
        yn = r.get("yes_no") or {}
        print(f"{name:<40} " + " ".join(f"{r[c]:>16}" for c in cols) + f"  {yn.get('right')}/{yn.get('wrong')}/{yn.get('none')} of {yn.get('n')}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
