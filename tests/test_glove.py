"""GloVe: entries and weights, the AdaGrad step by hand, planted structure, persistence, bad input, CLI."""
from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp

from pipeline.errors import ConfigError, DataError, NotFittedError
from training.embeddings.glove import GloVe, glove_entries, pmi_start
from training.embeddings.glove_kernel import load_glove_kernel
from training.train_embeddings import main as train_main

# The compiled path is built here when missing (under a minute, once per machine, cached with the
# word2vec kernel); it is skipped only where no C++ compiler can build it or SUPPORT_NO_KERNEL is set.
KERNEL_READY = load_glove_kernel() is not None
BACKENDS = ["torch", pytest.param("compiled", marks=pytest.mark.skipif(
    not KERNEL_READY, reason="GloVe kernel unavailable (no C++ compiler/ninja) or SUPPORT_NO_KERNEL set"))]


def planted_corpus(seed: int = 0) -> list[list[str]]:
    """Group A words only co-occur with A words, B with B."""
    rng = np.random.default_rng(seed)
    groups = {"a": [f"a{i}" for i in range(6)], "b": [f"b{i}" for i in range(6)]}
    return [list(rng.choice(groups["ab"[k % 2]], size=12)) for k in range(300)]


def test_entries_hold_log_counts_and_capped_weights():
    x = sp.csr_matrix(np.array([[1.0, 50.0], [100.0, 200.0]]))
    e = glove_entries(x, x_max=100.0, alpha=0.75)
    assert e["row"].tolist() == [0, 0, 1, 1] and e["col"].tolist() == [0, 1, 0, 1]
    assert np.allclose(e["logx"], np.log([1, 50, 100, 200]).astype(np.float32))
    assert np.allclose(e["fx"], [0.01**0.75, 0.5**0.75, 1.0, 1.0])
    assert e.dtype.itemsize == 16
    stored_zero = sp.csr_matrix((np.array([0.0, 2.0]), np.array([0, 1]), np.array([0, 2, 2])), shape=(2, 2))
    assert glove_entries(stored_zero, 100.0, 0.75)["col"].tolist() == [1]
    with pytest.raises(DataError, match=r"^GloVe needs co-occurrence counts >= 0. Got -1.0.$"):
        glove_entries(sp.csr_matrix(np.array([[0.0, -1.0], [2.0, 0.0]])), 100.0, 0.75)


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_adagrad_steps_match_a_hand_computation(backend):
    """One non-zero X[0, 1] = 3, two epochs: glove.c's update, computed here in float64."""
    dim, eta, x = 4, 0.05, 3.0
    cooc = sp.csr_matrix(([x], ([0], [1])), shape=(2, 2))
    model = GloVe(vector_size=dim, eta=eta, epochs=2, workers=1, seed=7, backend=backend, progress=False)
    model.fit_cooccurrence(cooc, ["u", "v"])
    rng = np.random.default_rng(7)  # the estimator's initialisation
    w = ((rng.random((2, dim + 1), dtype=np.float32) - 0.5) / dim).astype(np.float64)
    c = ((rng.random((2, dim + 1), dtype=np.float32) - 0.5) / dim).astype(np.float64)
    gw, gc = np.ones_like(w), np.ones_like(c)
    f = (x / 100.0) ** 0.75
    losses = []
    for _ in range(2):
        diff = w[0, :dim] @ c[1, :dim] + w[0, dim] + c[1, dim] - np.log(x)
        losses.append(0.5 * f * diff * diff)
        g = eta * f * diff
        grad_w = g * np.append(c[1, :dim], 1.0)
        grad_c = g * np.append(w[0, :dim], 1.0)
        w[0] -= grad_w / np.sqrt(gw[0])
        c[1] -= grad_c / np.sqrt(gc[1])
        gw[0] += grad_w**2
        gc[1] += grad_c**2
    assert np.allclose(model.vectors_, w[:, :dim] + c[:, :dim], rtol=1e-5, atol=1e-7)
    assert np.allclose(model.bias_, w[:, dim] + c[:, dim], rtol=1e-5, atol=1e-7)
    assert np.allclose(model.training_["epoch_loss"], losses, rtol=1e-4)
    assert losses[1] < losses[0]


def test_pmi_start_reproduces_the_log_counts_at_full_rank():
    """log X_ij = w_i . c_j + b_i + b_j with PMI vectors and b_i = log X_i - log(N) / 2 when every pair is counted."""
    x = np.array([[4.0, 2.0, 1.0], [2.0, 6.0, 3.0], [1.0, 3.0, 0.5]])
    entries = glove_entries(sp.csr_matrix(x), x_max=1.0, alpha=0.75)
    rng = np.random.default_rng(0)
    w0, c0 = rng.random((3, 4), dtype=np.float32), rng.random((3, 4), dtype=np.float32)
    before = w0.copy()
    w, c, b = pmi_start(entries, w0, c0, n_iter=5, seed=0)
    assert w.dtype == c.dtype == b.dtype == np.float32 and w.shape == c.shape == (3, 4)
    totals = x.sum(1)
    assert np.allclose(b, np.log(totals) - 0.5 * np.log(totals.sum()), atol=1e-6)
    assert np.allclose(w[:, :3] @ c[:, :3].T + b[:, None] + b[None, :], np.log(x), atol=1e-5)
    assert np.array_equal(w[:, 3], w0[:, 3]) and np.array_equal(c[:, 3], c0[:, 3])  # beyond the rank: random start
    assert np.array_equal(w0, before)  # the random start passed in is not modified


def test_pmi_start_keeps_words_without_pairs_random_with_zero_bias():
    entries = glove_entries(sp.csr_matrix(([2.0, 2.0], ([0, 1], [1, 0])), shape=(3, 3)), 1.0, 0.75)
    w0, c0 = np.full((3, 2), 0.25, np.float32), np.full((3, 2), 0.5, np.float32)
    w, c, b = pmi_start(entries, w0, c0, n_iter=2, seed=0)
    assert b[2] == 0.0 and np.allclose(b[:2], np.log(2.0) - 0.5 * np.log(4.0))
    assert w[2].tolist() == [0.25, 0.25] and c[2].tolist() == [0.5, 0.5]  # not the SVD's zero rows
    assert np.allclose(w[:2] @ c[:2].T, [[0.0, np.log(2.0)], [np.log(2.0), 0.0]], atol=1e-6)  # PMI(0, 1) = log 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_pmi_init_starts_near_the_optimum_and_is_recorded(backend):
    """Vocabulary (5 words) within the rank: the start fits every counted pair, so the first epoch's loss is ~0."""
    corpus = [["a", "b", "c", "d"], ["b", "c", "e"], ["a", "c", "d", "e"]] * 20
    fit = lambda init: GloVe(vector_size=6, window=2, x_max=1, epochs=3, min_count=1, workers=1, init=init,
                             backend=backend, progress=False).fit(corpus)
    pmi, rand = fit("pmi"), fit("random")
    assert pmi.training_["epoch_loss"][0] < 1e-4 < rand.training_["epoch_loss"][0]
    assert pmi.training_["init"] == "pmi" and rand.training_["init"] == "random"
    assert np.array_equal(pmi.vectors_, fit("pmi").vectors_)  # seeded: reproducible with one worker


@pytest.mark.parametrize("backend", BACKENDS)
def test_loss_decreases_and_planted_structure_is_recovered(backend):
    model = GloVe(vector_size=8, window=3, x_max=10, epochs=30, min_count=1, workers=1, backend=backend,
                  progress=False).fit(planted_corpus())
    losses = model.training_["epoch_loss"]
    assert losses[-1] < losses[0] / 10
    assert all(b < a for a, b in zip(losses[:5], losses[1:6]))
    assert model.training_["backend"] == backend and model.training_["nonzeros"] == 72  # 2 groups x 6 x 6
    assert sorted(model.vocab_) == sorted([f"a{i}" for i in range(6)] + [f"b{i}" for i in range(6)])
    for word in model.vocab_:
        neighbours = [w for w, _ in model.most_similar(word, topn=3)]
        assert all(n[0] == word[0] for n in neighbours), (word, neighbours)


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_worker_runs_are_reproducible(backend):
    fit = lambda: GloVe(vector_size=8, window=3, epochs=3, min_count=1, workers=1, backend=backend,
                        progress=False).fit(planted_corpus())
    assert np.array_equal(fit().vectors_, fit().vectors_)


@pytest.mark.skipif(not KERNEL_READY, reason="GloVe kernel unavailable")
def test_two_hogwild_workers_learn_too():
    model = GloVe(vector_size=8, window=3, x_max=10, epochs=30, min_count=1, workers=2, backend="compiled",
                  progress=False).fit(planted_corpus())
    assert model.training_["epoch_loss"][-1] < model.training_["epoch_loss"][0] / 10


@pytest.mark.parametrize("backend", BACKENDS)
def test_divergence_is_reported_in_one_line(backend):
    with pytest.raises(ConfigError, match=r"^GloVe diverged in epoch [12] \(mean loss .*\): the 'eta' parameter 50.0 is too "
                                          r"large. Lower it \(0.05 in the paper\).$"):
        GloVe(vector_size=8, window=3, eta=50.0, epochs=5, min_count=1, workers=1, backend=backend,
              progress=False).fit(planted_corpus())


def test_shipped_config_builds_the_documented_model():
    from pathlib import Path

    from training.embeddings.config import TrainEmbeddingsConfig

    root = Path(__file__).resolve().parent.parent / "configs" / "embeddings"
    model = TrainEmbeddingsConfig.resolve(root / "glove.yaml", {"corpus": "c.txt", "out": "m"}).to_estimator()
    assert isinstance(model, GloVe)
    assert (model.vector_size, model.window, model.x_max, model.alpha, model.eta, model.epochs, model.min_count,
            model.sample, model.sample_rule, model.init) == (100, 25, 1.0, 0.75, 0.05, 30, 5, 3e-5, "paper", "pmi")
    support = TrainEmbeddingsConfig.resolve(root / "glove_support.yaml", {"out": "m"}).to_estimator()
    assert (support.window, support.x_max, support.sample, support.init) == (10, 10.0, 0, "random")  # as its artifact was trained
    assert (GloVe().x_max, GloVe().window, GloVe().eta, GloVe().init) == (100.0, 10, 0.05, "random")  # glove.c's defaults


def test_save_load_round_trip(tmp_path):
    model = GloVe(vector_size=8, window=3, epochs=2, min_count=1, workers=1, backend="torch",
                  progress=False).fit(planted_corpus())
    model.save(tmp_path / "g", metrics={"ws353": 0.5})
    back = GloVe.load(tmp_path / "g")
    assert np.array_equal(back.vectors_, model.vectors_) and back.vocab_ == model.vocab_
    assert back.get_params() == model.get_params() and np.array_equal(back.counts_, model.counts_)
    config = json.loads((tmp_path / "g" / "config.json").read_text())
    assert config["class"] == "GloVe" and config["training"]["epoch_loss"] == model.training_["epoch_loss"]


def test_subsample_corpus_drops_frequent_words_and_keeps_sentence_boundaries():
    from training.embeddings.corpus import encode_corpus
    from training.embeddings.sampling import subsample_corpus

    enc = encode_corpus([["the"] * 8 + ["cat"], ["the"] * 8 + ["dog"]], min_count=1)
    assert enc.words == ["the", "cat", "dog"] and list(enc.sentence_ends) == [9, 18]
    # t = 1/18: keep sqrt(t / f) = 0.25 of "the" (f = 16/18), always keep cat and dog (f = t).
    sub = subsample_corpus(enc, 1 / 18, "paper", np.random.default_rng(0))
    words = [[enc.words[i] for i in sub.ids[a:b]] for a, b in zip([0, *sub.sentence_ends[:-1]], sub.sentence_ends)]
    assert [w[-1] for w in words] == ["cat", "dog"] and all(set(w[:-1]) <= {"the"} for w in words)
    assert 2 < len(sub.ids) < 18 and sub.words == enc.words and list(sub.counts) == list(enc.counts)
    assert subsample_corpus(enc, 0, "paper", np.random.default_rng(0)).ids.tolist() == enc.ids.tolist()


def test_sample_thins_the_counted_corpus_and_is_seeded():
    corpus = [["the", "a0", "the", "a1", "the", "a2"] * 4, ["the", "b0", "the", "b1", "the", "b2"] * 4] * 40
    fit = lambda seed: GloVe(vector_size=4, window=2, epochs=1, min_count=1, sample=0.05, workers=1, seed=seed,
                              backend="torch", progress=False).fit(corpus)
    one, two = fit(0), fit(0)
    assert one.training_["tokens"] == 1920 and one.training_["tokens_counted"] < 1500  # "the" (f = 0.5) kept ~32%
    assert one.training_["tokens_counted"] == two.training_["tokens_counted"]
    np.testing.assert_array_equal(one.vectors_, two.vectors_)
    plain = GloVe(vector_size=4, window=2, epochs=1, min_count=1, workers=1, backend="torch", progress=False).fit(corpus)
    assert plain.training_["tokens_counted"] == 1920


def test_bad_settings_and_input():
    with pytest.raises(ConfigError, match=r"^The 'sample' parameter of GloVe must be a number in \[0, 1\) \(0 = off\). Got 2.$"):
        GloVe(sample=2).fit(planted_corpus())
    with pytest.raises(ConfigError, match=r"^The 'window' parameter of GloVe must be an int >= 1. Got 0.$"):
        GloVe(window=0).fit(planted_corpus())
    with pytest.raises(ConfigError, match=r"^The 'x_max' parameter of GloVe must be a number > 0 \(100 in the paper\). Got 0.$"):
        GloVe(x_max=0).fit(planted_corpus())
    with pytest.raises(ConfigError, match=r"^The 'init' parameter of GloVe must be one of random, pmi. Got 'svd'.$"):
        GloVe(init="svd").fit(planted_corpus())
    with pytest.raises(ConfigError, match=r"^The 'svd_iter' parameter of GloVe must be an int >= 0. Got -1.$"):
        GloVe(svd_iter=-1).fit(planted_corpus())
    with pytest.raises(ConfigError, match="'backend' parameter of GloVe must be one of auto, compiled, torch. Got 'cuda'"):
        GloVe(backend="cuda").fit(planted_corpus())
    with pytest.raises(DataError, match="occurs at least min_count=1000 times"):
        GloVe(min_count=1000).fit(planted_corpus())
    with pytest.raises(DataError, match="co-occurrence matrix is empty"):
        GloVe(min_count=1, backend="torch").fit([["alone"], ["alone"]])
    with pytest.raises(DataError, match=r"shape \(3, 3\); 2 words need \(2, 2\)"):
        GloVe().fit_cooccurrence(sp.csr_matrix((3, 3)), ["u", "v"])
    with pytest.raises(NotFittedError, match=r"^This GloVe instance is not fitted yet. Call 'fit' first.$"):
        GloVe().most_similar("a0")


def test_cli_trains_glove_and_rejects_bad_values(tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(" ".join(s) for s in planted_corpus()) + "\n")
    out = tmp_path / "glove"
    code = train_main(["--method", "glove", "--corpus", str(corpus), "--out", str(out), "--dim", "8", "--window", "3",
                       "--epochs", "2", "--min-count", "1", "--workers", "1", "--backend", "torch", "--no-evaluate",
                       "--no-progress"])
    assert code == 0
    assert capsys.readouterr().out.startswith(f"Saved glove (12 words x 8) to {out}")
    config = json.loads((out / "resolved_config.json").read_text())
    assert (config["method"], config["x_max"], config["weight_exponent"]) == ("glove", 100.0, 0.75)
    assert GloVe.load(out).get_params()["eta"] == 0.05
    assert train_main(["--method", "glove", "--corpus", str(corpus), "--out", str(out), "--x-max", "-1"]) == 2
    assert capsys.readouterr().err.strip() == \
        "error: The 'x_max' parameter of GloVe must be a number > 0 (100 in the paper). Got -1.0."


def test_inline_kernel_cache_folder_and_fallback_without_a_compiler(monkeypatch, caplog, tmp_path):
    import logging

    from training.embeddings.kernel import InlineKernel

    monkeypatch.setenv("SUPPORT_KERNEL_CACHE", str(tmp_path))
    monkeypatch.setenv("CXX", "no-such-compiler-for-this-test")
    monkeypatch.delenv("SUPPORT_NO_KERNEL", raising=False)
    toy = InlineKernel("toy_kernel", "int toy;", "toy")
    assert toy.build_directory().parent == tmp_path and toy.build_directory().name.startswith("toy_kernel_")
    assert InlineKernel("toy_kernel", "int other;", "toy").name() != toy.name()  # keyed on the source
    assert not toy.is_built() and toy.load(build=False) is None
    with caplog.at_level(logging.WARNING, logger="training.embeddings.kernel"):
        assert toy.load() is None
    assert "No C++ compiler found: toy uses the slower torch fallback." in caplog.text
    monkeypatch.setenv("SUPPORT_NO_KERNEL", "1")
    assert InlineKernel("toy_kernel", "int toy;", "toy").load() is None


def test_kernel_for_backend_torch_auto_and_compiled():
    from training.embeddings.kernel import kernel_for_backend

    assert kernel_for_backend(lambda: pytest.fail("torch must not load the kernel"), "torch", "GloVe") is None
    assert kernel_for_backend(lambda: None, "auto", "GloVe") is None
    assert kernel_for_backend(lambda: "module", "compiled", "GloVe") == "module"
    with pytest.raises(ConfigError, match=r"^The 'backend' parameter of GloVe is 'compiled' but the C\+\+ kernel could "
                                          r"not be built \(see the log\)\. Install a C\+\+ compiler and ninja, or use "
                                          r"backend='auto' or 'torch'\.$"):
        kernel_for_backend(lambda: None, "compiled", "GloVe")
