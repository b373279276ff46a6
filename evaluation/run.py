"""Batch evaluation run: the whole pipeline (or only NLU) over a test set, every stage scored.

    python -m evaluation.run --config configs/eval/bitext.yaml --limit 3000
    python -m evaluation.run --data my_intents.csv --intent-model artifacts/my-intents --kb my_kb/   # your own domain
    python -m evaluation.run --config configs/eval/banking77.yaml --output-dir runs/
    python -m evaluation.run --config configs/eval/bitext.yaml --run-dir runs/20260101-120000-bitext --resume
    python -m evaluation.run --compare configs/eval/bitext.yaml configs/eval/bitext-bootstrap.yaml --limit 500
    python -m evaluation.run --config configs/eval/bitext.yaml --engine ray [--ray-address auto] [--num-shards 8]
    python -m evaluation.run --config configs/eval/bitext.yaml --num-shards 4 --shard-index 2 --run-dir runs/b/2
    python -m evaluation.run --merge runs/b/0 runs/b/1 runs/b/2 runs/b/3 --run-dir runs/b/merged

Writes a run folder ``<output-dir>/<YYYYmmdd-HHMMSS>-<config name>`` (or ``--run-dir``) holding
``predictions.jsonl`` (one line per example, streamed), ``metrics.json``, ``report.md`` with its
PNG plots, and ``resolved_config.json``. An existing folder is refused unless ``--resume``
(continue after the last complete line; the config must be the same) or ``--overwrite``.
``--compare A.yaml B.yaml ...`` runs each config on the test set of the first one and writes
``compare.md`` / ``compare.json`` side by side. Flags override the YAML keys of :class:`EvalRunConfig`.
Scale-out: ``--engine ray`` maps the same batch function over Ray Data workers
(:mod:`evaluation.run_ray`); ``--num-shards``/``--shard-index`` run one batch-aligned shard for any
scheduler and ``--merge`` joins the shard folders into one run (:mod:`evaluation.run_shard`).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from evaluation.run_config import DATA_KEYS, ENGINES, SECTION_KEYS, EvalRunConfig, resolve_config  # noqa: F401  (importable from here)
from evaluation.run_data import load_examples
from evaluation.run_loop import Runner, complete_lines, runner_for, stream_predictions
from pipeline.artifacts import (check_folder_path, library_versions, read_json, read_resolved_config, write_json,
                                write_resolved_config)
from pipeline.errors import CliParser, ConfigError, check_param, cli_main

logger = logging.getLogger(__name__)

def check_run_dir(run_dir: Path, config: EvalRunConfig, *, resume: bool, overwrite: bool) -> tuple[int, bool]:
    """Refuse the run folder or accept it, changing nothing: ``(examples already done, whether it is replaced)``."""
    check_folder_path(run_dir, "--run-dir")  # not empty, not a file, not under a file
    if run_dir.is_dir() and any(run_dir.iterdir()):
        if resume:
            old = read_resolved_config(run_dir)  # resolved_config.json, or resolved_config.yaml in older run folders
            now = {k: v for k, v in config.to_dict().items() if k != "progress"}
            diff = sorted(k for k in now if old.get(k) != now[k])
            if diff:
                raise ConfigError(f"Cannot resume {str(run_dir)!r}: its config differs in {', '.join(diff)}. "
                                  "Pass the same config, or --overwrite to start again.")
            return complete_lines(run_dir / "predictions.jsonl"), False
        if not overwrite:
            raise ConfigError(f"The run folder {str(run_dir)!r} already exists. Pass --resume to continue it, "
                              "--overwrite to replace it, or another --run-dir.")
        return 0, True
    return 0, False


def open_run_dir(run_dir: Path, *, replace: bool) -> None:
    """Create the run folder, emptied first when ``replace``; call it only once every check and load has passed."""
    if replace:
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "predictions.jsonl").touch()


def build_runner(config: EvalRunConfig) -> tuple[Runner, str]:
    """The runner of ``config`` and its intent model name (models load on first use)."""
    return runner_for(config.respond_config(), config.nlu_only)


def data_hash(examples: Sequence[Any]) -> str:
    digest = hashlib.sha1()
    for ex in examples:
        digest.update(f"{ex.message}\t{ex.intent}\n".encode())
    return digest.hexdigest()[:16]


def run_evaluation(config: EvalRunConfig, run_dir: str | Path, *, resume: bool = False, overwrite: bool = False,
                   runner: Runner | None = None, stop_after: int | None = None, shard: Any = None,
                   engine: Any = None) -> dict[str, Any]:
    """Run ``config`` into ``run_dir`` and return its metrics (``runner`` replaces the configured models).

    ``shard`` (:class:`evaluation.run_shard.Shard`) runs only that part of the test set; ``engine``
    (:class:`evaluation.run_ray.RayEngine`) runs the batches on its workers instead of in this process.
    """
    from evaluation.report import write_report
    from evaluation.run_score import compute_metrics
    from evaluation.run_shard import check_resume, write_shard_info
    from pipeline.utils import set_seed

    run_dir = Path(run_dir)
    start, replace = check_run_dir(run_dir, config, resume=resume, overwrite=overwrite)
    if not replace:
        check_resume(run_dir, shard, start)
    set_seed(config.seed)
    model = config.respond_config().nlu.model
    if runner is None and engine is None:
        runner, model = build_runner(config)
    examples, data_meta = load_examples(config.data, split=config.split, model=model, seed=config.seed,
                                        references=config.references, limit=config.limit)
    data_meta["hash"] = data_hash(examples)
    labels = engine.labels(config) if engine is not None else runner.labels  # loads the models
    first, stop = shard.range(len(examples), config.batch_size) if shard is not None else (0, len(examples))
    todo = examples[first:stop]
    open_run_dir(run_dir, replace=replace)  # only now: a bad model, data file or shard leaves the folder as it was
    if shard is not None:
        write_shard_info(run_dir, shard, first, stop, n_total=len(examples), config=config, data_hash=data_meta["hash"],
                         labels=labels)
    write_resolved_config(run_dir, config.to_dict())
    if start:
        logger.info("Resuming %s after %d of %d examples.", run_dir, start, len(todo))
    start = min(start, len(todo))
    try:
        if engine is not None:
            throughput = engine.stream(config, todo, run_dir / "predictions.jsonl", start=start, offset=first,
                                       progress=config.progress)
        else:
            throughput = stream_predictions(runner, todo, run_dir / "predictions.jsonl", batch_size=config.batch_size,
                                            start=start, progress=config.progress, stop_after=stop_after, offset=first)
    except KeyboardInterrupt:
        logger.warning("Interrupted after %d of %d examples, which are kept in %s: rerun the same command with "
                       "--resume --run-dir %s.", complete_lines(run_dir / "predictions.jsonl"), len(todo),
                       run_dir / "predictions.jsonl", run_dir)
        raise
    if not throughput.get("messages") and (run_dir / "metrics.json").is_file():  # resumed a finished run: keep its speed
        throughput = read_json(run_dir / "metrics.json").get("throughput", throughput)
    metrics, cols = compute_metrics(run_dir / "predictions.jsonl", labels, config.n_bins)
    metrics.update(name=config.name, complete=metrics["n"] == len(todo), model=model,
                   stages=["nlu"] if config.nlu_only else ["nlu", "retrieval", "nlg"],
                   data=data_meta, resumed_after=start, throughput=throughput,
                   versions=library_versions())
    if shard is not None:
        metrics["shard"] = {"index": shard.index, "count": shard.count, "start": first, "stop": stop}
    if engine is not None:
        metrics["engine"] = engine.describe()
    write_json(run_dir / "metrics.json", metrics)
    if shard is None:  # a shard's report would be partial: --merge writes the run's
        write_report(run_dir, metrics, cols, labels, config.name)
    return metrics


def new_run_dir(output_dir: str | Path, name: str) -> Path:
    return Path(output_dir) / f"{time.strftime('%Y%m%d-%H%M%S')}-{name}"


def latest_run_dir(output_dir: str | Path, name: str) -> Path:
    found = sorted(p for p in Path(output_dir).glob(f"*-{name}") if (p / "predictions.jsonl").is_file())
    if not found:
        raise ConfigError(f"No run folder '*-{name}' to resume in {str(output_dir)!r}. Pass --run-dir DIR.")
    return found[-1]


def compare(paths: Sequence[str], args: argparse.Namespace, output_dir: str | Path) -> tuple[Path, dict]:
    """Run each config on the first one's test set; write compare.md and compare.json."""
    from evaluation.report import compare_rows, compare_table

    configs = [resolve_config(p, args) for p in paths]
    first = configs[0]
    for c in configs[1:]:
        for key in DATA_KEYS:
            if getattr(c, key) != getattr(first, key):
                logger.warning("Config %s: %s=%r replaced by %r so that every config sees the same test set.",
                               c.name, key, getattr(c, key), getattr(first, key))
                setattr(c, key, getattr(first, key))
    folder = new_run_dir(output_dir, "compare")
    if folder.exists():
        raise ConfigError(f"The compare folder {str(folder)!r} already exists. Wait a second and retry.")
    runs: dict[str, dict] = {}
    for c in configs:
        name = c.name if c.name not in runs else f"{c.name}-{len(runs)}"
        runs[name] = run_evaluation(c, folder / name)
    hashes = {m["data"]["hash"] for m in runs.values()}
    summary = {"configs": list(paths), "same_test_set": len(hashes) == 1, "runs": compare_rows(runs),
               "run_dirs": {n: str(folder / n) for n in runs}}
    write_json(folder / "compare.json", summary)
    (folder / "compare.md").write_text("# Comparison\n\n" + compare_table(runs), encoding="utf-8")
    return folder, summary


def summary_line(metrics: dict, run_dir: Path) -> str:
    nlu, e2e = metrics["nlu"], metrics["end_to_end"]
    parts = [f"n={metrics['n']}", f"accuracy {nlu['accuracy']:.4f}", f"macro-F1 {nlu['macro_f1']:.4f}", f"ECE {nlu['ece']:.4f}"]
    if "retrieval" in metrics:
        parts.append(f"intent-consistency {metrics['retrieval']['intent_consistency'] or 0:.4f}")
    if metrics.get("nlg", {}).get("rougeL_f") is not None:
        parts.append(f"ROUGE-L {metrics['nlg']['rougeL_f']:.4f}")
    parts.append(f"ok {e2e['ok_rate']:.3f}")
    parts.append(f"{metrics['throughput']['messages_per_s']} msg/s")
    return "  ".join(parts) + f"\nwrote {run_dir}"


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(prog="python -m evaluation.run", description=__doc__.split("\n\n")[0],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=None, metavar="YAML", help="YAML file with EvalRunConfig keys.")
    parser.add_argument("--compare", nargs="+", default=None, metavar="YAML", help="Run several configs side by side.")
    EvalRunConfig.add_arguments(parser, skip=SECTION_KEYS)
    parser.add_argument("--intent-model", default=None, metavar="DIR", help="Intent model (sets nlu.model).")
    parser.add_argument("--slot-model", default=None, metavar="DIR", help="Learned entity model (sets nlu.slot_model).")
    parser.add_argument("--kb", default=None, metavar="DIR", help="Knowledge-base folder (sets retrieval.kb_path).")
    parser.add_argument("--keep-pii", action="store_true", help="Write messages, replies and entities unmasked in "
                        "predictions.jsonl (default: emails, phone and card numbers masked; sets nlu.keep_pii).")
    parser.add_argument("--output-dir", default="runs", help="Parent folder of the run folders (default: runs).")
    parser.add_argument("--run-dir", default=None, help="Exact run folder (default: <output-dir>/<time>-<name>).")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true", help="Continue an interrupted run (latest one of this name).")
    mode.add_argument("--overwrite", action="store_true", help="Replace an existing run folder.")
    scale = parser.add_argument_group("scale-out (see README: Sharding a batch run over several machines)")
    scale.add_argument("--engine", choices=ENGINES, default="local",
                       help="local: this process; ray: Ray Data workers, each building the pipeline once (default: local).")
    scale.add_argument("--num-shards", type=int, default=None, metavar="N",
                       help="With --shard-index: the number of shards; with --engine ray: the number of Ray workers "
                            "(default: one per CPU of the cluster).")
    scale.add_argument("--shard-index", type=int, default=None, metavar="I",
                       help="Run only shard I (0-based) of --num-shards, into its own folder; merge them with --merge.")
    scale.add_argument("--ray-address", default=None, metavar="ADDR",
                       help="Ray cluster to join: auto, ray://HEAD:10001 (default: start a local Ray).")
    scale.add_argument("--ray-cpus-per-worker", type=float, default=1.0, metavar="C",
                       help="CPUs (and torch threads) of each Ray worker (default: 1).")
    scale.add_argument("--merge", nargs="+", default=None, metavar="DIR",
                       help="Merge shard folders into --run-dir (metrics recomputed from their predictions).")
    parser.add_argument("--json", action="store_true", help="Print metrics.json instead of a summary.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="More logging (-vv for debug).")
    parser.add_argument("-q", "--quiet", action="store_true", help="Only warnings and errors on stderr.")
    return parser


def scale_settings(args: argparse.Namespace) -> tuple[Any, Any]:
    """The shard (``--num-shards`` + ``--shard-index``) and the engine (``--engine ray``) the flags ask for."""
    ray_flags = args.ray_address is not None or args.ray_cpus_per_worker != 1.0
    if args.engine != "ray" and ray_flags:
        raise ConfigError("--ray-address and --ray-cpus-per-worker need --engine ray.")
    if args.num_shards is not None:
        check_param("evaluation.run", "num_shards", args.num_shards, args.num_shards >= 1, "an int >= 1")
    if args.merge and (args.config or args.compare or args.resume or args.engine != "local" or args.num_shards
                       or args.shard_index is not None):
        raise ConfigError("--merge takes only shard folders, --run-dir/--output-dir, --overwrite and --json.")
    if args.compare and (args.engine != "local" or args.num_shards or args.shard_index is not None):
        raise ConfigError("--engine, --num-shards and --shard-index apply to one --config run, not to --compare.")
    if args.compare and (args.config or args.run_dir or args.resume):
        raise ConfigError("--compare takes its configs as arguments and writes a new folder under --output-dir: "
                          "drop --config, --run-dir and --resume.")
    if args.compare and len(args.compare) < 2:
        raise ConfigError("--compare needs two or more config files. Pass one config with --config instead.")
    if args.engine == "ray":
        if args.shard_index is not None:
            raise ConfigError("--shard-index runs one shard in this process; with --engine ray, --num-shards is the "
                              "number of Ray workers. Drop --shard-index, or drop --engine ray.")
        from evaluation.run_ray import RayEngine, require_ray

        require_ray()
        return None, RayEngine(num_workers=args.num_shards, address=args.ray_address,
                               cpus_per_worker=args.ray_cpus_per_worker)
    if args.shard_index is None and args.num_shards is None:
        return None, None
    if args.shard_index is None or args.num_shards is None:
        raise ConfigError("Pass --num-shards N and --shard-index I together (shard I of N, 0-based), "
                          "or --engine ray --num-shards N for N Ray workers.")
    from evaluation.run_shard import Shard

    return Shard(args.shard_index, args.num_shards), None


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    from pipeline.utils import setup_logging

    args = build_parser().parse_args(argv)
    setup_logging(args.verbose, args.quiet)
    shard, engine = scale_settings(args)
    if args.merge:
        from evaluation.run_shard import merge_runs

        run_dir = Path(args.run_dir) if args.run_dir else new_run_dir(args.output_dir, "merged")
        metrics = merge_runs(args.merge, run_dir, overwrite=args.overwrite)
        print(json.dumps(metrics, indent=2, default=str) if args.json else summary_line(metrics, run_dir))
        return 0
    if args.compare:
        folder, summary = compare(args.compare, args, args.output_dir)
        print(json.dumps(summary, indent=2) if args.json else (folder / "compare.md").read_text() + f"wrote {folder}")
        return 0
    if not args.config and not args.data:
        raise ConfigError("Pass --config YAML (e.g. configs/eval/bitext.yaml), --data FILE with --intent-model DIR, "
                          "or --compare A.yaml B.yaml.")
    config = resolve_config(args.config, args)
    name = f"{config.name}-{shard.label}" if shard is not None else config.name
    if args.run_dir:
        run_dir = Path(args.run_dir)
    else:
        run_dir = latest_run_dir(args.output_dir, name) if args.resume else new_run_dir(args.output_dir, name)
    metrics = run_evaluation(config, run_dir, resume=args.resume, overwrite=args.overwrite, shard=shard, engine=engine)
    print(json.dumps(metrics, indent=2, default=str) if args.json else summary_line(metrics, run_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
