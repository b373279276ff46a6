"""Retriever, lexical scorers, vector index and ranking metrics on a four-snippet literal knowledge base.

A keyword-count fake encoder stands in for MiniLM, so every cosine is known
exactly and no model is loaded (one slow test uses the real packaged encoder).
"""
from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import pytest

from evaluation.ranking import RankingEvaluator, first_relevant_rank, hit_at_k, reciprocal_rank
from knowledge_base.loader import KnowledgeBase, KnowledgeBaseError
from pipeline.errors import ConfigError, DataError, NotFittedError
from pipeline.retrieval.lexical import BM25
from pipeline.retrieval.retriever import Retriever, RetrieverConfig, document_text, summary_text
from pipeline.types import IntentPrediction, Snippet
from pipeline.retrieval.vector_index import ExactIndex, FaissIndex, faiss_available, make_index

VOCAB = ("refund", "money", "password", "reset", "login", "cancel", "order", "fee", "ship", "days")


class KeywordEncoder:
    """Deterministic fake encoder: counts of VOCAB words (+ a small constant), L2-normalised."""

    name = "keyword-fake"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        rows = [[t.lower().count(w) for w in VOCAB] + [0.1] for t in texts]
        vecs = np.asarray(rows, dtype=np.float32).reshape(len(texts), len(VOCAB) + 1)
        return vecs / np.linalg.norm(vecs, axis=1, keepdims=True)

    def encoded_texts(self) -> int:
        return sum(len(c) for c in self.calls)


SNIPPETS = [
    Snippet(id="refund-window", intents=["check_refund_policy"], title="Refund window",
            text="A refund is possible within 30 days of delivery."),
    Snippet(id="refund-timing", intents=["get_refund", "track_refund"], title="When the money arrives",
            text="Refund money reaches your card within 5 days."),
    Snippet(id="password-reset", intents=["recover_password"], title="Reset your password",
            text="Use the reset link on the login page to choose a new password."),
    Snippet(id="cancel-fee", intents=["cancel_order", "check_cancellation_fee"], title="Cancellation fee",
            text="Cancel an order before we ship it for free; after that a fee of 5 dollars applies."),
]


def make_kb(snippets: list[Snippet] = SNIPPETS) -> KnowledgeBase:
    return KnowledgeBase(snippets=[Snippet(**{k: getattr(s, k) for k in ("id", "intents", "title", "text", "tags")})
                                   for s in snippets], root=Path("literal"))


def cosine(a: str, b: str) -> float:
    enc = KeywordEncoder()
    va, vb = enc.encode([a, b])
    return float(va @ vb)


PLAIN = {"summary_weight": 0.0, "sentence_scores": False}  # dense score = cosine of the full text only; no sentence vectors


@pytest.fixture
def retriever(tmp_path: Path) -> Retriever:
    return Retriever(make_kb(), encoder=KeywordEncoder(), cache_dir=str(tmp_path / "cache"), **PLAIN)


def ids(result: dict, i: int = 0) -> list[str]:
    return [s.id for s in result["snippets"][i]]


def test_dense_only_ranks_by_cosine(retriever: Retriever) -> None:
    out = retriever.run(["I forgot my password, how do I reset it?"], top_k=4)
    assert ids(out) == ["password-reset", "refund-window", "refund-timing", "cancel-fee"]
    best = out["snippets"][0][0]
    expected = cosine("I forgot my password, how do I reset it?", document_text(SNIPPETS[2]))
    assert best.score == round(expected, 4)
    assert best.reason == f"cosine {expected:.2f}"
    assert out["notes"] == [[]]


def test_document_and_summary_texts() -> None:
    assert document_text(SNIPPETS[0]) == "Refund window. A refund is possible within 30 days of delivery."
    tagged = Snippet(id="x", intents=["get_refund"], title="Refund timing?", text="Five days.", tags=["money back", "card"])
    assert document_text(tagged) == "Refund timing? Five days. Keywords: money back, card."
    assert summary_text(tagged) == "Refund timing?. money back, card" and summary_text(SNIPPETS[0]) == "Refund window"


def test_summary_vector_mix(tmp_path: Path) -> None:
    snippets = [SNIPPETS[0], Snippet(id="refund-timing", intents=["check_refund_policy", "get_refund"],
                                     title="When the money arrives", text="Refund money reaches your card within 5 days.")]
    r = Retriever(make_kb(snippets), encoder=KeywordEncoder(), cache_dir=str(tmp_path), summary_weight=0.5, sentence_scores=False)
    msg = "when does my refund money arrive"
    out = r.run([msg], top_k=2)["snippets"][0]
    dense = {s.id: 0.5 * cosine(msg, document_text(s)) + 0.5 * cosine(msg, summary_text(s)) for s in snippets}
    assert {s.id: s.score for s in out} == {"refund-window": round(dense["refund-window"], 4),
                                              "refund-timing": round(dense["refund-timing"], 4)}
    window = next(s for s in out if s.id == "refund-window")
    assert window.reason == f"cosine {dense['refund-window']:.2f}"
    assert r.build_info["texts"] == 4 and r.build_info["encoded"] == 4


def test_filter_keeps_only_the_intents_snippets(retriever: Retriever) -> None:
    out = retriever.run(["refund my money"], intents=["recover_password"], top_k=3)
    assert ids(out) == ["password-reset"]
    assert out["snippets"][0][0].reason.startswith("intent filter match 'recover_password' + cosine ")
    both = retriever.run(["refund my money"], intents=[["recover_password", "get_refund"]], top_k=3)
    assert ids(both) == ["refund-timing", "password-reset"]


def test_filter_with_a_prediction_uses_its_top_n_intents_weighted(tmp_path: Path) -> None:
    r = Retriever(make_kb(), encoder=KeywordEncoder(), cache_dir=str(tmp_path), intent_top_n=2, boost=3.0, **PLAIN)
    pred = IntentPrediction(label="cancel_order", confidence=0.7,
                            ranking=[("cancel_order", 0.7), ("recover_password", 0.2), ("get_refund", 0.1)])
    out = r.run(["reset my password"], intents=[pred], top_k=3)["snippets"][0]
    assert [s.id for s in out] == ["cancel-fee", "password-reset"]  # cancel-fee wins on p=0.7 despite cosine 0
    cos_cancel = cosine("reset my password", document_text(SNIPPETS[3]))
    assert out[0].score == round(cos_cancel + 3.0 * 0.7, 4)
    assert out[0].reason == f"intent filter match 'cancel_order' +2.10 + cosine {cos_cancel:.2f}"


def test_filter_with_unknown_intent_falls_back_to_unfiltered(retriever: Retriever) -> None:
    out = retriever.run(["cancel my order"], intents=["delete_account"])
    assert out["notes"] == [["no snippets for intent 'delete_account': unfiltered dense retrieval"]]
    assert ids(out) == ids(retriever.run(["cancel my order"]))
    assert ids(out)[0] == "cancel-fee"


def test_out_of_scope_prediction_is_not_used_as_a_filter(retriever: Retriever) -> None:
    pred = IntentPrediction(label="recover_password", confidence=0.2, ranking=[("recover_password", 0.2)], in_scope=False)
    out = retriever.run(["cancel my order"], intents=[pred])
    assert ids(out)[0] == "cancel-fee"
    assert out["notes"] == [["intent 'recover_password' is out of scope (confidence 0.20): unfiltered dense retrieval"]]


def test_boost_adds_boost_times_probability(tmp_path: Path) -> None:
    r = Retriever(make_kb(), encoder=KeywordEncoder(), cache_dir=str(tmp_path), intent_mode="boost", boost=2.0,
                  intent_top_n=2, **PLAIN)
    msg = "reset my password"
    assert ids(r.run([msg], top_k=1)) == ["password-reset"]
    pred = IntentPrediction(label="get_refund", confidence=0.9, ranking=[("get_refund", 0.9), ("recover_password", 0.1)])
    top = r.run([msg], intents=[pred], top_k=2)["snippets"][0]
    assert [s.id for s in top] == ["refund-timing", "password-reset"]
    cos_refund = cosine(msg, document_text(SNIPPETS[1]))
    cos_password = cosine(msg, document_text(SNIPPETS[2]))
    assert top[0].score == round(cos_refund + 2.0 * 0.9, 4)
    assert top[1].score == round(cos_password + 2.0 * 0.1, 4)
    assert top[0].reason == f"intent boost 'get_refund' +1.80 + cosine {cos_refund:.2f}"


def test_hybrid_with_full_lexical_weight_ranks_by_normalised_bm25(tmp_path: Path) -> None:
    r = Retriever(make_kb(), encoder=KeywordEncoder(), cache_dir=str(tmp_path), intent_mode="none", lexical_weight=1.0,
                  **PLAIN)
    out = r.run(["what is the cancellation fee"], top_k=2)
    bm25 = BM25().fit([document_text(s) for s in SNIPPETS]).score(["what is the cancellation fee"])[0]
    assert ids(out)[0] == "cancel-fee" and int(np.argmax(bm25)) == 3
    assert out["snippets"][0][0].score == 1.0
    assert "bm25 1.00 (weight 1)" in out["snippets"][0][0].reason


@pytest.mark.parametrize("messages, error", [
    ([""], "Message 0 is empty or only whitespace ('')"),
    (["ok", "   \n"], "Message 1 is empty or only whitespace"),
    ("refund please", "expects a list of messages. Got str"),
])
def test_bad_messages_raise_one_line_data_error(retriever: Retriever, messages, error: str) -> None:
    with pytest.raises(DataError, match=error.replace("(", r"\(").replace(")", r"\)")):
        retriever.run(messages)


def test_bad_arguments(retriever: Retriever) -> None:
    with pytest.raises(ConfigError, match=r"^The 'top_k' parameter of Retriever must be an int >= 1. Got 0.$"):
        retriever.run(["refund"], top_k=0)
    with pytest.raises(DataError, match="got 1 messages but 2 intents"):
        retriever.run(["refund"], intents=["get_refund", None])
    with pytest.raises(DataError, match=r"intents\[0\] must be an IntentPrediction"):
        retriever.run(["refund"], intents=[3])
    with pytest.raises(ConfigError, match="intent_mode' parameter of RetrieverConfig must be one of filter, boost, none. Got 'filtre'"):
        Retriever(intent_mode="filtre")
    with pytest.raises(ConfigError, match="Unknown key"):
        Retriever(topk=3)


def test_missing_or_empty_kb_folder_raises_the_loader_error(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeBaseError, match="does not exist"):
        Retriever(kb_path=str(tmp_path / "nope"), encoder=KeywordEncoder()).warm_up()
    (tmp_path / "empty").mkdir()
    with pytest.raises(KnowledgeBaseError, match="has no .yaml files"):
        Retriever(kb_path=str(tmp_path / "empty"), encoder=KeywordEncoder()).warm_up()


def test_kb_from_yaml_folder(tmp_path: Path) -> None:
    (tmp_path / "kb").mkdir()
    (tmp_path / "kb" / "refunds.yaml").write_text(
        "- id: refund-window\n  intents: [check_refund_policy]\n  title: Refund window\n"
        "  text: A refund is possible within 30 days.\n"
        "- id: password-reset\n  intents: recover_password\n  title: Reset your password\n"
        "  text: Use the reset link on the login page.\n", encoding="utf-8")
    r = Retriever(kb_path=str(tmp_path / "kb"), encoder=KeywordEncoder(), cache_dir=str(tmp_path / "c"))
    assert ids(r.run(["password reset please"], top_k=1)) == ["password-reset"]


def test_cache_hit_and_partial_reembed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cache = str(tmp_path / "cache")
    enc = KeywordEncoder()
    first = Retriever(make_kb(), encoder=enc, cache_dir=cache, **PLAIN)
    first.warm_up()
    assert enc.encoded_texts() == 4 and first.build_info["cache_hit"] is False
    second_enc = KeywordEncoder()
    with caplog.at_level(logging.INFO, logger="pipeline.retrieval.retriever"):
        second = Retriever(make_kb(), encoder=second_enc, cache_dir=cache, **PLAIN)
        second.warm_up()
    assert second_enc.encoded_texts() == 0 and second.build_info["cache_hit"] is True
    assert "cache hit, 4 snippets" in caplog.text
    edited = list(SNIPPETS)
    edited[2] = Snippet(id="password-reset", intents=["recover_password"], title="Reset your password",
                        text="Use the reset link sent to your email to choose a new password.")
    third_enc = KeywordEncoder()
    third = Retriever(make_kb(edited), encoder=third_enc, cache_dir=cache, **PLAIN)
    third.warm_up()
    assert third_enc.calls == [[document_text(edited[2])]]
    assert third.build_info == {**third.build_info, "cache_hit": False, "encoded": 1, "reused": 3}
    np.testing.assert_allclose(third.index.vectors, KeywordEncoder().encode([document_text(s) for s in edited]), atol=1e-6)


def test_corrupt_cache_is_rebuilt_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cache = tmp_path / "cache"
    Retriever(make_kb(), encoder=KeywordEncoder(), cache_dir=str(cache), **PLAIN).warm_up()
    (vec_file,) = cache.glob("*.safetensors")
    vec_file.write_bytes(b"not a safetensors file")
    enc = KeywordEncoder()
    with caplog.at_level(logging.WARNING):
        r = Retriever(make_kb(), encoder=enc, cache_dir=str(cache))
        r.warm_up()
    assert "unreadable" in caplog.text and enc.encoded_texts() == 12  # full texts, summaries and sentences
    assert ids(r.run(["reset password"], top_k=1)) == ["password-reset"]


@pytest.mark.skipif(not faiss_available(), reason="faiss-cpu is not installed")
def test_faiss_index_above_threshold_gives_the_exact_ranking(tmp_path: Path) -> None:
    kwargs = dict(encoder=KeywordEncoder(), cache_dir=str(tmp_path), intent_mode="boost", boost=0.3, lexical_weight=0.2)
    exact = Retriever(make_kb(), **kwargs)
    approx = Retriever(make_kb(), faiss_threshold=2, faiss_index="flat", candidates=2, **kwargs)
    msgs = ["refund my money", "cancel order fee", "login password"]
    intents = ["get_refund", None, "cancel_order"]
    assert approx.run(msgs, intents, top_k=3) == exact.run(msgs, intents, top_k=3)
    assert approx.index.kind == "faiss-flat" and exact.index.kind == "exact-numpy"


@pytest.mark.skipif(not faiss_available(), reason="faiss-cpu is not installed")
def test_faiss_index_is_cached_beside_the_vectors(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    Retriever(make_kb(), encoder=KeywordEncoder(), cache_dir=str(tmp_path), faiss_threshold=2).warm_up()
    assert len(list(tmp_path.glob("*.ivf.faiss"))) == 1
    with caplog.at_level(logging.INFO, logger="pipeline.retrieval.vector_index"):
        again = Retriever(make_kb(), encoder=KeywordEncoder(), cache_dir=str(tmp_path), faiss_threshold=2)
        again.warm_up()
    assert "Loaded the FAISS ivf index of 4 vectors" in caplog.text and again.index.kind == "faiss-ivf"
    assert ids(again.run(["reset password"], top_k=1)) == ["password-reset"]


def test_without_faiss_a_large_index_stays_exact_and_says_so_once(monkeypatch, caplog: pytest.LogCaptureFixture) -> None:
    from pipeline.retrieval import vector_index

    monkeypatch.setattr(vector_index, "faiss_available", lambda: False)
    monkeypatch.setattr(vector_index, "_warned_no_faiss", False)
    vecs = np.eye(12, 4, dtype=np.float32)
    with caplog.at_level(logging.WARNING, logger="pipeline.retrieval.vector_index"):
        kinds = [make_index(vecs, faiss_threshold=10).kind, make_index(vecs, faiss_threshold=10, backend="torch").kind]
    assert kinds == ["exact-numpy", "exact-torch"]
    assert caplog.text.count("Knowledge base has 12 snippets (> faiss_threshold=10) but faiss is not installed") == 1


@pytest.mark.skipif(not faiss_available(), reason="faiss-cpu is not installed")
def test_a_damaged_faiss_cache_is_rebuilt(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    vecs = np.eye(8, dtype=np.float32)
    cache = tmp_path / "index.flat.faiss"
    cache.write_bytes(b"not a faiss index")
    with caplog.at_level(logging.WARNING, logger="pipeline.retrieval.vector_index"):
        index = make_index(vecs, faiss_threshold=2, faiss_kind="flat", cache_path=cache)
    assert "is unreadable" in caplog.text and "rebuilding it" in caplog.text and index.kind == "faiss-flat"
    assert FaissIndex.load(cache, vecs, "flat").index.ntotal == 8  # rewritten whole
    with pytest.raises(ValueError, match="index holds 8x8 vectors, expected 4x8"):
        FaissIndex.load(cache, vecs[:4], "flat")
    assert make_index(vecs, faiss_threshold=2, faiss_kind="flat", cache_path=cache).search(vecs[2], 1)[1].tolist() == [[2]]


def test_exact_index_backends_agree() -> None:
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(50, 8)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    queries = vecs[[3, 7]] + 0.01
    s_np, r_np = ExactIndex(vecs).search(queries, 5)
    s_t, r_t = ExactIndex(vecs, backend="torch").search(queries, 5)
    full = np.argsort(-(queries @ vecs.T), axis=1)[:, :5]
    assert (r_np == full).all() and (r_t == full).all() and r_np[:, 0].tolist() == [3, 7]
    np.testing.assert_allclose(s_np, s_t, atol=1e-6)
    assert make_index(vecs, faiss_threshold=100).kind == "exact-numpy"
    if faiss_available():
        s_f, r_f = FaissIndex(vecs, kind="flat").search(queries, 5)
        assert (r_f == full).all()


def test_bm25_matches_the_formula() -> None:
    corpus = ["refund money", "password reset", "refund"]
    bm25 = BM25(k1=1.5, b=0.75).fit(corpus)
    idf = math.log(1 + (3 - 2 + 0.5) / (2 + 0.5))
    avgdl = 5 / 3
    expect = [idf * 2.5 / (1 + 1.5 * (0.25 + 0.75 * 2 / avgdl)), 0.0, idf * 2.5 / (1 + 1.5 * (0.25 + 0.75 * 1 / avgdl))]
    np.testing.assert_allclose(bm25.score(["refunds please"])[0], expect, rtol=1e-9)
    with pytest.raises(NotFittedError, match="not fitted"):
        BM25().score(["x"])


def test_one_tfidf_retriever_for_both_tables() -> None:
    from types import SimpleNamespace

    from evaluation.retrieval import tfidf_rankings

    kb = SimpleNamespace(snippets=[Snippet(id=i, intents=["x"], title="", text=t) for i, t in
                                   (("a", "refund money"), ("b", "password reset"), ("c", "cancel order"))])
    assert tfidf_rankings(kb, ["reset my password", "cancel it"]) == [["b", "a", "c"], ["c", "a", "b"]]


def test_ranking_metrics_on_literal_ranks() -> None:
    assert first_relevant_rank(["a", "b", "c"], ["c", "b"]) == 2
    assert first_relevant_rank(["a"], ["z"]) is None
    assert hit_at_k(3, 3) == 1.0 and hit_at_k(4, 3) == 0.0 and hit_at_k(None, 1) == 0.0
    assert reciprocal_rank(4) == 0.25 and reciprocal_rank(None) == 0.0
    res = RankingEvaluator(ks=(1, 3)).evaluate([["a", "b", "c"], ["x", "y", "z", "a"], ["b"]], [["a"], ["a"], ["a"]])
    assert [r["rank"] for r in res.per_example] == [1, 4, None]
    assert res.aggregate == {"hit@1": round(1 / 3, 4), "hit@3": round(1 / 3, 4), "mrr": round(1.25 / 3, 4), "n": 3}
    assert res.primary == res.aggregate["mrr"]
    assert res.subset([False, True, False]).aggregate == {"hit@1": 0.0, "hit@3": 0.0, "mrr": 0.25, "n": 1}
    with pytest.raises(ValueError, match="at least one relevant id"):
        first_relevant_rank(["a"], [])


def test_config_yaml_round_trip(tmp_path: Path) -> None:
    cfg = RetrieverConfig.from_yaml(Path(__file__).resolve().parents[1] / "configs" / "retrieval" / "default.yaml")
    assert cfg.encoder == "default" and cfg.top_k == 3
    # evaluation.retrieval reads this file and pipeline.respond the dataclass: they must not drift apart
    assert cfg == RetrieverConfig()
    (tmp_path / "bad.yaml").write_text("top_k: 3\nintent_mod: boost\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="Unknown key\\(s\\) 'intent_mod'"):
        RetrieverConfig.from_yaml(tmp_path / "bad.yaml")


@pytest.mark.slow
def test_real_minilm_ranks_refund_above_password(tmp_path: Path) -> None:
    r = Retriever(make_kb(), cache_dir=str(tmp_path), intent_mode="none")
    ranked = ids(r.run(["I returned the jacket two weeks ago, when do I get my money back?"], top_k=4))
    assert ranked.index("refund-timing") < ranked.index("password-reset")
    assert ranked[0] in {"refund-timing", "refund-window"}


KB_YAML = """\
- id: refund-window
  intents: [check_refund_policy]
  title: Refund window
  text: A refund is possible within 30 days of delivery.
- id: refund-timing
  intents: [get_refund]
  title: When the money arrives
  text: Refund money reaches your card within 5 days.
- id: password-reset
  intents: [recover_password]
  title: Reset your password
  text: Use the reset link on the login page to choose a new password.
- id: cancel-fee
  intents: [cancel_order]
  title: Cancellation fee
  text: Cancel an order before we ship it for free; after that a fee of 5 dollars applies.
"""

SET_YAML = """\
- message: I forgot my password
  intents: [recover_password]
  snippet_ids: [password-reset]
- message: when will my refund money arrive
  intents: [get_refund]
  snippet_ids: [refund-timing]
- message: cancel my order, and how long do I have to return things?
  intents: [cancel_order, check_refund_policy]
  snippet_ids: [cancel-fee, refund-window]
  kind: two_concerns
"""


class FakeClassifier:
    def __init__(self, model: str) -> None:
        self.model = model

    def run(self, messages: list[str]) -> dict:
        return {"predictions": [IntentPrediction(label="recover_password", confidence=0.9,
                                                 ranking=[("recover_password", 0.9), ("get_refund", 0.1)])
                                for _ in messages]}


def test_evaluation_cli_writes_table_metrics_and_per_example_ranks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    from evaluation import retrieval as cli
    from tests.tiny_models import make_tiny_distilbert

    (tmp_path / "kb").mkdir()
    (tmp_path / "kb" / "policies.yaml").write_text(KB_YAML, encoding="utf-8")
    (tmp_path / "set.yaml").write_text(SET_YAML, encoding="utf-8")
    encoder = make_tiny_distilbert(tmp_path / "enc", [KB_YAML])
    (tmp_path / "cfg.yaml").write_text(f"encoder: {encoder}\nkb_path: {tmp_path / 'kb'}\n", encoding="utf-8")
    monkeypatch.setattr("pipeline.nlu.classifier.IntentClassifier", FakeClassifier)
    out = tmp_path / "run"
    code = cli.main(["--config", str(tmp_path / "cfg.yaml"), "--retrieval-set", str(tmp_path / "set.yaml"),
                     "--output-dir", str(out), "--intent-model", "fake", "--json", "-q"])
    assert code == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics == json.loads((out / "metrics.json").read_text())
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "per_example.jsonl", "resolved_config.json", "table.md"]
    assert metrics["index_build"]["warm_cache_hit"] is True and metrics["index_build"]["texts_encoded"] == 12  # + 4 sentences
    rows = {(m["method"], m["intents"]): m for m in metrics["methods"]}
    assert rows[("intent-only lookup", "gold")]["hit@1"] == 1.0  # one snippet per intent: the lookup is exact
    assert rows[("intent filter + dense", "gold")]["hit@1"] == 1.0
    assert metrics["intent_accuracy"] == round(1 / 3, 4) and metrics["kinds"]["two_concerns"] == 1
    assert rows[("intent-only lookup", "predicted")]["mrr"] == round(1 / 3, 4)
    lines = [json.loads(x) for x in (out / "per_example.jsonl").read_text().splitlines()]
    assert len(lines) == 3 and lines[0]["ranks"]["intent-only lookup [gold]"] == 1
    assert "| intent filter + dense | gold | 1.000 |" in (out / "table.md").read_text()


def test_evaluation_cli_bad_kb_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from evaluation import retrieval as cli

    assert cli.main(["--kb", str(tmp_path / "missing"), "--output-dir", str(tmp_path / "o"), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "does not exist" in err and err.count("\n") == 1


def test_evaluation_cli_refuses_a_non_empty_output_dir_before_any_work(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from evaluation import retrieval as cli

    out = tmp_path / "runs"
    (out / "earlier-run").mkdir(parents=True)
    (out / "earlier-run" / "metrics.json").write_text("{}", encoding="utf-8")
    # the knowledge base is missing too: the output folder is checked first, so its error is the one shown
    assert cli.main(["--kb", str(tmp_path / "missing"), "--output-dir", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "is not empty" in err and "--overwrite" in err and err.count("\n") == 1
    assert (out / "earlier-run" / "metrics.json").read_text(encoding="utf-8") == "{}"
    # with --overwrite the folder check passes and the next problem (the missing knowledge base) is reported
    assert cli.main(["--kb", str(tmp_path / "missing"), "--output-dir", str(out), "--overwrite", "-q"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert (out / "earlier-run" / "metrics.json").is_file()


def test_evaluation_cli_missing_intent_model_fails_before_loading(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from evaluation import retrieval as cli

    # the knowledge base is missing too: the model folder is checked first
    assert cli.main(["--kb", str(tmp_path / "missing"), "--intent-model", str(tmp_path / "no-model"),
                     "--output-dir", str(tmp_path / "o"), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "intent model folder" in err and "does not exist" in err
    assert err.count("\n") == 1 and not (tmp_path / "o").exists()


def test_scale_benchmark_json_rows_compare_every_index_with_exact_numpy(capsys):
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "retrieval_scale.py"
    spec = importlib.util.spec_from_file_location("retrieval_scale", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--sizes", "300", "--dim", "16", "--queries", "8", "--repeats", "1", "--approx", "ivf",
                       "--clusters", "4", "--threads", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["settings"]["k"] == 5 and result["settings"]["threads"] == 1
    rows = {r["method"]: r for r in result["rows"]}
    expected = {"exact numpy", "exact torch"} | ({"faiss flat", "faiss ivf"} if faiss_available() else set())
    assert set(rows) == expected and all(r["n"] == 300 for r in rows.values())
    assert rows["exact numpy"]["speedup"] == 1.0 and rows["exact torch"]["recall_at_k"] == 1.0


def test_sentence_scores_are_the_cosine_of_each_sentence(tmp_path: Path) -> None:
    snippet = Snippet(id="refund-two", intents=["get_refund"], title="Refunds",
                      text="A refund reaches your card within 5 days. Store credit arrives within 24 hours.")
    r = Retriever(make_kb([snippet]), encoder=KeywordEncoder(), cache_dir=str(tmp_path), summary_weight=0.0)
    msg = "when does store credit arrive"
    out = r.run([msg], top_k=1)["snippets"][0][0]
    assert out.sentence_scores == [round(cosine(msg, "A refund reaches your card within 5 days."), 4),
                                   round(cosine(msg, "Store credit arrives within 24 hours."), 4)]
    assert r.build_info["texts"] == 3  # the snippet and its two sentences
