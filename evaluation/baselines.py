"""Classical baselines next to the fine-tuned transformer: intent classification and knowledge-base retrieval.

    python -m evaluation.baselines --output-dir runs/baselines/table
    python -m evaluation.baselines --vectors w2v-wiki=artifacts/embeddings/w2v-sgns glove=artifacts/embeddings/glove \\
        --no-discover --datasets banking77 --output-dir runs/baselines/two-models

Rows (``--methods``): bag of words binary / counts / TF-IDF (word 1-2-grams) and
LSA (TF-IDF reduced by SVD), each + logistic regression; every word-vector
artifact (``--vectors NAME=PATH``, plus every artifact under ``--vectors-dir``
unless ``--no-discover``) x {mean, TF-IDF-weighted} word vectors + logistic
regression; the fine-tuned transformer (``--transformer DATA=MODEL_DIR``,
scores from the model's metrics.json, the same seeded splits).

Columns: BANKING77 test accuracy and macro-F1, Bitext test macro-F1 (the
splits of ``training.data.load_intent_data`` with ``--seed``, as the
transformer used), retrieval hit@1 / MRR on ``knowledge_base/retrieval_set.yaml``
(cosine between message and snippet features, no intent; see
``evaluation/baseline_retrieval.py``) and the seconds to fit the chosen model
on the first data set's training split.

Protocol: logistic regression's C is chosen per row and data set from
``--c-grid`` by macro-F1 on the validation split only; the model fitted on the
training split at that C is scored once on test. Seed 42 unless ``--seed``.

Writes ``metrics.json`` (every number, the C search, word-vector coverage),
``table.md`` and ``resolved_config.json`` into ``--output-dir`` (default
``runs/baselines/<timestamp>``), plus ``models/<row>-<data>/`` with ``--save-models``.
"""
from __future__ import annotations

import argparse
import json
import logging
import re
import shutil
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

from evaluation.baseline_rows import REPO_ROOT, Method, build_methods, resolve_path, vector_artifacts, vectors_info
from evaluation.baseline_table import format_table, notes
from evaluation.baselines_config import METHODS, WEIGHTINGS, BaselinesConfig  # noqa: F401  (the CLI's config, importable from here)
from pipeline.artifacts import atomic_dir, check_output_dir, library_versions, read_json, write_json, write_resolved_config
from pipeline.errors import CliParser, ConfigError, ModelLoadError, cli_main

logger = logging.getLogger(__name__)

# ----------------------------------------------------------------------------------------------
# Running the rows
# ----------------------------------------------------------------------------------------------

def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def evaluate_method(method: Method, data: Any, config: BaselinesConfig, models_dir: Path | None = None) -> dict[str, Any]:
    """C chosen on validation, the model fitted on train scored once on test (see the module docstring)."""
    from evaluation.metrics import accuracy, macro_f1
    from training.baselines import select_c

    featurizer = method.make()
    clf, report = select_c(featurizer, data.train, data.validation, grid=config.grid, seed=config.seed,
                           max_iter=config.max_iter)
    start = time.perf_counter()
    pred = clf.predict(data.test.texts)
    result: dict[str, Any] = {"accuracy": round(accuracy(data.test.labels, pred), 4),
                              "macro_f1": round(macro_f1(data.test.labels, pred), 4), "n": len(pred),
                              "predict_seconds": round(time.perf_counter() - start, 3), **report.to_dict()}
    if hasattr(featurizer, "coverage"):
        result["test_token_coverage"] = round(featurizer.coverage(data.test.texts), 4)
    if models_dir is not None:
        clf.save(models_dir / f"{slug(method.name)}-{data.name}", metrics=result,
                 data={"data": data.name, "method": method.name})
    logger.info("%s on %s: accuracy %.4f, macro-F1 %.4f (C=%g, fit %.1f s)", method.name, data.name,
                result["accuracy"], result["macro_f1"], result["best_c"], result["fit_seconds"])
    return result


def transformer_given(config: BaselinesConfig) -> bool:
    """Whether the user named the fine-tuned models: then a missing one is an error, not an "n/a" cell."""
    return config.transformer != BaselinesConfig().transformer


def transformer_test_scores(config: BaselinesConfig, warn: bool = True) -> dict[str, tuple[Path, dict[str, Any]]]:
    """{data: (model folder, its metrics.json)} for the models with test scores; cheap, so main calls it first.

    A default model that is not trained yet gives a warning (its cells read "n/a"); one named with
    ``--transformer`` must be there.
    """
    found: dict[str, tuple[Path, dict[str, Any]]] = {}
    if "transformer" not in config.methods:
        return found
    for data, path in config.transformer_models().items():
        if data not in config.datasets:
            continue
        folder = resolve_path(path)
        metrics_path = folder / "metrics.json"
        try:
            metrics = read_json(metrics_path) if metrics_path.is_file() else {}
        except ValueError:
            metrics = {}
        test = metrics.get("test") if isinstance(metrics, dict) else None
        if not isinstance(test, dict) or "accuracy" not in test or "macro_f1" not in test:
            what = "does not exist" if not folder.is_dir() else f"has no test scores in {metrics_path.name}"
            fix = f"python -m training.finetune_intent --data {data} --output-dir {path}"
            if transformer_given(config):
                raise ConfigError(f"The --transformer model {data}={path} {what}. Train it with {fix}, "
                                  "or fix the path.")
            if warn:
                logger.warning("The %s model %s %s: the transformer row has no %s column. Train it with %s",
                               data, folder, what, data, fix)
            continue
        found[data] = (folder, metrics)
    return found


def transformer_results(config: BaselinesConfig) -> tuple[str, dict[str, dict[str, Any]]]:
    """The fine-tuned models' test scores from their metrics.json, checked to come from the same splits."""
    from evaluation.nlu import SPLIT_SETTINGS
    from pipeline.artifacts import training_config

    ours = {"seed": config.seed, "validation_size": 0.1, "test_size": 0.1, "max_per_label": config.max_per_label}
    results: dict[str, dict[str, Any]] = {}
    base = None
    for data, (folder, metrics) in transformer_test_scores(config).items():
        metrics_path, test = folder / "metrics.json", metrics["test"]
        trained = training_config(folder)
        settings = {k: trained.get(k, default) for k, default in SPLIT_SETTINGS.items()}
        same = settings == ours
        if not same:
            logger.warning("%s was trained on splits %s, the baselines use %s: its %s scores are not on the same test "
                           "split.", folder, settings, ours, data)
        if trained.get("extra_train"):
            logger.warning("%s was trained with extra examples (%s): its %s scores do not come from the training data "
                           "the baselines get.", folder, trained["extra_train"], data)
        base = base or trained.get("base_model")
        results[data] = {"accuracy": round(test["accuracy"], 4), "macro_f1": round(test["macro_f1"], 4),
                         "n": test.get("n"), "fit_seconds": metrics.get("train_seconds"), "model": str(folder),
                         "source": str(metrics_path), "split_settings": settings, "same_splits": same,
                         "extra_train": trained.get("extra_train")}
    label = "all-MiniLM-L6-v2" if base in (None, "default") else Path(str(base)).name
    return f"fine-tuned transformer ({label})", results


def dense_retrieval(config: BaselinesConfig, kb: Any, examples: list[Any]) -> dict[str, float] | None:
    from evaluation.baseline_retrieval import score_dense
    from pipeline.retrieval.embedding import SentenceEncoder

    encoder = SentenceEncoder(config.encoder)
    try:
        encoder.warm_up()
    except ModelLoadError as exc:
        if config.encoder != "default":  # named by the user: not an "n/a" cell
            raise
        logger.warning("No retrieval scores for the transformer row: %s", exc)
        return None
    return score_dense(encoder, kb, examples)


RESULT_SETTINGS = ("datasets", "c_grid", "ngram_max", "lsa_components", "max_iter", "max_per_label", "seed")
"""Settings a row's numbers depend on: ``--reuse`` copies rows only from a run with the same ones."""


def row_stamp(method: Method) -> str:
    """What a row's numbers depend on besides the settings: its name and its vectors file's modification time."""
    path = method.info.get("vectors")
    if not path:
        return method.name
    weights = Path(path) / "vectors.safetensors" if Path(path).is_dir() else Path(path)
    return f"{method.name}|{path}|{weights.stat().st_mtime if weights.exists() else 0}"


def previous_rows(folder: str | None, config: BaselinesConfig) -> dict[str, dict[str, Any]]:
    """Rows of an earlier run that can be reused (same settings), by :func:`row_stamp`."""
    if not folder:
        return {}
    path = resolve_path(folder) / "metrics.json"
    if not path.is_file():
        raise ConfigError(f"--reuse {folder!r}: {str(path)!r} does not exist. Pass an earlier --output-dir of "
                          "python -m evaluation.baselines.")
    previous = read_json(path)
    if not isinstance(previous, dict):
        raise ConfigError(f"--reuse {folder!r}: {str(path)!r} is not a metrics.json written by python -m "
                          "evaluation.baselines. Pass an earlier --output-dir of that command.")
    ours = {k: config.to_dict()[k] for k in RESULT_SETTINGS}
    if previous.get("settings") != ours:
        logger.warning("--reuse %s: that run used other settings (%s); every row is refitted.", folder,
                       previous.get("settings"))
        return {}
    return {r["info"]["stamp"]: r for r in previous.get("rows", []) if r.get("info", {}).get("stamp")
            and (r.get("retrieval") is not None or not config.retrieval)}


def run_rows(methods: list[Method], datasets: dict[str, Any], config: BaselinesConfig, kb: Any, examples: Any,
             models_dir: Path | None, reusable: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per method (copied from ``reusable``, see :func:`previous_rows`, when there), then the transformer row."""
    from evaluation.baseline_retrieval import score_retrieval

    rows: list[dict[str, Any]] = []
    for method in methods:
        stamp = row_stamp(method)
        if stamp in reusable:
            logger.info("%s: copied from %s", method.name, config.reuse)
            rows.append({**reusable[stamp], "corpus": method.corpus,  # the label is read afresh from the artifact
                         "info": {**reusable[stamp]["info"], "reused_from": str(config.reuse)}})
            for name in datasets if models_dir is not None else ():
                saved = resolve_path(str(config.reuse)) / "models" / f"{slug(method.name)}-{name}"
                if saved.is_dir():
                    shutil.copytree(saved, models_dir / saved.name)
            continue
        results = {name: evaluate_method(method, data, config, models_dir) for name, data in datasets.items()}
        retrieval = score_retrieval(method.make(), kb, examples) if config.retrieval else None
        info = {**method.info, **(vectors_info(Path(method.info["vectors"])) if "vectors" in method.info else {}),
                "stamp": stamp}
        rows.append({"method": method.name, "family": method.family, "corpus": method.corpus, "results": results,
                     "retrieval": retrieval, "info": info})
    if "transformer" in config.methods:
        name, results = transformer_results(config)
        retrieval = dense_retrieval(config, kb, examples) if config.retrieval else None
        rows.append({"method": name, "family": "transformer", "corpus": "-", "results": results,
                     "retrieval": retrieval, "info": {"encoder": config.encoder}})
    return rows


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(prog="python -m evaluation.baselines", description=__doc__.split("\n\n")[0],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=None, metavar="YAML", help="YAML file with BaselinesConfig keys.")
    BaselinesConfig.add_arguments(parser, skip=("vectors", "transformer"))
    parser.add_argument("--vectors", nargs="+", action="extend", default=None, metavar="NAME=PATH",
                        help="Word-vector artifacts (folder or word2vec file), each a row pair (mean, TF-IDF-weighted).")
    parser.add_argument("--transformer", nargs="+", action="extend", default=None, metavar="DATA=MODEL_DIR",
                        help="Fine-tuned intent models (default: banking77=artifacts/intent-banking77 "
                             "bitext=artifacts/intent-bitext).")
    parser.add_argument("--json", action="store_true", help="Print metrics.json to stdout instead of the table.")
    parser.add_argument("-v", "--verbose", action="count", default=0)
    parser.add_argument("-q", "--quiet", action="store_true")
    return parser


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    from pipeline.hub import resolve_model
    from pipeline.utils import setup_logging
    from training.data import describe, load_intent_data

    args = build_parser().parse_args(argv)
    setup_logging(args.verbose, args.quiet)
    config = BaselinesConfig.resolve(args.config, args)
    vectors = vector_artifacts(config)  # every bad path fails here, before any work
    transformer_test_scores(config, warn=False)  # a model named with --transformer must be there
    if "transformer" in config.methods and config.retrieval and config.encoder != "default":
        resolve_model(config.encoder, "--encoder")  # a folder that is not there
    out = resolve_path(config.output_dir) if config.output_dir else (
        REPO_ROOT / "runs" / "baselines" / datetime.now().strftime("%Y%m%d-%H%M%S"))
    check_output_dir(out, config.overwrite)
    methods = build_methods(config, vectors)
    reusable = previous_rows(config.reuse, config)
    if config.max_per_label:
        logger.warning("--max-per-label %d: training splits are capped, the scores do not compare with the "
                       "transformer's.", config.max_per_label)
    datasets = {}
    for name in config.datasets:
        datasets[name] = load_intent_data(name, seed=config.seed, max_per_label=config.max_per_label)
        logger.info("%s", describe(datasets[name]))
    kb = examples = None
    if config.retrieval:
        from knowledge_base.loader import load_knowledge_base, load_retrieval_set

        kb = load_knowledge_base()
        examples = load_retrieval_set(None, kb=kb)
    start = time.perf_counter()
    with atomic_dir(out, overwrite=True) as tmp:
        rows = run_rows(methods, datasets, config, kb, examples, tmp / "models" if config.save_models else None, reusable)
        metrics = {"primary_metric": "macro_f1", "rows": rows, "datasets": {n: d.meta.get("split_sizes")
                                                                            for n, d in datasets.items()},
                   "snippets": len(kb.snippets) if kb else None, "retrieval_examples": len(examples) if examples else None,
                   "seconds": round(time.perf_counter() - start, 1),
                   "settings": {k: config.to_dict()[k] for k in RESULT_SETTINGS}, "versions": library_versions()}
        table = format_table(rows, config.datasets, config.retrieval, markdown=True)
        write_json(tmp / "metrics.json", metrics)
        (tmp / "table.md").write_text(table + "\n" + notes(config, metrics), encoding="utf-8")
        write_resolved_config(tmp, {**config.to_dict(), "vectors_used": {k: str(v) for k, v in vectors.items()}})
    if args.json:
        print(json.dumps(metrics, indent=2, default=str))
        return 0
    print(format_table(rows, config.datasets, config.retrieval, markdown=False))
    print(f"{len(rows)} rows in {metrics['seconds']:.0f} s; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
