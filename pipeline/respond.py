"""Answer a customer message: intent -> policy snippets -> grounded reply.

    python -m pipeline.respond "I want a refund for order 12345"
    python -m pipeline.respond --json "Where is my parcel?"          # full trace
    printf 'cancel my order\\nhow do I reset my password\\n' | python -m pipeline.respond --json   # JSON Lines
    python -m pipeline.respond --config configs/respond/default.yaml --generator seq2seq --generator-model artifacts/generator "..."
    python -m pipeline.respond --conversation chat.txt [--json]       # a scripted conversation, one customer message per line

With no message argument, one message per line is read from stdin, and there is
one output line per input line: a line with nothing to answer (blank, or only
control characters) gets an empty line, or with ``--json`` a record
``{"line": N, "error": ...}``, and a warning on stderr. On a fresh install the first call trains the default intent
model (about 3 minutes, once) and caches it; pass ``--intent-model DIR`` to use
another one. ``--json`` prints the whole :class:`~pipeline.types.Turn` of each message.

``--conversation FILE`` replays one conversation: each line is the customer's next message, answered with the
state of the lines before it (clarification answers, remembered order numbers, hand-off). An empty line is an
error naming its line number (nothing is answered), so a script with a gap is fixed rather than half replayed.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys

from pipeline.errors import CliParser, ConfigError, DataError, cli_main
from pipeline.types import Turn, to_dict
from pipeline.utils import progress_enabled, setup_logging

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(
        prog="python -m pipeline.respond",
        description="Answer customer messages with a reply grounded in the store's policies.",
    )
    parser.add_argument("message", nargs="*", help="The customer message (words are joined). Omit to read one message per line from stdin.")
    parser.add_argument("--json", action="store_true", help="Print each turn's full trace as JSON (JSON Lines for stdin or --conversation).")
    parser.add_argument("--conversation", metavar="FILE", help="Replay a scripted conversation: one customer message per line.")
    parser.add_argument("--config", help="YAML config with nlu / retrieval / nlg sections (see configs/respond/default.yaml).")
    parser.add_argument("--intent-model", help="Intent model folder or Hub id (default: the cached bootstrap model).")
    parser.add_argument("--slot-model", help="Learned entity model folder (training.finetune_slots), merged with the patterns.")
    parser.add_argument("--kb", help="Knowledge-base folder of policy YAML files (default: the packaged demo store).")
    parser.add_argument("--keep-pii", action="store_true",
                        help="Keep personal data in log lines and the --json trace (by default emails, phone and card numbers are masked).")
    parser.add_argument("--generator", help="Reply generator: grounded (default, offline) or seq2seq.")
    parser.add_argument("--generator-model", help="Seq2seq checkpoint: Hub id (google/flan-t5-base) or local folder.")
    parser.add_argument("--top-k", type=int, help="Snippets retrieved per message.")
    from pipeline.onnx_runtime import RUNTIMES

    parser.add_argument("--runtime", choices=RUNTIMES,
                        help="Model runtime of the intent model and the encoder (nlu.runtime, retrieval.runtime; default auto: ONNX when exported).")
    parser.add_argument("--batch-size", type=int, default=32, help="Messages answered together when reading stdin.")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="Progress bars (default: when stderr is a terminal).")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="More log output on stderr.")
    return parser


def format_plain(turn: Turn) -> str:
    return turn.reply.text if turn.reply is not None else ""


def format_turn(turn: Turn, indent: int | None = None, keep_pii: bool = False) -> str:
    """The turn's JSON trace; personal data the customer typed is masked unless ``keep_pii``."""
    from pipeline.privacy import mask_trace

    trace = to_dict(turn)
    return json.dumps(trace if keep_pii else mask_trace(trace), indent=indent, ensure_ascii=False)


def _batches(lines, size: int):
    """Lists of up to ``size`` (line number, text) pairs; every line is kept, so the output lines up with the input."""
    batch: list[tuple[int, str]] = []
    for number, line in enumerate(lines, start=1):
        batch.append((number, line.rstrip("\r\n")))
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _answer_lines(assistant, lines, batch_size: int, as_json: bool):
    """One output line per stdin line; a line with nothing to answer gets an empty line or an error record."""
    from pipeline.assistant import clean_message

    for batch in _batches(lines, batch_size):
        cleaned: dict[int, tuple[str, list[str]]] = {}  # line number -> (text, notes), each line cleaned once
        for number, text in batch:
            try:
                cleaned[number] = clean_message(text, assistant.max_chars)
            except DataError:
                logger.warning("Line %d has nothing to answer (it is blank or only control characters); "
                               "its output line is %s.", number, "an error record" if as_json else "empty")
        turns = iter(assistant.run([Turn(message=text, text=cleaned[number][0], notes=cleaned[number][1])
                                    for number, text in batch if number in cleaned]))
        for number, _ in batch:
            if number not in cleaned:
                yield json.dumps({"line": number, "error": "empty message"}) if as_json else ""
            else:
                turn = next(turns)
                yield format_turn(turn, keep_pii=assistant.stage("nlu").config.keep_pii) if as_json else format_plain(turn)


def read_conversation(path: str) -> list[str]:
    """The customer messages of a scripted conversation file; an empty line is a DataError naming it."""
    from pathlib import Path

    file = Path(path)
    if not file.is_file():
        raise DataError(f"The conversation file {path!r} does not exist. Pass a text file with one customer message per line.")
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise DataError(f"The conversation file {path!r} is not UTF-8 text (byte {exc.start}). Save it as UTF-8.") from None
    while lines and not lines[-1].strip():
        lines.pop()
    empty = [i for i, line in enumerate(lines, start=1) if not line.strip()]
    if empty:
        raise DataError(f"Line {empty[0]} of {path} is empty: every line is the customer's next message. "
                        "Remove the empty line(s) and retry.")
    if not lines:
        raise DataError(f"The conversation file {path!r} has no messages. Write one customer message per line.")
    return lines


def replay_conversation(assistant, lines: list[str], as_json: bool):
    """Each line answered in turn with the conversation's state."""
    from pipeline.conversation import Conversation

    conversation = Conversation()
    for line in lines:
        turn = assistant.respond(conversation, line)
        yield format_turn(turn, keep_pii=assistant.stage("nlu").config.keep_pii) if as_json else format_plain(turn)


@cli_main
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(verbose=args.verbose, quiet=args.verbose == 0)
    if args.batch_size < 1:
        raise ConfigError(f"The '--batch-size' option must be an int >= 1. Got {args.batch_size}.")
    from pipeline.assistant import build_assistant, load_respond_config  # heavy imports after --help / bad flags

    lines = read_conversation(args.conversation) if args.conversation else None  # a bad file fails before models load
    if lines is not None and args.message:
        raise ConfigError("Pass either a message or --conversation FILE, not both.")
    overrides = {
        "nlu": {"model": args.intent_model, "slot_model": args.slot_model, "keep_pii": True if args.keep_pii else None,
                "runtime": args.runtime},
        "nlg": {"generator": args.generator, "model": args.generator_model},
        "retrieval": {"top_k": args.top_k, "kb_path": args.kb, "runtime": args.runtime},
    }
    assistant = build_assistant(load_respond_config(args.config, overrides), progress=progress_enabled(args.progress))
    if lines is not None:
        for line in replay_conversation(assistant, lines, args.json):
            print(line, flush=True)
        return 0
    if args.message:
        message = " ".join(args.message)
        if not message.strip():
            raise DataError('The message is empty or only whitespace. Pass a customer message, e.g. "Where is my order?".')
        turn = assistant.answer([message])[0]
        print(format_turn(turn, indent=2, keep_pii=args.keep_pii) if args.json else format_plain(turn))
        return 0
    if sys.stdin.isatty():
        print("Reading messages from stdin, one per line (Ctrl-D to finish)...", file=sys.stderr)
    for line in _answer_lines(assistant, sys.stdin, args.batch_size, args.json):
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
