"""ROUGE-L of generated replies against the Bitext references, side by side with a retrieval baseline.

    python -m evaluation.generation --output-dir runs/generation/demo
    python -m evaluation.generation --generators grounded,retrieval,seq2seq --model artifacts/generator --limit 100

On the held-out (``test``) split of the Bitext 4.5k file (see
:mod:`training.generator_data`: deduplicated, stratified 80/10/10, seed 42):

- ``grounded``: the model-free realizer of :mod:`pipeline.reply.grounded`, in the config's style (``nlg.style``,
  ``answer_first`` by default) with the knowledge base's phrasing, as the assistant answers;
- ``retrieval``: the baseline that answers with the reference response of the
  most similar *training* message (TF-IDF cosine over word 1-2-grams), its
  placeholders filled from the message being answered;
- ``seq2seq``: a fine-tuned checkpoint (``--model``), when given; with
  ``grounded`` also run, ``seq2seq+fallback`` scores what the pipeline answers
  (the seq2seq reply, or the grounded one where a guardrail fired).

All generators get the **gold intent** and the knowledge-base snippets of that
intent (``--snippets intent``, the first ``--top-k``; ``--snippets retriever``
ranks them with the dense retriever instead). Placeholders in references are
replaced consistently (:func:`training.generator_data.fill_reference`).
Scores: ROUGE-L F1 (``rouge_score``, ``use_stemmer=True``; primary metric),
precision and recall, the guardrail pass rate and which checks fired, and
reply length, and milliseconds per reply (wall time of the whole split over its size, on the threads given by
``SUPPORT_NUM_THREADS``). ``--split validation`` scores the validation split instead, for choosing decoding
settings (``--config``). Writes ``metrics.json``, ``table.md``, ``samples.md`` (20 messages drawn with ``--seed``,
every generator's reply to each) and ``predictions.jsonl`` (per-example replies and scores) to ``--output-dir`` (default
``runs/generation/<timestamp>``), atomically: a temporary folder renamed into
place. A folder that is not empty is replaced only with ``--overwrite``
(checked before any work).
"""
from __future__ import annotations

import argparse
import functools
import json
import logging
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from pipeline.artifacts import atomic_dir, check_output_dir, library_versions, write_json
from pipeline.errors import CliParser, ConfigError, cli_main
from pipeline.reply.guardrails import Guardrails, allowed_values, apply_guardrails
from pipeline.reply.generators import GeneratorConfig, Seq2SeqGenerator, grounded_generator
from pipeline.types import IntentPrediction
from pipeline.utils import progress_enabled, set_seed, setup_logging
from training.generator_data import SNIPPET_SOURCES, GenerationExample, fill_reference, load_generation_splits

logger = logging.getLogger(__name__)

GENERATOR_NAMES = ("grounded", "retrieval", "seq2seq")
PRIMARY_METRIC = "rougeL_f"


def rouge_l(predictions: Sequence[str], references: Sequence[str]) -> list[dict[str, float]]:
    """Per-example ROUGE-L precision, recall and F1 (stemmed), by the shipped ``evaluate`` module ``rouge_l``."""
    if not predictions:
        return []
    scores = _rouge_metric().compute(predictions=list(predictions), references=list(references), use_aggregator=False)
    return [{"p": p, "r": r, "f": f} for p, r, f in zip(scores["rougeL_p"], scores["rougeL_r"], scores["rougeL_f"])]


@functools.lru_cache(maxsize=1)
def _rouge_metric() -> Any:
    import evaluate

    from evaluation.hf_metrics import metric_path

    return evaluate.load(metric_path("rouge_l"))


class RetrievalBaseline:
    """Reply with the reference of the most similar training message (TF-IDF cosine), refilled for the new message."""

    def __init__(self, *, ngram_range: tuple[int, int] = (1, 2)) -> None:
        self.ngram_range = ngram_range

    def fit(self, messages: Sequence[str], raw_responses: Sequence[str]) -> "RetrievalBaseline":
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.vectorizer_ = TfidfVectorizer(ngram_range=self.ngram_range, sublinear_tf=True).fit(messages)
        self.matrix_ = self.vectorizer_.transform(messages)
        self.responses_ = list(raw_responses)
        return self

    def run(self, messages: Sequence[str], entities: Sequence[Sequence[Any]]) -> dict[str, list]:
        sims = (self.vectorizer_.transform(messages) @ self.matrix_.T).toarray()
        best = sims.argmax(axis=1)
        replies = [fill_reference(self.responses_[j], ents) for j, ents in zip(best, entities)]
        return {"replies": replies, "neighbours": best.tolist()}


def score_replies(examples: Sequence[GenerationExample], replies: Sequence[str], guardrails: Guardrails) -> dict[str, Any]:
    """Per-example scores and the aggregate for one generator."""
    rouge = rouge_l(replies, [ex.reference for ex in examples])
    checks = [guardrails.check(r, allowed_values(ex.entities or []), ex.snippets) for r, ex in zip(replies, examples)]
    fired: dict[str, int] = {}
    for c in checks:
        for name in c.fired:
            fired[name] = fired.get(name, 0) + 1
    per_example = [{"rougeL_f": r["f"], "passed": c.passed, "fired": c.fired, "details": c.details} for r, c in zip(rouge, checks)]
    n = len(examples)
    aggregate = {
        "n": n,
        "rougeL_f": float(np.mean([r["f"] for r in rouge])) if n else 0.0,
        "rougeL_p": float(np.mean([r["p"] for r in rouge])) if n else 0.0,
        "rougeL_r": float(np.mean([r["r"] for r in rouge])) if n else 0.0,
        "guardrail_pass_rate": float(np.mean([c.passed for c in checks])) if n else 0.0,
        "checks_fired": fired,
        "mean_words": float(np.mean([len(r.split()) for r in replies])) if n else 0.0,
    }
    return {"aggregate": aggregate, "per_example": per_example}


def markdown_table(results: dict[str, dict[str, Any]]) -> str:
    lines = ["| generator | n | ROUGE-L F1 | ROUGE-L P | ROUGE-L R | guardrail pass | mean words | ms per reply | checks fired |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, agg in results.items():
        fired = ", ".join(f"{k} {v}" for k, v in sorted(agg["checks_fired"].items())) or "none"
        ms = f"{agg['ms_per_reply']:.1f}" if agg.get("ms_per_reply") is not None else "-"
        lines.append(f"| {name} | {agg['n']} | {agg['rougeL_f']:.4f} | {agg['rougeL_p']:.4f} | {agg['rougeL_r']:.4f} | "
                     f"{agg['guardrail_pass_rate']:.1%} | {agg['mean_words']:.1f} | {ms} | {fired} |")
    return "\n".join(lines)


def sample_replies(examples: Sequence[GenerationExample], replies: dict[str, list[str]], n: int = 20, seed: int = 42) -> str:
    """``n`` messages drawn with ``seed`` and every generator's reply to each, for reading (``samples.md``)."""
    import random

    picks = sorted(random.Random(seed).sample(range(len(examples)), min(n, len(examples))))
    lines = [f"# {len(picks)} replies per generator (messages drawn with seed {seed})", ""]
    for number, i in enumerate(picks, start=1):
        ex = examples[i]
        lines += [f"## {number}. {ex.message}", "", f"Intent `{ex.intent}`; snippets: {', '.join(s.id for s in ex.snippets)}", ""]
        lines += [f"**{name}.** {texts[i]}" + "\n" for name, texts in replies.items()]
    return "\n".join(lines)


def run_generators(names: Sequence[str], train: list[GenerationExample], train_raw: list[str], test: list[GenerationExample],
                   config: GeneratorConfig, model: str | None, progress: bool = False,
                   phrasing: Any = None) -> tuple[dict[str, list[str]], dict[str, float]]:
    messages = [ex.message for ex in test]
    intents = [IntentPrediction(label=ex.intent, confidence=1.0) for ex in test]
    snippets = [ex.snippets for ex in test]
    entities = [ex.entities for ex in test]
    replies: dict[str, list[str]] = {}
    seconds: dict[str, float] = {}
    for name in names:
        start = time.perf_counter()
        if name == "grounded":
            gen = grounded_generator(config)  # the assistant's grounded reply: the config's style (answer_first by default)
            if phrasing is not None:
                gen.phrasing = phrasing
            replies[name] = gen.run(messages, intents, snippets, entities)["replies"]
        elif name == "retrieval":
            baseline = RetrievalBaseline().fit([ex.message for ex in train], train_raw)
            replies[name] = baseline.run(messages, entities)["replies"]
        else:
            s2s = Seq2SeqGenerator(GeneratorConfig(**{**config.to_dict(), "generator": "seq2seq", "model": model}),
                                   progress=progress)
            s2s.warm_up()
            start = time.perf_counter()  # loading the model is not part of the time per reply
            replies[name] = s2s.run(messages, intents, snippets, entities)["replies"]
        seconds[name] = round(time.perf_counter() - start, 2)
        logger.info("%s: %d replies in %.1f s", name, len(messages), seconds[name])
    return replies, seconds


def build_parser() -> argparse.ArgumentParser:
    p = CliParser(prog="python -m evaluation.generation", description=__doc__.split("\n\n")[0])
    p.add_argument("--generators", default=None, help="Comma-separated subset of grounded,retrieval,seq2seq "
                   "(default: grounded,retrieval, plus seq2seq when --model is given).")
    p.add_argument("--model", default=None, help="Seq2seq checkpoint folder or Hub id for the seq2seq generator.")
    p.add_argument("--data", default=None, help="Bitext 4.5k CSV (default: the shared data folder).")
    p.add_argument("--kb", default=None, help="Knowledge-base folder or YAML file (default: the packaged knowledge_base/policies).")
    p.add_argument("--split", default="test", choices=("test", "validation"),
                   help="Split to score: test (held out) or validation (for choosing decoding settings).")
    p.add_argument("--limit", type=int, default=None, help="Score only the first N examples of the split.")
    p.add_argument("--snippets", default="intent", choices=SNIPPET_SOURCES, help="Where the snippets come from (default: intent).")
    p.add_argument("--top-k", type=int, default=None, help="Snippets per message (default: the generator's max_snippets).")
    p.add_argument("--config", default=None, help="GeneratorConfig YAML (max_snippets, min/max words, seq2seq decoding).")
    p.add_argument("--seed", type=int, default=42, help="Seed of the train/validation/test split.")
    p.add_argument("--output-dir", default=None, help="Folder for metrics.json, table.md and predictions.jsonl "
                   "(default: runs/generation/<timestamp>).")
    p.add_argument("--overwrite", action="store_true", help="Replace --output-dir if it is not empty.")
    p.add_argument("--json", action="store_true", help="Print metrics.json to stdout instead of the table.")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="Progress bar of the seq2seq replies (default: when stderr is a terminal).")
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    set_seed(args.seed)
    names = [n.strip() for n in (args.generators or ("grounded,retrieval" + (",seq2seq" if args.model else ""))).split(",") if n.strip()]
    unknown = [n for n in names if n not in GENERATOR_NAMES]
    if unknown or not names:
        raise ConfigError(f"The '--generators' option must list names from {', '.join(GENERATOR_NAMES)}. Got {args.generators!r}.")
    if "seq2seq" in names and not args.model:
        raise ConfigError("The seq2seq generator needs --model (a folder written by python -m training.finetune_generator, or a Hub id).")
    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"The '--limit' option must be an int >= 1. Got {args.limit}.")
    config = GeneratorConfig.resolve(args.config, {})
    top_k = args.top_k or config.max_snippets
    if top_k < 1:
        raise ConfigError(f"The '--top-k' option must be an int >= 1. Got {top_k}.")
    out = Path(args.output_dir or Path("runs") / "generation" / datetime.now().strftime("%Y%m%d-%H%M%S"))
    check_output_dir(out, args.overwrite)  # before any work: nothing is loaded or replaced on a mistake

    from training.generator_data import bitext_generation_path, read_bitext_rows, split_rows

    from knowledge_base.loader import load_knowledge_base

    kb = load_knowledge_base(args.kb)
    splits = load_generation_splits(args.data, seed=args.seed, snippets=args.snippets, top_k=top_k,
                                    kb=kb, splits=("train", args.split))
    raw = split_rows(read_bitext_rows(args.data), seed=args.seed)
    train, test = splits["train"], splits[args.split][: args.limit]
    replies, seconds = run_generators(names, train, [r["response"] for r in raw["train"]], test, config, args.model,
                                      progress=progress_enabled(args.progress), phrasing=getattr(kb, "phrasing", None))

    guardrails = Guardrails(min_words=config.min_words, max_words=config.max_words, checks=config.guardrail_checks)
    if "seq2seq" in replies and "grounded" in replies:  # what the pipeline answers: seq2seq, grounded where a check fired
        kept = apply_guardrails(replies["seq2seq"], replies["grounded"], [allowed_values(ex.entities or []) for ex in test],
                                [ex.snippets for ex in test], guardrails)
        replies["seq2seq+fallback"] = kept["replies"]
        seconds["seq2seq+fallback"] = seconds["seq2seq"] + seconds["grounded"]
        names = [*names, "seq2seq+fallback"]
    scored = {name: score_replies(test, replies[name], guardrails) for name in names}
    results = {name: {**s["aggregate"], "seconds": seconds[name],
                      "ms_per_reply": round(1000 * seconds[name] / max(len(test), 1), 1)} for name, s in scored.items()}
    table = markdown_table(results)

    metrics = {
        "primary_metric": PRIMARY_METRIC,
        "generators": results,
        "data": str(args.data or bitext_generation_path()),
        "kb": {"root": str(kb.root), "content_hash": kb.content_hash()},
        "split": {"name": args.split, "n": len(test), "train_n": len(train), "seed": args.seed, "limit": args.limit},
        "intents": "gold",
        "snippets": {"source": args.snippets, "top_k": top_k},
        "model": args.model,
        "generator_config": config.to_dict(),
        "library_versions": library_versions(("rouge-score",)),
    }
    with atomic_dir(out) as tmp:
        write_json(tmp / "metrics.json", metrics)
        (tmp / "table.md").write_text(
            f"# Reply generation on the Bitext {args.split} split ({len(test)} messages)\n\n"
            f"Gold intents; snippets: {args.snippets} (top {top_k}). ROUGE-L with stemming against the filled references.\n\n"
            + table + "\n", encoding="utf-8")
        (tmp / "samples.md").write_text(sample_replies(test, {n: replies[n] for n in names}, seed=args.seed), encoding="utf-8")
        with open(tmp / "predictions.jsonl", "w", encoding="utf-8") as fh:
            for i, ex in enumerate(test):
                row = {"message": ex.message, "intent": ex.intent, "reference": ex.reference,
                       "snippets": [s.id for s in ex.snippets],
                       "replies": {n: {"text": replies[n][i], **scored[n]["per_example"][i]} for n in names}}
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    if args.json:
        print(json.dumps(metrics, indent=2, default=str))
        return 0
    print(table)
    print(f"Wrote {out / 'metrics.json'}, {out / 'table.md'}, {out / 'samples.md'} and {out / 'predictions.jsonl'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
