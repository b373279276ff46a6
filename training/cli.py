"""Flags and checks shared by the training commands (``finetune_intent``, ``finetune_slots``, ``finetune_generator``)."""
from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.errors import ConfigError


def add_training_arguments(parser: argparse.ArgumentParser, config_name: str) -> None:
    """``--config``, ``--resume``, ``--overwrite``, ``--progress/--no-progress``, ``-q``."""
    parser.add_argument("--config", help=f"YAML file with {config_name} keys; flags override it.")
    parser.add_argument("--resume", action="store_true", help="Continue from <output-dir>.checkpoint after an interruption.")
    parser.add_argument("--overwrite", action="store_true", help="Replace an existing model folder at --output-dir.")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="Show the progress bar (default: only when stderr is a terminal).")
    parser.add_argument("-q", "--quiet", action="store_true", help="Only warnings and errors on stderr.")


def check_output_dir(output_dir: str | Path, args: argparse.Namespace) -> Path:
    """Refuse to replace an existing model folder unless ``--overwrite`` (or ``--resume``) is given."""
    out = Path(output_dir)
    if out.exists() and not (args.overwrite or args.resume):
        raise ConfigError(f"The output folder {str(out)!r} already exists. Pass --overwrite to replace it, or choose another --output-dir.")
    return out
