"""Every saved word-vector model in one intrinsic table: WS-353, SimLex-999, analogies, coverage, train time.

    python benchmarks/embeddings_intrinsic.py                                   # artifacts/embeddings/*/
    python benchmarks/embeddings_intrinsic.py --models artifacts/embeddings/glove artifacts/embeddings/ppmi
    python benchmarks/embeddings_intrinsic.py --corpus wiki8_text8style_100M.txt.gz   # only models of that corpus

Models: each folder under ``--root`` (default ``artifacts/embeddings``) that
holds a saved word-vector model (``vectors.safetensors`` + ``config.json``:
word2vec, fastText, GloVe, PPMI, LSA, and gensim's FastText saved by
``benchmarks/fasttext_vs_gensim.py``), or the folders and word2vec-format
files given with ``--models``. Every model is scored by
``evaluation.wordvec.evaluate_all``, the protocol of the word2vec table:
Spearman rho on WS-353 and SimLex-999 (pairs with an unknown word skipped,
``coverage`` = pairs found), 3CosAdd analogy accuracy over the 30,000 most
frequent words (questions outside them skipped and counted).

Train time is what the model folder recorded (``config.json`` ->
``training``): ``total_seconds`` (corpus reading, co-occurrence counting and
fitting) where the estimator writes it, else ``read_seconds +
train_seconds``; ``n/a`` for folders without it (gensim's vectors). Times from
different runs on a shared machine are indicative only.

Writes ``table.json`` (rows with every aggregate metric) and ``table.md``
into ``--output-dir`` and prints the Markdown table, best WS-353 first.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evaluation.wordvec import evaluate_all, load_vectors  # noqa: E402
from pipeline.artifacts import read_json, write_json  # noqa: E402
from pipeline.errors import CliParser, DataError, cli_main  # noqa: E402

logger = logging.getLogger(__name__)

COLUMNS = [("model", "model"), ("class", "class"), ("corpus", "corpus"), ("ws353", "WS-353"), ("simlex999", "SimLex-999"),
           ("analogy", "analogy"), ("analogy_semantic", "sem."), ("analogy_syntactic", "syn."),
           ("ws353_coverage", "WS cov."), ("simlex999_coverage", "SL cov."), ("analogy_coverage", "an. cov."),
           ("vocab", "vocab"), ("dim", "dim"), ("train_s", "train s")]


def find_models(root: Path) -> list[Path]:
    """Folders directly under ``root`` that hold a saved word-vector model, by name."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if (p / "vectors.safetensors").is_file() and (p / "config.json").is_file())


def train_seconds(info: dict[str, Any]) -> float | None:
    if "total_seconds" in info:
        return float(info["total_seconds"])
    if "train_seconds" in info:
        return float(info["train_seconds"]) + float(info.get("read_seconds", 0.0))
    return None


def corpus_name(path: Path) -> str | None:
    """The file name of the corpus a saved model says it was trained on (None when it does not say)."""
    corpus = read_json(path / "config.json").get("training", {}).get("corpus")
    return Path(corpus).name if corpus else None


def score(path: Path, restrict_vocab: int) -> dict[str, Any]:
    vectors = load_vectors(path)
    config = read_json(path / "config.json") if path.is_dir() else {}
    report = evaluate_all(vectors, faruqui=False, restrict_vocab=restrict_vocab).aggregate
    seconds = train_seconds(config.get("training", {}))
    return {"model": path.name, "path": str(path), "class": config.get("class", "word2vec format"),
            "corpus": corpus_name(path) if path.is_dir() else None,
            "vocab": len(vectors.vocab_), "dim": int(vectors.vectors_.shape[1]),
            "train_s": None if seconds is None else round(seconds, 1), **report}


def _cell(value: Any, key: str) -> str:
    if value is None:
        return "n/a"
    if key in ("analogy", "analogy_semantic", "analogy_syntactic"):
        return f"{100 * value:.1f}%"
    if key.endswith("coverage"):
        return f"{100 * value:.0f}%"
    if isinstance(value, float):
        return f"{value:.3f}" if key in ("ws353", "simlex999") else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def format_markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(title for _, title in COLUMNS) + " |",
             "| " + " | ".join("---" for _ in COLUMNS) + " |"]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(key), key) for key, _ in COLUMNS) + " |")
    return "\n".join(lines)


@cli_main
def main(argv: list[str] | None = None) -> int:
    from pipeline.utils import setup_logging

    parser = CliParser(description=__doc__.split("\n\n")[0],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default="artifacts/embeddings", help="Folder whose model subfolders are scored.")
    parser.add_argument("--models", nargs="+", help="Model folders or word2vec-format files (instead of --root).")
    parser.add_argument("--output-dir", default="runs/embeddings-intrinsic", help="Where table.json and table.md go.")
    parser.add_argument("--corpus", help="Keep models trained on this corpus file name (and those that do not say).")
    parser.add_argument("--restrict-vocab", type=int, default=30000, help="Analogy candidates: most frequent N words.")
    parser.add_argument("--json", action="store_true", help="Print the rows as JSON instead of Markdown.")
    args = parser.parse_args(argv)
    setup_logging(quiet=args.json)
    paths = [Path(p) for p in args.models] if args.models else find_models(Path(args.root))
    if not paths:
        raise DataError(f"No saved word-vector model under {args.root!r}. Train one with "
                        "python -m training.train_embeddings, or pass --models.")
    rows = []
    for path in paths:
        if args.corpus and path.is_dir() and corpus_name(path) not in (None, args.corpus):
            logger.info("Skipping %s (trained on %s).", path, corpus_name(path))
            continue
        logger.info("Scoring %s ...", path)
        rows.append(score(path, args.restrict_vocab))
    if not rows:
        raise DataError(f"No model under {args.root!r} was trained on {args.corpus!r}. Check --corpus.")
    rows.sort(key=lambda r: -(r.get("ws353") or -1.0))
    out = Path(args.output_dir)
    write_json(out / "table.json", {"restrict_vocab": args.restrict_vocab, "rows": rows})
    table = format_markdown(rows)
    (out / "table.md").write_text(
        "# Word vectors, intrinsic evaluation\n\nSpearman rho (WS-353, SimLex-999), 3CosAdd analogy accuracy over the "
        f"{args.restrict_vocab:,} most frequent words; coverage = pairs or questions evaluated. Command: "
        f"`python benchmarks/embeddings_intrinsic.py {' '.join(argv if argv is not None else sys.argv[1:])}`.\n\n"
        + table + "\n", encoding="utf-8")
    print(json.dumps(rows, indent=2) if args.json else table)
    logger.info("Wrote %s and %s", out / "table.json", out / "table.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
