"""Shared fixtures: ``shared_data`` is the read-only data folder, or the test is skipped.

Tests run torch on one thread (tiny models are dominated by thread overhead) and
never touch the user's cache: ``SUPPORT_CACHE_DIR`` points into a temporary folder.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault("SUPPORT_NUM_THREADS", "1")
os.environ["SUPPORT_CACHE_DIR"] = tempfile.mkdtemp(prefix="support-tests-cache-")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest

from training.data import shared_data_dir


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``$SUPPORT_DATA_DIR`` or ``<repo>/../shared/data``; skips the test when it is absent."""
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"shared data folder {path} is absent (set SUPPORT_DATA_DIR to run this test)")
    return path


@pytest.fixture(scope="session")
def packaged_retrieval():
    """The retrieval stage over the packaged knowledge base and encoder, warmed up once per test session."""
    from pipeline.assistant import load_respond_config
    from pipeline.retrieval.stage import RetrievalStage

    stage = RetrievalStage(load_respond_config().retrieval)
    stage.warm_up()
    return stage
