"""Micro-batching: messages that arrive together are answered in one pipeline call, and stored in one commit.

    batcher = MicroBatcher(assistant, store, max_batch=32, max_wait_ms=5)
    await batcher.start()
    turn = await batcher.submit(conversation_id, "where is my order?")

Each of ``workers`` worker tasks takes the first waiting message, gathers more for up to ``max_wait_ms`` (or
until ``max_batch``), then runs, on its pipeline thread: load each conversation from the store,
``assistant.respond_many``, and ``store.save_many`` (one transaction). Only then are the callers' futures resolved,
so every answered turn is on disk. Messages of one conversation are answered in order: the caller holds that
conversation's lock (:meth:`lock`) from submit to answer, so no two batches in flight hold one conversation.

Two pipeline threads with one torch thread each use two cores better than one pipeline thread with two torch
threads: a batch no longer waits for a torch thread the event loop or the client pushed off its core
(``benchmarks/serve_load.py`` measures both).
"""
from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

logger = logging.getLogger(__name__)


class MicroBatcher:
    def __init__(self, assistant: Any, store: Any, *, max_batch: int = 32, max_wait_ms: float = 20.0, workers: int = 1,
                 on_batch: Callable[[int], None] | None = None) -> None:
        self.assistant = assistant
        self.store = store
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self.workers = workers
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pipeline")
        self.on_batch = on_batch
        self._queue: asyncio.Queue | None = None
        self._tasks: list[asyncio.Task] = []
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._tasks = [asyncio.create_task(self._work()) for _ in range(self.workers)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.executor.shutdown(wait=False)

    def lock(self, conversation_id: str) -> "_ConversationLock":
        """``async with batcher.lock(cid):`` serialises the work on one conversation."""
        return _ConversationLock(self, conversation_id)

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn`` on a pipeline thread (the event loop never runs a model)."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def submit(self, conversation_id: str, text: str) -> Any:
        """The answered (and stored) turn; raises what answering it raised (e.g. ConversationNotFound)."""
        assert self._queue is not None, "MicroBatcher.start() was not called"
        future = asyncio.get_running_loop().create_future()
        await self._queue.put((conversation_id, text, future))
        return await future

    async def _work(self) -> None:
        assert self._queue is not None
        while True:
            batch = [await self._queue.get()]
            deadline = time.perf_counter() + self.max_wait
            while len(batch) < self.max_batch:
                left = deadline - time.perf_counter()
                if left <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), left))
                except asyncio.TimeoutError:
                    break
            try:
                results = await self.run(self._answer, [(cid, text) for cid, text, _ in batch])
            except Exception as exc:  # the whole call failed: every caller gets the error
                logger.exception("A batch of %d messages failed", len(batch))
                results = [exc] * len(batch)
            if self.on_batch is not None:
                self.on_batch(len(batch))
            for (_, _, future), result in zip(batch, results):
                if not future.done():
                    future.set_exception(result) if isinstance(result, BaseException) else future.set_result(result)
            await asyncio.sleep(0)  # let the answered callers send their replies (and their next messages) first

    def _answer(self, items: list[tuple[str, str]]) -> list[Any]:
        """On the pipeline thread: load, answer and store one batch; per item a Turn or the error it raised."""
        results: list[Any] = [None] * len(items)
        loaded = []
        for i, (cid, text) in enumerate(items):
            try:
                loaded.append((i, self.store.get(cid), text))
            except Exception as exc:
                results[i] = exc
        if loaded:
            turns = self.assistant.respond_many([(conv, text) for _, conv, text in loaded])
            self.store.save_many([conv for _, conv, _ in loaded])
            for (i, _, _), turn in zip(loaded, turns):
                results[i] = turn
        return results


class _ConversationLock:
    def __init__(self, batcher: MicroBatcher, cid: str) -> None:
        self.batcher, self.cid = batcher, cid

    async def __aenter__(self) -> None:
        b = self.batcher
        b._users[self.cid] = b._users.get(self.cid, 0) + 1
        await b._locks.setdefault(self.cid, asyncio.Lock()).acquire()

    async def __aexit__(self, *exc: Any) -> None:
        b = self.batcher
        b._locks[self.cid].release()
        b._users[self.cid] -= 1
        if not b._users[self.cid]:
            del b._users[self.cid], b._locks[self.cid]
