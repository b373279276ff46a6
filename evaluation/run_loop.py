"""The batch loop of :mod:`evaluation.run`: pipeline or classifier over a test set, one JSON line per example.

    python -m evaluation.run --config configs/eval/bitext.yaml --limit 200

A runner turns a batch of messages into one :class:`pipeline.types.Turn` each:
:class:`PipelineRunner` wraps an assistant built by :func:`pipeline.assistant.build_assistant` (NLU,
policy, retrieval, reply, guardrails), :class:`NLURunner` only its NLU stage (the turns get no reply).
:func:`stream_predictions` appends each batch's records to ``predictions.jsonl`` and flushes, so an
interrupted run loses at most one batch and ``--resume`` continues after the last complete line.
"""
from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any, Protocol, Sequence

from evaluation.run_data import EvalExample
from evaluation.run_score import make_record
from pipeline.utils import progress_enabled

logger = logging.getLogger(__name__)


class Runner(Protocol):
    labels: list[str]

    def __call__(self, messages: list[str]) -> list[Any]: ...


class PipelineRunner:
    """The whole answer-time pipeline; ``assistant`` is a (warmed-up or lazy) SupportAssistant."""

    def __init__(self, assistant: Any) -> None:
        self.assistant = assistant

    @property
    def labels(self) -> list[str]:
        self.assistant.warm_up()
        return self.assistant.stage("nlu").labels

    def __call__(self, messages: list[str]) -> list[Any]:
        return self.assistant.answer(messages)


class NLURunner:
    """Only the NLU stage (intent, the in-scope decision, entities): turns without a reply."""

    def __init__(self, nlu: Any) -> None:
        self.nlu = nlu

    @property
    def labels(self) -> list[str]:
        return self.nlu.labels

    def __call__(self, messages: list[str]) -> list[Any]:
        from pipeline.assistant import clean_message
        from pipeline.types import Turn

        turns = []
        for m in messages:
            text, notes = clean_message(m, 10**9)
            turns.append(Turn(message=m, text=text, notes=notes))
        return self.nlu.run(turns)


def complete_lines(path: Path) -> int:
    """Count the complete lines of ``path`` and cut off a partial last line (an interrupted write)."""
    if not path.is_file():
        return 0
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        logger.warning("Dropping a partial last line of %s (%d bytes) before resuming.", path, len(data) - end)
        with path.open("r+b") as handle:
            handle.truncate(end)
    return data[:end].count(b"\n")


def _rouge(examples: Sequence[EvalExample], turns: Sequence[Any]) -> tuple[list, list]:
    """Filled references and ROUGE-L F1 for the examples with a reference (None elsewhere)."""
    refs: list[str | None] = [None] * len(examples)
    scores: list[float | None] = [None] * len(examples)
    todo = [i for i, (ex, turn) in enumerate(zip(examples, turns)) if ex.reference and turn.reply is not None]
    if not todo:
        return refs, scores
    from evaluation.generation import rouge_l
    from training.generator_data import fill_reference

    for i in todo:
        refs[i] = fill_reference(examples[i].reference, turns[i].entities)
    for i, s in zip(todo, rouge_l([turns[i].reply.text for i in todo], [refs[i] for i in todo])):
        scores[i] = s["f"]
    return refs, scores


def predict_batch(runner: Runner, batch: Sequence[EvalExample], first: int, labels: set[str]) -> list[dict[str, Any]]:
    """The records of one pipeline call over ``batch``, whose first example has index ``first``.

    The batch function shared by the local loop below and the distributed engines (:mod:`evaluation.run_ray`).
    """
    turns = runner([ex.message for ex in batch])
    refs, scores = _rouge(batch, turns)
    keep_pii = bool(getattr(runner, "keep_pii", False))
    return [make_record(first + j, ex, turn, labels, rouge=scores[j], reference=refs[j], keep_pii=keep_pii)
            for j, (ex, turn) in enumerate(zip(batch, turns))]


def stream_predictions(runner: Runner, examples: Sequence[EvalExample], path: Path, *, batch_size: int,
                       start: int = 0, progress: bool | None = None, stop_after: int | None = None,
                       offset: int = 0) -> dict[str, float]:
    """Run ``examples[start:]`` in batches, appending one record a line to ``path``; returns throughput.

    ``offset`` is added to every record's index (a shard of a larger test set, :mod:`evaluation.run_shard`).
    ``stop_after`` (tests) stops after that many batches, as an interruption would.
    """
    from tqdm import tqdm

    labels = set(runner.labels)
    done, batches, begin = 0, 0, time.perf_counter()
    with path.open("a", encoding="utf-8") as out, tqdm(total=len(examples), initial=start, unit="msg", desc="evaluating",
                                                        disable=not progress_enabled(progress), file=sys.stderr) as bar:
        for first in range(start, len(examples), batch_size):
            if stop_after is not None and batches >= stop_after:
                break
            batch = list(examples[first:first + batch_size])
            for rec in predict_batch(runner, batch, offset + first, labels):
                out.write(json.dumps(rec, ensure_ascii=False) + "\n")
            out.flush()
            done += len(batch)
            batches += 1
            bar.update(len(batch))
    seconds = time.perf_counter() - begin
    return {"messages": done, "seconds": round(seconds, 3), "messages_per_s": round(done / seconds, 2) if done else None}


def runner_for(rc: Any, nlu_only: bool) -> tuple[Runner, str]:
    """The runner of the pipeline settings ``rc`` (a RespondConfig): whole pipeline, or classifier only."""
    from pipeline.assistant import build_assistant

    assistant = build_assistant(rc)  # the same builder as pipeline.respond: one in-scope decision, one NLU stage
    runner: Runner = NLURunner(assistant.stage("nlu")) if nlu_only else PipelineRunner(assistant)
    runner.keep_pii = bool(rc.nlu.keep_pii)  # read by predict_batch: mask personal data in the written records
    return runner, rc.nlu.model
