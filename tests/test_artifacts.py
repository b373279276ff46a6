"""Atomic writes of artifact files and folders; the resolved config's one name and the names it replaced."""
from __future__ import annotations

import os
import stat

import pytest

from pipeline.artifacts import (atomic_dir, atomic_write, read_resolved_config, resolved_config_path, training_config,
                                write_json, write_resolved_config)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_artifacts_get_the_permissions_of_the_umask_not_tempfiles(tmp_path, umask_022):
    with atomic_dir(tmp_path / "model") as tmp:
        write_json(tmp / "config.json", {"a": 1})
        (tmp / "README.md").write_text("card")
    assert _mode(tmp_path / "model") == 0o755  # mkdtemp alone gives 0o700
    assert _mode(tmp_path / "model" / "config.json") == 0o644  # mkstemp alone gives 0o600
    assert _mode(tmp_path / "model" / "README.md") == 0o644
    atomic_write(tmp_path / "vectors.txt", lambda tmp: open(tmp, "w").write("1 2\n"))
    assert _mode(tmp_path / "vectors.txt") == 0o644


def test_atomic_write_failure_keeps_the_old_file_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "corpus.txt"
    target.write_text("old\n")

    def write(tmp: str) -> None:
        with open(tmp, "w") as fh:
            fh.write("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        atomic_write(target, write)
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus.txt"]


def test_resolved_config_has_one_name_and_older_folders_still_read(tmp_path):
    new = tmp_path / "new"
    assert write_resolved_config(new, {"seed": 7, "labels": ["a", "b"]}) == new / "resolved_config.json"
    assert sorted(p.name for p in new.iterdir()) == ["resolved_config.json"]
    assert read_resolved_config(new) == {"seed": 7, "labels": ["a", "b"]}
    assert training_config(new) == {"seed": 7, "labels": ["a", "b"]}

    model = tmp_path / "model"  # a model folder written before resolved_config.json
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "distilbert"}')  # Hugging Face's, never read as the resolved config
    (model / "training_config.json").write_text('{"seed": 11}')
    assert resolved_config_path(model) == model / "training_config.json"
    assert read_resolved_config(model) == {"seed": 11}
    run = tmp_path / "run"  # a run folder of evaluation.run written before resolved_config.json
    run.mkdir()
    (run / "resolved_config.yaml").write_text("name: tiny\nbatch_size: 2\n")
    assert read_resolved_config(run) == {"name": "tiny", "batch_size": 2}

    write_resolved_config(model, {"seed": 12})  # both names: the new one wins
    assert resolved_config_path(model) == model / "resolved_config.json"
    assert read_resolved_config(model) == {"seed": 12}

    assert resolved_config_path(tmp_path / "missing") is None
    assert read_resolved_config(tmp_path / "missing") == {}
    (new / "resolved_config.json").write_text('{"seed": ')  # cut off
    assert read_resolved_config(new) == {}
    (run / "resolved_config.yaml").write_text("name: [unclosed\n")
    assert read_resolved_config(run) == {}
    (run / "resolved_config.yaml").write_text("- a list, not a mapping\n")
    assert read_resolved_config(run) == {}
