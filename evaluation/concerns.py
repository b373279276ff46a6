"""Two concerns, two answers: how many replies to a two-question message cover both, with and without concerns.

    python -m evaluation.concerns                                        # knowledge_base/retrieval_set.yaml
    python -m evaluation.concerns --retrieval-set knowledge_base/retrieval_dev.yaml --min-confidence 0.5 0.7 0.9

The whole assistant answers every message of a labelled retrieval set twice: with ``nlu.concerns`` off (one answer
per message, as before) and on (each sentence or "and how ..." part classified, a second concern answered from its
own snippets). A gold intent is *covered* when the reply quotes a snippet that carries it (the snippet's first
sentence is in the reply). Reported per kind: ``two_concerns`` messages covering every gold intent, and for
``single`` messages, covering the gold intent and how many got a second concern they did not ask.
"""
from __future__ import annotations

import argparse
import json
from typing import Any

from pipeline.errors import CliParser, cli_main
from pipeline.utils import setup_logging


def quoted(snippet: Any, reply: str) -> bool:
    from pipeline.reply.grounded import second_person, split_sentences

    sentences = split_sentences(snippet.text)
    first = second_person(sentences[0]) if sentences else snippet.text
    return first[1:] in reply  # the first letter may be lower-cased after "As for ...:"


def covered(turn: Any, gold: list[str]) -> bool:
    reply = turn.reply.text if turn.reply else ""
    shown = [s for s in [*turn.snippets, *(x for c in turn.concerns for x in c.snippets[:1])] if quoted(s, reply)]
    return all(any(g in s.intents for s in shown) for g in gold)


def score(assistant: Any, examples: list[Any]) -> dict[str, Any]:
    turns = assistant.answer([ex.message for ex in examples])
    out: dict[str, Any] = {}
    for kind in ("two_concerns", "single"):
        rows = [(ex, t) for ex, t in zip(examples, turns) if ex.kind == kind]
        hits = [covered(t, ex.intents) for ex, t in rows]
        out[kind] = {"n": len(rows), "covered": sum(hits), "share": round(sum(hits) / max(len(rows), 1), 4),
                     "with_second_concern": sum(bool(t.concerns) for _, t in rows)}
    return out


@cli_main
def main(argv: list[str] | None = None) -> int:
    p = CliParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--retrieval-set", default=None, help="Labelled retrieval set (default: knowledge_base/retrieval_set.yaml).")
    p.add_argument("--config", default=None, help="Respond YAML config.")
    p.add_argument("--intent-model", default=None, help="Intent model folder (default: the cached bootstrap model).")
    p.add_argument("--min-confidence", type=float, nargs="+", default=None,
                   help="nlu.concern_min_confidence values to compare (default: the config's).")
    p.add_argument("--json", action="store_true", help="Print the results as JSON.")
    p.add_argument("-v", "--verbose", action="count", default=0)
    args = p.parse_args(argv)
    setup_logging(args.verbose, quiet=args.verbose == 0)
    from knowledge_base.loader import load_retrieval_set
    from pipeline.assistant import build_assistant, load_respond_config

    examples = load_retrieval_set(args.retrieval_set)
    base = load_respond_config(args.config, {"nlu": {"model": args.intent_model}})
    assistant = build_assistant(base)
    nlu = assistant.stage("nlu").config
    results = {}
    for setting in [None, *(args.min_confidence or [nlu.concern_min_confidence])]:
        nlu.concerns = setting is not None
        if setting is not None:
            nlu.concern_min_confidence = setting
        results["off" if setting is None else f"on ({setting:g})"] = score(assistant, examples)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"{'concerns':<12} {'two concerns covered':>22} {'single covered':>16} {'single with a 2nd concern':>27}")
    for name, r in results.items():
        two, one = r["two_concerns"], r["single"]
        print(f"{name:<12} {two['covered']:>10}/{two['n']:<3} ({two['share']:.3f}) {one['covered']:>6}/{one['n']:<3} "
              f"({one['share']:.3f}) {one['with_second_concern']:>14}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
