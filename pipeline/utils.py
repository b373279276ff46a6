"""Small shared helpers: seeding, logging set-up for entry points, progress-bar policy, torch threads."""
from __future__ import annotations

import logging
import os
import random
import sys
from pathlib import Path


def cache_root() -> Path:
    """Where models trained on first use and caches live: ``$SUPPORT_CACHE_DIR``, else ``~/.cache/support-assistant``.

    The folder is created if needed; one that cannot be (a file, no permission) is one error naming its setting.
    """
    from pipeline.errors import ConfigError

    base = os.environ.get("SUPPORT_CACHE_DIR")
    root = Path(base).expanduser() if base else Path.home() / ".cache" / "support-assistant"
    setting = f"SUPPORT_CACHE_DIR={base}" if base else f"The cache folder {root}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        if not os.access(root, os.W_OK):
            raise PermissionError("not writable")
    except (OSError, PermissionError) as exc:
        fix = "Point SUPPORT_CACHE_DIR at a writable folder, or unset it." if base else "Set SUPPORT_CACHE_DIR to a writable folder."
        raise ConfigError(f"{setting} cannot be used as the cache folder ({exc.strerror or exc}). {fix}") from None
    return root


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and torch once, early.

    What stays non-deterministic: multi-threaded CPU reductions in torch may
    differ in the last bits between runs with different thread counts.
    """
    random.seed(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    try:
        import numpy as np

        np.random.seed(seed)
    except ImportError:  # pragma: no cover
        pass
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:  # pragma: no cover
        pass


def setup_logging(verbose: int = 0, quiet: bool = False) -> None:
    """Configure the root logger; only ``__main__`` entry points call this."""
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("httpx", "urllib3", "filelock", "huggingface_hub", "transformers", "datasets", "absl"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    # one line per answered message (personal data masked): only when asked for with -v
    logging.getLogger("pipeline.requests").setLevel(logging.INFO if verbose >= 1 else logging.WARNING)
    # Read by transformers / huggingface_hub at import time (importing them here would cost seconds).
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()


def progress_enabled(flag: bool | None = None) -> bool:
    """Progress bars show on a terminal; ``--no-progress`` or a non-TTY stderr turns them off."""
    if flag is not None:
        return flag
    if os.environ.get("SUPPORT_NO_PROGRESS"):
        return False
    return sys.stderr.isatty()


def num_threads(requested: int | None = None) -> int:
    """CPU threads for a model: ``requested``, else ``$SUPPORT_NUM_THREADS``, else all cores."""
    return requested or int(os.environ.get("SUPPORT_NUM_THREADS", "0") or 0) or (os.cpu_count() or 1)


def set_torch_threads(num_threads_: int | None = None) -> None:
    """Use the physical cores we have (``SUPPORT_NUM_THREADS`` overrides)."""
    import torch

    n = num_threads(num_threads_)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


class ProgressLines:
    """tqdm's interface for a stderr that is not a terminal: one line at each 10% and at least every 30 s."""

    def __init__(self, total: int, desc: str, *, initial: int = 0, unit: str = "it", every_s: float = 30.0,
                 stream=None) -> None:
        import time

        self.total, self.desc, self.unit, self.n, self.every_s = max(total, 1), desc, unit, initial, every_s
        self.stream = stream or sys.stderr
        self._clock = time.monotonic
        self._last_time, self._last_tenth = self._clock(), initial * 10 // self.total
        self.postfix = ""

    def update(self, n: int = 1) -> None:
        self.n += n
        tenth = self.n * 10 // self.total
        if tenth > self._last_tenth or self._clock() - self._last_time >= self.every_s:
            self._last_tenth, self._last_time = tenth, self._clock()
            extra = f" ({self.postfix})" if self.postfix else ""
            print(f"{self.desc}: {self.n}/{self.total} {self.unit} ({100 * self.n // self.total}%){extra}",
                  file=self.stream, flush=True)

    def set_postfix(self, **values) -> None:
        self.postfix = ", ".join(f"{k} {v}" for k, v in values.items())

    def close(self) -> None:
        """Nothing to clear."""


def progress_bar(total: int, desc: str, progress: bool | None, *, initial: int = 0, unit: str = "it"):
    """A tqdm bar when ``progress``; else, when stderr is not a terminal, :class:`ProgressLines`; else nothing.

    ``SUPPORT_NO_PROGRESS`` turns both off.
    """
    from tqdm.auto import tqdm

    if progress:
        return tqdm(total=total, initial=initial, desc=desc, unit=unit, dynamic_ncols=True)
    if not sys.stderr.isatty() and not os.environ.get("SUPPORT_NO_PROGRESS"):
        return ProgressLines(total, desc, initial=initial, unit=unit)
    return tqdm(total=total, disable=True)
