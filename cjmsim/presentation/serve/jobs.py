"""The server's simulations: a bounded worker, and generations that make an older edit's runs obsolete.

Every simulation runs on one worker thread (:class:`Jobs`; the session is not thread-safe and the
machine's cores are better spent on one run at a time), with a bounded number waiting: beyond it a
request is answered 503 (:class:`Busy`). Each page (its client token) counts its edits; a run asks,
between replications, whether a newer edit of its page has come (``obsolete``), and stops if so.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ["CLIENTS", "PENDING", "Busy", "Jobs"]

T = TypeVar("T")
#: Most simulations waiting for the worker at once (a newer edit obsoletes its page's older ones).
PENDING = 8
#: Most pages whose generation is kept (the least recent forgotten first).
CLIENTS = 256


class Busy(Exception):
    """Too many simulations are waiting: the request is refused (503), nothing is queued."""


class Jobs:
    """One worker thread for every simulation, at most ``pending`` waiting, a generation per page."""

    def __init__(self, workers: int = 1, pending: int = PENDING) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cjmsim-serve")
        self._lock = threading.Lock()
        self._generations: OrderedDict[str, int] = OrderedDict()
        self._waiting = 0
        self.pending = pending
        self.closing = False

    @property
    def waiting(self) -> int:
        """Simulations submitted and not finished (the one running included)."""
        with self._lock:
            return self._waiting

    def begin(self, client: str) -> int:
        """A new edit of ``client``'s page: its generation, which makes every older one obsolete."""
        with self._lock:
            g = self._generations.pop(client, 0) + 1
            self._generations[client] = g
            while len(self._generations) > CLIENTS:
                self._generations.popitem(last=False)
            return g

    def obsolete(self, client: str, generation: int) -> Callable[[], bool]:
        """A test a run asks between replications: whether a newer edit of the page came, or the server closes."""

        def test() -> bool:
            with self._lock:
                return self.closing or self._generations.get(client) != generation

        return test

    def admit(self) -> None:
        """Raise :class:`Busy` if :attr:`pending` simulations already wait (before a response starts)."""
        with self._lock:
            if self._waiting >= self.pending:
                raise Busy(f"{self._waiting} simulations are waiting; try again in a moment")

    async def run(self, fn: Callable[[], T]) -> T:
        """``fn()`` on the worker thread, awaited; :class:`Busy` when :attr:`pending` already wait."""
        with self._lock:
            if self._waiting >= self.pending or self.closing:
                raise Busy(f"{self._waiting} simulations are waiting; try again in a moment")
            self._waiting += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn)
        finally:
            with self._lock:
                self._waiting -= 1

    def close(self) -> None:
        """Stop: waiting runs are dropped, a running one stops at its next replication."""
        with self._lock:
            self.closing = True
        self._pool.shutdown(wait=False, cancel_futures=True)
