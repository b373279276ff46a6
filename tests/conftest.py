"""Shared fixtures: ``shared_data`` is the read-only data folder, or the test is skipped."""
from __future__ import annotations

from pathlib import Path

import pytest

from training.data import shared_data_dir


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``$SUPPORT_DATA_DIR`` or ``<repo>/../shared/data``; skips the test when it is absent."""
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"shared data folder {path} is absent (set SUPPORT_DATA_DIR to run this test)")
    return path
