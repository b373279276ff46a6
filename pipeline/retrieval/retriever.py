"""Policy retrieval: snippets chosen by the predicted intent plus embedding cosine similarity.

    python -c "from pipeline.retrieval.retriever import Retriever; r = Retriever(); r.warm_up(); \
print(r.run(['I want my money back'], intents=['get_refund'])['snippets'][0][0].reason)"

Each snippet is embedded twice by the sentence encoder: its full text (title,
policy text, tags) and its short view (title and tags); the dense score is
``(1 - summary_weight) * cos(full) + summary_weight * cos(short)``. The intent is used, per
``intent_mode``, to **filter**
(rank only the snippets of the predicted intent(s)), to **boost** (add
``boost * p(intent)`` to their score) or not at all (``none``); a classifier's
prediction contributes its top ``intent_top_n`` intents (in filter mode their
union, ordered with the same probability boost).
``lexical_weight`` mixes in BM25 divided by the best BM25 score of the message
(hybrid retrieval): ``(1 - w) * dense + w * bm25_norm``. Defaults were chosen on the
development set ``knowledge_base/retrieval_dev.yaml`` (``python -m evaluation.retrieval --retrieval-set ...``).

Vectors are cached on disk (see :class:`pipeline.retrieval.embedding.EmbeddingCache`);
above ``faiss_threshold`` snippets the dense candidates come from a FAISS index
and are re-scored exactly.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from pipeline.config import StageConfig
from pipeline.onnx_runtime import RUNTIMES
from pipeline.retrieval.embedding import EmbeddingCache, SentenceEncoder
from pipeline.errors import DataError, check_param
from pipeline.sentences import split_sentences
from pipeline.types import IntentPrediction, Snippet
from pipeline.retrieval.vector_index import FAISS_KINDS, ExactIndex, VectorIndex, make_index

if TYPE_CHECKING:
    from pipeline.retrieval.lexical import BM25

logger = logging.getLogger(__name__)

INTENT_MODES = ("filter", "boost", "none")
IntentSpec = IntentPrediction | str | Sequence[str] | None


def default_cache_dir() -> Path:
    """``$SUPPORT_CACHE_DIR/retrieval``, else ``~/.cache/support-assistant/retrieval``."""
    from pipeline.utils import cache_root

    return cache_root() / "retrieval"


def document_text(snippet: Snippet) -> str:
    """The full text embedded and indexed for a snippet: title, policy text and tags as keywords."""
    title = snippet.title.strip()
    if title and title[-1] not in ".!?:":
        title += "."
    keywords = f" Keywords: {', '.join(snippet.tags)}." if snippet.tags else ""
    return f"{title} {snippet.text.strip()}{keywords}".strip()


def summary_text(snippet: Snippet) -> str:
    """The short view of a snippet (title and tags): what it is about, without the details."""
    return snippet.title.strip() + (f". {', '.join(snippet.tags)}" if snippet.tags else "")


@dataclass
class RetrieverConfig(StageConfig):
    """Settings of the policy retriever."""

    kb_path: str | None = field(default=None,
        metadata={"help": "Knowledge-base folder (None: the packaged knowledge_base/policies)."})
    encoder: str = field(default="default", metadata={"help": "Sentence encoder: 'default', a Hub id or a folder."})
    top_k: int = field(default=3, metadata={"help": "Snippets returned per message."})
    intent_mode: str = field(default="filter", metadata={"help": "How the intent is used: filter | boost | none."})
    summary_weight: float = field(default=0.3,
        metadata={"help": "Weight a of the title + tags vector: dense = (1 - a) * cos(full text) + a * cos(title + tags)."})
    boost: float = field(default=0.2,
        metadata={"help": "Score added to snippets of the predicted intent(s), times their probability (boost mode)."})
    intent_top_n: int = field(default=2,
        metadata={"help": "Use the classifier's top-n intents (filter: their union; boost: weighted by probability)."})
    lexical_weight: float = field(default=0.0,
        metadata={"help": "Weight w of normalised BM25: (1 - w) * cosine + w * bm25 (0 = dense only)."})
    cache_dir: str | None = field(default=None,
        metadata={"help": "Embedding cache folder (None: $SUPPORT_CACHE_DIR/retrieval or ~/.cache/support-assistant/retrieval)."})
    use_cache: bool = field(default=True, metadata={"help": "Read and write the embedding cache."})
    sentence_scores: bool = field(default=True, metadata={"help": "Score each sentence of the returned snippets against the message (for replies that pick sentences)."})
    faiss_threshold: int = field(default=50_000,
        metadata={"help": "Above this many snippets, use a FAISS index (if faiss is installed)."})
    faiss_index: str = field(default="ivf",
        metadata={"help": "FAISS index above the threshold: ivf | hnsw (approximate, candidates re-scored exactly) | flat (exact)."})
    candidates: int = field(default=100,
        metadata={"help": "Dense/BM25 candidates gathered per message from a FAISS index before exact re-scoring."})
    batch_size: int = field(default=16,
        metadata={"help": "Encoder batch size (small batches of length-sorted texts are fastest on CPU)."})
    num_threads: int | None = field(default=None,
        metadata={"help": "CPU threads for the encoder (None: $SUPPORT_NUM_THREADS, else all cores; 1 is faster on a busy machine)."})
    runtime: str = field(default="auto", metadata={"help": "Encoder runtime: auto | onnx-int8 | onnx | torch (pipeline.onnx_runtime). auto: ONNX (exported once into the user cache) when onnxruntime is installed, else torch."})

    def validate(self) -> None:
        name = "RetrieverConfig"
        check_param(name, "top_k", self.top_k, self.top_k >= 1, "an int >= 1")
        check_param(name, "intent_mode", self.intent_mode, self.intent_mode in INTENT_MODES, f"one of {', '.join(INTENT_MODES)}")
        check_param(name, "boost", self.boost, 0.0 <= self.boost <= 10.0, "a float in [0, 10]")
        check_param(name, "intent_top_n", self.intent_top_n, self.intent_top_n >= 1, "an int >= 1")
        check_param(name, "summary_weight", self.summary_weight, 0.0 <= self.summary_weight <= 1.0, "a float in [0, 1]")
        check_param(name, "lexical_weight", self.lexical_weight, 0.0 <= self.lexical_weight <= 1.0, "a float in [0, 1]")
        check_param(name, "faiss_threshold", self.faiss_threshold, self.faiss_threshold >= 0, "an int >= 0")
        check_param(name, "faiss_index", self.faiss_index, self.faiss_index in FAISS_KINDS, f"one of {', '.join(FAISS_KINDS)}")
        check_param(name, "candidates", self.candidates, self.candidates >= 1, "an int >= 1")
        check_param(name, "runtime", self.runtime, self.runtime in RUNTIMES, "one of " + ", ".join(RUNTIMES))
        check_param(name, "batch_size", self.batch_size, self.batch_size >= 1, "an int >= 1")
        check_param(name, "num_threads", self.num_threads, self.num_threads is None or self.num_threads >= 1,
                    "None or an int >= 1")


def intent_weights(spec: IntentSpec, top_n: int, position: int = 0) -> tuple[dict[str, float], IntentPrediction | None]:
    """Intent name -> weight for one message: names weigh 1.0, a prediction its top-n probabilities."""
    if spec is None:
        return {}, None
    if isinstance(spec, IntentPrediction):
        ranking = spec.ranking or [(spec.label, spec.confidence)]
        return {lbl: float(p) for lbl, p in ranking[:top_n]}, spec
    if isinstance(spec, str):
        return ({spec: 1.0} if spec.strip() else {}), None
    if isinstance(spec, (list, tuple)) and all(isinstance(s, str) for s in spec):
        return {s: 1.0 for s in spec if s.strip()}, None
    raise DataError(f"intents[{position}] must be an IntentPrediction, an intent name, a list of names or None. "
                    f"Got {type(spec).__name__}.")


class Retriever:
    """Component: ``warm_up()`` loads the KB, encoder and index; ``run(messages, intents)`` ranks snippets."""

    def __init__(self, kb: Any = None, config: RetrieverConfig | None = None,
                 encoder: SentenceEncoder | None = None, **overrides: Any) -> None:
        config = config or RetrieverConfig()
        if overrides:
            config = RetrieverConfig.from_dict({**config.to_dict(), **overrides}, source="Retriever arguments")
        self.config = config
        self.kb = kb
        self.encoder = encoder
        self.snippets: list[Snippet] = []
        self.index: VectorIndex | None = None
        self.bm25: BM25 | None = None
        self.build_info: dict[str, Any] = {}
        self._rows_by_intent: dict[str, np.ndarray] = {}
        self._summary: np.ndarray | None = None
        self._sentences: np.ndarray | None = None  # one vector per sentence of each snippet (split_sentences)
        self._sentence_offsets: np.ndarray | None = None

    def warm_up(self) -> None:
        """Load the KB (if not given) and encoder; read or build the embedding index."""
        if self.index is not None:
            return
        cfg = self.config
        start = time.perf_counter()
        if self.kb is None:
            from knowledge_base.loader import load_knowledge_base

            self.kb = load_knowledge_base(cfg.kb_path)
        self.snippets = list(self.kb.snippets)
        if not self.snippets:
            raise DataError("The knowledge base has no snippets. Add policy YAML files or pass another kb_path.")
        if self.encoder is None:
            self.encoder = SentenceEncoder(cfg.encoder, batch_size=cfg.batch_size, num_threads=cfg.num_threads, runtime=cfg.runtime)
        if hasattr(self.encoder, "warm_up"):  # queries need it even when the index comes from the cache
            self.encoder.warm_up()
        self._build_index(time.perf_counter() - start)

    def _vectors(self, ids: list[str], texts: list[str]) -> tuple[np.ndarray, bool, int, Path | None]:
        """(vectors, cache hit, texts encoded, FAISS cache path) of the snippet texts, from the cache when it has them."""
        cfg = self.config
        if not cfg.use_cache:
            return self.encoder.encode(texts), False, len(texts), None
        cache = EmbeddingCache(cfg.cache_dir or default_cache_dir())
        result = cache.get_or_build(self.encoder, ids, texts, self.kb.content_hash())
        index_cache = result.path.with_suffix(f".{cfg.faiss_index}.faiss") if result.path else None
        return result.vectors, result.hit, result.encoded, index_cache

    def _build_index(self, encoder_s: float) -> None:
        cfg = self.config
        start, cpu_start = time.perf_counter(), time.process_time()
        ids = [s.id for s in self.snippets]
        texts = [document_text(s) for s in self.snippets]
        all_ids, all_texts = list(ids), list(texts)
        if cfg.summary_weight > 0:
            all_ids += [f"{i}#summary" for i in ids]
            all_texts += [summary_text(s) for s in self.snippets]
        sentences = [split_sentences(s.text) if cfg.sentence_scores else [] for s in self.snippets]
        all_ids += [f"{s.id}#s{j}" for s, sents in zip(self.snippets, sentences) for j in range(len(sents))]
        all_texts += [text for sents in sentences for text in sents]
        vectors, hit, encoded, index_cache = self._vectors(all_ids, all_texts)
        n = len(ids)
        self._summary = vectors[n:2 * n] if cfg.summary_weight > 0 else None
        first = 2 * n if cfg.summary_weight > 0 else n
        self._sentences = vectors[first:]
        self._sentence_offsets = np.concatenate([[0], np.cumsum([len(x) for x in sentences])]).astype(np.int64)
        self.index = make_index(vectors[:n], faiss_threshold=cfg.faiss_threshold, faiss_kind=cfg.faiss_index,
                                cache_path=index_cache)
        rows: dict[str, list[int]] = {}
        for row, snip in enumerate(self.snippets):
            for intent in snip.intents:
                rows.setdefault(intent, []).append(row)
        self._rows_by_intent = {k: np.asarray(v, dtype=np.int64) for k, v in rows.items()}
        if cfg.lexical_weight > 0:
            # scikit-learn is imported only when BM25 is mixed in (it would add a second to every start)
            from pipeline.retrieval.lexical import BM25

            self.bm25 = BM25().fit(texts)
        seconds = time.perf_counter() - start
        self.build_info = {"snippets": n, "texts": len(all_texts), "cache_hit": hit, "encoded": encoded,
                           "reused": len(all_texts) - encoded, "index": self.index.kind, "seconds": round(seconds, 3),
                           "cpu_seconds": round(time.process_time() - cpu_start, 3),
                           "kb_and_encoder_seconds": round(encoder_s, 3)}
        if hit:
            logger.info("Embedding index: cache hit, %d snippets loaded in %.2f s (%s)", n, seconds, self.index.kind)
        else:
            logger.info("Embedding index built in %.2f s: %d snippets, %d texts encoded, %d reused from cache (%s)",
                        seconds, n, encoded, len(all_texts) - encoded, self.index.kind)

    def run(self, messages: list[str], intents: Sequence[IntentSpec] | None = None,
            top_k: int | None = None) -> dict[str, list[list[Any]]]:
        """Top-k snippets per message (copies with ``score`` and ``reason``) and notes on fallbacks."""
        if isinstance(messages, str) or not isinstance(messages, (list, tuple)):
            raise DataError(f"Retriever.run expects a list of messages. Got {type(messages).__name__}; wrap one message: [message].")
        for i, msg in enumerate(messages):
            if not isinstance(msg, str) or not msg.strip():
                raise DataError(f"Message {i} is empty or only whitespace ({msg!r}). Pass the customer's text.")
        k = self.config.top_k if top_k is None else top_k
        check_param("Retriever", "top_k", k, isinstance(k, int) and k >= 1, "an int >= 1")
        if intents is None:
            intents = [None] * len(messages)
        if len(intents) != len(messages):
            raise DataError(f"Retriever.run got {len(messages)} messages but {len(intents)} intents. Pass one intent (or None) per message.")
        specs = [intent_weights(spec, self.config.intent_top_n, i) for i, spec in enumerate(intents)]
        self.warm_up()
        if not messages:
            return {"snippets": [], "notes": []}
        queries = self.encoder.encode(list(messages))
        out_snippets, out_notes = [], []
        for i, msg in enumerate(messages):
            snippets, notes = self._rank_one(msg, queries[i], *specs[i], k)
            out_snippets.append(snippets)
            out_notes.append(notes)
        return {"snippets": out_snippets, "notes": out_notes}

    def _intent_mode(self, weights: dict[str, float], prediction: IntentPrediction | None) -> tuple[str, dict[str, float], list[str]]:
        """(mode, the intents that have snippets -> weight, notes): filter falls back to none when it cannot apply."""
        mode = self.config.intent_mode if weights else "none"
        notes: list[str] = []
        missing = [name for name in weights if name not in self._rows_by_intent]
        known = {name: w for name, w in weights.items() if name in self._rows_by_intent}
        if mode == "filter" and prediction is not None and not prediction.in_scope:
            notes.append(f"intent {prediction.label!r} is out of scope (confidence {prediction.confidence:.2f}): "
                         "unfiltered dense retrieval")
            mode = "none"
        elif missing and mode != "none":
            fallback = mode == "filter" and not known
            notes.append(f"no snippets for intent{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}: "
                         + ("unfiltered dense retrieval" if fallback else "ignored"))
            if fallback:
                mode = "none"
        return mode, known, notes

    def _rank_one(self, message: str, query: np.ndarray, weights: dict[str, float],
                  prediction: IntentPrediction | None, k: int) -> tuple[list[Snippet], list[str]]:
        cfg, index = self.config, self.index
        assert index is not None
        mode, known, notes = self._intent_mode(weights, prediction)
        lexical = None
        if cfg.lexical_weight > 0 and self.bm25 is not None:
            lexical = self.bm25.score([message])[0]
            top = lexical.max()
            lexical = lexical / top if top > 0 else lexical
        if mode == "filter":
            rows = np.unique(np.concatenate([self._rows_by_intent[name] for name in known]))
        elif isinstance(index, ExactIndex):
            rows = np.arange(len(index))
        else:  # approximate index: gather candidates, then score them exactly
            parts = [index.search(query, max(cfg.candidates, k))[1][0]]
            if mode == "boost":
                parts += [self._rows_by_intent[name] for name in known]
            if lexical is not None:
                parts.append(np.argsort(-lexical, kind="stable")[: cfg.candidates])
            rows = np.unique(np.concatenate(parts))
            rows = rows[rows >= 0]
        dense = index.scores_for(query, rows)[0].astype(np.float64)
        if self._summary is not None:
            a = cfg.summary_weight
            dense = (1.0 - a) * dense + a * (self._summary[rows] @ query).astype(np.float64)
        w = cfg.lexical_weight if lexical is not None else 0.0
        scores = (1.0 - w) * dense + (w * lexical[rows] if lexical is not None else 0.0)
        boosts = np.zeros(len(rows))
        # boost mode; in filter mode a prediction's top-n probabilities also order the filtered intents
        if mode == "boost" or (mode == "filter" and prediction is not None and len(known) > 1):
            for j, row in enumerate(rows):
                boosts[j] = max((known.get(name, 0.0) for name in self.snippets[row].intents), default=0.0)
            scores = scores + cfg.boost * boosts
        order = np.argsort(-scores, kind="stable")[:k]
        result = []
        for j in order:
            row = int(rows[j])
            snip, why = self.snippets[row], []
            matched = [name for name in snip.intents if name in known]
            if mode == "filter":
                why.append("intent filter match " + ", ".join(map(repr, matched))
                           + (f" +{cfg.boost * boosts[j]:.2f}" if boosts[j] > 0 else ""))
            elif mode == "boost" and boosts[j] > 0:
                why.append(f"intent boost {', '.join(map(repr, matched))} +{cfg.boost * boosts[j]:.2f}")
            why.append(f"cosine {dense[j]:.2f}")
            if lexical is not None and w > 0:
                why.append(f"bm25 {lexical[row]:.2f} (weight {w:g})")
            result.append(dataclasses.replace(snip, score=round(float(scores[j]), 4), reason=" + ".join(why),
                                              sentence_scores=self._sentence_scores(row, query)))
        return result, notes

    def _sentence_scores(self, row: int, query: np.ndarray) -> list[float]:
        """Cosine of the query with each sentence of snippet ``row`` (empty when sentence scores are off)."""
        if self._sentences is None or self._sentence_offsets is None:
            return []
        start, end = self._sentence_offsets[row], self._sentence_offsets[row + 1]
        return [round(float(v), 4) for v in self._sentences[start:end] @ query]

    def rank_all(self, messages: list[str], intents: Sequence[IntentSpec] | None = None) -> list[list[str]]:
        """Full ranking (snippet ids, best first) per message: for evaluation."""
        self.warm_up()
        ranked = self.run(messages, intents, top_k=len(self.snippets))["snippets"]
        return [[s.id for s in row] for row in ranked]

