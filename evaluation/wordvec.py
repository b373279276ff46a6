"""Intrinsic evaluation of word vectors: word similarity, analogies, a PCA plot.

    python -m evaluation.wordvec --vectors artifacts/embeddings/w2v-sgns --output-dir runs/wordvec/sgns
    python -m evaluation.wordvec --vectors vectors.txt --json       # any word2vec-format file (.bin = binary)

- Similarity (primary metric: Spearman rho on WordSim-353): Spearman rank
  correlation (average ranks for ties) between the human scores and the
  cosines, on WordSim-353, SimLex-999 and every set in ``wordsim/faruqui``.
  Pairs with a word outside the vocabulary are skipped and counted
  (``coverage`` = pairs found / pairs).
- Analogies (Google ``questions-words.txt``): 3CosAdd, i.e. the word nearest
  to ``unit(b) - unit(a) + unit(c)`` other than a, b, c, among the 30,000 most
  frequent words (gensim's ``evaluate_word_analogies`` protocol: questions with
  any word outside those 30,000 are skipped and counted). Accuracy overall,
  semantic (the five non-``gram`` sections) and syntactic (``gram*``).
- Words are looked up as given, then lowercased (the corpus is lowercase).
- ``--output-dir`` gets ``metrics.json`` (aggregates), ``per_example.json``
  (every pair and question) and ``pca.png`` (countries and capitals, numbers,
  verbs, projected on their first two principal components), written
  atomically (a temporary folder renamed into place). A folder that is not
  empty is replaced only with ``--overwrite`` (checked before any work).

The data comes from ``$SUPPORT_DATA_DIR/wordsim`` (default ``../shared/data``).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from pipeline.errors import CliParser, DataError, ModelLoadError, cli_main
from training.data import shared_data_dir
from training.embeddings.base import WordVectors

logger = logging.getLogger(__name__)

PCA_GROUPS: dict[str, list[str]] = {
    "countries and capitals": ["france", "paris", "germany", "berlin", "italy", "rome", "spain", "madrid",
                               "japan", "tokyo", "china", "beijing", "russia", "moscow", "egypt", "cairo"],
    "numbers": ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"],
    "verbs": ["walk", "walked", "walking", "run", "ran", "running", "go", "went", "going", "swim", "swam", "swimming"],
}


def wordsim_dir() -> Path:
    return shared_data_dir() / "wordsim"


def load_vectors(path: str | Path) -> WordVectors:
    """A saved model folder, or a word2vec-format file (binary when it ends in ``.bin``)."""
    path = Path(path)
    if path.is_dir():
        return WordVectors.load(path)
    if path.is_file():
        return WordVectors.load_word2vec_format(path)
    raise ModelLoadError(f"Vectors {str(path)!r} do not exist. Pass a model folder or a word2vec-format file.")


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rho: Pearson correlation of the ranks (ties get their average rank)."""
    def ranks(v: np.ndarray) -> np.ndarray:
        order = np.argsort(v, kind="stable")
        sorted_v = v[order]
        first = np.concatenate([[True], sorted_v[1:] != sorted_v[:-1]])
        group = np.cumsum(first) - 1
        starts = np.flatnonzero(first)
        ends = np.concatenate([starts[1:], [len(v)]])
        r = np.empty(len(v))
        r[order] = ((starts + ends - 1) / 2.0 + 1.0)[group]
        return r

    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(a) != len(b) or len(a) < 2:
        raise ValueError(f"spearman needs two sequences of equal length >= 2. Got {len(a)} and {len(b)}.")
    ra, rb = ranks(a) - (len(a) + 1) / 2.0, ranks(b) - (len(b) + 1) / 2.0
    denom = np.sqrt((ra**2).sum() * (rb**2).sum())
    return float((ra * rb).sum() / denom) if denom > 0 else float("nan")


def _lookup(vectors: WordVectors, word: str, restrict: int | None = None) -> int | None:
    for w in (word, word.lower()):
        i = vectors.index_.get(w)
        if i is not None and (restrict is None or i < restrict):
            return i
    return None


@dataclass
class SimilarityResult:
    """Spearman rho over the pairs found; ``per_pair`` has gold and cosine (None when skipped)."""

    name: str
    spearman: float | None
    pairs: int
    found: int
    per_pair: list[dict[str, Any]] = field(default_factory=list, repr=False)
    primary_metric: str = "spearman"

    @property
    def coverage(self) -> float:
        return self.found / self.pairs if self.pairs else 0.0


def read_pairs(path: str | Path) -> list[tuple[str, str, float]]:
    """Word pairs with a score: ``word1 word2 score`` per line (tabs or spaces), ``#`` comments."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"Word-similarity file {str(path)!r} does not exist. Set SUPPORT_DATA_DIR or pass a file.")
    pairs = []
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        parts = line.split()
        if not parts or line.startswith("#"):
            continue
        try:
            pairs.append((parts[0], parts[1], float(parts[2])))
        except (IndexError, ValueError):
            raise DataError(f"Line {n} of {str(path)!r} is not 'word1 word2 score': {line[:60]!r}.") from None
    return pairs


def evaluate_similarity(vectors: WordVectors, pairs: str | Path | Iterable[tuple[str, str, float]],
                        name: str | None = None) -> SimilarityResult:
    if isinstance(pairs, (str, Path)):
        name = name or Path(pairs).stem
        pairs = read_pairs(pairs)
    unit = vectors.unit_vectors()
    per_pair, gold, pred = [], [], []
    for w1, w2, score in pairs:
        i, j = _lookup(vectors, w1), _lookup(vectors, w2)
        cos = None if i is None or j is None else float(unit[i] @ unit[j])
        per_pair.append({"word1": w1, "word2": w2, "gold": score, "cosine": cos})
        if cos is not None:
            gold.append(score)
            pred.append(cos)
    rho = spearman(gold, pred) if len(gold) >= 2 else None
    return SimilarityResult(name=name or "pairs", spearman=rho, pairs=len(per_pair), found=len(gold), per_pair=per_pair)


@dataclass
class AnalogyResult:
    """3CosAdd accuracy over the questions evaluated; ``sections`` maps a section to its counts."""

    accuracy: float
    semantic: float
    syntactic: float
    questions: int
    evaluated: int
    restrict_vocab: int
    sections: dict[str, dict[str, float]]
    per_question: list[dict[str, Any]] = field(default_factory=list, repr=False)
    primary_metric: str = "accuracy"

    @property
    def coverage(self) -> float:
        return self.evaluated / self.questions if self.questions else 0.0


def read_analogies(path: str | Path) -> list[tuple[str, str, str, str, str]]:
    """``(section, a, b, c, d)`` from a questions-words file (``: section`` headers)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"Analogy file {str(path)!r} does not exist. Set SUPPORT_DATA_DIR or pass a file.")
    section, out = "", []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith(":"):
            section = line[1:].strip()
        elif line.strip():
            a, b, c, d = line.split()[:4]
            out.append((section, a, b, c, d))
    return out


def evaluate_analogies(vectors: WordVectors, questions: str | Path | Sequence[tuple[str, str, str, str, str]],
                       restrict_vocab: int = 30000, batch_size: int = 2048) -> AnalogyResult:
    if isinstance(questions, (str, Path)):
        questions = read_analogies(questions)
    unit = vectors.unit_vectors()[:restrict_vocab]
    ids = [[_lookup(vectors, w, restrict_vocab) for w in q[1:]] for q in questions]
    ok = [k for k, row in enumerate(ids) if None not in row]
    found = np.array([ids[k] for k in ok], dtype=np.int64).reshape(-1, 4)
    predicted = np.empty(len(ok), dtype=np.int64)
    for s in range(0, len(ok), batch_size):
        a, b, c = (found[s:s + batch_size, k] for k in range(3))
        scores = (unit[b] - unit[a] + unit[c]) @ unit.T
        rows = np.arange(len(a))
        for excluded in (a, b, c):
            scores[rows, excluded] = -np.inf
        predicted[s:s + batch_size] = scores.argmax(axis=1)
    correct = predicted == found[:, 3] if len(ok) else np.zeros(0, bool)
    sections: dict[str, dict[str, float]] = {}
    per_question = [{"section": q[0], "question": list(q[1:]), "predicted": None, "correct": None} for q in questions]
    for k, good, pred in zip(ok, correct.tolist(), predicted.tolist()):
        per_question[k].update(predicted=vectors.vocab_[pred], correct=bool(good))
    for q in per_question:
        sec = sections.setdefault(q["section"], {"correct": 0, "evaluated": 0, "questions": 0})
        sec["questions"] += 1
        if q["correct"] is not None:
            sec["evaluated"] += 1
            sec["correct"] += int(q["correct"])
    for sec in sections.values():
        sec["accuracy"] = sec["correct"] / sec["evaluated"] if sec["evaluated"] else 0.0

    def acc(keep) -> float:
        chosen = [s for name, s in sections.items() if keep(name)]
        n = sum(s["evaluated"] for s in chosen)
        return sum(s["correct"] for s in chosen) / n if n else 0.0

    return AnalogyResult(accuracy=acc(lambda n: True), semantic=acc(lambda n: not n.startswith("gram")),
                         syntactic=acc(lambda n: n.startswith("gram")), questions=len(questions), evaluated=len(ok),
                         restrict_vocab=restrict_vocab, sections=sections, per_question=per_question)


@dataclass
class WordVecReport:
    """Every similarity set and the analogies; ``aggregate`` is the flat summary."""

    similarity: dict[str, SimilarityResult]
    analogies: AnalogyResult | None
    primary_metric: str = "ws353"

    @property
    def aggregate(self) -> dict[str, float | int | None]:
        agg: dict[str, float | int | None] = {}
        for key, res in self.similarity.items():
            agg[key] = None if res.spearman is None else round(res.spearman, 4)
            agg[f"{key}_coverage"] = round(res.coverage, 4)
        if self.analogies is not None:
            an = self.analogies
            agg.update(analogy=round(an.accuracy, 4), analogy_semantic=round(an.semantic, 4),
                       analogy_syntactic=round(an.syntactic, 4), analogy_coverage=round(an.coverage, 4),
                       analogy_evaluated=an.evaluated, analogy_questions=an.questions)
        return agg

    def to_dict(self, per_example: bool = False) -> dict[str, Any]:
        def strip(obj: Any) -> dict[str, Any]:
            d = dataclasses.asdict(obj)
            d["coverage"] = obj.coverage
            if not per_example:
                d.pop("per_pair", None)
                d.pop("per_question", None)
            return d

        return {"primary_metric": self.primary_metric, "aggregate": self.aggregate,
                "similarity": {k: strip(v) for k, v in self.similarity.items()},
                "analogies": strip(self.analogies) if self.analogies is not None else None}


def evaluate_all(vectors: WordVectors, data_dir: str | Path | None = None, faruqui: bool = True,
                 analogies: bool = True, restrict_vocab: int = 30000) -> WordVecReport:
    """WS-353 (``ws353``), SimLex-999 (``simlex999``), the faruqui sets (by file name) and the analogies."""
    root = Path(data_dir) if data_dir else wordsim_dir()
    sets = {"ws353": root / "wordsim353.tsv", "simlex999": root / "simlex999.txt"}
    if faruqui and (root / "faruqui").is_dir():
        sets.update({p.stem: p for p in sorted((root / "faruqui").glob("*.txt"))})
    similarity = {name: evaluate_similarity(vectors, path, name) for name, path in sets.items()}
    an = evaluate_analogies(vectors, root / "questions-words.txt", restrict_vocab) if analogies else None
    return WordVecReport(similarity=similarity, analogies=an)


def plot_pca(vectors: WordVectors, path: str | Path, groups: dict[str, list[str]] | None = None) -> Path | None:
    """Scatter of the groups' words on their first two principal components (PNG); None if < 3 words are known."""
    from evaluation.plots import _save
    from matplotlib.figure import Figure

    groups = groups or PCA_GROUPS
    chosen = [(g, w, i) for g, words in groups.items() for w in words if (i := _lookup(vectors, w)) is not None]
    if len(chosen) < 3:
        return None
    x = vectors.unit_vectors()[[i for _, _, i in chosen]].astype(np.float64)
    x -= x.mean(axis=0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    xy = x @ vt[:2].T
    fig = Figure(figsize=(8, 6.5))
    ax = fig.add_subplot(111)
    for k, g in enumerate(groups):
        pts = [n for n, (grp, _, _) in enumerate(chosen) if grp == g]
        ax.scatter(xy[pts, 0], xy[pts, 1], s=18, color=f"C{k}", label=g)
        for n in pts:
            ax.annotate(chosen[n][1], xy[n], fontsize=8, xytext=(3, 2), textcoords="offset points")
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title(f"Word vectors, PCA of {len(chosen)} words")
    ax.legend(fontsize=8)
    return _save(fig, path)


def format_report(report: WordVecReport) -> str:
    lines = [f"{'set':<18} {'rho':>7} {'found':>11}"]
    for name, res in report.similarity.items():
        rho = "n/a" if res.spearman is None else f"{res.spearman:.4f}"
        lines.append(f"{name:<18} {rho:>7} {res.found:>5}/{res.pairs:<5}")
    if report.analogies is not None:
        an = report.analogies
        lines.append(f"analogies (3CosAdd, top {an.restrict_vocab}): {an.accuracy:.4f} overall, {an.semantic:.4f} "
                     f"semantic, {an.syntactic:.4f} syntactic; {an.evaluated}/{an.questions} questions evaluated")
    return "\n".join(lines)


@cli_main
def main(argv: list[str] | None = None) -> int:
    from pipeline.artifacts import atomic_dir, check_output_dir, write_json
    from pipeline.utils import setup_logging

    parser = CliParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vectors", required=True, help="Model folder or word2vec-format file.")
    parser.add_argument("--output-dir", help="Write metrics.json, per_example.json and pca.png here.")
    parser.add_argument("--overwrite", action="store_true", help="Replace --output-dir if it is not empty.")
    parser.add_argument("--data-dir", help="Folder with wordsim353.tsv, simlex999.txt, questions-words.txt, faruqui/.")
    parser.add_argument("--restrict-vocab", type=int, default=30000, help="Analogy candidates: most frequent N words.")
    parser.add_argument("--json", action="store_true", help="Print the report as JSON.")
    args = parser.parse_args(argv)
    setup_logging(quiet=args.json)
    if args.restrict_vocab < 1:
        raise DataError(f"The 'restrict_vocab' parameter of evaluation.wordvec must be an int >= 1. Got {args.restrict_vocab}.")
    if args.output_dir:
        check_output_dir(args.output_dir, args.overwrite)  # before loading: nothing is replaced on a mistake
    vectors = load_vectors(args.vectors)
    report = evaluate_all(vectors, args.data_dir, restrict_vocab=args.restrict_vocab)
    if args.output_dir:
        with atomic_dir(args.output_dir) as tmp:
            write_json(tmp / "metrics.json", {"vectors": str(args.vectors), **report.to_dict()})
            write_json(tmp / "per_example.json", report.to_dict(per_example=True))
            plot_pca(vectors, tmp / "pca.png")
    print(json.dumps(report.to_dict(), indent=2) if args.json else format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
