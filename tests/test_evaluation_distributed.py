"""Scale-out of ``python -m evaluation.run``: batch-aligned shards + merge, and the Ray engine, equal a local run."""
from __future__ import annotations

import json
import dataclasses
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from evaluation import run as evalrun
from evaluation.run import EvalRunConfig, run_evaluation
from evaluation.run_data import load_examples
from evaluation.run_shard import Shard, merge_runs
from pipeline.errors import ConfigError, PipelineError
from tests.test_evaluation_run import EXAMPLES, INTENTS, FakeRunner
from tests.tiny_models import make_tiny_intent_model

MORE = [{"message": "refund my parcel order", "intent": "get_refund"},
        {"message": "lost my password again", "intent": "recover_password"}]
# Keys that describe how a run was executed, not what it measured.
EXECUTION_KEYS = {"throughput", "versions", "resumed_after", "shard", "engine", "merged_from"}


def measured(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k not in EXECUTION_KEYS}


@pytest.fixture()
def data_file(tmp_path) -> Path:
    path = tmp_path / "eval.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in EXAMPLES + MORE))
    return path


def test_shard_ranges_are_batch_aligned_and_cover_the_test_set():
    assert [Shard(i, 3).range(7, 2) for i in range(3)] == [(0, 2), (2, 4), (4, 7)]
    assert [Shard(i, 4).range(11, 2) for i in range(4)] == [(0, 2), (2, 6), (6, 8), (8, 11)]
    assert Shard(0, 1).range(5, 128) == (0, 5)
    with pytest.raises(ConfigError, match=r"'num_shards' parameter of evaluation.run must be an int >= 1. Got 0"):
        Shard(0, 0)
    with pytest.raises(ConfigError, match=r"'shard_index' .* must be an int in \[0, 2\] \(--num-shards 3\). Got 3"):
        Shard(3, 3)
    with pytest.raises(ConfigError, match=r"at most the number of batches, 4 \(7 messages / batch_size 2\). Got 5"):
        Shard(0, 5).range(7, 2)


def run_shards(data_file: Path, tmp_path: Path, count: int, only: int | None = None,
               **config) -> tuple[list[Path], list[FakeRunner]]:
    dirs, runners = [], []
    for i in range(count) if only is None else [only]:
        runners.append(FakeRunner())
        dirs.append(tmp_path / f"shard-{i}")
        run_evaluation(EvalRunConfig(name="tiny", data=str(data_file), batch_size=2, **config), dirs[-1],
                       runner=runners[-1], shard=Shard(i, count))
    return dirs, runners


def test_shards_merged_equal_the_single_run(tmp_path, data_file):
    single_runner = FakeRunner()
    single = run_evaluation(EvalRunConfig(name="tiny", data=str(data_file), batch_size=2), tmp_path / "single",
                            runner=single_runner)
    dirs, runners = run_shards(data_file, tmp_path, 3)
    assert [c for r in runners for c in r.calls] == single_runner.calls  # the same pipeline batches
    shard_lines = [(d / "predictions.jsonl").read_text().splitlines() for d in dirs]
    assert [[json.loads(x)["index"] for x in lines] for lines in shard_lines] == [[0, 1], [2, 3], [4, 5, 6]]
    first = json.loads((dirs[0] / "metrics.json").read_text())
    assert first["n"] == 2 and first["complete"] is True and first["shard"] == {"index": 0, "count": 3, "start": 0, "stop": 2}
    assert sorted(p.name for p in dirs[0].iterdir()) == ["metrics.json", "predictions.jsonl", "resolved_config.json", "shard.json"]

    merged = merge_runs(reversed(dirs), tmp_path / "merged")  # any order on the command line
    assert (tmp_path / "merged" / "predictions.jsonl").read_bytes() == (tmp_path / "single" / "predictions.jsonl").read_bytes()
    assert measured(merged) == measured(single)
    assert merged["n"] == 7 and merged["complete"] is True and merged["throughput"]["messages"] == 7
    assert [m["shard_index"] for m in merged["merged_from"]] == [0, 1, 2]
    assert json.loads((tmp_path / "merged" / "metrics.json").read_text())["end_to_end"] == single["end_to_end"]
    report = (tmp_path / "merged" / "report.md").read_text()
    assert report == (tmp_path / "single" / "report.md").read_text().replace(
        f"{single['throughput']['messages_per_s']} messages/s", f"{merged['throughput']['messages_per_s']} messages/s")
    assert (tmp_path / "merged" / "resolved_config.json").read_text() == (tmp_path / "single" / "resolved_config.json").read_text()


def test_shard_folders_of_an_older_version_still_merge(tmp_path, data_file):
    """Shard folders that hold resolved_config.yaml (the name before resolved_config.json) merge as before."""
    dirs, _ = run_shards(data_file, tmp_path, 2)
    saved = json.loads((dirs[0] / "resolved_config.json").read_text())
    for d in dirs:  # what an older version wrote: the same config as YAML, under the old name
        (d / "resolved_config.yaml").write_text(yaml.safe_dump(json.loads((d / "resolved_config.json").read_text()),
                                                               sort_keys=False))
        (d / "resolved_config.json").unlink()
    merged = merge_runs(dirs, tmp_path / "merged")
    assert merged["n"] == 7 and merged["complete"] is True
    assert sorted(p.name for p in (tmp_path / "merged").iterdir() if p.name.startswith("resolved")) == ["resolved_config.json"]
    assert json.loads((tmp_path / "merged" / "resolved_config.json").read_text()) == saved
    other = run_shards(data_file, tmp_path / "other", 2, only=1, n_bins=5)[0]  # a new-name folder beside an old one
    with pytest.raises(ConfigError, match="different configs \\(differ in n_bins\\)"):
        merge_runs([dirs[0], *other], tmp_path / "out")
    (dirs[0] / "resolved_config.yaml").unlink()
    with pytest.raises(ConfigError, match=r"Cannot merge .*shard-0': it has no resolved_config.json. Rerun the shard"):
        merge_runs(dirs, tmp_path / "out")


def test_merge_refuses_mixed_overlapping_missing_or_unfinished_shards(tmp_path, data_file):
    dirs, _ = run_shards(data_file, tmp_path, 2)
    with pytest.raises(ConfigError, match="Shards overlap: .* both hold shard 1 of 2"):
        merge_runs([dirs[0], dirs[1], dirs[1]], tmp_path / "out")
    with pytest.raises(ConfigError, match=r"Shard\(s\) 1 of 2 missing from --merge"):
        merge_runs([dirs[0]], tmp_path / "out")
    other = run_shards(data_file, tmp_path / "other", 2, only=1, n_bins=5)[0]
    with pytest.raises(ConfigError, match="different configs \\(differ in n_bins\\)"):
        merge_runs([dirs[0], *other], tmp_path / "out")
    three = run_shards(data_file, tmp_path / "three", 3, only=1)[0]
    with pytest.raises(ConfigError, match="different --num-shards"):
        merge_runs([dirs[0], *three], tmp_path / "out")
    with pytest.raises(ConfigError, match="is not a shard folder"):
        merge_runs([dirs[0], tmp_path], tmp_path / "out")
    with pytest.raises(ConfigError, match="is one of the shards"):
        merge_runs(dirs, dirs[0])
    lines = (dirs[1] / "predictions.jsonl").read_text().splitlines(keepends=True)
    (dirs[1] / "predictions.jsonl").write_text("".join(lines[:2]) + lines[2][:9])  # interrupted mid-line
    with pytest.raises(ConfigError, match="Shard 1 in .* holds 2 of 3 predictions. Finish it with --resume"):
        merge_runs(dirs, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_merge_of_a_damaged_shard_keeps_the_earlier_merged_run(tmp_path, data_file):
    dirs, _ = run_shards(data_file, tmp_path, 2)
    merge_runs(dirs, tmp_path / "out")
    before = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    good = (dirs[1] / "predictions.jsonl").read_text()
    (dirs[1] / "predictions.jsonl").write_text(good + good.splitlines(keepends=True)[0])  # a line appended by hand
    with pytest.raises(ConfigError, match="Shard 1 in .* holds 4 predictions, more than its 3: .* Rerun the shard "
                                          "with --overwrite"):
        merge_runs(dirs, tmp_path / "out", overwrite=True)
    (dirs[1] / "predictions.jsonl").write_text("oops\n" + "".join(good.splitlines(keepends=True)[1:]))
    with pytest.raises(ConfigError, match="Line 1 of .* is not a prediction record"):
        merge_runs(dirs, tmp_path / "out", overwrite=True)
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".out")) == []  # no temp folder left


def test_interrupted_shard_resumes_only_as_the_same_shard(tmp_path, data_file):
    config = EvalRunConfig(name="tiny", data=str(data_file), batch_size=2)
    first = run_evaluation(config, tmp_path / "s1", runner=FakeRunner(), shard=Shard(1, 2), stop_after=1)
    assert first["n"] == 2 and first["complete"] is False
    with pytest.raises(ConfigError, match="it holds shard 1 of 2, and the command gives --num-shards 2 --shard-index 0"):
        run_evaluation(config, tmp_path / "s1", runner=FakeRunner(), shard=Shard(0, 2), resume=True)
    with pytest.raises(ConfigError, match="it holds shard 1 of 2, and the command gives no shard flags"):
        run_evaluation(config, tmp_path / "s1", runner=FakeRunner(), resume=True)
    runner = FakeRunner()
    final = run_evaluation(config, tmp_path / "s1", runner=runner, shard=Shard(1, 2), resume=True)
    assert runner.calls == [["lost my password again"]]  # shard 1 of 2 is examples 4-6; 4 and 5 were done
    assert final["n"] == 3 and final["complete"] is True and final["resumed_after"] == 2
    records = [json.loads(x) for x in (tmp_path / "s1" / "predictions.jsonl").read_text().splitlines()]
    assert [r["index"] for r in records] == [4, 5, 6]
    run_evaluation(config, tmp_path / "whole", runner=FakeRunner(), stop_after=1)
    with pytest.raises(ConfigError, match="as shard 0 of 2: it holds a run that is not sharded"):
        run_evaluation(config, tmp_path / "whole", runner=FakeRunner(), shard=Shard(0, 2), resume=True)


@pytest.fixture(scope="module")
def tiny_intent_model(tmp_path_factory) -> Path:
    return make_tiny_intent_model(tmp_path_factory.mktemp("intent") / "tiny", INTENTS)


@pytest.fixture()
def nlu_config(tmp_path, data_file, tiny_intent_model) -> Path:
    config = tmp_path / "tiny.yaml"
    config.write_text(f"data: {data_file}\nnlu_only: true\nbatch_size: 2\nnlu:\n  model: {tiny_intent_model}\n")
    return config


def test_cli_shards_and_merge_and_bad_flags(tmp_path, capsys, nlu_config):
    assert evalrun.main(["--config", str(nlu_config), "--run-dir", str(tmp_path / "single"), "--json"]) == 0
    single = json.loads(capsys.readouterr().out)
    for i in range(2):
        assert evalrun.main(["--config", str(nlu_config), "--num-shards", "2", "--shard-index", str(i),
                             "--output-dir", str(tmp_path / "shards"), "-q"]) == 0
    dirs = sorted((tmp_path / "shards").iterdir())
    assert [d.name.split("-", 2)[-1] for d in dirs] == ["tiny-shard-0-of-2", "tiny-shard-1-of-2"]
    capsys.readouterr()
    assert evalrun.main(["--merge", *map(str, dirs), "--run-dir", str(tmp_path / "merged"), "--json"]) == 0
    merged = json.loads(capsys.readouterr().out)
    assert measured(merged) == measured(single) and merged["n"] == 7
    assert (tmp_path / "merged" / "predictions.jsonl").read_text() == (tmp_path / "single" / "predictions.jsonl").read_text()
    assert evalrun.main(["--merge", *map(str, dirs), "--run-dir", str(tmp_path / "merged")]) == 2
    assert "already exists" in capsys.readouterr().err

    bad = {
        ("--num-shards", "0", "--shard-index", "0"): "'num_shards' parameter of evaluation.run must be an int >= 1. Got 0.",
        ("--num-shards", "2", "--shard-index", "2"): "'shard_index' parameter of evaluation.run must be an int in [0, 1]",
        ("--shard-index", "1"): "Pass --num-shards N and --shard-index I together",
        ("--num-shards", "9", "--shard-index", "0"): "at most the number of batches, 4",
        ("--ray-address", "auto"): "--ray-address and --ray-cpus-per-worker need --engine ray.",
        ("--engine", "ray", "--num-shards", "2", "--shard-index", "0"): "Drop --shard-index, or drop --engine ray.",
        ("--merge", "x"): "--merge takes only shard folders",
    }
    for flags, message in bad.items():
        assert evalrun.main(["--config", str(nlu_config), "--run-dir", str(tmp_path / "bad"), *flags]) == 2, flags
        assert message in capsys.readouterr().err, flags


def test_engine_ray_without_ray_says_how_to_install(tmp_path, capsys, nlu_config, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError, installed or not
    assert evalrun.main(["--config", str(nlu_config), "--engine", "ray", "--run-dir", str(tmp_path / "r")]) == 2
    assert 'The Ray engine needs Ray Data: pip install -e ".[ray]"' in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_ray_batch_worker_writes_the_local_records_and_sends_errors_back(tmp_path, capsys, nlu_config, tiny_intent_model):
    from evaluation.run_ray import ERROR_INDEX, BatchWorker, RayEngine  # runs without Ray: the actor's class, in-process

    assert evalrun.main(["--config", str(nlu_config), "--run-dir", str(tmp_path / "local"), "-q"]) == 0
    config = evalrun.resolve_config(str(nlu_config))
    worker = BatchWorker(config.respond_config(), nlu_only=True, seed=42)
    examples, _ = load_examples(config.data)
    chunks = [json.dumps([dataclasses.asdict(e) for e in part]) for part in (examples[:2], examples[2:4])]  # batches 0, 1
    out = worker({"first": np.array([0, 2]), "examples": np.array(chunks, dtype=object)})
    assert out["index"].tolist() == [0, 1, 2, 3]
    assert [x + "\n" for x in out["line"]] == (tmp_path / "local" / "predictions.jsonl").read_text().splitlines(keepends=True)[:4]

    missing = EvalRunConfig(nlu={"model": str(tmp_path / "missing")}).respond_config()
    broken = BatchWorker(missing, nlu_only=True, seed=42)(
        {"first": np.array([0]), "examples": np.array([chunks[0]], dtype=object)})
    assert broken["index"].tolist() == [ERROR_INDEX] and "does not exist" in broken["line"][0]

    class Records:  # stands in for the Ray dataset of records
        def iter_batches(self, **_):
            yield out
            yield broken

    with pytest.raises(PipelineError, match=r"^On a Ray worker: The intent model folder .*missing' does not exist"):
        RayEngine()._write(Records(), tmp_path / "p.jsonl", start=0, total=7, initial=0, progress=False)
    assert len((tmp_path / "p.jsonl").read_text().splitlines()) == 4  # the complete lines stay, for --resume


class FakeRayData:
    """The few Ray Data calls of RayEngine, run in-process: one output block per chunk, in order."""

    def __init__(self, rows):
        self.rows = rows

    def map_batches(self, fn, *, fn_constructor_kwargs, batch_size, **_):
        assert batch_size == 1
        worker = fn(**fn_constructor_kwargs)
        return FakeRayData([worker({k: np.array([v], dtype=object) for k, v in row.items()}) for row in self.rows])

    def iter_batches(self, **_):
        yield from self.rows


def fake_ray(monkeypatch) -> None:
    context = SimpleNamespace(execution_options=SimpleNamespace(preserve_order=False), enable_progress_bars=True)
    data = SimpleNamespace(DataContext=SimpleNamespace(get_current=lambda: context), ActorPoolStrategy=lambda size: size,
                           from_items=lambda items, override_num_blocks: FakeRayData(items))
    ray = SimpleNamespace(is_initialized=lambda: True, cluster_resources=lambda: {"CPU": 2.0}, __version__="fake", data=data)
    monkeypatch.setitem(sys.modules, "ray", ray)
    monkeypatch.setitem(sys.modules, "ray.data", data)


def test_ray_engine_resumes_a_local_run_after_its_last_complete_line(tmp_path, capsys, nlu_config, monkeypatch):
    assert evalrun.main(["--config", str(nlu_config), "--run-dir", str(tmp_path / "local"), "--json"]) == 0
    local = json.loads(capsys.readouterr().out)
    expected = (tmp_path / "local" / "predictions.jsonl").read_text()
    (tmp_path / "cut").mkdir()
    (tmp_path / "cut" / "resolved_config.json").write_text((tmp_path / "local" / "resolved_config.json").read_text())
    lines = expected.splitlines(keepends=True)  # interrupted after 2 lines, the 3rd cut off
    (tmp_path / "cut" / "predictions.jsonl").write_text("".join(lines[:2]) + lines[2][:10])
    fake_ray(monkeypatch)
    assert evalrun.main(["--config", str(nlu_config), "--run-dir", str(tmp_path / "cut"), "--json",
                         "--engine", "ray", "--resume"]) == 0
    resumed = json.loads(capsys.readouterr().out)
    assert (tmp_path / "cut" / "predictions.jsonl").read_text() == expected
    assert measured(resumed) == measured(local) and resumed["resumed_after"] == 2
    assert resumed["throughput"]["messages"] == 5 and resumed["engine"]["chunks"] == 3  # [2, 3], [4, 5], [6]


# 18-55 s on 2 cores (Ray's start and two actors importing torch); CI installs ray through the test extra and runs it
@pytest.mark.integration
def test_ray_engine_equals_local_run(tmp_path, capsys, nlu_config):
    pytest.importorskip("ray.data", reason='the Ray engine is an optional extra: pip install -e ".[ray]"')
    assert evalrun.main(["--config", str(nlu_config), "--run-dir", str(tmp_path / "local"), "--json"]) == 0
    local = json.loads(capsys.readouterr().out)
    assert evalrun.main(["--config", str(nlu_config), "--run-dir", str(tmp_path / "ray"), "--json",
                         "--engine", "ray", "--num-shards", "2"]) == 0  # starts and stops a local Ray
    on_ray = json.loads(capsys.readouterr().out)
    assert (tmp_path / "ray" / "predictions.jsonl").read_text() == (tmp_path / "local" / "predictions.jsonl").read_text()
    assert measured(on_ray) == measured(local) and on_ray["n"] == 7
    assert on_ray["engine"]["workers"] == 2 and on_ray["engine"]["chunks"] == 4 and on_ray["engine"]["ray_init_s"] > 0
