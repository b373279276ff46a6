"""Shards of a batch evaluation run, for any scheduler, and the merge of their folders into one run.

    python -m evaluation.run --config configs/eval/bitext.yaml --num-shards 4 --shard-index 0 --run-dir runs/bitext/shard-0
    ...                                                                       (shard-index 1, 2, 3 anywhere)
    python -m evaluation.run --merge runs/bitext/shard-* --run-dir runs/bitext/merged

Shard ``i`` of ``N`` is a contiguous range of the test set cut on the batch grid (multiples of
``batch_size``), so every pipeline call sees the same messages as in a single run and the merged
``predictions.jsonl`` is byte-for-byte the one a single run writes. A shard folder is an ordinary
run folder (predictions with global indices, metrics and report of the shard, resolved config)
plus ``shard.json``: the range, the hashes of the resolved config and of the whole test set, and
the model's intent labels. :func:`merge_runs` checks that the folders come from the same config
and test set and cover every shard exactly once, concatenates their predictions in order
(streaming, one line at a time), and recomputes every metric from the records.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from pipeline.artifacts import (RESOLVED_CONFIG, atomic_dir, check_folder_path, library_versions, read_json,
                                read_resolved_config, resolved_config_path, write_json, write_resolved_config)
from pipeline.errors import ConfigError, check_param

logger = logging.getLogger(__name__)

SHARD_FILE = "shard.json"
OWNER = "evaluation.run"


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (0-based) of ``count``."""

    index: int
    count: int

    def __post_init__(self) -> None:
        check_param(OWNER, "num_shards", self.count, isinstance(self.count, int) and self.count >= 1, "an int >= 1")
        check_param(OWNER, "shard_index", self.index, isinstance(self.index, int) and 0 <= self.index < self.count,
                    f"an int in [0, {self.count - 1}] (--num-shards {self.count})")

    @property
    def label(self) -> str:
        return f"shard-{self.index}-of-{self.count}"

    def range(self, n: int, batch_size: int) -> tuple[int, int]:
        """``(start, stop)`` of this shard in a test set of ``n`` examples, on the ``batch_size`` grid."""
        batches = -(-n // batch_size)
        if self.count > batches:
            raise ConfigError(f"The 'num_shards' parameter of {OWNER} must be at most the number of batches, {batches} "
                              f"({n} messages / batch_size {batch_size}). Got {self.count}. "
                              "Lower --num-shards or --batch-size.")
        first, last = self.index * batches // self.count, (self.index + 1) * batches // self.count
        return first * batch_size, min(last * batch_size, n)


def config_hash(config: Any) -> str:
    """Hash of a resolved run config (progress display excluded): shards of one run share it."""
    data = {k: v for k, v in config.to_dict().items() if k != "progress"}
    return hashlib.sha1(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def write_shard_info(run_dir: Path, shard: Shard, start: int, stop: int, *, n_total: int, config: Any,
                     data_hash: str, labels: Sequence[str]) -> dict[str, Any]:
    info = {"shard_index": shard.index, "num_shards": shard.count, "start": start, "stop": stop, "n_total": n_total,
            "config_hash": config_hash(config), "data_hash": data_hash, "labels": list(labels)}
    write_json(run_dir / SHARD_FILE, info)
    return info


def read_shard_info(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / SHARD_FILE
    return read_json(path) if path.is_file() else None


def check_resume(run_dir: Path, shard: Shard | None, done: int) -> None:
    """Refuse to resume a shard folder as another shard, or a whole run as a shard (and back)."""
    info = read_shard_info(run_dir)
    if info is not None:
        if shard is None or (info["shard_index"], info["num_shards"]) != (shard.index, shard.count):
            given = f"--num-shards {shard.count} --shard-index {shard.index}" if shard else "no shard flags"
            raise ConfigError(f"Cannot resume {str(run_dir)!r}: it holds shard {info['shard_index']} of "
                              f"{info['num_shards']}, and the command gives {given}. Pass --num-shards "
                              f"{info['num_shards']} --shard-index {info['shard_index']}.")
    elif shard is not None and done:
        raise ConfigError(f"Cannot resume {str(run_dir)!r} as shard {shard.index} of {shard.count}: it holds a run "
                          "that is not sharded. Resume it without --num-shards/--shard-index.")


def _line_count(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.endswith(b"\n"))


def _config_diff(a: Path, b: Path) -> list[str]:
    old, new = read_resolved_config(a), read_resolved_config(b)
    return sorted(k for k in set(old) | set(new) if k != "progress" and old.get(k) != new.get(k))


def check_shards(dirs: Sequence[Path]) -> list[tuple[Path, dict[str, Any]]]:
    """The shard folders with their ``shard.json``, in shard order; refuses anything that would not merge cleanly."""
    if not dirs:
        raise ConfigError("Pass the shard folders to --merge, e.g. --merge runs/x/shard-*.")
    shards: list[tuple[Path, dict[str, Any]]] = []
    for d in dirs:
        if d.exists() and not d.is_dir():
            raise ConfigError(f"{str(d)!r} is a file, not a shard folder. Pass the folders of the shard runs (--merge runs/x/shard-*).")
        if not d.is_dir():
            raise ConfigError(f"The shard folder {str(d)!r} does not exist. Pass the folders of the shard runs.")
        info = read_shard_info(d)
        if info is None:
            raise ConfigError(f"{str(d)!r} is not a shard folder (no {SHARD_FILE}). Run each shard with "
                              "--num-shards N --shard-index I, then merge those folders.")
        shards.append((d, info))
    first_dir, first = shards[0]
    for d, info in shards[1:]:
        if info["config_hash"] != first["config_hash"]:
            keys = ", ".join(_config_diff(first_dir, d)) or "its config hash"
            raise ConfigError(f"Cannot merge {str(d)!r} with {str(first_dir)!r}: they were run with different configs "
                              f"(differ in {keys}). Merge only the shards of one run.")
        for key, what in (("data_hash", "test sets"), ("num_shards", "--num-shards"), ("labels", "intent models")):
            if info[key] != first[key]:
                raise ConfigError(f"Cannot merge {str(d)!r} with {str(first_dir)!r}: they have different {what} "
                                  f"({info[key]!r} vs {first[key]!r}). Merge only the shards of one run.")
    seen: dict[int, Path] = {}
    for d, info in shards:
        if info["shard_index"] in seen:
            raise ConfigError(f"Shards overlap: {str(seen[info['shard_index']])!r} and {str(d)!r} both hold shard "
                              f"{info['shard_index']} of {info['num_shards']}. Pass each shard once.")
        seen[info["shard_index"]] = d
    missing = sorted(set(range(first["num_shards"])) - set(seen))
    if missing:
        raise ConfigError(f"Shard(s) {', '.join(map(str, missing))} of {first['num_shards']} missing from --merge. "
                          "Run them with --shard-index, or pass their folders.")
    for d, info in shards:
        done, want = _line_count(d / "predictions.jsonl"), info["stop"] - info["start"]
        if done < want:
            raise ConfigError(f"Shard {info['shard_index']} in {str(d)!r} holds {done} of {want} predictions. "
                              f"Finish it with --resume --run-dir {d} (same shard flags), then merge.")
        if done > want:
            raise ConfigError(f"Shard {info['shard_index']} in {str(d)!r} holds {done} predictions, more than its "
                              f"{want}: its predictions.jsonl was added to after the run. Rerun the shard with "
                              f"--overwrite --run-dir {d} (same shard flags), then merge.")
    return sorted(shards, key=lambda s: s[1]["shard_index"])


def concatenate(shards: Sequence[tuple[Path, dict[str, Any]]], out: Path) -> int:
    """Append the shards' predictions to ``out`` in order, one line at a time; checks the indices run on."""
    expected = 0
    with out.open("w", encoding="utf-8") as sink:
        for d, _ in shards:
            path = d / "predictions.jsonl"
            with path.open(encoding="utf-8", errors="replace") as source:
                for number, line in enumerate(source, start=1):
                    try:
                        index = json.loads(line)["index"]
                    except (ValueError, TypeError, KeyError):
                        raise ConfigError(f"Line {number} of {str(path)!r} is not a prediction record (a JSON object "
                                          f"with an index). Rerun the shard with --overwrite --run-dir {d}.") from None
                    if index != expected:
                        raise ConfigError(f"{path} has index {index} where {expected} was expected: "
                                          "the shard folders do not form one run. Rerun the shard.")
                    sink.write(line)
                    expected += 1
    return expected


def merged_throughput(metrics: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Messages over the summed seconds of the shards (the rate of one worker), and each shard's throughput."""
    per_shard = [m.get("throughput", {}) for m in metrics]
    messages = sum(t.get("messages") or 0 for t in per_shard)
    seconds = sum(t.get("seconds") or 0.0 for t in per_shard)
    return {"messages": messages, "seconds": round(seconds, 3),
            "messages_per_s": round(messages / seconds, 2) if seconds else None, "per_shard": per_shard}


def merge_runs(dirs: Sequence[str | Path], run_dir: str | Path, *, overwrite: bool = False) -> dict[str, Any]:
    """Merge shard folders into the run folder ``run_dir`` and return its metrics, recomputed from the records."""
    from evaluation.report import write_report
    from evaluation.run_config import EvalRunConfig
    from evaluation.run_score import compute_metrics

    run_dir = check_folder_path(run_dir, "--run-dir")
    shards = check_shards([Path(d) for d in dirs])
    if any(run_dir.resolve() == d.resolve() for d, _ in shards):
        raise ConfigError(f"The merged run folder {str(run_dir)!r} is one of the shards. Pass another --run-dir.")
    if run_dir.is_dir() and any(run_dir.iterdir()) and not overwrite:
        raise ConfigError(f"The merged run folder {str(run_dir)!r} already exists. Pass --overwrite to replace it, "
                          "or another --run-dir.")
    first_dir, first = shards[0]
    saved = read_resolved_config(first_dir)  # resolved_config.yaml in older shard folders
    if not saved:
        found = resolved_config_path(first_dir)
        what = f"its {found.name} is unreadable" if found else f"it has no {RESOLVED_CONFIG}"
        raise ConfigError(f"Cannot merge {str(first_dir)!r}: {what}. Rerun the shard with --overwrite --run-dir "
                          f"{first_dir} (same shard flags), then merge.")
    config = EvalRunConfig.from_dict(saved, source=str(first_dir))
    shard_metrics = [read_json(d / "metrics.json") if (d / "metrics.json").is_file() else {} for d, _ in shards]
    with atomic_dir(run_dir) as tmp:  # a shard that fails to merge leaves an earlier merged run as it was
        n = concatenate(shards, tmp / "predictions.jsonl")
        write_resolved_config(tmp, saved)
        metrics, cols = compute_metrics(tmp / "predictions.jsonl", first["labels"], config.n_bins)
        head = shard_metrics[0]
        metrics.update(name=config.name, complete=n == first["n_total"], model=head.get("model"),
                       stages=head.get("stages"), data=head.get("data"), throughput=merged_throughput(shard_metrics),
                       versions=library_versions(),
                       merged_from=[{"run_dir": str(d), "shard_index": info["shard_index"], "start": info["start"],
                                     "stop": info["stop"]} for d, info in shards])
        write_json(tmp / "metrics.json", metrics)
        write_report(tmp, metrics, cols, first["labels"], config.name)
    logger.info("Merged %d shards (%d predictions) into %s.", len(shards), n, run_dir)
    return metrics
