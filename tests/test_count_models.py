"""Count models: windowed co-occurrences, PPMI + SVD, bag of words and LSA, their CLI."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.sparse as sp

from pipeline.errors import ConfigError, DataError, NotFittedError
from training.embeddings import encode_corpus
from training.embeddings.cooccurrence import cooccurrence_matrix, distance_weights
from training.embeddings.count import LSA, document_term_counts, weight_counts
from training.embeddings.ppmi import PPMI, ppmi_matrix
from training.embeddings.svd import truncated_svd
from training.train_embeddings import main as train_main

# a=0, b=1, c=2 (equal counts: first seen first)
TOY = [["a", "b", "c", "a"], ["b", "c"]]


def dense(enc, **kw) -> np.ndarray:
    return cooccurrence_matrix(enc, dtype=np.float64, **kw).toarray()


# ----- co-occurrences ------------------------------------------------------------------------
def test_harmonic_counts_match_a_hand_computation():
    enc = encode_corpus(TOY, min_count=1)
    assert enc.words == ["a", "b", "c"]
    # sentence 1, d=1: ab bc ca (1 each); d=2: ac ba (1/2 each); d=3: aa (1/3). Sentence 2: bc (1).
    # The window never crosses into sentence 2 (a-b at the border is not a pair).
    assert dense(enc, window=2, weighting="harmonic").tolist() == [[0, 1.5, 1.5], [1.5, 0, 2], [1.5, 2, 0]]
    x3 = dense(enc, window=3, weighting="harmonic")
    assert x3[0, 0] == pytest.approx(2 / 3)  # a self pair counts in both directions
    assert x3[1:, 1:].tolist() == [[0, 2], [2, 0]]
    assert dense(enc, window=2, weighting="uniform").tolist() == [[0, 2, 2], [2, 0, 2], [2, 2, 0]]
    assert dense(enc, window=1, weighting="uniform").tolist() == [[0, 1, 1], [1, 0, 2], [1, 2, 0]]


def test_distance_weights():
    assert distance_weights(3, "harmonic").tolist() == pytest.approx([1, 1 / 2, 1 / 3])
    assert distance_weights(3, "uniform").tolist() == [1, 1, 1]
    assert distance_weights(4, "linear").tolist() == [1, 0.75, 0.5, 0.25]


def brute_force(ids: list[int], ends: list[int], n_words: int, window: int, weights: np.ndarray) -> np.ndarray:
    x = np.zeros((n_words, n_words))
    start = 0
    for end in ends:
        for i in range(start, end):
            for j in range(i + 1, min(end, i + window + 1)):
                x[ids[i], ids[j]] += weights[j - i - 1]
                x[ids[j], ids[i]] += weights[j - i - 1]
        start = end
    return x


@pytest.mark.parametrize("weighting", ["uniform", "harmonic", "linear"])
def test_chunked_counting_equals_one_shot_and_brute_force(weighting):
    rng = np.random.default_rng(0)
    corpus = [[f"w{k}" for k in rng.integers(0, 12, size=n)] for n in rng.integers(1, 40, size=30)]
    enc = encode_corpus(corpus, min_count=1)
    one_shot = dense(enc, window=4, weighting=weighting)
    expected = brute_force(enc.ids.tolist(), enc.sentence_ends.tolist(), len(enc.words), 4,
                           distance_weights(4, weighting))
    for chunk in (1, 7, 100):
        chunked = dense(enc, window=4, weighting=weighting, chunk_tokens=chunk)
        if weighting == "uniform":
            assert np.array_equal(chunked, one_shot)
        else:
            assert np.allclose(chunked, one_shot, rtol=1e-12, atol=0)
    assert np.allclose(one_shot, expected, rtol=1e-12, atol=0)
    assert np.array_equal(one_shot, one_shot.T)


def test_cooccurrence_rejects_bad_settings():
    enc = encode_corpus(TOY, min_count=1)
    with pytest.raises(ConfigError, match=r"^The 'window' parameter of cooccurrence_matrix must be an int >= 1. Got 0.$"):
        cooccurrence_matrix(enc, window=0)
    with pytest.raises(ConfigError, match="'weighting' parameter .* one of harmonic, uniform, linear. Got 'gauss'"):
        cooccurrence_matrix(enc, window=2, weighting="gauss")
    with pytest.raises(ConfigError, match="'chunk_tokens'"):
        cooccurrence_matrix(enc, window=2, chunk_tokens=0)


# ----- PPMI --------------------------------------------------------------------------------
def test_ppmi_values_by_hand():
    x = np.array([[4.0, 1, 0], [1, 0, 2], [0, 2, 0]])  # row and column sums 5, 3, 2; total 10
    plain = ppmi_matrix(x, cds=1.0).toarray()
    expected = np.zeros((3, 3))
    expected[0, 0] = math.log(4 * 10 / (5 * 5))  # 1.6
    expected[1, 2] = expected[2, 1] = math.log(2 * 10 / (3 * 2))  # 10/3
    # PMI(a, b) = log(1 * 10 / (5 * 3)) < 0 is clipped; zero counts stay 0
    assert np.allclose(plain, expected, rtol=1e-12, atol=0)
    smooth = ppmi_matrix(x, cds=0.75).toarray()
    total = 5**0.75 + 3**0.75 + 2**0.75
    assert smooth[0, 0] == pytest.approx(math.log(4 * total / (5 * 5**0.75)), rel=1e-12)
    assert smooth[1, 2] == pytest.approx(math.log(2 * total / (3 * 2**0.75)), rel=1e-12)
    assert smooth[0, 1] == pytest.approx(max(0.0, math.log(1 * total / (5 * 3**0.75))), abs=1e-12)
    shifted = ppmi_matrix(x, cds=1.0, neg=2).toarray()
    assert shifted[0, 0] == 0.0  # log 1.6 - log 2 < 0
    assert shifted[1, 2] == pytest.approx(math.log(5 / 3), rel=1e-12)


def planted_corpus(seed: int = 0) -> list[list[str]]:
    """Group A words only co-occur with A words, B with B."""
    rng = np.random.default_rng(seed)
    groups = {"a": [f"a{i}" for i in range(6)], "b": [f"b{i}" for i in range(6)]}
    return [list(rng.choice(groups["ab"[k % 2]], size=12)) for k in range(300)]


def assert_groups_recovered(model) -> None:
    assert sorted(model.vocab_) == sorted([f"a{i}" for i in range(6)] + [f"b{i}" for i in range(6)])
    for word in model.vocab_:
        neighbours = [w for w, _ in model.most_similar(word, topn=3)]
        assert all(n[0] == word[0] for n in neighbours), (word, neighbours)


def test_ppmi_recovers_planted_groups_and_round_trips(tmp_path):
    model = PPMI(vector_size=4, window=3, min_count=1).fit(planted_corpus())
    assert_groups_recovered(model)
    assert model.vectors_.shape == (12, 4)
    assert model.training_["ppmi_nonzeros"] > 0
    model.save(tmp_path / "ppmi")
    back = PPMI.load(tmp_path / "ppmi")
    assert np.array_equal(back.vectors_, model.vectors_) and back.vocab_ == model.vocab_
    assert back.get_params() == model.get_params()


def test_ppmi_vectors_are_u_times_s_to_the_eig():
    enc = encode_corpus(planted_corpus(), min_count=1)
    half = PPMI(vector_size=3, window=3, min_count=1, eig=0.5).fit(enc)
    full = PPMI(vector_size=3, window=3, min_count=1, eig=1.0).fit(enc)
    s = half.singular_values_
    assert np.allclose(np.abs(full.vectors_), np.abs(half.vectors_) * np.sqrt(s), rtol=1e-5, atol=1e-6)


def test_truncated_svd_is_exact_and_dense_above_half_the_rank(caplog):
    import logging

    matrix = sp.csr_matrix(np.arange(1.0, 31.0).reshape(6, 5) % 7)
    exact = np.linalg.svd(matrix.toarray(), compute_uv=False)
    with caplog.at_level(logging.INFO, logger="training.embeddings.svd"):
        u, s, vt = truncated_svd(matrix, 2, n_iter=7, seed=0)  # 2 <= 5 / 2: randomized
        assert "dense" not in caplog.text
        assert u.shape == (6, 2) and vt.shape == (2, 5) and np.allclose(s, exact[:2], rtol=1e-6)
        u, s, vt = truncated_svd(matrix, 3, n_iter=0, seed=0)  # 3 > 5 / 2: dense, exact whatever n_iter
    assert "SVD to 3 of at most 5 dimensions: the exact dense SVD of the 6 x 5 matrix." in caplog.text
    assert u.shape == (6, 3) and vt.shape == (3, 5) and np.allclose(s, exact[:3], rtol=1e-12)
    assert (u[np.abs(u).argmax(axis=0), range(3)] > 0).all()  # signs as the randomized SVD's (svd_flip)
    u, s, vt = truncated_svd(matrix, 5, n_iter=0, seed=0)
    assert np.allclose(u * s @ vt, matrix.toarray(), atol=1e-12)


def test_ppmi_bad_settings_and_unfitted_use():
    with pytest.raises(ConfigError, match=r"^The 'window' parameter of PPMI must be an int >= 1. Got 0.$"):
        PPMI(window=0).fit(planted_corpus())
    with pytest.raises(ConfigError, match="'cds' parameter of PPMI must be a number in"):
        PPMI(cds=0).fit(planted_corpus())
    with pytest.raises(DataError, match="occurs at least min_count=1000 times"):
        PPMI(min_count=1000).fit(planted_corpus())
    with pytest.raises(NotFittedError, match=r"^This PPMI instance is not fitted yet"):
        PPMI().most_similar("a0")


# ----- bag of words and LSA ---------------------------------------------------------------------
def test_document_term_counts_and_weightings_by_hand():
    counts = document_term_counts(np.array([0, 0, 1, 1, 2], dtype=np.int32), n_words=3, doc_tokens=3)
    assert counts.toarray().tolist() == [[2, 1, 0], [0, 1, 1]]  # documents [0 0 1] [1 2]
    binary, idf = weight_counts(counts, "binary")
    assert idf is None
    assert np.allclose(binary.toarray(), [[1 / math.sqrt(2), 1 / math.sqrt(2), 0], [0, 1 / math.sqrt(2), 1 / math.sqrt(2)]])
    raw, _ = weight_counts(counts, "counts", sublinear_tf=False)
    assert np.allclose(raw.toarray(), [[2 / math.sqrt(5), 1 / math.sqrt(5), 0], [0, 1 / math.sqrt(2), 1 / math.sqrt(2)]])
    tfidf, idf = weight_counts(counts, "tfidf", sublinear_tf=True)
    rare = math.log(3 / 2) + 1  # smooth idf ln((1 + n) / (1 + df)) + 1 with n = 2, df = 1
    assert np.allclose(idf, [rare, 1.0, rare])
    row0 = np.array([(1 + math.log(2)) * rare, 1.0, 0])
    row1 = np.array([0, 1.0, rare])
    assert np.allclose(tfidf.toarray(), [row0 / np.linalg.norm(row0), row1 / np.linalg.norm(row1)])
    again, _ = weight_counts(counts, "tfidf", idf=idf)
    assert np.allclose(again.toarray(), tfidf.toarray())


def topic_corpus() -> list[list[str]]:
    """Documents of 12 tokens alternate between the A words and the B words."""
    return [sum(planted_corpus(), [])]  # one line; LSA cuts it into 12-token documents


def test_lsa_recovers_topics_transforms_documents_and_round_trips(tmp_path):
    model = LSA(vector_size=2, doc_tokens=12, min_count=1).fit(topic_corpus())
    assert_groups_recovered(model)
    assert model.training_["documents"] == 300
    assert model.document_vectors_.shape == (300, 2)
    docs = [["a0", "a1", "a2"], "b3 b4 b5 b5", ["unknown"]]
    vecs = model.transform(docs)
    assert vecs.shape == (3, 2) and vecs[2].tolist() == [0.0, 0.0]
    unit = model.document_vectors_ / np.linalg.norm(model.document_vectors_, axis=1, keepdims=True)
    assert np.argmax(unit @ vecs[0]) % 2 == 0 and np.argmax(unit @ vecs[1]) % 2 == 1  # nearest: an A doc, a B doc
    # transform of the training documents gives the fitted document vectors (A V = U S)
    first = [model.vocab_[i] for i in encode_corpus(topic_corpus(), min_count=1).ids[:12]]
    assert np.allclose(model.transform([first])[0], model.document_vectors_[0], atol=1e-5)
    assert model.bag_of_words(docs).shape == (3, 12)
    model.save(tmp_path / "lsa")
    back = LSA.load(tmp_path / "lsa")
    assert np.array_equal(back.vectors_, model.vectors_) and back.vocab_ == model.vocab_
    assert np.array_equal(back.transform(docs), vecs) and np.array_equal(back.idf_, model.idf_)


def test_lsa_bad_settings_and_input():
    with pytest.raises(ConfigError, match=r"^The 'doc_tokens' parameter of LSA must be an int >= 1. Got 0.$"):
        LSA(doc_tokens=0).fit(topic_corpus())
    with pytest.raises(ConfigError, match="'weighting' parameter of LSA must be one of binary, counts, tfidf"):
        LSA(weighting="bm25").fit(topic_corpus())
    with pytest.raises(DataError, match="LSA needs at least 2 documents"):
        LSA(doc_tokens=10_000, min_count=1).fit(topic_corpus())
    with pytest.raises(NotFittedError, match="This LSA instance is not fitted yet"):
        LSA().transform([["a0"]])
    model = LSA(vector_size=2, doc_tokens=12, min_count=1).fit(topic_corpus())
    with pytest.raises(DataError, match="not one string"):
        model.transform("a0 a1")


# ----- CLI ---------------------------------------------------------------------------------------
def test_shipped_configs_build_the_documented_models():
    from pathlib import Path

    from training.embeddings.config import TrainEmbeddingsConfig

    root = Path(__file__).resolve().parent.parent / "configs" / "embeddings"
    ppmi = TrainEmbeddingsConfig.resolve(root / "ppmi.yaml", {"corpus": "c.txt", "out": "m"}).to_estimator()
    assert isinstance(ppmi, PPMI)
    assert (ppmi.vector_size, ppmi.window, ppmi.weighting, ppmi.cds, ppmi.neg, ppmi.eig) == (100, 5, "uniform", 0.75, 1.0, 0.5)
    lsa = TrainEmbeddingsConfig.resolve(root / "lsa.yaml", {"corpus": "c.txt", "out": "m"}).to_estimator()
    assert isinstance(lsa, LSA)
    assert (lsa.vector_size, lsa.doc_tokens, lsa.weighting, lsa.eig) == (100, 1000, "tfidf", 0.5)



@pytest.mark.parametrize("method,flags", [("ppmi", ["--window", "3"]), ("lsa", ["--doc-tokens", "12"])])
def test_cli_trains_count_models(tmp_path, capsys, method, flags):
    corpus = tmp_path / "c.txt"
    corpus.write_text(" ".join(topic_corpus()[0]) + "\n")
    out = tmp_path / method
    code = train_main(["--method", method, "--corpus", str(corpus), "--out", str(out), "--dim", "2",
                       "--min-count", "1", "--no-evaluate", "--no-progress", *flags])
    assert code == 0
    assert capsys.readouterr().out.startswith(f"Saved {method} (12 words x 2) to {out}")
    config = json.loads((out / "config.json").read_text())
    assert config["class"] == {"ppmi": "PPMI", "lsa": "LSA"}[method]
    assert json.loads((out / "resolved_config.json").read_text())["method"] == method


@pytest.mark.parametrize("flags,message", [
    (["--method", "ppmi", "--cooc-weighting", "gauss"],
     "The 'weighting' parameter of PPMI must be one of harmonic, uniform, linear. Got 'gauss'."),
    (["--method", "ppmi", "--window", "0"], "The 'window' parameter of PPMI must be an int >= 1. Got 0."),
    (["--method", "lsa", "--bow", "bm25"], "The 'weighting' parameter of LSA must be one of binary, counts, tfidf. Got 'bm25'."),
    (["--method", "lsa", "--doc-tokens", "0"], "The 'doc_tokens' parameter of LSA must be an int >= 1. Got 0."),
])
def test_cli_rejects_bad_count_model_settings(tmp_path, capsys, flags, message):
    assert train_main(["--corpus", str(tmp_path / "c.txt"), "--out", str(tmp_path / "m"), *flags]) == 2
    assert capsys.readouterr().err.strip() == f"error: {message}"


def test_more_dimensions_than_the_matrix_allows_stay_zero_with_a_warning(caplog):
    lsa = LSA(vector_size=20, doc_tokens=12, min_count=1).fit(topic_corpus())  # 300 documents x 12 words
    assert "LSA: the 300 x 12 document-term matrix allows 11 SVD dimensions; the other 9 of vector_size=20 stay zero." \
        in caplog.text
    assert lsa.vectors_.shape == (12, 20) and not lsa.vectors_[:, 11:].any() and lsa.vectors_[:, :11].any()
    caplog.clear()
    ppmi = PPMI(vector_size=20, window=3, min_count=1).fit(planted_corpus())  # 12 x 12 word-context matrix
    assert "The 12 x 12 matrix allows 12 SVD dimensions; the other 8 of 20 stay zero." in caplog.text
    assert ppmi.vectors_.shape == (12, 20) and not ppmi.vectors_[:, 12:].any()
