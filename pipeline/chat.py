"""An interactive shell: talk to the assistant one message at a time, with the conversation's state kept.

    python -m pipeline.chat
    python -m pipeline.chat --intent-model artifacts/intent-bitext --state runs/chat.json   # continue a saved conversation

Commands: ``/trace`` prints the last turn as JSON, ``/reset`` starts a new conversation, ``/reopen`` takes a
handed-off conversation back, ``/help`` lists them, ``/quit`` (or Ctrl-D) exits. With ``--state FILE`` the
conversation is saved after every turn (written to a temporary file, then renamed) and read back at start.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import IO

from pipeline.errors import CliParser, DataError, cli_main
from pipeline.utils import progress_enabled, setup_logging

HELP = "/trace  last turn as JSON   /reset  new conversation   /reopen  back from a person   /quit  exit (or Ctrl-D)"


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(prog="python -m pipeline.chat", description="Chat with the assistant in the terminal.")
    parser.add_argument("--config", help="YAML config with nlu / policy / retrieval / nlg / conversation sections.")
    parser.add_argument("--intent-model", help="Intent model folder or Hub id (default: the cached bootstrap model).")
    parser.add_argument("--kb", help="Knowledge-base folder of policy YAML files (default: the packaged demo store).")
    parser.add_argument("--state", metavar="FILE", help="Read the conversation from FILE if it exists, and save it there after each turn.")
    parser.add_argument("--keep-pii", action="store_true", help="Show personal data in /trace (masked by default).")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="More log output on stderr.")
    return parser


def load_state(path: str | None):
    from pipeline.conversation import Conversation

    if not path or not Path(path).exists():
        return Conversation()
    if not Path(path).is_file():
        raise DataError(f"The --state path {path!r} is not a file. Pass a JSON file path.")
    return Conversation.from_json(Path(path).read_text(encoding="utf-8"), source=f"The state file {path!r}")


def save_state(path: str | None, conversation) -> None:
    if path:
        from pipeline.artifacts import atomic_write

        atomic_write(path, lambda tmp: Path(tmp).write_text(conversation.to_json(), encoding="utf-8"))


def shell(assistant, conversation, state: str | None, keep_pii: bool, stdin: IO[str], stdout: IO[str]) -> int:
    """The read-answer loop; returns the exit status."""
    from pipeline.conversation import Conversation
    from pipeline.privacy import mask_trace
    from pipeline.types import to_dict

    interactive = stdin.isatty()
    last = conversation.turns[-1] if conversation.turns else None
    while True:
        if interactive:
            stdout.write("you> ")
            stdout.flush()
        line = stdin.readline()
        if not line:  # Ctrl-D
            if interactive:
                stdout.write("\n")
            return 0
        text = line.strip()
        if not text:
            continue
        if text in ("/quit", "/exit"):
            return 0
        if text == "/help":
            print(HELP, file=stdout)
        elif text == "/reset":
            conversation, last = Conversation(), None
            save_state(state, conversation)
            print("(new conversation)", file=stdout)
        elif text == "/reopen":
            conversation.reopen()
            save_state(state, conversation)
            print(f"(conversation {conversation.status})", file=stdout)
        elif text == "/trace":
            trace = to_dict(last) if last is not None else {}
            print(json.dumps(trace if keep_pii else mask_trace(trace), indent=2, ensure_ascii=False), file=stdout)
        elif text.startswith("/"):
            print(f"Unknown command {text.split()[0]!r}. {HELP}", file=stdout)
        else:
            last = assistant.respond(conversation, text)
            save_state(state, conversation)
            print(("assistant> " if interactive else "") + last.reply.text, file=stdout)
        stdout.flush()


@cli_main
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(verbose=args.verbose, quiet=args.verbose == 0)
    conversation = load_state(args.state)  # a corrupt or future-version file fails before the models load
    from pipeline.assistant import build_assistant, load_respond_config

    overrides = {"nlu": {"model": args.intent_model, "keep_pii": True if args.keep_pii else None}, "retrieval": {"kb_path": args.kb}}
    assistant = build_assistant(load_respond_config(args.config, overrides), progress=progress_enabled())
    assistant.warm_up()
    if sys.stdin.isatty():
        print(f"Chat with the assistant. {HELP}", file=sys.stderr)
    return shell(assistant, conversation, args.state, args.keep_pii, sys.stdin, sys.stdout)


if __name__ == "__main__":
    raise SystemExit(main())
