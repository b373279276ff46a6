"""Build the in-domain corpus for word vectors: customer-support training texts only, text8-normalised.

    python -m training.support_corpus --out artifacts/corpora/support.txt
    python -m training.train_embeddings --config configs/embeddings/word2vec_sgns_support.yaml

What goes in (one text per line, tokenised by :func:`training.text_features.text8_tokens`,
the normalisation of the wiki8 corpus: lowercase a-z, digits spelled out):

1. ``bitext``: the training split of ``load_intent_data("bitext", seed)`` (27k + 4.5k
   files deduplicated, placeholders filled, exactly the split the intent models
   train on; not its validation or test messages).
2. ``bitext_responses``: the reference replies of the Bitext 4.5k file for the rows
   in the generator's training split (``training.generator_data``, same seed) whose
   message is also in the intent training split of 1, placeholders filled as for
   the generator (so no reply of a held-out generation example, and no reply to a
   held-out intent message).
3. ``banking77``: the training split of ``load_intent_data("banking77", seed)``
   (the published train file minus the 1,000 validation messages carved from it;
   the 3,080 test messages are never read).
4. ``knowledge_base``: every snippet of the knowledge base (title, policy text,
   tags: :func:`pipeline.retrieval.document_text`), the documents retrieval ranks.
   The messages of ``knowledge_base/retrieval_set.yaml`` (the retrieval test) are
   not included.

Beside the text file, ``<out>.json`` records the sources, line and token counts,
the seed and these rules. Texts are kept in this order (no shuffling: word2vec
windows never cross a line, so order only matters for the learning-rate schedule).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Sequence

from pipeline.artifacts import atomic_write, check_under_folder, write_json
from pipeline.errors import CliParser, ConfigError, cli_main
from training.text_features import text8_tokens

logger = logging.getLogger(__name__)

SOURCES = ("bitext", "bitext_responses", "banking77", "knowledge_base")


def support_texts(seed: int = 42, sources: Sequence[str] = SOURCES) -> dict[str, list[str]]:
    """Raw texts per source (see the module docstring); training splits only."""
    from training.data import load_intent_data, normalise

    unknown = [s for s in sources if s not in SOURCES]
    if unknown:
        raise ConfigError(f"Unknown corpus source(s) {unknown}. Choose from {', '.join(SOURCES)}.")
    out: dict[str, list[str]] = {}
    bitext_train: list[str] = []
    if "bitext" in sources or "bitext_responses" in sources:
        bitext_train = load_intent_data("bitext", seed=seed).train.texts
    if "bitext" in sources:
        out["bitext"] = list(bitext_train)
    if "bitext_responses" in sources:
        from training.generator_data import read_bitext_rows, split_rows, to_examples

        keys = {normalise(t) for t in bitext_train}
        train_rows = [r for r in split_rows(read_bitext_rows(), seed=seed)["train"] if normalise(r["message"]) in keys]
        out["bitext_responses"] = [ex.reference for ex in to_examples(train_rows)]
    if "banking77" in sources:
        out["banking77"] = list(load_intent_data("banking77", seed=seed).train.texts)
    if "knowledge_base" in sources:
        from knowledge_base.loader import load_knowledge_base
        from pipeline.retrieval.retriever import document_text

        out["knowledge_base"] = [document_text(s) for s in load_knowledge_base().snippets]
    return {s: out[s] for s in sources}


def write_corpus(out: str | os.PathLike[str], texts: dict[str, list[str]], meta: dict | None = None) -> dict:
    """Write one tokenised text per line (empty ones skipped) and ``<out>.json``; returns the manifest."""
    out = Path(out)
    counts: dict[str, dict[str, int]] = {}

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as fh:
            for source, items in texts.items():
                lines = tokens = 0
                for text in items:
                    words = text8_tokens(text)
                    if words:
                        fh.write(" ".join(words) + "\n")
                        lines += 1
                        tokens += len(words)
                counts[source] = {"texts": len(items), "lines": lines, "tokens": tokens}

    atomic_write(out, write)
    manifest = {"corpus": str(out), "tokenizer": "training.text_features.text8_tokens",
                "sources": counts, "lines": sum(c["lines"] for c in counts.values()),
                "tokens": sum(c["tokens"] for c in counts.values()), **(meta or {}),
                "rules": (__doc__ or "").split("\n\n", 2)[2].split("\n\nBeside")[0]}
    write_json(out.with_name(out.name + ".json"), manifest)
    return manifest


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    from pipeline.utils import setup_logging

    parser = CliParser(prog="python -m training.support_corpus", description=__doc__.split("\n\n")[0],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="artifacts/corpora/support.txt", help="Text file to write (default: %(default)s).")
    parser.add_argument("--seed", type=int, default=42, help="Seed of the data splits (default: %(default)s, as the intent models).")
    parser.add_argument("--sources", default=",".join(SOURCES), help="Comma-separated sources (default: %(default)s).")
    parser.add_argument("--json", action="store_true", help="Print the manifest (lines and tokens per source) as JSON.")
    parser.add_argument("-q", "--quiet", action="store_true")
    args = parser.parse_args(argv)
    setup_logging(quiet=args.quiet)
    sources = [s.strip() for s in args.sources.split(",") if s.strip()]
    if not sources:
        raise ConfigError(f"The '--sources' option must name at least one of {', '.join(SOURCES)}. Got {args.sources!r}.")
    if args.seed < 0:
        raise ConfigError(f"The '--seed' option must be an int >= 0. Got {args.seed}.")
    out = Path(args.out)
    if out.is_dir() or not out.name:
        raise ConfigError(f"The '--out' path {args.out!r} is a folder. Pass the text file to write, e.g. {out / 'support.txt'}.")
    check_under_folder(out, "--out")
    manifest = write_corpus(args.out, support_texts(args.seed, sources), {"seed": args.seed})
    if args.json:
        print(json.dumps({k: manifest[k] for k in ("corpus", "sources", "lines", "tokens")}, indent=1))
        return 0
    per_source = ", ".join(f"{name} {c['lines']:,} lines" for name, c in manifest["sources"].items())
    print(f"Wrote {manifest['corpus']}: {manifest['lines']:,} lines, {manifest['tokens']:,} tokens ({per_source}); "
          f"manifest in {manifest['corpus']}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
