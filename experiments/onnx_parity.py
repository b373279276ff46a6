"""Parity of the ONNX runtimes with torch: intent predictions on a test set, retrieval hit@1 on the retrieval set.

    python experiments/onnx_parity.py --intent-model artifacts/intent-banking77 --data banking77
    python experiments/onnx_parity.py --intent-model auto --data bitext --limit 2000 --json

For each runtime (torch, onnx, onnx-int8) the intent model classifies the test split of ``--data`` (its predicted
intent, no out-of-scope rule), and the sentence encoder ranks the snippets of the packaged knowledge base for every
message of ``knowledge_base/retrieval_set.yaml`` (dense only, gold-intent filter as in ``evaluation.retrieval``).
Reported: accuracy, agreement with torch's predictions, hit@1 and the number of messages whose hit@1 differs from
torch's. The models must have been exported (``python -m pipeline.export --model DIR``; the encoder is exported
into the cache on first use).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.errors import CliParser, cli_main  # noqa: E402

RUNTIMES = ("torch", "onnx", "onnx-int8")


def intent_rows(model: str, texts: list[str], gold: list[str]) -> dict[str, dict]:
    from pipeline.nlu.classifier import IntentClassifier

    preds, out = {}, {}
    for runtime in RUNTIMES:
        clf = IntentClassifier(model, top_k=1, runtime=runtime)
        clf.warm_up()
        start = time.perf_counter()
        probs, _ = clf.scores(texts)
        seconds = time.perf_counter() - start
        preds[runtime] = np.array([clf.labels[i] for i in probs.argmax(1)])
        out[runtime] = {"accuracy": round(float((preds[runtime] == np.array(gold)).mean()), 4),
                        "agreement_with_torch": round(float((preds[runtime] == preds["torch"]).mean()), 4),
                        "seconds": round(seconds, 1)}
    return out


def retrieval_rows() -> dict[str, dict]:
    from evaluation.ranking import first_relevant_rank
    from knowledge_base.loader import load_retrieval_set
    from pipeline.retrieval.retriever import Retriever, RetrieverConfig

    examples = load_retrieval_set()
    hits, out = {}, {}
    for runtime in RUNTIMES:
        retriever = Retriever(config=RetrieverConfig(runtime=runtime, intent_mode="filter", sentence_scores=False))
        ranked = retriever.run([e.message for e in examples], [list(e.intents) for e in examples])["snippets"]
        hits[runtime] = np.array([first_relevant_rank([s.id for s in r], e.snippet_ids) == 1 for r, e in zip(ranked, examples)])
        out[runtime] = {"hit@1": round(float(hits[runtime].mean()), 4),
                        "messages_changed_vs_torch": int((hits[runtime] != hits["torch"]).sum()), "n": len(examples)}
    return out


@cli_main
def main(argv: list[str] | None = None) -> int:
    p = CliParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--intent-model", default="artifacts/intent-banking77", help="Exported intent model folder ('auto': the bootstrap model).")
    p.add_argument("--data", default="banking77", help="Preset or data file whose test split is classified.")
    p.add_argument("--limit", type=int, default=None, help="At most this many test messages.")
    p.add_argument("--no-retrieval", action="store_true", help="Skip the retrieval rows.")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    from training.data import load_intent_data

    model = args.intent_model
    if model == "auto":
        from pipeline.nlu.bootstrap import ensure_default_intent_model

        model = str(ensure_default_intent_model())
    test = load_intent_data(args.data).test
    texts, gold = list(test.texts)[: args.limit], list(test.labels)[: args.limit]
    result = {"intent_model": model, "data": args.data, "n": len(texts), "intent": intent_rows(model, texts, gold)}
    if not args.no_retrieval:
        result["retrieval"] = retrieval_rows()
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{model} on {args.data} test ({len(texts)} messages)")
    for runtime, r in result["intent"].items():
        print(f"  {runtime:<10} accuracy {r['accuracy']:.4f}  agreement with torch {r['agreement_with_torch']:.4f}  {r['seconds']} s")
    for runtime, r in result.get("retrieval", {}).items():
        print(f"  retrieval {runtime:<10} hit@1 {r['hit@1']:.4f}  messages changed vs torch {r['messages_changed_vs_torch']} of {r['n']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
