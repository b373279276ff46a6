"""Classical baselines: featurisers, logistic regression, C selection, retrieval adapter, support corpus, CLI."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from evaluation.baseline_retrieval import FeatureRetriever, score_dense, score_retrieval
from evaluation.baselines import main
from pipeline.errors import ConfigError, ModelLoadError, NotFittedError
from pipeline.types import Snippet
from training.baselines import BaselineClassifier, select_c
from training.data import IntentData, IntentSplit
from training.embeddings import WordVectors
from training.support_corpus import write_corpus
from training.text_features import BowFeaturizer, LsaFeaturizer, text8_tokens
from training.wordvec_features import WordVectorFeaturizer

TRAIN = IntentSplit(
    ["cancel my order", "please cancel the order", "cancel order now",
     "refund my money", "i want a refund", "money back refund",
     "where is my parcel", "track my parcel", "parcel not arrived"],
    ["cancel"] * 3 + ["refund"] * 3 + ["track"] * 3)
VALIDATION = IntentSplit(["cancel the order", "refund money", "parcel arrived"], ["cancel", "refund", "track"])
TEST = IntentSplit(["Cancel it!", "a refund please", "my parcel?"], ["cancel", "refund", "track"])
WORDS = ["cancel", "order", "refund", "money", "parcel", "track", "invoice"]


def toy_vectors(cls: type = WordVectors) -> WordVectors:
    wv = cls()
    wv._set_vectors(np.eye(7, dtype=np.float32), WORDS, np.arange(7, 0, -1))
    return wv


class SubwordToy(WordVectors):
    """Composes a vector for unknown words starting with 'refund' (a fastText stand-in)."""

    def get_vector(self, word: str, norm: bool = False) -> np.ndarray:
        if word not in self.index_ and word.startswith("refund"):
            return np.array([0, 0, 0, 0, 0, 0, 1], dtype=np.float32)
        return super().get_vector(word, norm)


def test_text8_tokens_match_the_corpus_normalisation():
    assert text8_tokens("I'm owed $25 for order #A7!") == ["i", "m", "owed", "two", "five", "for", "order", "a", "seven"]
    assert text8_tokens("  ?! ") == []


def test_bow_kinds_and_state_round_trip():
    texts = ["cancel order", "cancel cancel refund"]
    binary = BowFeaturizer(kind="binary", ngram_range=(1, 1)).fit(texts)
    count = BowFeaturizer(kind="count", ngram_range=(1, 1)).fit(texts)
    assert binary.transform(["cancel cancel order"]).toarray().tolist() == [[1, 1, 0]]  # cancel, order, refund
    assert count.transform(["cancel cancel order"]).toarray().tolist() == [[2, 1, 0]]
    tfidf = BowFeaturizer(kind="tfidf", ngram_range=(1, 2)).fit(texts)
    assert tfidf.n_features_ == 6  # 3 words + "cancel order", "cancel cancel", "cancel refund"
    for model in (binary, count, tfidf, LsaFeaturizer(n_components=1).fit(texts)):
        state, arrays = model.get_state()
        again = type(model).from_state(model.get_params(), state, arrays)
        x, y = model.transform(["refund order"]), again.transform(["refund order"])
        assert np.allclose(getattr(x, "toarray", lambda: x)(), getattr(y, "toarray", lambda: y)())
    with pytest.raises(NotFittedError, match="not fitted"):
        BowFeaturizer().transform(["x"])


def test_word_vector_mean_tfidf_and_empty_texts():
    mean = WordVectorFeaturizer(vectors=toy_vectors(), weighting="mean").fit(["cancel order", "cancel refund", "money"])
    x = mean.transform(["Cancel my ORDER!", "nothing known here", ""])
    assert np.allclose(x[0], [2 ** -0.5, 2 ** -0.5, 0, 0, 0, 0, 0])
    assert x[1].tolist() == [0.0] * 7 and x[2].tolist() == [0.0] * 7  # no known word: zero row, no error
    tfidf = WordVectorFeaturizer(vectors=toy_vectors(), weighting="tfidf").fit(["cancel order", "cancel refund", "money"])
    idf_cancel, idf_order, idf_parcel = np.log(4 / 3) + 1, np.log(4 / 2) + 1, np.log(4) + 1  # parcel: unseen in fit
    expected = np.array([idf_cancel, idf_order, 0, 0, idf_parcel, 0, 0])
    assert np.allclose(tfidf.transform(["cancel order parcel"])[0], expected / np.linalg.norm(expected))
    unnormalised = WordVectorFeaturizer(vectors=toy_vectors(), norm=False).fit(["x"])
    assert np.allclose(unnormalised.transform(["cancel cancel order"])[0], [2 / 3, 1 / 3, 0, 0, 0, 0, 0])
    assert mean.coverage(["cancel my order"]) == pytest.approx(2 / 3)


def test_unknown_words_use_composed_vectors_when_the_model_has_them():
    plain = WordVectorFeaturizer(vectors=toy_vectors()).fit(["x"])
    subword = WordVectorFeaturizer(vectors=toy_vectors(SubwordToy)).fit(["x"])
    assert plain.transform(["refunded xyz"])[0].tolist() == [0.0] * 7
    assert subword.transform(["refunded xyz"])[0].tolist() == [0, 0, 0, 0, 0, 0, 1]
    assert np.allclose(subword.transform(["refunded cancel"])[0], [2 ** -0.5, 0, 0, 0, 0, 0, 2 ** -0.5])


def test_classifier_matches_sklearn_and_round_trips(tmp_path):
    from sklearn.linear_model import LogisticRegression

    clf = BaselineClassifier(featurizer=BowFeaturizer(kind="tfidf"), C=10.0).fit(TRAIN.texts, TRAIN.labels)
    assert clf.classes_ == ["cancel", "refund", "track"]
    assert clf.predict(TEST.texts) == TEST.labels
    x = clf.featurizer.transform(TEST.texts)
    reference = LogisticRegression(C=10.0, max_iter=2000, random_state=42).fit(
        clf.featurizer.transform(TRAIN.texts), TRAIN.labels)
    assert np.allclose(clf.predict_proba(TEST.texts), reference.predict_proba(x), atol=1e-5)
    binary = BaselineClassifier(featurizer=BowFeaturizer(kind="count"), C=1.0).fit(TRAIN.texts[:6], TRAIN.labels[:6])
    reference = LogisticRegression(C=1.0, max_iter=2000, random_state=42).fit(
        binary.featurizer.transform(TRAIN.texts[:6]), TRAIN.labels[:6])
    assert np.allclose(binary.predict_proba(TEST.texts), reference.predict_proba(binary.featurizer.transform(TEST.texts)),
                       atol=1e-5)
    assert binary.predict(["cancel", "refund"]) == ["cancel", "refund"]

    clf.save(tmp_path / "tfidf")
    loaded = BaselineClassifier.load(tmp_path / "tfidf")
    assert loaded.classes_ == clf.classes_ and loaded.C == 10.0
    assert np.allclose(loaded.predict_proba(TEST.texts), clf.predict_proba(TEST.texts))
    assert sorted(p.name for p in (tmp_path / "tfidf").iterdir()) == ["README.md", "config.json", "labels.json",
                                                                      "model.safetensors"]
    with pytest.raises(NotFittedError, match="not fitted"):
        BaselineClassifier(featurizer=BowFeaturizer()).predict(["x"])
    with pytest.raises(ModelLoadError, match="missing config.json, model.safetensors, labels.json"):
        BaselineClassifier.load(tmp_path)


def test_standardize_matches_a_standard_scaler():
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    feat = WordVectorFeaturizer(vectors=toy_vectors())
    clf = BaselineClassifier(featurizer=feat, C=1.0, standardize=True).fit(TRAIN.texts, TRAIN.labels)
    scaler = StandardScaler().fit(feat.transform(TRAIN.texts))
    reference = LogisticRegression(C=1.0, max_iter=2000).fit(scaler.transform(feat.transform(TRAIN.texts)), TRAIN.labels)
    texts = TEST.texts + ["invoice"]  # "invoice" is constant (0) in training: scaled by 1, as StandardScaler does
    assert np.allclose(clf.predict_proba(texts), reference.predict_proba(scaler.transform(feat.transform(texts))), atol=1e-5)
    with pytest.raises(ConfigError, match="standardize=True needs dense features"):
        BaselineClassifier(featurizer=BowFeaturizer(), standardize=True).fit(TRAIN.texts, TRAIN.labels)


def test_word_vector_classifier_saves_the_vectors_path(tmp_path):
    toy_vectors().save(tmp_path / "vectors")
    feat = WordVectorFeaturizer(vectors=str(tmp_path / "vectors"), weighting="tfidf")
    clf = BaselineClassifier(featurizer=feat, C=10.0, standardize=True).fit(TRAIN.texts, TRAIN.labels)
    clf.save(tmp_path / "clf")
    loaded = BaselineClassifier.load(tmp_path / "clf")
    assert loaded.predict(TEST.texts) == clf.predict(TEST.texts) == TEST.labels
    assert np.allclose(loaded.predict_proba(TEST.texts), clf.predict_proba(TEST.texts))


def test_select_c_uses_validation_and_breaks_ties_to_the_smaller_c():
    clf, report = select_c(BowFeaturizer(kind="tfidf"), TRAIN, VALIDATION, grid=(100, 1, 10))
    assert list(report.validation) == ["1", "10", "100"]
    assert all(v["macro_f1"] == 1.0 for v in report.validation.values())
    assert report.best_c == 1.0 and clf.C == 1.0 and clf.standardize is False  # sparse features stay as they are
    _, dense = select_c(WordVectorFeaturizer(vectors=toy_vectors()), TRAIN, VALIDATION, grid=(1,))
    assert dense.n_features == 7
    assert report.n_features == BowFeaturizer(kind="tfidf").fit(TRAIN.texts).n_features_


def kb() -> SimpleNamespace:
    return SimpleNamespace(snippets=[
        Snippet(id="refund-time", intents=["get_refund"], title="Refund timing", text="Refunds reach your card in five days.",
                tags=["refund"]),
        Snippet(id="parcel-track", intents=["track_order"], title="Track a parcel", text="Use the tracking link to follow your parcel."),
        Snippet(id="password-reset", intents=["recover_password"], title="Reset password",
                text="Reset your password from the login page."),
    ])


def test_feature_retriever_ranks_by_cosine():
    retriever = FeatureRetriever(featurizer=BowFeaturizer(kind="tfidf", ngram_range=(1, 1))).fit(kb().snippets)
    assert retriever.rank(["how do I reset my password", "track parcel", "zzz"]) == [
        ["password-reset", "refund-time", "parcel-track"],  # "my"/"do" are nowhere; ties keep KB order
        ["parcel-track", "refund-time", "password-reset"],
        ["refund-time", "parcel-track", "password-reset"],  # nothing known: knowledge-base order
    ]
    examples = [SimpleNamespace(message="reset password", snippet_ids=["password-reset"]),
                SimpleNamespace(message="zzz", snippet_ids=["parcel-track"])]
    assert score_retrieval(BowFeaturizer(kind="binary"), kb(), examples) == {"hit@1": 0.5, "hit@3": 1.0, "mrr": 0.75, "n": 2}
    with pytest.raises(NotFittedError):
        FeatureRetriever(featurizer=BowFeaturizer()).score(["x"])


def test_score_dense_ranks_by_the_encoders_cosine():
    class WordEncoder:  # one dimension per listed word
        words = ("refund", "parcel", "password")

        def encode(self, texts):
            return np.array([[float(w in t.lower()) for w in self.words] for t in texts])

    examples = [SimpleNamespace(message="my refund", snippet_ids=["refund-time"]),
                SimpleNamespace(message="where is the parcel", snippet_ids=["parcel-track"]),
                SimpleNamespace(message="hello", snippet_ids=["password-reset"])]  # all zero: knowledge-base order
    assert score_dense(WordEncoder(), kb(), examples) == {"hit@1": 0.6667, "hit@3": 1.0, "mrr": 0.7778, "n": 3}


def test_write_corpus_tokenises_and_counts(tmp_path):
    manifest = write_corpus(tmp_path / "c.txt", {"a": ["Order #12!", "  "], "b": ["Hello World"]}, {"seed": 1})
    assert (tmp_path / "c.txt").read_text() == "order one two\nhello world\n"
    assert manifest["sources"] == {"a": {"texts": 2, "lines": 1, "tokens": 3}, "b": {"texts": 1, "lines": 1, "tokens": 2}}
    assert (manifest["lines"], manifest["tokens"], manifest["seed"]) == (2, 5, 1)
    assert json.loads((tmp_path / "c.txt.json").read_text())["tokens"] == 5


def test_support_corpus_cli_plain_and_json(tmp_path, capsys):
    from training.support_corpus import main as corpus_main

    out = tmp_path / "kb.txt"
    assert corpus_main(["--out", str(out), "--sources", "knowledge_base", "-q"]) == 0
    manifest = json.loads((tmp_path / "kb.txt.json").read_text())
    lines = manifest["lines"]
    assert lines == len(out.read_text().splitlines()) == manifest["sources"]["knowledge_base"]["texts"]
    assert capsys.readouterr().out == (f"Wrote {out}: {lines:,} lines, {manifest['tokens']:,} tokens "
                                       f"(knowledge_base {lines:,} lines); manifest in {out}.json\n")
    assert corpus_main(["--out", str(out), "--sources", "knowledge_base", "-q", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {k: manifest[k] for k in ("corpus", "sources", "lines", "tokens")}


# ----- command line ----------------------------------------------------------------------------

def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv, message", [
    (["--datasets", "banking77,foo"], "The 'datasets' parameter of BaselinesConfig must be a comma-separated list of"),
    (["--methods", "tfidf,bert"], "'bert' is not one"),
    (["--c-grid", "1,-2"], "The 'c_grid' parameter of BaselinesConfig must be a comma-separated list of numbers > 0"),
    (["--vectors", "w2v=/nonexistent/vectors"], "Word vectors 'w2v': '/nonexistent/vectors' does not exist."),
    (["--vectors", "bad name=/tmp"], "--vectors takes NAME=PATH"),
    (["--transformer", "banking77"], "--transformer takes DATA=MODEL_DIR"),
])
def test_cli_bad_input_is_one_line(capsys, tmp_path, argv, message):
    code, out, err = run_cli(capsys, *argv, "--no-discover", "--output-dir", str(tmp_path / "out"))
    assert code == 2 and out == ""
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_cli_named_transformer_or_encoder_must_exist(capsys, tmp_path):
    (tmp_path / "untrained").mkdir()
    for argv, message in (
        (["--transformer", f"banking77={tmp_path / 'missing'}"],
         f"error: The --transformer model banking77={tmp_path / 'missing'} does not exist. Train it with "
         f"python -m training.finetune_intent --data banking77 --output-dir {tmp_path / 'missing'}, or fix the path.\n"),
        (["--transformer", f"banking77={tmp_path / 'untrained'}"],
         f"error: The --transformer model banking77={tmp_path / 'untrained'} has no test scores in metrics.json."),
        (["--encoder", str(tmp_path / "no-encoder")], f"error: The --encoder folder '{tmp_path / 'no-encoder'}' "
                                                      "does not exist."),
    ):
        code, out, err = run_cli(capsys, *argv, "--datasets", "banking77", "--no-discover",
                                 "--output-dir", str(tmp_path / "out"))
        assert code == 2 and out == "" and err.startswith(message) and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_cli_rejects_folders_and_files_that_are_not_vectors(capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("hello world\n")
    code, _, err = run_cli(capsys, "--vectors", f"e={tmp_path / 'empty'}", "--output-dir", str(tmp_path / "o"))
    assert code == 2 and "is not a WordVectors artifact (missing vectors.safetensors, vocab.json, config.json)" in err
    code, _, err = run_cli(capsys, "--vectors", f"t={tmp_path / 'notes.txt'}", "--output-dir", str(tmp_path / "o"))
    assert code == 2 and "is neither a WordVectors folder nor a word2vec-format file" in err


def test_cli_table_end_to_end(capsys, caplog, tmp_path, monkeypatch):
    def fake_data(name, seed=42, max_per_label=None, **_):
        return IntentData(name=name, train=TRAIN, validation=VALIDATION, test=TEST, labels=["cancel", "refund", "track"],
                          meta={"split_sizes": {"train": 9, "validation": 3, "test": 3}})

    monkeypatch.setattr("training.data.load_intent_data", fake_data)
    toy_vectors().save(tmp_path / "toy")
    model = tmp_path / "intent-model"
    model.mkdir()
    (model / "metrics.json").write_text(json.dumps({"test": {"accuracy": 0.5, "macro_f1": 0.25, "n": 3}, "train_seconds": 12.0}))
    # the name an older model folder gives its resolved config (training_config.json) is still read
    (model / "training_config.json").write_text(json.dumps({"seed": 42, "validation_size": 0.1, "test_size": 0.1,
                                                            "max_per_label": None, "base_model": "default"}))
    out = tmp_path / "table"
    code, stdout, err = run_cli(capsys, "--vectors", f"toy={tmp_path / 'toy'}", "--no-discover", "--no-retrieval",
                                "--c-grid", "1,10", "--transformer", f"banking77={model}", "--save-models",
                                "--output-dir", str(out))
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    names = [r["method"] for r in metrics["rows"]]
    assert names == ["BoW binary (1-2-grams) + LR", "BoW counts (1-2-grams) + LR", "TF-IDF (1-2-grams) + LR",
                     "LSA (TF-IDF, SVD 300) + LR", "toy mean + LR", "toy TF-IDF-weighted + LR",
                     "fine-tuned transformer (all-MiniLM-L6-v2)"]
    tfidf = metrics["rows"][2]["results"]["banking77"]
    assert (tfidf["accuracy"], tfidf["macro_f1"], tfidf["best_c"]) == (1.0, 1.0, 1.0)
    assert set(tfidf["validation"]) == {"1", "10"}
    transformer = metrics["rows"][-1]["results"]
    assert set(transformer) == {"banking77"} and transformer["banking77"]["accuracy"] == 0.5
    assert transformer["banking77"]["same_splits"] is True
    table = (out / "table.md").read_text()
    assert table.splitlines()[0] == "| method | vectors | BANKING77 acc | BANKING77 macro-F1 | Bitext macro-F1 | fit s (BANKING77) |"
    assert "| fine-tuned transformer (all-MiniLM-L6-v2) | - | 0.5000 | 0.2500 | n/a | 12.0 |" in table
    assert "toy mean + LR" in stdout
    assert json.loads((out / "resolved_config.json").read_text())["vectors_used"] == {"toy": str(tmp_path / "toy")}
    saved = BaselineClassifier.load(out / "models" / "toy-tf-idf-weighted-lr-banking77")
    assert saved.predict(TEST.texts) == TEST.labels

    # --reuse copies rows of the same method, vectors and settings; other settings refit everything
    again = tmp_path / "again"
    code, stdout, err = run_cli(capsys, "--vectors", f"toy={tmp_path / 'toy'}", "--no-discover", "--no-retrieval",
                                "--c-grid", "1,10", "--methods", "tfidf,wordvec", "--reuse", str(out), "--save-models",
                                "--output-dir", str(again), "--json")
    assert code == 0, err
    assert BaselineClassifier.load(again / "models" / "toy-mean-lr-bitext").predict(TEST.texts) == TEST.labels
    assert json.loads(stdout) == json.loads((again / "metrics.json").read_text())  # --json: the metrics, nothing else
    rows = json.loads((again / "metrics.json").read_text())["rows"]
    assert [r["info"].get("reused_from") for r in rows] == [str(out)] * 3
    assert rows[0]["results"] == metrics["rows"][2]["results"]
    code, _, err = run_cli(capsys, "--methods", "tfidf", "--no-retrieval", "--c-grid", "1", "--reuse", str(out),
                           "--no-discover", "--output-dir", str(tmp_path / "third"))
    assert code == 0 and "that run used other settings" in caplog.text
    assert "reused_from" not in json.loads((tmp_path / "third" / "metrics.json").read_text())["rows"][0]["info"]
    code, _, err = run_cli(capsys, "--reuse", str(tmp_path / "nowhere"), "--output-dir", str(tmp_path / "fourth"))
    assert code == 2 and "--reuse" in err and err.count("\n") == 1
    (tmp_path / "list").mkdir()
    (tmp_path / "list" / "metrics.json").write_text("[1, 2]")
    code, _, err = run_cli(capsys, "--reuse", str(tmp_path / "list"), "--output-dir", str(tmp_path / "fifth"))
    assert code == 2 and "is not a metrics.json written by python -m evaluation.baselines" in err


def test_corpus_label_reads_the_artifact_config(tmp_path):
    from evaluation.baseline_rows import WIKI8_TOKENS, corpus_label

    cases = {"wiki": {"corpus": "../shared/data/corpus/wiki8_text8style_100M.txt.gz"},
             "tmpcopy": {"corpus": "/tmp/x/corpus.txt", "raw_tokens": WIKI8_TOKENS},
             "support": {"corpus": "artifacts/corpora/support.txt"}, "other": {"corpus": "/data/news.txt"}, "none": {}}
    for name, training in cases.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text(json.dumps({"class": "WordVectors", "training": training}))
    assert [corpus_label(tmp_path / n) for n in cases] == ["wiki8 100M", "wiki8 100M", "support", "news.txt", "?"]
