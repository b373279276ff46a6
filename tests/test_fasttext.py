"""fastText: character n-grams, FNV-1a hashing, subword rows, OOV vectors, training, persistence, CLI."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.errors import ConfigError, NotFittedError
from training.embeddings import FastText, VocabularyError, WordVectors
from training.embeddings.fasttext_kernel import load_fasttext_kernel
from training.embeddings.ngrams import build_subword_index, char_ngrams, fnv1a_32, fnv1a_32_many, ngram_buckets
from training.train_embeddings import main as train_main

# Built here when missing (under a minute, once per machine, cached like the word2vec kernel);
# skipped only where no C++ compiler can build it or SUPPORT_NO_KERNEL is set.
KERNEL_READY = load_fasttext_kernel() is not None
BACKENDS = ["torch", pytest.param("compiled", marks=pytest.mark.skipif(
    not KERNEL_READY, reason="fastText kernel unavailable (no C++ compiler/ninja) or SUPPORT_NO_KERNEL set"))]


# ----- n-grams and hashing ------------------------------------------------------------------------
def test_char_ngrams_follow_fasttext():
    assert char_ngrams("where", 3, 3) == ["<wh", "whe", "her", "ere", "re>"]
    assert char_ngrams("where", 3, 6) == ["<wh", "<whe", "<wher", "<where", "whe", "wher", "where", "where>",
                                          "her", "here", "here>", "ere", "ere>", "re>"]
    assert char_ngrams("a", 1, 3) == ["<a", "<a>", "a", "a>"]  # no lone "<" or ">"
    assert char_ngrams("the", 3, 6)[:3] == ["<th", "<the", "<the>"]  # the whole bracketed word counts
    assert char_ngrams("café", 4, 4) == ["<caf", "café", "afé>"]  # characters, not bytes
    assert char_ngrams("aaaa", 3, 3) == ["<aa", "aaa", "aaa", "aa>"]  # repeats are kept


def test_fnv1a_matches_known_values_and_fasttexts_sign_extension():
    assert fnv1a_32(b"") == 2166136261
    assert fnv1a_32(b"a") == 0xE40C292C
    assert fnv1a_32(b"foobar") == 0xBF9CF968
    assert fnv1a_32("é".encode()) == 1023043777  # fastText XORs int8(byte): differs from plain FNV-1a here
    plain = 2166136261
    for b in "é".encode():
        plain = ((plain ^ b) * 16777619) & 0xFFFFFFFF
    assert plain != 1023043777
    items = [b"", b"a", b"foobar", "<café>".encode(), b"<wh"]
    assert fnv1a_32_many(items).tolist() == [fnv1a_32(x) for x in items]
    assert fnv1a_32_many(items).dtype == np.uint32
    assert ngram_buckets("where", 3, 3, 1000).tolist() == [fnv1a_32(g.encode()) % 1000 for g in char_ngrams("where", 3, 3)]


@pytest.mark.slow  # importing gensim takes seconds; the values above were checked against it
def test_hashes_and_ngrams_agree_with_gensim():
    fasttext_inner = pytest.importorskip("gensim.models.fasttext_inner")
    from gensim.models.fasttext import ft_ngram_hashes

    for word in ("where", "refund", "café", "naïve", "日本語", "x"):
        assert [g.encode() for g in char_ngrams(word, 3, 6)] == fasttext_inner.compute_ngrams_bytes(word, 3, 6)
        assert ngram_buckets(word, 3, 6, 2_000_000).tolist() == ft_ngram_hashes(word, 3, 6, 2_000_000)
        assert fnv1a_32(word.encode()) == fasttext_inner.ft_hash_bytes(word.encode())


def test_subword_index_rows_are_csr_over_used_buckets():
    # "<aa>" has <a, aa, a>; "<a>" has <a, a>; n-gram rows are numbered by first use.
    index = build_subword_index(["aa", "a"], 2, 2, 2**32)
    assert index.offsets.tolist() == [0, 4, 7]
    assert index.rows.tolist() == [0, 2, 3, 4, 1, 2, 4]
    assert index.buckets.tolist() == [fnv1a_32(g) for g in (b"<a", b"aa", b"a>")]
    assert index.ngram_rows(1).tolist() == [0, 2]
    shared = build_subword_index(["aa", "a"], 2, 2, 1)  # one bucket: every n-gram shares row 2
    assert shared.rows.tolist() == [0, 2, 2, 2, 1, 2, 2] and shared.buckets.tolist() == [0]


# ----- OOV vectors --------------------------------------------------------------------------------
def hand_model(buckets: list[int], bucket: int = 7) -> FastText:
    """A fitted-looking model with known vectors: two words, n-gram row r = r + 1 in every dimension."""
    model = FastText(vector_size=2, min_n=3, max_n=3, bucket=bucket)
    model._set_vectors(np.array([[1, 0], [0, 1]], dtype=np.float32), ["yes", "no"], np.array([5, 3]))
    model._set_ngrams(np.repeat(np.arange(1, len(buckets) + 1, dtype=np.float32)[:, None], 2, axis=1), np.array(buckets))
    return model


def test_oov_vector_is_the_mean_of_its_ngram_vectors():
    model = hand_model(list(range(7)))
    grams = char_ngrams("xyz", 3, 3)  # <xy, xyz, yz>
    expected = np.mean([[fnv1a_32(g.encode()) % 7 + 1] * 2 for g in grams], axis=0)
    assert np.allclose(model.get_vector("xyz"), expected)
    assert np.array_equal(model.get_vector("yes"), [1, 0])  # in the vocabulary: the trained full vector
    assert model.ngram_rows("xyz").tolist() == [fnv1a_32(g.encode()) % 7 for g in grams]


def test_ngrams_in_unused_buckets_count_as_zero_and_unknown_words_raise():
    grams = char_ngrams("xyz", 3, 3)
    known = fnv1a_32(grams[0].encode()) % 7
    model = hand_model([known])  # only <xy's bucket has a row (value 1)
    assert model.ngram_rows("xyz").tolist() == [0, -1, -1]
    assert model.get_vector("xyz").tolist() == [np.float32(1 / 3)] * 2
    empty = hand_model([b for b in range(7) if b not in {fnv1a_32(g.encode()) % 7 for g in char_ngrams("qqq", 3, 3)}])
    with pytest.raises(VocabularyError, match="none of its 3 character n-grams was seen in training"):
        empty.get_vector("qqq")


# ----- training -----------------------------------------------------------------------------------
GROUPS = {"a": ["north", "south", "east", "west", "left", "right"], "b": ["apple", "pear", "plum", "grape", "lime", "melon"]}


def planted_corpus(seed: int = 0) -> list[list[str]]:
    """Group a words only co-occur with a words, b with b."""
    rng = np.random.default_rng(seed)
    return [list(rng.choice(GROUPS["ab"[k % 2]], size=12)) for k in range(300)]


def fit(backend: str = "torch", **kw) -> FastText:
    params = dict(vector_size=16, window=3, sample=0, min_count=1, epochs=5, bucket=5000, workers=1, seed=3,
                  backend=backend, progress=False)
    return FastText(**{**params, **kw}).fit(planted_corpus())


@pytest.mark.parametrize("backend", BACKENDS)
def test_planted_structure_is_learned_and_reaches_misspellings(backend):
    model = fit(backend)
    group = {w: g for g, words in GROUPS.items() for w in words}
    assert sorted(model.vocab_) == sorted(group)
    for word in model.vocab_:
        assert all(group[n] == group[word] for n, _ in model.most_similar(word, topn=3)), word
    for typo, word in (("nortth", "north"), ("melonn", "melon"), ("grapes", "grape")):
        assert typo not in model
        assert model.most_similar(typo, topn=1)[0][0] == word
    assert model.training_["backend"] == backend
    assert model.ngram_vectors_.shape == (model.training_["ngram_rows"], 16)


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_worker_runs_are_reproducible(backend):
    assert np.array_equal(fit(backend, epochs=1).vectors_, fit(backend, epochs=1).vectors_)


def test_bad_settings_and_unfitted_use():
    with pytest.raises(ConfigError, match=r"^The 'max_n' parameter of FastText must be an int >= min_n \(6\). Got 3.$"):
        FastText(min_n=6, max_n=3).fit(planted_corpus())
    with pytest.raises(ConfigError, match=r"^The 'bucket' parameter of FastText must be an int in \[1, 2\*\*32\]"):
        FastText(bucket=0).fit(planted_corpus())
    with pytest.raises(ConfigError, match="'min_n' parameter of FastText must be an int >= 1. Got 0"):
        FastText(min_n=0).fit(planted_corpus())
    with pytest.raises(NotFittedError, match=r"^This FastText instance is not fitted yet. Call 'fit' first.$"):
        FastText().get_vector("refnud")


# ----- persistence --------------------------------------------------------------------------------
def test_save_load_round_trip_keeps_oov_vectors(tmp_path):
    model = fit(epochs=1)
    model.save(tmp_path / "m", metrics={"ws353": 0.5})
    back = FastText.load(tmp_path / "m")
    assert back.get_params() == model.get_params() and back.vocab_ == model.vocab_
    assert np.array_equal(back.vectors_, model.vectors_)
    assert np.array_equal(back.ngram_vectors_, model.ngram_vectors_)
    assert np.array_equal(back.ngram_buckets_, model.ngram_buckets_)
    assert np.array_equal(back.get_vector("nortth"), model.get_vector("nortth"))
    plain = WordVectors.load(tmp_path / "m")  # what evaluation.wordvec.load_vectors does: in-vocabulary only
    assert np.array_equal(plain.vectors_, model.vectors_)
    with pytest.raises(VocabularyError):
        plain.get_vector("nortth")


# ----- CLI ----------------------------------------------------------------------------------------
def test_cli_trains_fasttext_from_the_shipped_config(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(" ".join(s) for s in planted_corpus()) + "\n")
    config = Path(__file__).resolve().parent.parent / "configs" / "embeddings" / "fasttext.yaml"
    code = train_main(["--config", str(config), "--corpus", str(corpus), "--out", str(tmp_path / "m"), "--dim", "8",
                       "--min-count", "1", "--epochs", "1", "--bucket", "1000", "--workers", "1",
                       "--backend", "torch", "--no-evaluate", "--no-progress"])
    assert code == 0
    saved = json.loads((tmp_path / "m" / "resolved_config.json").read_text())
    assert (saved["method"], saved["min_n"], saved["max_n"], saved["bucket"], saved["dim"]) == ("fasttext", 3, 6, 1000, 8)
    model = FastText.load(tmp_path / "m")
    assert model.get_vector("nortth").shape == (8,)


@pytest.mark.parametrize("flags,message", [
    (["--method", "fasttext", "--loss", "hs"], "The 'loss' parameter of TrainEmbeddingsConfig must be ns with method "
                                               "fasttext. Got 'hs'."),
    (["--method", "fasttext", "--min-n", "4", "--max-n", "3"], "The 'max_n' parameter of FastText must be an int >= "
                                                                "min_n (4). Got 3."),
])
def test_cli_rejects_bad_fasttext_values_in_one_line(tmp_path, capsys, flags, message):
    assert train_main(["--corpus", str(tmp_path / "c.txt"), "--out", str(tmp_path / "m"), *flags]) == 2
    assert capsys.readouterr().err.strip() == f"error: {message}"
