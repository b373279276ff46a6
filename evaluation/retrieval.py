"""Compare retrieval methods on the labelled retrieval set: hit@1, hit@3 and MRR.

    python -m evaluation.retrieval --output-dir runs/retrieval/demo
    python -m evaluation.retrieval --intent-model artifacts/intent --json
    python -m evaluation.retrieval --num-threads 1 --summary-weight 0   # any retriever setting as a flag

Rows: intent-only lookup (the demo's dictionary: the first snippet of each
intent in KB order), TF-IDF cosine (the TF-IDF baseline of evaluation.baselines), BM25, dense only (plain full-text cosine,
and the tuned dense score), intent filter + dense, intent boost + dense, hybrid
(intent boost + dense + BM25). Intent rows use the
gold intents; with ``--intent-model`` the intent rows are repeated with the
classifier's predictions. A hit is any gold snippet; MRR uses the first gold
snippet's rank. The index build time is measured cold (empty cache) and warm
(a second start that reads the cache). Writes ``metrics.json``, ``table.md``,
``per_example.jsonl`` and ``resolved_config.json`` into the output folder. A folder that
is not empty is replaced only with ``--overwrite`` (checked before any work).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import numpy as np

from evaluation.ranking import RankingEvaluator, RankingResult
from pipeline.artifacts import atomic_dir, check_output_dir, library_versions, write_json, write_resolved_config
from pipeline.retrieval.embedding import SentenceEncoder
from pipeline.errors import CliParser, DataError, cli_main
from pipeline.retrieval.lexical import BM25
from pipeline.retrieval.retriever import Retriever, RetrieverConfig, document_text
from pipeline.utils import setup_logging

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO_ROOT / "configs" / "retrieval" / "default.yaml"
KINDS = ("single", "two_concerns", "ambiguous")


class MemoEncoder:
    """Wraps an encoder so each distinct text is embedded once across the compared methods."""

    def __init__(self, encoder: Any) -> None:
        self.encoder = encoder
        self.name = encoder.name
        self._memo: dict[str, np.ndarray] = {}

    def encode(self, texts: list[str]) -> np.ndarray:
        todo = sorted({t for t in texts if t not in self._memo})
        if todo:
            for text, vec in zip(todo, self.encoder.encode(todo)):
                self._memo[text] = vec
        if not texts:
            return self.encoder.encode([])
        return np.stack([self._memo[t] for t in texts])


def intent_lookup(kb: Any, intents: list[list[str]]) -> list[list[str]]:
    """The dictionary approach: each intent's snippets in KB order, interleaved across intents."""
    by_intent = {name: [s.id for s in snips] for name, snips in kb.by_intent().items()}
    rankings = []
    for names in intents:
        lists = [by_intent.get(n, []) for n in names]
        ranked: list[str] = []
        for depth in range(max((len(x) for x in lists), default=0)):
            for ids in lists:
                if depth < len(ids) and ids[depth] not in ranked:
                    ranked.append(ids[depth])
        rankings.append(ranked)
    return rankings


def tfidf_rankings(kb: Any, messages: list[str]) -> list[list[str]]:
    """The TF-IDF baseline of ``evaluation.baselines`` (the same retriever and featuriser, so one number)."""
    from evaluation.baseline_retrieval import FeatureRetriever
    from training.text_features import BowFeaturizer

    return FeatureRetriever(featurizer=BowFeaturizer(kind="tfidf", ngram_range=(1, 2))).fit(kb.snippets).rank(messages)


def lexical_rankings(scorer: Any, kb: Any, messages: list[str]) -> list[list[str]]:
    ids = [s.id for s in kb.snippets]
    scores = scorer.fit([document_text(s) for s in kb.snippets]).score(messages)
    return [[ids[j] for j in np.argsort(-row, kind="stable")] for row in scores]


def measure_index_build(kb: Any, config: RetrieverConfig, encoder: Any, cache_dir: str) -> dict[str, Any]:
    """Cold build into an empty cache folder, then a second start that must hit the cache."""
    cold = Retriever(kb, config, encoder=encoder, cache_dir=cache_dir, use_cache=True)
    cold.warm_up()
    warm = Retriever(kb, config, encoder=encoder, cache_dir=cache_dir, use_cache=True)
    warm.warm_up()
    return {"cold_s": cold.build_info["seconds"], "cold_cpu_s": cold.build_info["cpu_seconds"],
            "warm_s": warm.build_info["seconds"], "load_average": round(os.getloadavg()[0], 2), "cpus": os.cpu_count(),
            "warm_cache_hit": warm.build_info["cache_hit"], "snippets": cold.build_info["snippets"],
            "texts_encoded": cold.build_info["encoded"]}


def compare(kb: Any, config: RetrieverConfig, encoder: Any, cache_dir: str, messages: list[str],
            gold_intents: list[list[str]], hybrid_weight: float, intent_model: str | None,
            ) -> tuple[list[tuple[str, str, list[list[str]]]], float | None]:
    """Full rankings (snippet ids, best first) of every method: ``(name, intents used, rankings)``."""

    def retriever(**overrides: Any) -> Callable[[list[Any]], list[list[str]]]:
        r = Retriever(kb, config, encoder=encoder, cache_dir=cache_dir, **overrides)
        return lambda intents: r.rank_all(messages, intents)

    none = [None] * len(messages)
    plain = retriever(intent_mode="none", lexical_weight=0.0, summary_weight=0.0)
    dense = retriever(intent_mode="none", lexical_weight=0.0)
    filt = retriever(intent_mode="filter", lexical_weight=0.0)
    boost = retriever(intent_mode="boost", lexical_weight=0.0)
    hybrid = retriever(intent_mode="boost", lexical_weight=hybrid_weight)
    hybrid_name = f"hybrid (boost + dense + BM25 w={hybrid_weight:g})"
    runs = [
        ("intent-only lookup", "gold", intent_lookup(kb, gold_intents)),
        ("TF-IDF cosine (1-2-grams)", "-", tfidf_rankings(kb, messages)),
        ("BM25", "-", lexical_rankings(BM25(), kb, messages)),
        ("dense only, full text (plain)", "-", plain(none)),
        ("dense only", "-", dense(none)),
        ("intent filter + dense", "gold", filt(gold_intents)),
        ("intent boost + dense", "gold", boost(gold_intents)),
        (hybrid_name, "gold", hybrid(gold_intents)),
    ]
    if not intent_model:
        return runs, None
    from pipeline.nlu.classifier import IntentClassifier

    preds = IntentClassifier(model=intent_model).run(messages)["predictions"]
    accuracy = round(sum(p.label in g for p, g in zip(preds, gold_intents)) / len(preds), 4)
    runs += [
        ("intent-only lookup", "predicted", intent_lookup(kb, [[p.label] for p in preds])),
        ("intent filter + dense", "predicted", filt(preds)),
        ("intent boost + dense", "predicted", boost(preds)),
        (hybrid_name, "predicted", hybrid(preds)),
    ]
    return runs, accuracy


def format_table(rows: list[dict[str, Any]], markdown: bool) -> str:
    head = ["method", "intents", "hit@1", "hit@3", "MRR"]
    body = [[r["method"], r["intents"], f"{r['hit@1']:.3f}", f"{r['hit@3']:.3f}", f"{r['mrr']:.3f}"] for r in rows]
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        return "\n".join(lines + ["| " + " | ".join(b) + " |" for b in body]) + "\n"
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    fmt = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([fmt(head), fmt(["-" * w for w in widths])] + [fmt(b) for b in body]) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = CliParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=str(DEFAULT_CONFIG), help="Retriever YAML config (default: %(default)s).")
    p.add_argument("--kb", dest="kb_path", default=None,
                   help="Knowledge-base folder (default: the config's kb_path or the packaged one).")
    p.add_argument("--retrieval-set", default=None, help="Labelled retrieval set YAML (default: the packaged one).")
    p.add_argument("--part", choices=("all", "dev", "test"), default="all",
                   help="Examples of this part of a set that has a 'part' key (a set without one is all 'test').")
    p.add_argument("--intent-model", default=None, help="Intent classifier folder: adds rows with predicted intents.")
    p.add_argument("--output-dir", default=None, help="Where to write results (default: runs/retrieval/<timestamp>).")
    p.add_argument("--overwrite", action="store_true", help="Replace --output-dir if it is not empty.")
    p.add_argument("--hybrid-weight", type=float, default=None,
                   help="BM25 weight of the hybrid row (default: the config's lexical_weight, or 0.1 if that is 0).")
    p.add_argument("--json", action="store_true", help="Print metrics.json to stdout instead of the table.")
    RetrieverConfig.add_arguments(p.add_argument_group("retriever settings (override the config file)"),
                                  skip=("kb_path",))
    p.add_argument("-v", "--verbose", action="count", default=0)
    p.add_argument("-q", "--quiet", action="store_true")
    return p.parse_args(argv)


@cli_main
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(args.verbose, args.quiet)
    from knowledge_base.loader import load_knowledge_base, load_retrieval_set
    from pipeline.hub import resolve_model

    out = Path(args.output_dir or REPO_ROOT / "runs" / "retrieval" / datetime.now().strftime("%Y%m%d-%H%M%S"))
    check_output_dir(out, args.overwrite)  # cheap checks first: nothing is loaded or replaced on a mistake
    if args.intent_model:
        resolve_model(args.intent_model, what="intent model")
    config = RetrieverConfig.resolve(args.config, args)
    kb = load_knowledge_base(config.kb_path)
    examples = [ex for ex in load_retrieval_set(args.retrieval_set, kb=kb) if args.part in ("all", ex.part)]
    if not examples:
        raise DataError(f"The retrieval set has no examples in part {args.part!r}. Pass --part all, dev or test.")
    messages = [ex.message for ex in examples]
    gold_ids = [list(ex.snippet_ids) for ex in examples]
    gold_intents = [list(ex.intents) for ex in examples]
    hybrid_weight = args.hybrid_weight if args.hybrid_weight is not None else (config.lexical_weight or 0.1)

    start = time.perf_counter()
    encoder = SentenceEncoder(config.encoder, batch_size=config.batch_size, num_threads=config.num_threads)
    encoder.warm_up()
    timing: dict[str, Any] = {"encoder_load_s": round(time.perf_counter() - start, 3)}
    with tempfile.TemporaryDirectory(prefix="retrieval-cache-") as cache_dir:
        timing.update(measure_index_build(kb, config, encoder, cache_dir))
        runs, intent_accuracy = compare(kb, config, MemoEncoder(encoder), cache_dir, messages, gold_intents,
                                        hybrid_weight, args.intent_model)

    evaluator = RankingEvaluator(ks=(1, 3))
    rows, results = [], []
    for name, intents, rankings in runs:
        res: RankingResult = evaluator.evaluate(rankings, gold_ids)
        by_kind = {k: res.subset([ex.kind == k for ex in examples]).aggregate for k in KINDS}
        rows.append({"method": name, "intents": intents, **res.aggregate, "by_kind": by_kind})
        results.append(res)
    metrics = {"primary_metric": "mrr", "examples": len(examples), "snippets": len(kb.snippets),
               "kinds": {k: sum(ex.kind == k for ex in examples) for k in KINDS},
               "intent_accuracy": intent_accuracy, "index_build": timing, "methods": rows,
               "hybrid_weight": hybrid_weight, "versions": library_versions()}

    with atomic_dir(out) as tmp:
        write_json(tmp / "metrics.json", metrics)
        (tmp / "table.md").write_text(format_table(rows, markdown=True), encoding="utf-8")
        write_resolved_config(tmp, {"retriever": config.to_dict(), "hybrid_weight": hybrid_weight, "kb": str(kb.root),
                                    "retrieval_set": args.retrieval_set, "part": args.part,
                                    "intent_model": args.intent_model})
        with open(tmp / "per_example.jsonl", "w", encoding="utf-8") as fh:
            for i, ex in enumerate(examples):
                line = {"message": ex.message, "kind": ex.kind, "gold_intents": gold_intents[i], "gold_snippets": gold_ids[i],
                        "ranks": {f"{n} [{it}]": res.per_example[i]["rank"] for (n, it, _), res in zip(runs, results)},
                        "top3": {f"{n} [{it}]": rk[i][:3] for n, it, rk in runs}}
                fh.write(json.dumps(line, ensure_ascii=False) + "\n")
    if args.json:
        print(json.dumps(metrics, indent=2))
    else:
        print(format_table(rows, markdown=False))
        print(f"{len(examples)} examples ({', '.join(f'{k}: {v}' for k, v in metrics['kinds'].items())}), "
              f"{len(kb.snippets)} snippets" + (f", intent accuracy {intent_accuracy:.3f}" if intent_accuracy is not None else ""))
        print(f"index build: cold {timing['cold_s']:.2f} s wall / {timing['cold_cpu_s']:.2f} s CPU ({timing['snippets']} "
              f"snippets, {timing['texts_encoded']} texts encoded), warm {timing['warm_s']:.3f} s (cache hit: "
              f"{timing['warm_cache_hit']}); encoder load {timing['encoder_load_s']:.2f} s; load average "
              f"{timing['load_average']} on {timing['cpus']} CPUs")
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
