"""Train classical word embeddings and save them as a model folder.

    python -m training.train_embeddings --method word2vec --arch skipgram --loss ns \\
        --corpus ../shared/data/corpus/wiki8_text8style_100M.txt.gz --out artifacts/embeddings/w2v-sgns
    python -m training.train_embeddings --config configs/embeddings/word2vec_cbow_ns.yaml --out artifacts/embeddings/w2v-cbow
    python -m training.train_embeddings --config configs/embeddings/fasttext.yaml \\
        --corpus ../shared/data/corpus/wiki8_text8style_100M.txt.gz --out artifacts/embeddings/fasttext
    python -m training.train_embeddings --config configs/embeddings/glove.yaml \\
        --corpus ../shared/data/corpus/wiki8_text8style_100M.txt.gz --out artifacts/embeddings/glove
    python -m training.train_embeddings --config configs/embeddings/ppmi.yaml ...   # or lsa.yaml

Settings: defaults < ``--config`` YAML < flags (see ``training/embeddings/config.py``).
The folder (written atomically) holds ``vectors.safetensors``, ``vocab.json``,
``config.json``, ``resolved_config.json`` (the resolved settings),
``metrics.json`` and a ``README.md`` model card with WS-353, SimLex-999 and
analogy scores (skipped with ``--no-evaluate`` or when the word-similarity
data is absent). Evaluate any folder later with ``python -m evaluation.wordvec``.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from pipeline.errors import CliParser, DataError, cli_main
from pipeline.utils import set_seed, setup_logging
from training.cli import check_output_dir
from training.embeddings.config import TrainEmbeddingsConfig

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(prog="python -m training.train_embeddings", description=__doc__.split("\n\n")[0],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="YAML file of settings (keys are the flag names with underscores).")
    parser.add_argument("-v", "--verbose", action="count", default=0)
    parser.add_argument("--overwrite", action="store_true", help="Replace --out if it already exists.")
    parser.add_argument("--json", action="store_true",
                        help="Print {out, method, vocab_size, dim, training, metrics} as JSON instead of the summary.")
    TrainEmbeddingsConfig.add_arguments(parser)
    return parser


@cli_main
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    cfg = TrainEmbeddingsConfig.resolve(args.config, args)
    if not Path(cfg.corpus).is_file():
        raise DataError(f"Corpus {cfg.corpus!r} does not exist. Pass a plain or .gz text file with --corpus.")
    check_output_dir(cfg.out, args, "--out")  # the fine-tuning commands' rule for model folders
    set_seed(cfg.seed)
    model = cfg.to_estimator().fit(cfg.corpus)
    metrics: dict = {}
    if cfg.evaluate:
        from evaluation.wordvec import evaluate_all, format_report, wordsim_dir

        if (wordsim_dir() / "wordsim353.tsv").is_file():
            report = evaluate_all(model)
            metrics = report.aggregate
            if not args.json:
                print(format_report(report))
        else:
            logger.warning("No word-similarity data in %s: the model card has no metrics.", wordsim_dir())
    model.save(cfg.out, metrics=metrics, training_config=cfg.to_dict())
    info = model.training_info()
    if args.json:
        print(json.dumps({"out": str(cfg.out), "method": cfg.method, "vocab_size": len(model.vocab_),
                          "dim": int(model.vectors_.shape[1]), "training": info, "metrics": metrics},
                         indent=2, default=str))
        return 0
    if cfg.method in ("glove", "ppmi", "lsa"):
        backend = f" ({info['backend']} backend)" if "backend" in info else ""
        print(f"Saved {cfg.method} ({len(model.vocab_)} words x {model.vectors_.shape[1]}) to {cfg.out}: "
              f"{info['total_seconds']:.1f} s in all{backend}.")
        return 0
    print(f"Saved {cfg.method} ({cfg.arch}-{cfg.loss}, {len(model.vocab_)} words x {cfg.dim}) to {cfg.out}: "
          f"{info['train_seconds']:.1f} s, {info['words_per_second']:.0f} words/s ({info['backend']} backend).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
