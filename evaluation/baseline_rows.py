"""The rows of the baselines table: featuriser factories and the word-vector artifacts they use.

    from evaluation.baseline_rows import build_methods, vector_artifacts
    vectors = vector_artifacts(config)        # NAME -> path: --vectors, then artifacts found in --vectors-dir
    methods = build_methods(config, vectors)  # Method(name, family, make=featuriser factory, corpus)

A word-vector path is checked here, before any work: it must be a folder
written by ``training.train_embeddings`` (``vectors.safetensors``,
``vocab.json``, ``config.json``) or a word2vec-format file, else one line says
which and how to fix it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from evaluation.baselines_config import BaselinesConfig
from pipeline.artifacts import read_json
from pipeline.errors import ConfigError, ModelLoadError


REPO_ROOT = Path(__file__).resolve().parents[1]



def resolve_path(path: str | Path) -> Path:
    """A relative path as given when it exists from here, else relative to the repository root."""
    path = Path(path).expanduser()
    return path if path.is_absolute() or path.exists() or not (REPO_ROOT / path).exists() else REPO_ROOT / path


def _check_vectors_path(name: str, path: Path) -> None:
    if not path.exists():
        raise ModelLoadError(f"Word vectors {name!r}: {str(path)!r} does not exist. Pass --vectors NAME=PATH with a "
                             "folder written by training.train_embeddings (or a word2vec-format file).")
    if path.is_dir():
        missing = [f for f in ("vectors.safetensors", "vocab.json", "config.json") if not (path / f).is_file()]
        if missing:
            raise ModelLoadError(f"Word vectors {name!r}: {str(path)!r} is not a WordVectors artifact (missing "
                                 f"{', '.join(missing)}). Pass a folder written by training.train_embeddings.")
        return
    with open(path, "rb") as fh:
        header = fh.readline(200).split()
    if len(header) != 2 or not all(h.isdigit() for h in header):
        raise ModelLoadError(f"Word vectors {name!r}: {str(path)!r} is neither a WordVectors folder nor a word2vec-format "
                             "file (no 'count dimensions' header).")


def vector_artifacts(config: BaselinesConfig) -> dict[str, Path]:
    """NAME -> path of every word-vector artifact: ``--vectors`` first, then discovered ones (checked, cheap)."""
    found: dict[str, Path] = {}
    for spec in config.vectors:
        name, sep, path = spec.partition("=")
        if not sep:
            name, path = Path(spec).name, spec
        name, path = name.strip(), path.strip()
        if not name or not path or not re.fullmatch(r"[\w.+-]+", name):
            raise ConfigError(f"--vectors takes NAME=PATH with a name of letters, digits, '.', '+', '-' or '_'. Got {spec!r}.")
        if name in found:
            raise ConfigError(f"Two --vectors are named {name!r}. Give each a different NAME.")
        found[name] = resolve_path(path)
        _check_vectors_path(name, found[name])
    folder = resolve_path(config.vectors_dir)
    if config.discover and folder.is_dir():
        known = {p.resolve() for p in found.values()}
        for sub in sorted(folder.iterdir()):
            if (not sub.name.startswith(".") and (sub / "vectors.safetensors").is_file() and (sub / "config.json").is_file()
                    and sub.resolve() not in known and sub.name not in found):
                found[sub.name] = sub
    return found


WIKI8_TOKENS = 16_940_016  # tokens of ../shared/data/corpus/wiki8_text8style_100M.txt.gz (shared/README.md)


def corpus_label(path: Path) -> str:
    """Which corpus an artifact was trained on, from its config.json: ``wiki8 100M`` (by file name, or by its
    token count when the file was a temporary copy), ``support`` (by file name), else the file name."""
    try:
        config = read_json(path / "config.json") if path.is_dir() else {}
    except (OSError, ValueError):
        config = {}
    training = config.get("training") or {}
    corpus = str(training.get("corpus") or (config.get("params") or {}).get("corpus") or "")
    name = Path(corpus).name.lower()
    if "wiki8" in name or "text8" in name or training.get("raw_tokens") == WIKI8_TOKENS:
        return "wiki8 100M"
    if "support" in name:
        return "support"
    return Path(corpus).name or "?"


@dataclass
class Method:
    """One row: a name, a family (``--methods``), the corpus of its vectors and a featuriser factory."""

    name: str
    family: str
    make: Callable[[], Any] | None
    corpus: str = "-"
    info: dict[str, Any] = field(default_factory=dict)


def build_methods(config: BaselinesConfig, vectors: dict[str, Path]) -> list[Method]:
    from training.text_features import BowFeaturizer, LsaFeaturizer
    from training.wordvec_features import WordVectorFeaturizer

    ngrams = (1, config.ngram_max)
    grams = f"1-{config.ngram_max}-grams" if config.ngram_max > 1 else "unigrams"
    rows = {
        "bow-binary": Method(f"BoW binary ({grams}) + LR", "bow-binary", lambda: BowFeaturizer(kind="binary", ngram_range=ngrams)),
        "bow-count": Method(f"BoW counts ({grams}) + LR", "bow-count", lambda: BowFeaturizer(kind="count", ngram_range=ngrams)),
        "tfidf": Method(f"TF-IDF ({grams}) + LR", "tfidf", lambda: BowFeaturizer(kind="tfidf", ngram_range=ngrams)),
        "lsa": Method(f"LSA (TF-IDF, SVD {config.lsa_components}) + LR", "lsa",
                      lambda: LsaFeaturizer(n_components=config.lsa_components, ngram_range=ngrams, seed=config.seed)),
    }
    methods = [rows[m] for m in rows if m in config.methods]
    if "wordvec" in config.methods:
        for name, path in vectors.items():
            for weighting in config.weightings:
                label = "mean" if weighting == "mean" else "TF-IDF-weighted"
                methods.append(Method(f"{name} {label} + LR", "wordvec",
                                      lambda p=str(path), w=weighting: WordVectorFeaturizer(vectors=p, weighting=w),
                                      corpus=corpus_label(path), info={"vectors": str(path), "weighting": weighting}))
    return methods


def vectors_info(path: Path) -> dict[str, Any]:
    """Class, vocabulary, dimensions and training seconds recorded in an artifact's config.json."""
    try:
        config = read_json(path / "config.json") if path.is_dir() else {}
    except (OSError, ValueError):
        return {}
    training = config.get("training") or {}
    return {"class": config.get("class"), "vocab_size": config.get("vocab_size"), "vector_size": config.get("vector_size"),
            "corpus_file": training.get("corpus"), "train_seconds": training.get("train_seconds")}
