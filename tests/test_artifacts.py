"""Atomic writes of artifact files and folders."""
from __future__ import annotations

import os
import stat

import pytest

from pipeline.artifacts import atomic_dir, atomic_write, write_json


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
