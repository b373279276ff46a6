"""What the training commands (``finetune_intent``, ``finetune_slots``, ``finetune_generator``) share:
their common flags, the output-folder check, and the parse → config → train steps of ``main``."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pipeline.artifacts import check_folder_path
from pipeline.errors import CliParser, ConfigError
from pipeline.utils import setup_logging


def add_training_arguments(parser: argparse.ArgumentParser, config_name: str) -> None:
    """``--config``, ``--resume``, ``--overwrite``, ``--progress/--no-progress``, ``-q``."""
    parser.add_argument("--config", help=f"YAML file with {config_name} keys; flags override it.")
    parser.add_argument("--resume", action="store_true", help="Continue from <output-dir>.checkpoint after an interruption.")
    parser.add_argument("--overwrite", action="store_true", help="Replace an existing model folder at --output-dir.")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="Show the progress bar (default: only when stderr is a terminal).")
    parser.add_argument("-q", "--quiet", action="store_true", help="Only warnings and errors on stderr.")


def training_parser(prog: str, description: str, config_cls: Any) -> argparse.ArgumentParser:
    """The parser of a training command: the config class's own flags, then the shared ones and ``--json``."""
    parser = CliParser(prog=prog, description=description)  # the config flags' help already names their defaults
    config_cls.add_arguments(parser)
    add_training_arguments(parser, config_cls.__name__)
    parser.add_argument("--json", action="store_true", help="Print the final metrics as JSON.")
    return parser


def check_output_dir(output_dir: str | Path, args: argparse.Namespace, flag: str = "--output-dir") -> Path:
    """Refuse to replace a model folder that is not empty unless ``--overwrite``, or ``--resume`` with a checkpoint
    to resume (for commands that have ``--resume``)."""
    out = check_folder_path(output_dir, flag)
    resume = getattr(args, "resume", False)
    checkpoint = out.with_name(out.name + ".checkpoint")
    taken = out.is_dir() and any(out.iterdir())  # an empty folder (made with mkdir beforehand) is simply filled
    if resume and not args.overwrite and not (checkpoint.is_dir() and any(checkpoint.iterdir())):
        there = f", and the output folder {str(out)!r} already exists" if taken else ""
        raise ConfigError(f"--resume found no checkpoint to continue in {str(checkpoint)!r}{there}. Run without "
                          f"--resume to train from the start{' (with --overwrite)' if taken else ''}.")
    if taken and not (args.overwrite or resume):
        raise ConfigError(f"The output folder {str(out)!r} already exists. Pass --overwrite to replace it, or choose another {flag}.")
    return out


def run_training(parser: argparse.ArgumentParser, argv: list[str] | None, config_cls: Any,
                 trainer_cls: Any) -> tuple[argparse.Namespace, Path, dict[str, Any]]:
    """Parse ``argv``, resolve the config (YAML, then flags), check the output folder and train.

    Returns the parsed arguments, the output folder and the trainer's metrics, for the command to print."""
    args = parser.parse_args(argv)
    setup_logging(quiet=args.quiet)
    config = config_cls.resolve(args.config, args)
    out = check_output_dir(config.output_dir, args)
    metrics = trainer_cls(config, progress=args.progress, resume=args.resume).train()
    return args, out, metrics
