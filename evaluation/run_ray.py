"""The Ray engine of :mod:`evaluation.run`: the batch function mapped over the test set by Ray Data actors.

    pip install -e ".[ray]"
    python -m evaluation.run --config configs/eval/bitext.yaml --engine ray                      # local Ray, one worker a core
    python -m evaluation.run --config configs/eval/bitext.yaml --engine ray --ray-address auto --num-shards 16

The test set is cut into chunks on the ``batch_size`` grid, exactly the batches a local run feeds
the pipeline (one Ray block each; the examples as JSON text). ``map_batches``
runs :class:`BatchWorker`, a callable class: each Ray actor builds the runner (pipeline or
classifier) once, then turns each chunk into the records of
:func:`evaluation.run_loop.predict_batch`, serialised as JSON lines.
The driver iterates the output blocks in order (``preserve_order``) and appends them to
``predictions.jsonl`` as they arrive, so it never holds more than a few blocks of records, and
an interrupted run resumes after its last complete line (``--resume``) with either engine.

Every worker reads the models named in the config itself: on a cluster, use paths every node can
read (a shared filesystem, or the same layout on each node). Data is read by the driver only.
"""
from __future__ import annotations

import json
import logging
import os
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from evaluation.run_data import EvalExample
from pipeline.errors import ConfigError, PipelineError, check_param, first_line
from pipeline.utils import progress_enabled

logger = logging.getLogger(__name__)

INSTALL_HINT = 'The Ray engine needs Ray Data: pip install -e ".[ray]"'
ERROR_INDEX = -1
PASSED_ENV = ("SUPPORT_NUM_THREADS", "SUPPORT_CACHE_DIR", "SUPPORT_DATA_DIR", "HF_HUB_OFFLINE", "HF_HOME")


def require_ray() -> Any:
    """The ``ray`` module with Ray Data, or one clear error saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise ConfigError(f"{INSTALL_HINT} (ray is not installed in {sys.prefix}).") from None
    return ray


class BatchWorker:
    """One Ray actor: builds the runner once, then maps chunks of examples to JSON-line records.

    A user-facing error (a model a node cannot read, ...) comes back as one row with index
    :data:`ERROR_INDEX` and the message, so the driver prints one line instead of Ray's actor traces.
    """

    def __init__(self, respond_config: Any, nlu_only: bool, seed: int) -> None:
        from evaluation.run_loop import runner_for
        from pipeline.utils import set_seed

        self.error: str | None = None
        try:
            set_seed(seed)
            self.runner, _ = runner_for(respond_config, nlu_only)
            self.labels = set(self.runner.labels)
        except PipelineError as exc:
            self.error = str(exc)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from evaluation.run_loop import predict_batch

        index: list[int] = []
        lines: list[str] = []
        try:
            if self.error is not None:
                raise PipelineError(self.error)
            for first, payload in zip(batch["first"], batch["examples"]):
                examples = [EvalExample(**row) for row in json.loads(payload)]
                for rec in predict_batch(self.runner, examples, int(first), self.labels):
                    index.append(rec["index"])
                    lines.append(json.dumps(rec, ensure_ascii=False))
        except PipelineError as exc:
            index, lines = [ERROR_INDEX], [str(exc)]
        return {"index": np.array(index, dtype=np.int64), "line": np.array(lines, dtype=object)}


class _QuietRayData(logging.Filter):
    """Ray Data's own INFO lines (execution plan, timings) only with -vv; its warnings always, but the one we cause."""

    def __init__(self, verbose: bool) -> None:
        super().__init__()
        self.verbose = verbose

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage().startswith("Progress bars disabled"):
            return False
        return self.verbose or record.levelno >= logging.WARNING


class RayEngine:
    """Settings of a Ray run; :meth:`stream` writes the predictions of a test set (or shard) to a file."""

    def __init__(self, *, num_workers: int | None = None, address: str | None = None, cpus_per_worker: float = 1.0) -> None:
        check_param("RayEngine", "num_workers", num_workers, num_workers is None or num_workers >= 1,
                    "an int >= 1 or unset (one worker per CPU of the cluster)")
        check_param("RayEngine", "cpus_per_worker", cpus_per_worker, cpus_per_worker > 0, "a number > 0")
        self.num_workers = num_workers
        self.address = address
        self.cpus_per_worker = cpus_per_worker
        self.info: dict[str, Any] = {}

    def worker_respond_config(self, config: Any, progress: bool | None = None) -> Any:
        """The pipeline settings shipped to the workers; ``auto`` becomes the cached default model's folder."""
        rc = config.respond_config()
        if rc.nlu.model == "auto":
            from pipeline.nlu.bootstrap import ensure_default_intent_model

            rc.nlu.model = str(ensure_default_intent_model(progress=progress_enabled(progress)))
        return rc

    def labels(self, config: Any) -> list[str]:
        """The intent labels of the configured model, read in the driver (a missing model fails here, once)."""
        from pipeline.nlu.classifier import IntentClassifier

        classifier = IntentClassifier(self.worker_respond_config(config, config.progress).nlu.model)
        classifier.warm_up()
        return list(classifier.labels)

    def _init(self, ray: Any) -> bool:
        """Connect to ``address`` or start a local Ray; returns whether this call started it."""
        if ray.is_initialized():
            return False
        env = {k: os.environ[k] for k in PASSED_ENV if os.environ.get(k)}
        env.setdefault("SUPPORT_NUM_THREADS", str(max(1, int(self.cpus_per_worker))))
        begin = time.perf_counter()
        try:
            ray.init(address=self.address, include_dashboard=False, log_to_driver=logger.isEnabledFor(logging.DEBUG),
                     runtime_env={"env_vars": env},
                     logging_level=logging.INFO if logger.isEnabledFor(logging.DEBUG) else logging.ERROR)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ConfigError(f"Cannot connect to the Ray cluster at {self.address!r}: {first_line(exc)} "
                              "Pass --ray-address auto on a cluster node, or leave it out for a local Ray.") from None
        self.info["ray_init_s"] = round(time.perf_counter() - begin, 3)
        return True

    def stream(self, config: Any, examples: Sequence[EvalExample], path: Path, *, start: int = 0, offset: int = 0,
               progress: bool | None = None) -> dict[str, Any]:
        """Like :func:`evaluation.run_loop.stream_predictions`, on Ray workers; returns the throughput."""
        ray = require_ray()
        rc = self.worker_respond_config(config, progress)
        chunks = [{"first": offset + first, "examples": json.dumps([dataclasses.asdict(e) for e in examples[first:first + config.batch_size]])}
                  for first in range(start, len(examples), config.batch_size)]
        if not chunks:
            return {"messages": 0, "seconds": 0.0, "messages_per_s": None}
        started = self._init(ray)
        context = ray.data.DataContext.get_current()
        saved = (context.execution_options.preserve_order, context.enable_progress_bars)
        context.execution_options.preserve_order = True  # blocks come back in test-set order
        context.enable_progress_bars = False  # one bar, the driver's
        quiet = _QuietRayData(verbose=logger.isEnabledFor(logging.DEBUG))
        consoles = [h for h in logging.getLogger("ray.data").handlers if "File" not in type(h).__name__]
        for handler in consoles:  # the session log file under /tmp/ray keeps everything
            handler.addFilter(quiet)
        try:
            cpus = ray.cluster_resources().get("CPU", 1.0)
            workers = min(self.num_workers or max(1, int(cpus // self.cpus_per_worker)), len(chunks))
            self.info.update(engine="ray", ray_version=ray.__version__, address=self.address, workers=workers,
                             cpus_per_worker=self.cpus_per_worker, cluster_cpus=cpus, chunks=len(chunks))
            logger.info("Ray: %d workers x %g CPU over %d chunks of %d messages.", workers, self.cpus_per_worker,
                        len(chunks), config.batch_size)
            dataset = ray.data.from_items(chunks, override_num_blocks=len(chunks))
            records = dataset.map_batches(
                BatchWorker, fn_constructor_kwargs={"respond_config": rc, "nlu_only": config.nlu_only, "seed": config.seed},
                batch_size=1, batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=workers),
                num_cpus=self.cpus_per_worker)
            return self._write(records, path, start=offset + start, total=len(examples), initial=start, progress=progress)
        finally:
            context.execution_options.preserve_order, context.enable_progress_bars = saved
            for handler in consoles:
                handler.removeFilter(quiet)
            if started:
                ray.shutdown()

    def _write(self, records: Any, path: Path, *, start: int, total: int, initial: int,
               progress: bool | None) -> dict[str, Any]:
        from tqdm import tqdm

        expected, done, begin = start, 0, time.perf_counter()
        with path.open("a", encoding="utf-8") as out, tqdm(total=total, initial=initial, unit="msg", desc="evaluating (ray)",
                                                            disable=not progress_enabled(progress), file=sys.stderr) as bar:
            for block in records.iter_batches(batch_size=None, batch_format="numpy"):
                for index, line in zip(block["index"], block["line"]):
                    if int(index) == ERROR_INDEX:
                        raise PipelineError(f"On a Ray worker: {line}")
                    if int(index) != expected:
                        raise RuntimeError(f"Ray returned record {int(index)} where {expected} was expected.")
                    out.write(str(line) + "\n")
                    expected += 1
                out.flush()
                if not done:
                    self.info["first_records_s"] = round(time.perf_counter() - begin, 3)
                done += len(block["index"])
                bar.update(len(block["index"]))
        seconds = time.perf_counter() - begin
        return {"messages": done, "seconds": round(seconds, 3), "messages_per_s": round(done / seconds, 2) if done else None}

    def describe(self) -> dict[str, Any]:
        return dict(self.info) or {"engine": "ray", "address": self.address, "workers": self.num_workers}
