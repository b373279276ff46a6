"""Intrinsic word-vector evaluation: Spearman with ties, coverage, 3CosAdd protocol, PCA plot, CLI."""
from __future__ import annotations

import json

import numpy as np
import pytest

from evaluation.wordvec import (evaluate_all, evaluate_analogies, evaluate_similarity, main, plot_pca, read_analogies,
                                read_pairs, spearman)
from pipeline.errors import DataError
from training.embeddings import WordVectors


def toy() -> WordVectors:
    wv = WordVectors()
    words = ["man", "king", "woman", "queen", "paris", "france", "rome", "italy"]
    vecs = np.array([[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 1, 1, 0],
                     [0, 0, 0, 1], [0.2, 0, 0, 1], [0, 0.1, 0.9, 1], [0.2, 0.1, 0.9, 1]], dtype=np.float32)
    wv._set_vectors(vecs, words, np.arange(8, 0, -1))
    return wv


def test_spearman_with_and_without_ties():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # ranks x = [1, 2.5, 2.5, 4], y = [1, 3, 2, 4]: rho = 4.5 / sqrt(4.5 * 5)
    assert spearman([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(4.5 / np.sqrt(22.5))
    with pytest.raises(ValueError, match="equal length >= 2"):
        spearman([1], [1])


def test_similarity_skips_and_counts_oov_pairs():
    pairs = [("man", "king", 8.0), ("Man", "woman", 3.0), ("man", "paris", 1.0), ("man", "unicorn", 5.0)]
    res = evaluate_similarity(toy(), pairs, name="toy")
    assert (res.pairs, res.found, res.coverage) == (4, 3, 0.75)
    # gold ranks [3, 2, 1], cosine ranks [3, 1.5, 1.5] (0.707, 0, 0): rho = 1.5 / sqrt(2 * 1.5)
    assert res.spearman == pytest.approx(1.5 / np.sqrt(3.0))
    assert res.per_pair[3]["cosine"] is None and res.per_pair[1]["cosine"] == pytest.approx(0.0)


def test_read_pairs_skips_comments_and_rejects_bad_lines(tmp_path):
    good = tmp_path / "p.txt"
    good.write_text("# header\nman\tking\t8.5\n\nwoman queen 7\n")
    assert read_pairs(good) == [("man", "king", 8.5), ("woman", "queen", 7.0)]
    bad = tmp_path / "bad.txt"
    bad.write_text("man king\n")
    with pytest.raises(DataError, match="Line 1 of .* is not 'word1 word2 score'"):
        read_pairs(bad)


def write_questions(path):
    path.write_text(": capital-common-countries\nParis France Rome Italy\nParis France Rome Spain\n"
                    ": gram-family\nman king woman queen\nking man queen woman\n")
    return path


def test_analogies_3cosadd_restricted_vocabulary(tmp_path):
    questions = write_questions(tmp_path / "q.txt")
    assert read_analogies(questions)[0] == ("capital-common-countries", "Paris", "France", "Rome", "Italy")
    res = evaluate_analogies(toy(), questions)
    assert (res.questions, res.evaluated) == (4, 3)  # "spain" is out of vocabulary
    assert res.sections["capital-common-countries"] == {"correct": 1, "evaluated": 1, "questions": 2, "accuracy": 1.0}
    assert res.semantic == 1.0
    assert res.per_question[2]["predicted"] == "queen" and res.per_question[2]["correct"] is True
    assert res.syntactic == pytest.approx(res.sections["gram-family"]["accuracy"])
    assert res.accuracy == pytest.approx((1 + res.sections["gram-family"]["correct"]) / 3)
    small = evaluate_analogies(toy(), questions, restrict_vocab=4)  # only man/king/woman/queen are candidates
    assert (small.evaluated, small.semantic) == (2, 0.0)


def test_evaluate_all_and_cli_on_a_small_data_folder(tmp_path, capsys):
    data = tmp_path / "wordsim"
    data.mkdir()
    (data / "wordsim353.tsv").write_text("# c\nman king 8\nman woman 3\nman paris 1\n")
    (data / "simlex999.txt").write_text("king queen 8\nman paris 1\nwoman queen 5\n")
    write_questions(data / "questions-words.txt")
    report = evaluate_all(toy(), data)
    assert list(report.similarity) == ["ws353", "simlex999"]
    assert report.aggregate["ws353_coverage"] == 1.0 and report.aggregate["analogy_evaluated"] == 3
    toy().save_word2vec_format(tmp_path / "v.txt")
    out = tmp_path / "run"
    assert main(["--vectors", str(tmp_path / "v.txt"), "--data-dir", str(data), "--output-dir", str(out), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["primary_metric"] == "ws353" and printed["aggregate"] == report.aggregate
    assert "per_pair" not in printed["similarity"]["ws353"]
    assert len(json.loads((out / "per_example.json").read_text())["analogies"]["per_question"]) == 4
    assert (out / "pca.png").read_bytes()[:4] == b"\x89PNG"
    saved = (out / "metrics.json").read_text()
    assert main(["--vectors", str(tmp_path / "nope"), "--output-dir", str(out)]) == 2  # refused before loading
    assert f"The output folder {str(out)!r} is not empty. Pass --overwrite" in capsys.readouterr().err
    assert (out / "metrics.json").read_text() == saved
    (out / "stale.txt").write_text("from an older run")
    assert main(["--vectors", str(tmp_path / "v.txt"), "--data-dir", str(data), "--output-dir", str(out), "--overwrite"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "pca.png", "per_example.json"]


def test_cli_reports_missing_vectors(tmp_path, capsys):
    assert main(["--vectors", str(tmp_path / "nope")]) == 2
    assert "do not exist" in capsys.readouterr().err


def test_pca_plot_needs_three_known_words(tmp_path):
    assert plot_pca(toy(), tmp_path / "a.png", {"g": ["man", "king", "unicorn"]}) is None
    assert plot_pca(toy(), tmp_path / "b.png", {"g": ["man", "king"], "h": ["paris"]}).is_file()


def test_shared_benchmark_files_parse(shared_data):
    root = shared_data / "wordsim"
    if not (root / "questions-words.txt").is_file():
        pytest.skip(f"{root} has no word-similarity data")
    assert len(read_pairs(root / "wordsim353.tsv")) == 353
    assert len(read_pairs(root / "simlex999.txt")) == 999
    questions = read_analogies(root / "questions-words.txt")
    assert len(questions) == 19544 and len({q[0] for q in questions}) == 14
