"""The task runner every analysis shares: independent tasks in, results out, in any order.

One interface (:class:`Executor`) with three implementations: in this process, a local pool of
spawned processes, or a Dask distributed cluster. Sweeps, attribution and the optimizer all run
their simulations through it, so a worker count or a cluster is a choice of executor, never a
different code path; results never depend on which executor ran them or in what order tasks
finished.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from typing import Any, Protocol

from cjmsim.scenario import ArgumentError

__all__ = ["DaskCluster", "Executor", "InProcess", "LocalPool", "executor_for"]


class Executor(Protocol):
    """Runs tasks and yields their results as they finish, in any order."""

    def run(self, fn: Callable[[Any], Any], tasks: list[Any]) -> Iterator[Any]: ...


class InProcess:
    """Run tasks one after another in this process."""

    def run(self, fn: Callable[[Any], Any], tasks: list[Any]) -> Iterator[Any]:
        for t in tasks:
            yield fn(t)


class LocalPool:
    """A local process pool (nothing to start); workers are fresh processes (spawn)."""

    def __init__(self, workers: int):
        self.workers = workers

    def run(self, fn: Callable[[Any], Any], tasks: list[Any]) -> Iterator[Any]:
        with ProcessPoolExecutor(max_workers=self.workers, mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(fn, t) for t in tasks]
            for f in as_completed(futures):
                yield f.result()


class DaskCluster:
    """A Dask distributed cluster (the optional extra ``cjmsim[dask]``): a scheduler address, or a
    ``distributed.Client`` the caller owns."""

    def __init__(self, scheduler: Any):
        try:
            from distributed import Client
        except ImportError:  # pragma: no cover - depends on the environment
            raise ArgumentError("scheduler", " needs Dask distributed: pip install 'cjmsim[dask]'") from None
        if isinstance(scheduler, str):
            try:
                self.client = Client(scheduler, timeout=20)
            except (OSError, TimeoutError) as e:
                raise ArgumentError("scheduler", f" {scheduler}: cannot reach the Dask scheduler ({e})") from None
            self.owned = True
        else:
            self.client, self.owned = scheduler, False

    def run(self, fn: Callable[[Any], Any], tasks: list[Any]) -> Iterator[Any]:
        from distributed import as_completed as dask_completed

        try:
            futures = [self.client.submit(fn, t, key=f"cjmsim-{t.key}-{id(self)}", pure=False) for t in tasks]
            for f in dask_completed(futures):
                yield f.result()
        finally:
            if self.owned:
                self.client.close()


def executor_for(workers: int, scheduler: Any = None) -> Executor:
    """The executor for a worker count or a Dask scheduler address (or a distributed.Client)."""
    if scheduler is not None:
        return DaskCluster(scheduler)
    return InProcess() if workers <= 1 else LocalPool(workers)
