"""The training configuration of the embedding baselines (YAML < command-line flags).

``configs/embeddings/*.yaml`` hold presets; every field is also a flag of
``python -m training.train_embeddings`` (``--dim``, ``--min-count``, ...).
``method`` selects the model; only ``word2vec`` exists so far (GloVe,
fastText and PPMI plug in here later).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline.config import StageConfig
from pipeline.errors import check_param

METHODS = ("word2vec",)
PLANNED = ("glove", "fasttext", "ppmi")


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
    sample: float = field(default=1e-4, metadata={"help": "Subsampling threshold t (0 = off)."})
    sample_rule: str = field(default="paper", metadata={"help": "paper: keep sqrt(t/f); word2vec: keep sqrt(t/f)+t/f (gensim)."})
    min_count: int = field(default=5, metadata={"help": "Drop words seen fewer times."})
    max_vocab: int | None = field(default=None, metadata={"help": "Keep at most this many most frequent words."})
    epochs: int = field(default=5, metadata={"help": "Passes over the corpus."})
    alpha: float | None = field(default=None, metadata={"help": "Initial learning rate (default 0.025 skipgram, 0.05 cbow)."})
    min_alpha: float = field(default=1e-4, metadata={"help": "Final learning rate (linear decay over all epochs)."})
    batch_words: int = field(default=10000, metadata={"help": "Tokens per job handed to a worker thread."})
    workers: int = field(default=2, metadata={"help": "Training threads."})
    seed: int = field(default=42, metadata={"help": "Random seed (runs with workers=1 are reproducible)."})
    backend: str = field(default="auto", metadata={"help": "auto, compiled (C++ kernel) or torch (fallback)."})
    evaluate: bool = field(default=True, metadata={"help": "Score WS-353, SimLex-999 and analogies into the model card."})
    progress: bool | None = field(default=None, metadata={"help": "Progress bar (default: on a terminal)."})

    def validate(self) -> None:
        name = type(self).__name__
        allowed = f"one of {', '.join(METHODS)} ({', '.join(PLANNED)} are not implemented yet)"
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

    def to_estimator(self):
        from training.embeddings.word2vec import Word2Vec

        return Word2Vec(**self.estimator_params())
