"""The training configuration of the embedding baselines (YAML < command-line flags).

``configs/embeddings/*.yaml`` hold presets; every field is also a flag of
``python -m training.train_embeddings`` (``--dim``, ``--min-count``, ...).
``method`` selects the model: ``word2vec`` or ``fasttext`` (skip-gram with
negative sampling plus ``min_n``/``max_n``/``bucket``), ``glove``
(``glove.py``), ``ppmi`` (``ppmi.py``) or ``lsa`` (``count.py``). Fields that
a method does not use are ignored by it (and still written to the resolved
config).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline.config import StageConfig
from pipeline.errors import check_param

METHODS = ("word2vec", "fasttext", "glove", "ppmi", "lsa")


@dataclass
class TrainEmbeddingsConfig(StageConfig):
    method: str = field(default="word2vec", metadata={"help": f"Model family: {', '.join(METHODS)}."})
    corpus: str = field(default="", metadata={"help": "Text file (plain or .gz), whitespace-tokenised, one sentence a line."})
    out: str = field(default="", metadata={"help": "Model folder to write (replaced atomically)."})
    arch: str = field(default="skipgram", metadata={"help": "skipgram or cbow."})
    loss: str = field(default="ns", metadata={"help": "ns (negative sampling) or hs (hierarchical softmax)."})
    dim: int = field(default=100, metadata={"help": "Vector dimensions."})
    window: int = field(default=5, metadata={"help": "Largest context window (shrunk at random per word)."})
    negative: int = field(default=5, metadata={"help": "Negative samples per positive pair (loss=ns)."})
    ns_exponent: float = field(default=0.75, metadata={"help": "Exponent of the unigram distribution for negatives."})
    sample: float = field(default=1e-4, metadata={"help": "Subsampling threshold t (0 = off; glove: applied once, before counting)."})
    sample_rule: str = field(default="paper", metadata={"help": "paper: keep sqrt(t/f); word2vec: keep sqrt(t/f)+t/f (gensim)."})
    min_count: int = field(default=5, metadata={"help": "Drop words seen fewer times."})
    max_vocab: int | None = field(default=None, metadata={"help": "Keep at most this many most frequent words."})
    min_n: int = field(default=3, metadata={"help": "fasttext: shortest character n-gram of <word>."})
    max_n: int = field(default=6, metadata={"help": "fasttext: longest character n-gram of <word>."})
    bucket: int = field(default=2_000_000, metadata={"help": "fasttext: hash buckets of the n-grams (only used ones are stored)."})
    epochs: int = field(default=5, metadata={"help": "Passes over the corpus."})
    alpha: float | None = field(default=None, metadata={"help": "Initial learning rate (default 0.025 skipgram, 0.05 cbow "
                                                                 "and fasttext; glove: AdaGrad eta, default 0.05)."})
    min_alpha: float = field(default=1e-4, metadata={"help": "Final learning rate (linear decay over all epochs)."})
    batch_words: int = field(default=10000, metadata={"help": "Tokens per job handed to a worker thread."})
    workers: int = field(default=2, metadata={"help": "Training threads."})
    seed: int = field(default=42, metadata={"help": "Random seed (runs with workers=1 are reproducible)."})
    backend: str = field(default="auto", metadata={"help": "auto, compiled (C++ kernel) or torch (fallback)."})
    x_max: float = field(default=100.0, metadata={"help": "glove: counts above x_max get weight 1."})
    weight_exponent: float = field(default=0.75, metadata={"help": "glove: f(x) = (x / x_max) ** weight_exponent below x_max."})
    glove_init: str = field(default="random", metadata={"help": "glove: start at random (glove.c) or pmi (the rank-dim SVD "
                                                                "of the PMI of the counted pairs, biases log X_i - log(N)/2)."})
    cooc_weighting: str = field(default="uniform", metadata={"help": "ppmi: window counts uniform, linear (word2vec's "
                                                                     "dynamic window) or harmonic (1/distance; glove always)."})
    cds: float = field(default=0.75, metadata={"help": "ppmi: context distribution smoothing exponent."})
    neg_shift: float = field(default=1.0, metadata={"help": "ppmi: subtract log(neg_shift) from PMI (1 = plain PPMI)."})
    eig: float | None = field(default=None, metadata={"help": "ppmi/lsa: word vectors U S^eig (default 0.5)."})
    doc_tokens: int = field(default=1000, metadata={"help": "lsa: tokens per document (the corpus is cut into chunks)."})
    bow: str = field(default="tfidf", metadata={"help": "lsa: bag-of-words weighting binary, counts or tfidf."})
    svd_iter: int = field(default=5, metadata={"help": "ppmi/lsa/glove with glove_init pmi: power iterations of the randomized SVD (the exact SVD instead when dim is over half the matrix's smaller side)."})
    chunk_tokens: int = field(default=1_000_000, metadata={"help": "glove/ppmi: tokens per co-occurrence counting chunk."})
    evaluate: bool = field(default=True, metadata={"help": "Score WS-353, SimLex-999 and analogies into the model card."})
    progress: bool | None = field(default=None, metadata={"help": "Progress bar (default: on a terminal)."})

    def validate(self) -> None:
        name = type(self).__name__
        allowed = f"one of {', '.join(METHODS)}"
        check_param(name, "method", self.method, self.method in METHODS, allowed)
        check_param(name, "corpus", self.corpus, bool(self.corpus), "a path to a text file (plain or .gz); pass --corpus")
        check_param(name, "out", self.out, bool(self.out), "a folder path for the model; pass --out")
        check_param(name, "dim", self.dim, self.dim >= 1, "an int >= 1")
        check_param(name, "max_vocab", self.max_vocab, self.max_vocab is None or self.max_vocab >= 1, "None or an int >= 1")
        self.to_estimator()._validate()

    def estimator_params(self) -> dict[str, Any]:
        return dict(vector_size=self.dim, window=self.window, arch=self.arch, loss=self.loss, negative=self.negative,
                    ns_exponent=self.ns_exponent, sample=self.sample, sample_rule=self.sample_rule,
                    min_count=self.min_count, max_vocab_size=self.max_vocab, epochs=self.epochs, alpha=self.alpha,
                    min_alpha=self.min_alpha, batch_words=self.batch_words, workers=self.workers, seed=self.seed,
                    backend=self.backend, progress=self.progress)

    def fasttext_params(self) -> dict[str, Any]:
        params = {k: v for k, v in self.estimator_params().items() if k not in ("arch", "loss", "alpha")}
        params.update(min_n=self.min_n, max_n=self.max_n, bucket=self.bucket)
        return params if self.alpha is None else {**params, "alpha": self.alpha}

    def count_model(self):
        """The GloVe, PPMI or LSA estimator of these settings (None for the other methods)."""
        common = dict(vector_size=self.dim, window=self.window, min_count=self.min_count,
                      max_vocab_size=self.max_vocab, seed=self.seed, progress=self.progress)
        if self.method == "glove":
            from training.embeddings.glove import GloVe

            return GloVe(**common, x_max=self.x_max, alpha=self.weight_exponent, sample=self.sample, sample_rule=self.sample_rule,
                         init=self.glove_init, svd_iter=self.svd_iter, eta=0.05 if self.alpha is None else self.alpha,
                         epochs=self.epochs, chunk_tokens=self.chunk_tokens, workers=self.workers, backend=self.backend)
        if self.method == "ppmi":
            from training.embeddings.ppmi import PPMI

            return PPMI(**common, weighting=self.cooc_weighting, cds=self.cds, neg=self.neg_shift,
                        eig=0.5 if self.eig is None else self.eig, chunk_tokens=self.chunk_tokens, svd_iter=self.svd_iter)
        if self.method == "lsa":
            from training.embeddings.count import LSA

            common.pop("window")
            return LSA(**common, doc_tokens=self.doc_tokens, weighting=self.bow,
                       eig=0.5 if self.eig is None else self.eig, svd_iter=self.svd_iter)
        return None

    def to_estimator(self):
        if self.method in ("glove", "ppmi", "lsa"):
            return self.count_model()
        if self.method == "fasttext":
            from training.embeddings.fasttext import FastText

            name = type(self).__name__
            check_param(name, "arch", self.arch, self.arch == "skipgram", "skipgram with method fasttext")
            check_param(name, "loss", self.loss, self.loss == "ns", "ns with method fasttext")
            return FastText(**self.fasttext_params())
        from training.embeddings.word2vec import Word2Vec

        return Word2Vec(**self.estimator_params())
