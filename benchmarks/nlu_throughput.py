"""NLU batch throughput: Hugging Face's text-classification pipeline against our torch path, ONNX fp32 and ONNX int8.

    python benchmarks/nlu_throughput.py                                   # cached bootstrap intent model, 1,000 messages
    python benchmarks/nlu_throughput.py --intent-model artifacts/intent-banking77 --batch-sizes 1 64 --json

All contenders run in this one process, on the same messages (the first ``--n`` of the BANKING77 test split, in file
order), truncated at the intent model's training ``max_length``, with the same threads (``--threads``, default 2, for torch and ONNX Runtime alike):

- ``hf_pipeline``: ``transformers.pipeline("text-classification", batch_size=B)`` on an
  ``AutoModelForSequenceClassification`` built from the intent model's encoder weights. Our head (mean pooling,
  normalisation, a linear layer) is not one that class can run, so its head is the class's own (random): this
  compares the encoders' cost, which is nearly all of it.
- ``torch``: :class:`pipeline.nlu.classifier.IntentClassifier` with ``runtime='torch'`` (length-sorted batches of B).
- ``onnx`` / ``onnx-int8``: the same classifier on the exported graphs (``python -m pipeline.export --model DIR``).

Each contender classifies all messages once to warm up, then ``--repeats`` times timed; the best pass counts.
Printed: messages per second per batch size and each contender's ratio to the HF pipeline.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.errors import CliParser, ConfigError, DataError, cli_main  # noqa: E402

CONTENDERS = ("hf_pipeline", "torch", "onnx", "onnx-int8")


def banking77_messages(n: int) -> list[str]:
    import csv

    path = Path(__file__).resolve().parents[2] / "shared" / "data" / "banking77" / "test.csv"
    if not path.is_file():
        raise DataError(f"{path} is missing: this benchmark reads BANKING77's test split from ../shared/data (see ../shared/README.md).")
    with path.open(newline="", encoding="utf-8") as fh:
        return [row["text"] for row in csv.DictReader(fh)][:n]


def model_max_length(folder: Path) -> int:
    """The token limit the intent model was trained with (our classifier truncates there too)."""
    from pipeline.artifacts import training_config

    return int(training_config(folder).get("max_length", 128))


def hf_classifier(folder: Path, batch_size: int):
    import logging

    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

    labels = json.loads((folder / "config.json").read_text()).get("id2label") or {}
    logging.getLogger("transformers").setLevel(logging.ERROR)  # "newly initialized" head warning: expected here
    model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=len(labels) or 2).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    pipe = pipeline("text-classification", model=model, tokenizer=tokenizer, device="cpu", batch_size=batch_size,
                    truncation=True, max_length=model_max_length(folder))
    return lambda texts: pipe(texts)


def our_classifier(folder: Path, runtime: str, batch_size: int, threads: int):
    from pipeline.nlu.classifier import IntentClassifier

    clf = IntentClassifier(folder, runtime=runtime, batch_size=batch_size, num_threads=threads, max_length=model_max_length(folder))
    clf.warm_up()
    if clf.runtime_used != runtime:
        raise ConfigError(f"{folder} cannot run on {runtime}. Export it first: python -m pipeline.export --model {folder}")
    return clf.logits


def time_it(fn, texts: list[str], repeats: int) -> float:
    fn(texts)  # warm-up pass
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn(texts)
        best = min(best, time.perf_counter() - start)
    return best


@cli_main
def main(argv: list[str] | None = None) -> int:
    parser = CliParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intent-model", default=None, help="Intent model folder (default: the cached bootstrap model).")
    parser.add_argument("--n", type=int, default=1000, help="BANKING77 test messages classified per pass.")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 64], help="Batch sizes to run.")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for torch and ONNX Runtime.")
    parser.add_argument("--repeats", type=int, default=2, help="Timed passes per contender (the best counts).")
    parser.add_argument("--contenders", nargs="+", choices=CONTENDERS, default=list(CONTENDERS))
    parser.add_argument("--json", action="store_true", help="Print the results as JSON.")
    args = parser.parse_args(argv)
    for flag, value in (("--n", args.n), ("--threads", args.threads), ("--repeats", args.repeats), ("--batch-sizes", min(args.batch_sizes))):
        if value < 1:
            raise ConfigError(f"The '{flag}' option must be an int >= 1. Got {value}.")
    os.environ["SUPPORT_NUM_THREADS"] = str(args.threads)
    import torch

    torch.set_num_threads(args.threads)
    from pipeline.nlu.bootstrap import ensure_default_intent_model

    folder = Path(args.intent_model) if args.intent_model else ensure_default_intent_model(progress=True)
    texts = banking77_messages(args.n)
    results: dict[str, dict[str, float]] = {}
    for batch_size in args.batch_sizes:
        row: dict[str, float] = {}
        for name in args.contenders:
            fn = hf_classifier(folder, batch_size) if name == "hf_pipeline" else our_classifier(folder, name, batch_size, args.threads)
            row[name] = round(len(texts) / time_it(fn, texts, args.repeats), 1)
            print(f"batch {batch_size:>3} {name:<12} {row[name]:>8.1f} msg/s", file=sys.stderr, flush=True)
        results[str(batch_size)] = row
    report = {"model": str(folder), "messages": len(texts), "threads": args.threads, "messages_per_second": results,
              "ratio_to_hf_pipeline": {b: {k: round(v / row["hf_pipeline"], 2) for k, v in row.items()}
                                       for b, row in results.items() if "hf_pipeline" in row}}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{len(texts)} BANKING77 messages, {args.threads} threads, model {folder}")
    print(f"{'batch':>5} " + " ".join(f"{c:>12}" for c in args.contenders) + "   (messages/s; ratio to hf_pipeline)")
    for b, row in results.items():
        ratios = report["ratio_to_hf_pipeline"].get(b, {})
        print(f"{b:>5} " + " ".join(f"{row[c]:>12}" for c in args.contenders) + "   "
              + " ".join(f"{c} {ratios[c]}x" for c in args.contenders if c in ratios and c != "hf_pipeline"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
