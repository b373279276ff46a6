"""word2vec: corpus encoding, Huffman tree, sampling, training on planted structure, persistence, CLI."""
from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from pipeline.errors import ConfigError, DataError, ModelLoadError, NotFittedError
from training.embeddings import EncodedCorpus, VocabularyError, Word2Vec, WordVectors, encode_corpus
from training.embeddings.huffman import build_huffman
from training.embeddings.kernel import load_kernel
from training.embeddings.sampling import (draw_negatives, keep_probabilities, keep_thresholds, negative_cum_table,
                                          negative_probabilities, subsample_mask)
from training.embeddings.sgd import TrainState, run_job_compiled
from training.embeddings.word2vec import job_bounds
from training.train_embeddings import main as train_main

# The compiled path is built here when missing (about a minute, once per machine, cached in
# ~/.cache/support-assistant/kernels); it is skipped only where no C++ compiler can build it or
# SUPPORT_NO_KERNEL is set. The torch fallback is always tested.
KERNEL_READY = load_kernel() is not None
BACKENDS = ["torch", pytest.param("compiled", marks=pytest.mark.skipif(
    not KERNEL_READY, reason="word2vec kernel unavailable (no C++ compiler/ninja) or SUPPORT_NO_KERNEL set"))]


# ----- corpus --------------------------------------------------------------------------------
def test_encode_corpus_from_file_gz_and_lists_agree(tmp_path):
    text = "a b a c\nb a\n\nd a b\n"
    (tmp_path / "c.txt").write_text(text)
    with gzip.open(tmp_path / "c.txt.gz", "wt") as fh:
        fh.write(text)
    lists = [line.split() for line in text.splitlines()]
    for corpus in (encode_corpus(tmp_path / "c.txt", min_count=2), encode_corpus(str(tmp_path / "c.txt.gz"), min_count=2),
                   encode_corpus(tmp_path / "c.txt", min_count=2, block_bytes=3), encode_corpus(lists, min_count=2)):
        assert corpus.words == ["a", "b"]
        assert corpus.counts.tolist() == [4, 3]
        assert corpus.ids.tolist() == [0, 1, 0, 1, 0, 0, 1]  # c and d dropped before windowing
        assert corpus.sentence_ends.tolist() == [3, 5, 7]
        assert corpus.raw_tokens == 9


def test_encode_corpus_cuts_long_lines_and_caps_vocabulary():
    corpus = encode_corpus([["x", "y", "x", "y", "x"]], min_count=1, max_sentence_length=2, max_vocab_size=1)
    assert corpus.words == ["x"]
    assert corpus.ids.tolist() == [0, 0, 0]
    assert corpus.sentence_ends.tolist() == [1, 2, 3]  # raw sentences [x y] [x y] [x]


def test_encode_corpus_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        encode_corpus(tmp_path / "missing.txt")
    with pytest.raises(DataError, match="occurs at least min_count=5 times"):
        encode_corpus([["a", "b"]], min_count=5)
    with pytest.raises(DataError, match="not strings"):
        encode_corpus(["a b c"])


def test_job_bounds_cover_whole_sentences():
    ends = np.array([4, 8, 15, 16, 30], dtype=np.int64)
    assert job_bounds(ends, 10).tolist() == [0, 3, 5]  # jobs: sentences 0-2 (start < 10), 3-4


# ----- Huffman tree ----------------------------------------------------------------------------
def test_huffman_matches_hand_built_tree():
    tree = build_huffman(np.array([20, 10, 6, 4, 1]))
    # merges: 1+4=5, 5+6=11, 10+11=21, 20+21=41 (root)
    assert tree.lengths.tolist() == [1, 2, 3, 4, 4]
    assert [tree.code(i) for i in range(5)] == ["0", "10", "111", "1101", "1100"]
    assert tree.path(4) == [3, 2, 1, 0]  # root (inner node 3) first


def test_huffman_is_a_prefix_code_with_short_codes_for_frequent_words():
    counts = np.random.default_rng(0).integers(1, 10_000, size=200)
    tree = build_huffman(counts)
    codes = [tree.code(i) for i in range(len(counts))]
    assert len(set(codes)) == len(codes)
    assert not any(a != b and b.startswith(a) for a in codes for b in codes)
    assert sum(2.0 ** -len(c) for c in codes) == pytest.approx(1.0)  # a full binary tree
    order = np.argsort(-counts, kind="stable")
    assert np.all(np.diff(tree.lengths[order]) >= 0)  # more frequent -> no longer
    assert tree.points.max() == len(counts) - 2 and tree.points.min() == 0
    assert set(tree.points[:, 0].tolist()) == {len(counts) - 2}  # every path starts at the root


# ----- sampling --------------------------------------------------------------------------------
def test_keep_probabilities_both_rules():
    counts = np.array([1000, 100, 10, 1])  # total 1111; t * total = 11.11 with t = 0.01
    paper = keep_probabilities(counts, 0.01, "paper")
    w2v = keep_probabilities(counts, 0.01, "word2vec")
    assert paper[2:].tolist() == [1.0, 1.0] and w2v[2:].tolist() == [1.0, 1.0]  # rare words always kept
    assert paper[0] == pytest.approx(np.sqrt(11.11 / 1000))
    assert w2v[0] == pytest.approx(np.sqrt(11.11 / 1000) + 11.11 / 1000)
    assert paper[1] == pytest.approx(np.sqrt(0.1111))
    assert keep_probabilities(counts, 0.0).tolist() == [1.0] * 4
    with pytest.raises(ConfigError, match="'rule'"):
        keep_probabilities(counts, 0.01, "gensim")


def test_subsampling_drops_frequent_words_at_the_expected_rate():
    counts = np.array([1000, 100, 10, 1])
    keep = keep_probabilities(counts, 0.01)
    ids = np.repeat(np.arange(4), 50_000)
    kept = subsample_mask(ids, keep, np.random.default_rng(0))
    rates = [kept[ids == w].mean() for w in range(4)]
    assert rates[0] == pytest.approx(keep[0], abs=0.01)
    assert rates[1] == pytest.approx(keep[1], abs=0.01)
    assert rates[2] == 1.0 and rates[3] == 1.0
    assert keep_thresholds(np.array([1.0, 0.5, 0.0])).tolist() == [2**32 - 1, 2**31, 0]


@pytest.mark.skipif(not KERNEL_READY, reason="word2vec kernel unavailable (no C++ compiler/ninja) or SUPPORT_NO_KERNEL set")
def test_compiled_kernel_subsamples_at_the_expected_rate():
    import torch

    counts = np.array([1000, 100, 10, 1])
    keep = keep_probabilities(counts, 0.01)
    ids = np.repeat(np.arange(4, dtype=np.int32), 50_000)
    np.random.default_rng(0).shuffle(ids)
    state = TrainState(syn0=torch.zeros(4, 4), syn1=torch.zeros(4, 4), ids=ids,
                       sentence_ends=np.arange(1000, 200_001, 1000, dtype=np.int64), keep=keep,
                       keep_u32=keep_thresholds(keep), cum_table=negative_cum_table(counts), tree=None,
                       cbow=False, hs=False, window=2, negative=1)
    _, _, raw, trained = run_job_compiled(load_kernel(), state, 0, 200, 0.0, 0.0, seed=1)
    expected = 50_000 * keep.sum()
    assert raw == 200_000
    assert trained == pytest.approx(expected, rel=0.01)


def test_negative_samples_follow_the_unigram_to_the_0_75():
    counts = np.array([100, 50, 10, 1, 1000])
    expected = counts**0.75 / (counts**0.75).sum()
    table = negative_cum_table(counts, 0.75)
    assert table[-1] == 2**31 - 1
    assert np.allclose(negative_probabilities(table), expected, atol=1e-9)
    draws = draw_negatives(table, 200_000, np.random.default_rng(0))
    freq = np.bincount(draws, minlength=5) / 200_000
    assert np.abs(freq - expected).max() < 0.004
    assert np.abs(freq - counts / counts.sum()).max() > 0.05  # not the raw unigram distribution


# ----- training --------------------------------------------------------------------------------
def planted_corpus(seed: int = 0) -> list[list[str]]:
    """Group A words only co-occur with A words, B with B."""
    rng = np.random.default_rng(seed)
    groups = {"a": [f"a{i}" for i in range(6)], "b": [f"b{i}" for i in range(6)]}
    return [list(rng.choice(groups["ab"[k % 2]], size=12)) for k in range(300)]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("arch,loss", [("skipgram", "ns"), ("cbow", "ns"), ("skipgram", "hs"), ("cbow", "hs")])
def test_planted_cooccurrence_structure_is_recovered(backend, arch, loss):
    model = Word2Vec(vector_size=16, window=3, arch=arch, loss=loss, sample=0, min_count=1, epochs=5,
                     workers=1, seed=3, backend=backend, progress=False).fit(planted_corpus())
    assert sorted(model.vocab_) == sorted([f"a{i}" for i in range(6)] + [f"b{i}" for i in range(6)])
    for word in model.vocab_:
        neighbours = [w for w, _ in model.most_similar(word, topn=3)]
        assert all(n[0] == word[0] for n in neighbours), (word, neighbours)
    assert model.training_["backend"] == backend


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_worker_runs_are_reproducible(backend):
    fit = lambda: Word2Vec(vector_size=8, min_count=1, epochs=2, workers=1, backend=backend, progress=False).fit(planted_corpus())
    assert np.array_equal(fit().vectors_, fit().vectors_)


def test_bad_settings_and_unfitted_use():
    with pytest.raises(ConfigError, match=r"^The 'arch' parameter of Word2Vec must be one of skipgram, cbow. Got 'sg'.$"):
        Word2Vec(arch="sg").fit(planted_corpus())
    with pytest.raises(ConfigError, match="'window' parameter of Word2Vec must be an int >= 1. Got 0"):
        Word2Vec(window=0).fit(planted_corpus())
    with pytest.raises(NotFittedError, match=r"^This Word2Vec instance is not fitted yet. Call 'fit' first.$"):
        Word2Vec().most_similar("a0")
    assert Word2Vec(alpha=None).get_params()["alpha"] is None  # stored unchanged, resolved in fit


# ----- lookup, analogies, persistence -----------------------------------------------------------
def toy_vectors() -> WordVectors:
    wv = WordVectors()
    wv._set_vectors(np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1], [0, 1, 1], [-1, 0, 0.5]], dtype=np.float32),
                    ["man", "king", "woman", "queen", "other"], np.array([50, 40, 30, 20, 10]))
    return wv


def test_most_similar_similarity_and_analogy():
    wv = toy_vectors()
    assert wv.similarity("man", "king") == pytest.approx(1 / np.sqrt(2))
    assert [w for w, _ in wv.most_similar("other", topn=2)] == ["woman", "queen"]
    assert wv.most_similar(np.array([0, 0, 1.0]), topn=1)[0][0] == "woman"  # vectors are not excluded
    assert wv.analogy("man", "king", "woman")[0][0] == "queen"
    assert [w for w, _ in wv.analogy("man", "king", "woman", topn=5, restrict_vocab=4)] == ["queen"]
    with pytest.raises(VocabularyError, match=r"^Word 'prince' is not in the vocabulary \(5 words\)"):
        wv.similarity("man", "prince")


def test_save_load_and_word2vec_formats_round_trip_exactly(tmp_path):
    model = Word2Vec(vector_size=8, min_count=1, epochs=1, workers=1, backend="torch", progress=False).fit(planted_corpus())
    model.save(tmp_path / "m", metrics={"ws353": 0.5})
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "README.md", "config.json", "metrics.json", "resolved_config.json", "vectors.safetensors", "vocab.json"]
    assert "ws353" in (tmp_path / "m" / "README.md").read_text()
    back = Word2Vec.load(tmp_path / "m")
    assert np.array_equal(back.vectors_, model.vectors_) and back.vocab_ == model.vocab_
    assert np.array_equal(back.counts_, model.counts_) and back.get_params() == model.get_params()
    for name, binary in (("v.txt", False), ("v.bin", True)):
        model.save_word2vec_format(tmp_path / name, binary=binary)
        read = WordVectors.load_word2vec_format(tmp_path / name)
        assert np.array_equal(read.vectors_, model.vectors_) and read.vocab_ == model.vocab_
    first = (tmp_path / "v.txt").read_text().splitlines()[0]
    assert first == f"{len(model.vocab_)} 8"
    (tmp_path / "bad.txt").write_text("2 2\nman 0.1 0.2\nking 0.3 x\n")
    with pytest.raises(ModelLoadError, match=r"Line 3 of .* has a value that is not a number"):
        WordVectors.load_word2vec_format(tmp_path / "bad.txt")
    vectors = tmp_path / "m" / "vectors.safetensors"
    vectors.write_bytes(vectors.read_bytes()[:40])
    with pytest.raises(ModelLoadError, match="vectors.safetensors' is unreadable .* train it again"):
        Word2Vec.load(tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text("{not json")
    with pytest.raises(DataError, match="config.json' is not valid JSON \\(line 1"):
        Word2Vec.load(tmp_path / "m")


# ----- CLI ---------------------------------------------------------------------------------------
def test_cli_trains_and_writes_a_model_folder(tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(" ".join(s) for s in planted_corpus()) + "\n")
    out = tmp_path / "model"
    code = train_main(["--corpus", str(corpus), "--out", str(out), "--dim", "8", "--min-count", "1", "--epochs", "1",
                       "--workers", "1", "--backend", "torch", "--no-evaluate", "--no-progress"])
    assert code == 0
    config = json.loads((out / "resolved_config.json").read_text())
    assert config["dim"] == 8 and config["method"] == "word2vec" and config["seed"] == 42
    assert len(Word2Vec.load(out).vocab_) == 12
    saved = {p.name: p.read_bytes() for p in out.iterdir()}
    again = ["--corpus", str(corpus), "--out", str(out), "--dim", "4", "--min-count", "1", "--epochs", "1",
             "--workers", "1", "--backend", "torch", "--no-evaluate", "--no-progress"]
    assert train_main(again) == 2
    assert f"The output folder {str(out)!r} already exists. Pass --overwrite" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == saved
    capsys.readouterr()
    assert train_main([*again, "--overwrite", "--json"]) == 0
    assert json.loads((out / "resolved_config.json").read_text())["dim"] == 4
    printed = json.loads(capsys.readouterr().out)
    assert (printed["out"], printed["method"], printed["vocab_size"], printed["dim"]) == (str(out), "word2vec", 12, 4)


@pytest.mark.parametrize("flags,message", [
    (["--method", "bert"], "The 'method' parameter of TrainEmbeddingsConfig must be one of word2vec, fasttext, glove, "
                           "ppmi, lsa. Got 'bert'."),
    (["--dim", "0"], "The 'dim' parameter of TrainEmbeddingsConfig must be an int >= 1. Got 0."),
    (["--window", "0"], "The 'window' parameter of Word2Vec must be an int >= 1. Got 0."),
    (["--loss", "softmax"], "The 'loss' parameter of Word2Vec must be one of ns, hs. Got 'softmax'."),
    (["--dim", "ten"], "The 'dim' parameter of TrainEmbeddingsConfig must be of type int. Got 'ten'."),
    (["--ns-exponent", "nan"], "The 'ns_exponent' parameter of Word2Vec must be a number (0.75 in word2vec). Got nan."),
])
def test_cli_rejects_bad_values_in_one_line(tmp_path, capsys, flags, message):
    code = train_main(["--corpus", str(tmp_path / "c.txt"), "--out", str(tmp_path / "m"), *flags])
    assert code == 2
    assert capsys.readouterr().err.strip() == f"error: {message}"


def test_cli_reports_a_missing_corpus(tmp_path, capsys):
    assert train_main(["--corpus", str(tmp_path / "none.txt"), "--out", str(tmp_path / "m")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_cli_reports_a_damaged_gzip_corpus_and_bad_output_paths(tmp_path, capsys):
    packed = gzip.compress(b"the cat sat on the mat\n" * 5000)
    (tmp_path / "cut.txt.gz").write_bytes(packed[: len(packed) // 2])  # an interrupted download
    assert train_main(["--corpus", str(tmp_path / "cut.txt.gz"), "--out", str(tmp_path / "m"), "--min-count", "1"]) == 2
    assert capsys.readouterr().err == (f"error: Corpus file {str(tmp_path / 'cut.txt.gz')!r} is a damaged gzip file "
                                       "(EOFError: Compressed file ended before the end-of-stream marker was reached). "
                                       "Copy or compress it again.\n")
    (tmp_path / "c.txt").write_text("the cat sat\n")
    (tmp_path / "file").write_text("x")
    assert train_main(["--corpus", str(tmp_path / "c.txt"), "--out", str(tmp_path / "file" / "m")]) == 2
    assert "which is a file. Choose a path under a folder." in capsys.readouterr().err
    assert train_main(["--corpus", str(tmp_path / "c.txt"), "--out", "."]) == 2
    assert "must name a folder" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_encoded_corpus_can_be_reused():
    enc = encode_corpus(planted_corpus(), min_count=1)
    assert isinstance(enc, EncodedCorpus)
    model = Word2Vec(vector_size=8, min_count=1, epochs=1, workers=1, backend="torch", progress=False).fit(enc)
    assert model.vocab_ == enc.words


def test_shipped_configs_resolve_and_flags_override_them(tmp_path):
    from pathlib import Path

    from training.embeddings.config import TrainEmbeddingsConfig

    root = Path(__file__).resolve().parent.parent / "configs" / "embeddings"
    files = sorted(p.name for p in root.glob("*.yaml"))
    for name in files:  # every shipped preset resolves and validates
        TrainEmbeddingsConfig.resolve(root / name, {"corpus": "c.txt", "out": "m"})
    for name in ["word2vec_cbow_ns.yaml", "word2vec_sg_hs.yaml", "word2vec_sgns.yaml"]:
        cfg = TrainEmbeddingsConfig.resolve(root / name, {"corpus": "c.txt", "out": "m"})
        assert (cfg.method, cfg.dim, cfg.window, cfg.min_count, cfg.epochs) == ("word2vec", 100, 5, 5, 5)
    cbow = TrainEmbeddingsConfig.resolve(root / "word2vec_cbow_ns.yaml", {"corpus": "c.txt", "out": "m", "dim": 50})
    assert (cbow.arch, cbow.loss, cbow.alpha, cbow.dim) == ("cbow", "ns", 0.05, 50)
    bad = tmp_path / "bad.yaml"
    bad.write_text("method: word2vec\ndims: 100\n")
    with pytest.raises(ConfigError, match=r"Unknown key\(s\) 'dims' in .*bad.yaml for TrainEmbeddingsConfig"):
        TrainEmbeddingsConfig.resolve(bad, {"corpus": "c.txt", "out": "m"})
