"""Run SGD jobs over the corpus on worker threads, with a linearly decaying learning rate.

The training loop of ``Word2Vec`` and ``FastText`` (each brings its own job
function): ``epochs`` passes over jobs of whole
sentences (``job_bounds``); a job's learning rate follows its position in the
whole run (``alpha`` down to ``min_alpha``), so it does not depend on thread
timing; ``workers`` threads pull jobs in order (Hogwild when the job releases
the GIL); the first worker error is raised in the caller. A job is
``job(s_begin, s_end, alpha_begin, alpha_end, seed) -> (loss_sum, loss_terms,
raw_tokens, trained_tokens)``; the result is the mean loss per epoch.
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from pipeline.utils import progress_enabled

Job = Callable[[int, int, float, float, int], Sequence[float]]


def run_jobs(job: Job, sentence_ends: np.ndarray, bounds: np.ndarray, *, epochs: int, alpha: float,
             min_alpha: float, seed: int, workers: int, desc: str, progress: bool | None = None,
             torch_job: bool = False) -> list[float]:
    """Run every job of every epoch; ``torch_job``: one thread with one intra-op torch thread (the torch fallback's
    mini-batch ops are too small for intra-op threads, and a second Python thread loses more to the GIL than it gains)."""
    n_tokens = int(sentence_ends[-1])
    total = float(epochs * n_tokens)
    starts = np.concatenate([[0], sentence_ends])[bounds]  # token offset of each job start
    jobs = [(e, j) for e in range(epochs) for j in range(len(bounds) - 1)]

    def alpha_at(epoch: int, token: int) -> float:
        return max(min_alpha, alpha - (alpha - min_alpha) * (epoch * n_tokens + token) / total)

    lock = threading.Lock()
    cursor = iter(range(len(jobs)))
    loss_by_epoch = np.zeros((epochs, 2))
    errors: list[BaseException] = []
    bar = tqdm(total=int(total), unit="word", unit_scale=True, desc=desc, disable=not progress_enabled(progress),
               smoothing=0.1)
    window = {"loss": 0.0, "terms": 0.0, "shown": time.perf_counter()}

    def work() -> None:
        if torch_job:
            torch.set_num_threads(1)
        while not errors:
            with lock:
                k = next(cursor, None)
            if k is None:
                return
            epoch, j = jobs[k]
            try:
                res = job(int(bounds[j]), int(bounds[j + 1]), alpha_at(epoch, int(starts[j])),
                          alpha_at(epoch, int(starts[j + 1])), seed * 1_000_003 + k * 7919 + 1)
            except BaseException as exc:  # surface worker errors in the caller
                errors.append(exc)
                return
            with lock:
                loss_by_epoch[epoch] += res[:2]
                window["loss"] += res[0]
                window["terms"] += res[1]
                bar.update(int(res[2]))
                now = time.perf_counter()
                if now - window["shown"] > 1.0 and window["terms"]:
                    bar.set_postfix(loss=f"{window['loss'] / window['terms']:.4f}", epoch=epoch + 1, refresh=False)
                    window.update(loss=0.0, terms=0.0, shown=now)

    torch_threads = torch.get_num_threads()
    try:
        threads = [threading.Thread(target=work, daemon=True) for _ in range(1 if torch_job else workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        torch.set_num_threads(torch_threads)
        bar.close()
    if errors:
        raise errors[0]
    return [round(float(s / max(n, 1)), 5) for s, n in loss_by_epoch]
