"""Evaluate an intent model on a data split and write the report folder.

    python -m evaluation.nlu --model artifacts/intent-bitext --data bitext --output-dir runs/eval-bitext
    python -m evaluation.nlu --slot-model artifacts/slots-atis --slot-data atis --output-dir runs/eval-slots-atis

Prints accuracy and macro-F1 (``--json`` for the full metrics as JSON) and
writes, atomically (a temporary folder renamed into place), into ``--output-dir``:

* ``metrics.json``: accuracy, macro-F1, ECE, n, unknown labels, temperature, threshold, model, data, seed, timings
* ``intent_report.json``: per intent precision/recall/F1/support and the intents it is most confused with
* ``errors.json``: misclassified messages (gold, pred, confidence, top-3), most confident first
* ``confusion_matrix.png``, ``reliability_diagram.png``, ``per_intent_f1.png``, ``confidence_histogram.png``
* ``resolved_config.json``: the resolved settings of this run
* with ``--slot-model``: ``entities`` in metrics.json (span precision/recall/F1 per entity type,
  exact span and type; intent accuracy of a joint model), ``entity_report.json`` and
  ``entity_errors.json`` (see :mod:`evaluation.slot_eval`); ``--model`` may then be left out

Messages written to ``errors.json`` and ``entity_errors.json`` have emails, phone and card
numbers masked unless ``--keep-pii``.

The split is rebuilt from ``--data`` with ``--seed``, ``--validation-size``,
``--test-size`` and ``--max-per-label``; those not given are read from the
model's ``resolved_config.json`` (else 42, 0.1, 0.1, none), so a split carved
at training time (e.g. Bitext's test split) is the same held-out one here.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Protocol, Sequence

import numpy as np

from evaluation.metrics import ClassificationEvaluation, evaluate_classification
from pipeline.artifacts import (RESOLVED_CONFIG, atomic_dir, check_output_dir, library_versions, training_config, write_json,
                                write_resolved_config)
from pipeline.config import StageConfig
from pipeline.errors import CliParser, ConfigError, check_param, cli_main
from pipeline.utils import progress_enabled

logger = logging.getLogger(__name__)

SPLIT_NAMES = ("test", "validation", "train")
OUTPUT_FILES = (
    "metrics.json", "intent_report.json", "errors.json", RESOLVED_CONFIG,
    "confusion_matrix.png", "reliability_diagram.png", "per_intent_f1.png", "confidence_histogram.png",
)


class Classifier(Protocol):
    """What :func:`evaluate_model` needs: ``labels`` and a batch ``run``."""

    labels: list[str]

    def run(self, messages: list[str], top_k: int | None = None, return_probs: bool = False) -> dict: ...


@dataclass
class NLUEvalConfig(StageConfig):
    """Settings of one NLU evaluation run (data flags come from training.data)."""

    model: str = field(default="", metadata={"help": "Fine-tuned intent model folder (from training.finetune_intent)."})
    slot_model: str | None = field(default=None, metadata={"help": "Slot/entity model folder (from training.finetune_slots) to score too."})
    slot_data: str | None = field(default=None, metadata={"help": "Slot data for --slot-model: atis, bitext, a BIO folder or span file (default: the model's training data)."})
    keep_pii: bool = field(default=False, metadata={"help": "Write messages unmasked (default: emails, phone and card numbers are masked)."})
    output_dir: str = field(default="", metadata={"help": "Folder for metrics, reports and figures."})
    split: str = field(default="test", metadata={"help": "Split to evaluate: test, validation or train."})
    batch_size: int = field(default=64, metadata={"help": "Messages per forward pass."})
    seed: int | None = field(default=None, metadata={"help": "Seed of the data split (default: the model's training seed, else 42)."})
    limit: int | None = field(default=None, metadata={"help": "Evaluate a seeded random subset of N messages (quick runs)."})
    n_bins: int = field(default=15, metadata={"help": "Confidence bins for ECE and the reliability diagram."})
    overwrite: bool = field(default=False, metadata={"help": "Replace a non-empty output folder."})
    progress: bool | None = field(default=None, metadata={"help": "Show a progress bar (default: when stderr is a terminal)."})

    def validate(self) -> None:
        name = "NLUEvalConfig"
        check_param(name, "model", self.model, bool(self.model or self.slot_model), "a model folder (pass --model DIR and/or --slot-model DIR)")
        check_param(name, "output_dir", self.output_dir, bool(self.output_dir), "a folder (pass --output-dir DIR)")
        check_param(name, "split", self.split, self.split in SPLIT_NAMES, f"one of {', '.join(SPLIT_NAMES)}")
        check_param(name, "batch_size", self.batch_size, self.batch_size >= 1, "an int >= 1")
        check_param(name, "limit", self.limit, self.limit is None or self.limit >= 1, "an int >= 1 or unset")
        check_param(name, "n_bins", self.n_bins, 1 <= self.n_bins <= 100, "an int in [1, 100]")


def subsample(texts: Sequence[str], labels: Sequence[str], limit: int | None, seed: int) -> tuple[list[str], list[str]]:
    """A seeded random subset of ``limit`` examples, in their original order (all when ``limit`` is None)."""
    if limit is None or limit >= len(texts):
        return list(texts), list(labels)
    keep = np.sort(np.random.default_rng(seed).permutation(len(texts))[:limit])
    return [texts[i] for i in keep], [labels[i] for i in keep]


def predict(classifier: Classifier, texts: Sequence[str], batch_size: int = 64,
            progress: bool | None = None) -> tuple[list, np.ndarray | None]:
    """Run the classifier in chunks of 8 batches (top-3 rankings, calibrated probabilities) with a progress bar.

    Chunks of several batches let the classifier sort each chunk by length.
    """
    from tqdm import tqdm

    chunk = 8 * batch_size

    predictions: list = []
    probs: list[np.ndarray] = []
    with tqdm(total=len(texts), desc="classifying", unit="msg", disable=not progress_enabled(progress),
              file=sys.stderr) as bar:
        for start in range(0, len(texts), chunk):
            batch = list(texts[start:start + chunk])
            out = classifier.run(batch, top_k=3, return_probs=True)
            predictions.extend(out["predictions"])
            if out.get("probabilities") is not None:
                probs.append(np.asarray(out["probabilities"], dtype=float))
            bar.update(len(batch))
    matrix = np.concatenate(probs) if probs and sum(len(p) for p in probs) == len(texts) else None
    return predictions, matrix


def write_report(evaluation: ClassificationEvaluation, folder: Path, metrics: dict, config: dict) -> None:
    """Write the JSON files and figures of one evaluation into ``folder``."""
    from evaluation import plots  # matplotlib: imported only when figures are drawn
    write_json(folder / "metrics.json", metrics)
    write_json(folder / "intent_report.json", evaluation.report)
    errors = evaluation.errors
    if not config.get("keep_pii"):
        from pipeline.privacy import mask_pii

        errors = [{**e, "message": mask_pii(e["message"])} if isinstance(e, dict) and "message" in e else e for e in errors]
    write_json(folder / "errors.json", errors)
    write_resolved_config(folder, config)
    cm = evaluation.confusion
    plots.plot_confusion_matrix(cm["labels"], cm["matrix"], folder / "confusion_matrix.png")
    plots.plot_reliability_diagram(evaluation.bins, folder / "reliability_diagram.png", ece=metrics["ece"])
    plots.plot_per_label_f1(evaluation.report, folder / "per_intent_f1.png")
    conf = [e["confidence"] for e in evaluation.per_example]
    correct = [e["correct"] for e in evaluation.per_example]
    plots.plot_confidence_histogram(conf, correct, folder / "confidence_histogram.png")


def evaluate_model(
    classifier: Classifier,
    split: Any,
    output_dir: str | Path,
    *,
    batch_size: int = 64,
    n_bins: int = 15,
    overwrite: bool = False,
    progress: bool | None = None,
    meta: dict | None = None,
    config: dict | None = None,
    extra_json: dict[str, Any] | None = None,
) -> tuple[ClassificationEvaluation, dict]:
    """Classify ``split.texts``, score against ``split.labels`` and write the report folder.

    ``classifier`` is any object with ``labels`` and ``run`` (see :class:`Classifier`);
    ``meta`` is merged into metrics.json (model, data, seed, load timings),
    ``config`` is written as resolved_config.json and ``extra_json`` (file name -> data)
    beside it. Returns the evaluation and the metrics.
    """
    texts, gold = list(split.texts), list(split.labels)
    if not texts:
        raise ConfigError("The split to evaluate is empty. Choose another --split or data set.")
    check_output_dir(output_dir, overwrite)
    start = time.perf_counter()
    predictions, probabilities = predict(classifier, texts, batch_size, progress)
    predict_ms = (time.perf_counter() - start) * 1000.0
    evaluation = evaluate_classification(texts, gold, predictions, probabilities, list(classifier.labels),
                                         n_bins=n_bins)
    meta = dict(meta or {})
    timings = {**meta.pop("timings", {}), "predict_ms": round(predict_ms, 1),
               "ms_per_message": round(predict_ms / len(texts), 3),
               "messages_per_s": round(len(texts) / max(predict_ms / 1000.0, 1e-9), 1)}
    metrics = {
        **evaluation.aggregate,
        "primary_metric": evaluation.primary_metric,
        "unknown_labels": evaluation.unknown_labels,
        "n_errors": len(evaluation.errors),
        "temperature": getattr(classifier, "temperature", None),
        "threshold": getattr(classifier, "threshold", None),
        "n_bins": n_bins,
        **meta,
        "timings": timings,
        "versions": library_versions(),
    }
    with atomic_dir(output_dir, overwrite=True) as tmp:
        write_report(evaluation, tmp, metrics, config or {})
        for name, data in (extra_json or {}).items():
            write_json(tmp / name, data)
    logger.info("Wrote the evaluation of %d messages to %s", len(texts), output_dir)
    return evaluation, metrics


SPLIT_SETTINGS = {"seed": 42, "validation_size": 0.1, "test_size": 0.1, "max_per_label": None}
"""Settings that decide which rows (and filled-in placeholder values) land in a carved test split, with defaults."""


def fill_split_settings(args: argparse.Namespace, config: NLUEvalConfig) -> dict[str, Any]:
    """Seed, split sizes and the per-label cap not given on the command line come from the model's training config.

    A test split carved from one file (Bitext) is only the held-out one when it is
    rebuilt with the training seed and sizes; returns what was taken from the model.
    """
    trained = training_config(config.model)
    taken = {}
    for key, default in SPLIT_SETTINGS.items():
        given = config.seed if key == "seed" else getattr(args, key, None)
        if given is None:
            value = trained.get(key, default)
            if key in trained:
                taken[key] = value
            setattr(config if key == "seed" else args, key, value)
    if taken:
        logger.info("Split settings from the model's resolved config: %s", taken)
    if trained.get("data") not in (None, args.data):
        logger.warning("The model was trained on %r; evaluating on %r.", trained["data"], args.data)
    return taken


def load_classifier(config: NLUEvalConfig) -> Classifier:
    """Build and warm up the pipeline's IntentClassifier (ModelLoadError on a bad folder)."""
    from pipeline.nlu.classifier import IntentClassifier

    classifier = IntentClassifier(config.model, top_k=3, batch_size=config.batch_size)
    classifier.warm_up()
    return classifier


def load_split(args: argparse.Namespace, config: NLUEvalConfig) -> tuple[Any, Any]:
    """The data set and the split named by ``config.split``."""
    from training.data import data_from_args

    data = data_from_args(args, config.seed)
    return data, getattr(data, config.split)


DATA_FLAGS = ("data", "text_column", "label_column", "validation_size", "test_size", "max_per_label",
              "keep_placeholders")


def build_parser() -> argparse.ArgumentParser:
    from training.data import add_data_arguments

    parser = CliParser(prog="python -m evaluation.nlu", description=__doc__.split("\n\n")[0],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=None, metavar="YAML", help="YAML file with NLUEvalConfig keys.")
    NLUEvalConfig.add_arguments(parser)
    add_data_arguments(parser, required=False)
    parser.set_defaults(validation_size=None, test_size=None)  # None: the model's training values, else 0.1
    parser.add_argument("--json", action="store_true", help="Print the metrics as JSON instead of a summary line.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="More logging (-vv for debug).")
    parser.add_argument("-q", "--quiet", action="store_true", help="Only warnings and errors on stderr.")
    return parser


def summary(metrics: dict, split: str, output_dir: str) -> str:
    line = (f"{split}: accuracy {metrics['accuracy']:.4f}  macro-F1 {metrics['macro_f1']:.4f}  "
            f"ECE {metrics['ece']:.4f}  n={metrics['n']}")
    if metrics.get("n_unknown"):
        line += f"  ({metrics['n_unknown']} with labels unknown to the model)"
    return f"{line}\nwrote {output_dir}"


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    from pipeline.utils import setup_logging

    args = build_parser().parse_args(argv)
    setup_logging(args.verbose, args.quiet)
    config = NLUEvalConfig.resolve(args.config, args)
    check_output_dir(config.output_dir, config.overwrite)
    from pipeline.hub import resolve_model

    # cheap checks first: a missing model folder fails before any work
    if config.slot_model:
        resolve_model(config.slot_model, what="slot model")
    if not config.model:
        return _slots_only(config)
    resolve_model(config.model, what="intent model")
    if not args.data:
        raise ConfigError("--data is required with --model: a preset (bitext, banking77, atis) or a data file.")
    fill_split_settings(args, config)
    timings: dict[str, float] = {}
    # then the data: a bad file or column fails in a moment, not after a model has loaded
    start = time.perf_counter()
    data, split = load_split(args, config)
    timings["load_data_ms"] = round((time.perf_counter() - start) * 1000.0, 1)
    # the slot model is scored before the intent model, so that nothing is written when it fails
    entities, entity_files = _slot_report(config) if config.slot_model else (None, None)
    start = time.perf_counter()
    classifier = load_classifier(config)
    timings["load_model_ms"] = round((time.perf_counter() - start) * 1000.0, 1)
    texts, labels = subsample(split.texts, split.labels, config.limit, config.seed)
    split = SimpleNamespace(texts=texts, labels=labels)
    data_args = {k: getattr(args, k, None) for k in DATA_FLAGS}
    resolved = {**config.to_dict(), "data_args": data_args}
    meta = {"model": config.model, "data": args.data, "data_name": getattr(data, "name", args.data),
            "split": config.split, "split_sizes": getattr(data, "meta", {}).get("split_sizes"),
            "seed": config.seed, "limit": config.limit, "timings": timings}
    if entities is not None:
        meta["entities"] = entities
    _, metrics = evaluate_model(classifier, split, config.output_dir, batch_size=config.batch_size,
                                n_bins=config.n_bins, overwrite=config.overwrite, progress=config.progress,
                                meta=meta, config=resolved, extra_json=entity_files)
    print(json.dumps(metrics, indent=2, default=str) if args.json else summary(metrics, config.split, config.output_dir))
    return 0


def _slot_report(config: NLUEvalConfig) -> tuple[dict, dict[str, Any]]:
    """Score the slot model: its scores, and entity_report.json / entity_errors.json for the report folder."""
    from evaluation.slot_eval import evaluate_slot_model

    scores, errors = evaluate_slot_model(config.slot_model, config.slot_data, config.split, batch_size=config.batch_size,
                                         limit=config.limit, seed=config.seed, keep_pii=config.keep_pii)
    return scores, {"entity_report.json": scores.get("per_type", {}), "entity_errors.json": errors}


def _slots_only(config: NLUEvalConfig) -> int:
    from evaluation.spans import format_span_report

    scores, files = _slot_report(config)
    with atomic_dir(config.output_dir, overwrite=True) as tmp:
        for name, data in files.items():
            write_json(tmp / name, data)
        write_json(tmp / "metrics.json", {"entities": scores, "versions": library_versions()})
        write_resolved_config(tmp, config.to_dict())
    extra = f"  intent accuracy {scores['intent_accuracy']:.4f}" if "intent_accuracy" in scores else ""
    print(f"{config.split}: span P {scores['precision']:.4f}  R {scores['recall']:.4f}  F1 {scores['f1']:.4f}{extra}  "
          f"n={scores['n']}\n{format_span_report(scores)}\nwrote {config.output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
