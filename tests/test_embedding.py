"""SentenceEncoder on a tiny random DistilBERT (the real code path, no download) and the embedding cache."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from pipeline.retrieval.embedding import EmbeddingCache, EncoderConfig, SentenceEncoder, text_hash
from pipeline.errors import ConfigError, ModelLoadError
from tests.tiny_models import make_tiny_distilbert

TEXTS = ["Refunds reach your card within 5 days.", "Reset your password from the login page.", "hi",
         "Cancel an order before it ships and there is no fee at all, otherwise a small fee applies."]


@pytest.fixture(scope="module")
def tiny_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_distilbert(tmp_path_factory.mktemp("enc") / "tiny", TEXTS)


def test_constructor_only_stores_validated_settings() -> None:
    enc = SentenceEncoder("does/not/exist/anywhere", batch_size=8)
    assert enc._model is None and enc.config.batch_size == 8
    with pytest.raises(ConfigError, match=r"^The 'batch_size' parameter of EncoderConfig must be an int >= 1. Got 0.$"):
        SentenceEncoder(batch_size=0)
    with pytest.raises(ModelLoadError, match="does not exist"):
        enc.warm_up()


def test_encode_shapes_norms_and_order(tiny_encoder_dir: Path) -> None:
    enc = SentenceEncoder(str(tiny_encoder_dir), batch_size=2)
    vecs = enc.encode(TEXTS)
    assert vecs.shape == (4, 32) and vecs.dtype == np.float32 and enc.dim == 32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    one_by_one = np.vstack([enc.encode([t]) for t in TEXTS])  # no padding: length sorting must not reorder rows
    np.testing.assert_allclose(vecs, one_by_one, atol=1e-5)
    assert enc.encode([]).shape == (0, 32)
    raw = SentenceEncoder(str(tiny_encoder_dir), normalize=False).encode(TEXTS[:2])
    np.testing.assert_allclose(raw / np.linalg.norm(raw, axis=1, keepdims=True), vecs[:2], atol=1e-5)
    with pytest.raises(TypeError, match="not a single string"):
        enc.encode("hello")


def test_name_changes_with_settings_that_change_vectors(tiny_encoder_dir: Path) -> None:
    a = SentenceEncoder(str(tiny_encoder_dir)).name
    assert a == SentenceEncoder(str(tiny_encoder_dir), batch_size=3).name
    assert a != SentenceEncoder(str(tiny_encoder_dir), max_length=64).name
    assert EncoderConfig(model="x").to_dict()["model"] == "x"


class CountingEncoder:
    name = "counting"

    def __init__(self) -> None:
        self.seen: list[str] = []

    def encode(self, texts: list[str]) -> np.ndarray:
        self.seen += texts
        return np.asarray([[len(t), 1.0] for t in texts], dtype=np.float32).reshape(len(texts), 2)


def test_cache_hit_partial_reuse_and_key(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    enc = CountingEncoder()
    first = cache.get_or_build(enc, ["a", "b"], ["aa", "bbb"], kb_hash="h1")
    assert (first.hit, first.encoded, first.reused) == (False, 2, 0) and enc.seen == ["aa", "bbb"]
    again = cache.get_or_build(enc, ["a", "b"], ["aa", "bbb"], kb_hash="h1")
    assert (again.hit, again.encoded) == (True, 0) and enc.seen == ["aa", "bbb"]
    np.testing.assert_array_equal(again.vectors, [[2, 1], [3, 1]])
    changed = cache.get_or_build(enc, ["a", "b", "c"], ["aa", "BBBB", "c"], kb_hash="h2")
    assert (changed.hit, changed.encoded, changed.reused) == (False, 2, 1) and enc.seen[2:] == ["BBBB", "c"]
    np.testing.assert_array_equal(changed.vectors, [[2, 1], [4, 1], [1, 1]])
    meta = json.loads(changed.path.with_suffix(".json").read_text())
    assert meta["ids"] == ["a", "b", "c"] and meta["hashes"][1] == text_hash("BBBB") and meta["kb_hash"] == "h2"
    other = CountingEncoder()
    other.name = "another-encoder"
    assert cache.get_or_build(other, ["a"], ["aa"], kb_hash="h1").encoded == 1  # a new encoder never reuses vectors


def test_corrupt_meta_is_rebuilt_and_old_entries_pruned(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cache = EmbeddingCache(tmp_path, keep=2)
    enc = CountingEncoder()
    first = cache.get_or_build(enc, ["a"], ["aa"], kb_hash="h1")
    first.path.with_suffix(".json").write_text("{not json", encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        again = cache.get_or_build(enc, ["a"], ["aa"], kb_hash="h1")
    assert again.hit is False and again.encoded == 1 and "unreadable" in caplog.text
    for i in range(3):
        cache.get_or_build(enc, ["a"], [f"text {i}"], kb_hash=f"k{i}")
    assert len(list(tmp_path.glob("*.safetensors"))) == 2 and not list(tmp_path.glob(".*"))
