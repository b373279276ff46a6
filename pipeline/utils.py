"""Small shared helpers: seeding, logging set-up for entry points, progress-bar policy, torch threads."""
from __future__ import annotations

import logging
import os
import random
import sys
from pathlib import Path


def cache_root() -> Path:
    """Where models trained on first use and caches live: ``$SUPPORT_CACHE_DIR``, else ``~/.cache/support-assistant``."""
    base = os.environ.get("SUPPORT_CACHE_DIR")
    return Path(base) if base else Path.home() / ".cache" / "support-assistant"


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
    for noisy in ("httpx", "urllib3", "filelock", "huggingface_hub", "transformers", "datasets"):
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


def set_torch_threads(num_threads: int | None = None) -> None:
    """Use the physical cores we have (``SUPPORT_NUM_THREADS`` overrides)."""
    import torch

    n = num_threads or int(os.environ.get("SUPPORT_NUM_THREADS", "0") or 0) or (os.cpu_count() or 1)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
