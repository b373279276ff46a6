"""User-facing errors and the CLI wrapper that turns them into one clear line.

Every problem a user can fix (bad setting, bad data, missing model) raises a
subclass of :class:`PipelineError` whose message names the value received,
what is allowed and the fix. Entry points wrap ``main`` with :func:`cli_main`,
which prints ``error: <message>`` to stderr and exits with status 2, without a
traceback (set ``SUPPORT_DEBUG=1`` to see one).
"""
from __future__ import annotations

import argparse
import difflib
import functools
import os
import sys
from typing import Any, Callable, NoReturn


class PipelineError(Exception):
    """A problem the user can fix; its message is shown as one line."""


class ConfigError(PipelineError, ValueError):
    """A bad setting: unknown key, wrong type or value out of range."""


class DataError(PipelineError, ValueError):
    """A bad data set: missing file or column, empty texts, too few labels."""


class ModelLoadError(PipelineError, OSError):
    """A model that cannot be found or read (missing or corrupt folder, offline Hub id)."""


class NotFittedError(PipelineError, ValueError):
    """An estimator or component used before ``fit``/``warm_up``."""


class CliParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors follow the house rule: one ``error:`` line on stderr, exit 2.

    (The usage block argparse prints first stays available with ``--help``.)
    """

    SYNONYMS = {"--vector-size": "--dim", "--size": "--dim", "--dimension": "--dim", "--dimensions": "--dim",
                "--learning-rate": "--lr", "--epoch": "--epochs", "--model-name": "--base-model", "--output": "--output-dir",
                "--out-dir": "--output-dir", "--threads": "--num-threads"}

    def __init__(self, *args, **kwargs) -> None:
        if "prog" not in kwargs and not args:
            kwargs["prog"] = default_prog()
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        hint = ""
        if message.startswith("unrecognized arguments:"):
            options = set(self._option_string_actions)
            for word in message.split(":", 1)[1].split():
                if not word.startswith("--"):
                    continue
                flag = word.split("=", 1)[0]
                guess = self.SYNONYMS.get(flag) if self.SYNONYMS.get(flag) in options else None
                close = difflib.get_close_matches(flag, sorted(options), n=1, cutoff=0.75)
                if guess or close:
                    hint = f" Did you mean {guess or close[0]}?"
                    break
        self.exit(2, f"error: {message}.{hint} Run '{self.prog} --help' for the options.\n")


def default_prog() -> str | None:
    """``python -m evaluation.tone`` when the program runs as a module (argparse would say ``tone.py``)."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    name = spec.name.removesuffix(".__main__") if spec is not None and spec.name else ""
    return f"python -m {name}" if name and name != "__main__" else None


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when the message is empty), for a one-line error."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def check_param(owner: str, name: str, value: Any, ok: bool, allowed: str) -> None:
    """Raise the house-style error when ``ok`` is false.

    >>> check_param("Retriever", "top_k", 0, False, "an int >= 1")
    Traceback (most recent call last):
    ...
    pipeline.errors.ConfigError: The 'top_k' parameter of Retriever must be an int >= 1. Got 0.
    """
    if not ok:
        raise ConfigError(f"The {name!r} parameter of {owner} must be {allowed}. Got {value!r}.")


def cli_main(fn: Callable[..., int | None]) -> Callable[..., int]:
    """Decorate a CLI ``main``: user errors, and file-system errors that name a path, become one line on stderr
    and exit 2 (``SUPPORT_DEBUG=1`` shows the traceback instead)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> int:
        try:
            return fn(*args, **kwargs) or 0
        except PipelineError as exc:
            if os.environ.get("SUPPORT_DEBUG"):
                raise
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
        except BrokenPipeError:  # output piped into e.g. `head`, which closed early
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
        except OSError as exc:  # a path the file system refuses (permissions, read-only, full disk): one line too
            if os.environ.get("SUPPORT_DEBUG") or not exc.filename:
                raise
            print(f"error: {exc.strerror or type(exc).__name__}: {str(exc.filename)!r}. "
                  "Check the path, its permissions and the free space.", file=sys.stderr)
            return 2

    return wrapper
