"""The task runner every analysis shares: independent tasks in, results out.

One interface (:class:`Executor`) with three implementations: in this process, a local pool of
spawned processes, or a Dask distributed cluster. Sweeps, attribution and the optimizer all run
their simulations through it, so a worker count or a cluster is a choice of executor, never a
different code path; results never depend on which executor ran them or in what order tasks
finished.

An executor runs many batches: the optimizer sends hundreds of small ones, so a pool's processes
and a cluster's client live as long as the executor, not as long as a batch. Use it as a context
manager (or call :meth:`Executor.close`)::

    with executor_for(workers, scheduler) as ex:
        for result in ex.run(fn, tasks):   # as tasks finish, in any order
            ...
        results = ex.map(fn, more_tasks)   # in task order

A task and its function must pickle (a module-level function; a task carrying what it needs):
workers are fresh processes, possibly on other machines.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import CancelledError, ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

from cjmsim.scenario import ArgumentError

__all__ = [
    "DaskCluster",
    "Executor",
    "InProcess",
    "LocalPool",
    "SchedulerLost",
    "check_scheduler",
    "executor_for",
]

T = TypeVar("T")
R = TypeVar("R")

#: Seconds to wait for a Dask scheduler to answer before giving up (``--scheduler``; docs/sweeps.md).
CONNECT_TIMEOUT = 20.0


class SchedulerLost(ArgumentError):
    """The Dask scheduler went away (stopped, killed, unreachable) while a batch ran.

    ``done`` of the batch's ``total`` tasks had finished; the others are lost with the
    scheduler. An ``ArgumentError`` on ``scheduler``, so a command says it in one message.
    """

    def __init__(self, scheduler: str, done: int, total: int) -> None:
        self.scheduler, self.done, self.total = scheduler, done, total
        super().__init__(
            "scheduler",
            f" {scheduler}: lost the Dask scheduler after {done} of {total} tasks; start it again, or run without it",
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (SchedulerLost, (self.scheduler, self.done, self.total))


class Executor(Protocol):
    """Runs batches of independent tasks until closed; a context manager that closes itself."""

    def run(self, fn: Callable[[T], R], tasks: Sequence[T]) -> Iterator[R]:
        """Yield ``fn(task)`` for every task as each finishes, in any order."""
        ...

    def map(self, fn: Callable[[T], R], tasks: Sequence[T]) -> list[R]:
        """``fn(task)`` for every task, in task order."""
        ...

    def close(self) -> None:
        """Release the workers (the executor may not be used after)."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class _Closing:
    """Context management for the executors: ``with`` closes them."""

    def close(self) -> None:
        """Release the workers; nothing to release here."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class InProcess(_Closing):
    """Run tasks one after another in this process."""

    def run(self, fn: Callable[[T], R], tasks: Sequence[T]) -> Iterator[R]:
        """Yield ``fn(task)`` for every task, in task order."""
        for t in tasks:
            yield fn(t)

    def map(self, fn: Callable[[T], R], tasks: Sequence[T]) -> list[R]:
        """``fn(task)`` for every task, in task order."""
        return [fn(t) for t in tasks]


def _die_with_parent(parent: int) -> None:
    """A pool worker's start: ignore Ctrl-C, and exit as soon as the process that started the pool is gone.

    Ctrl-C at a terminal signals every process of the foreground group: the parent alone acts on
    it (it cancels the tasks and terminates the workers), so no worker prints a traceback. A
    parent killed by SIGKILL cannot stop its workers; each watches its parent's id (a worker
    whose parent died is adopted by another process) and leaves within a second.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="cjmsim-parent-watch", daemon=True).start()


@contextlib.contextmanager
def _no_sigint() -> Iterator[None]:
    """SIGINT ignored for the block (in the main thread), so processes started in it inherit that.

    A process started with exec keeps an ignored signal ignored (a handler would be reset), and
    Python installs its own Ctrl-C handler only where SIGINT is not ignored. A Ctrl-C during
    the block (submitting tasks: milliseconds) is lost.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)


class LocalPool(_Closing):
    """A pool of local processes, fresh ones (spawn), started at the first batch and kept until closed."""

    def __init__(self, workers: int):
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def _started(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=get_context("spawn"),
                initializer=_die_with_parent,
                initargs=(os.getpid(),),
            )
        return self._pool

    def run(self, fn: Callable[[T], R], tasks: Sequence[T]) -> Iterator[R]:
        """Yield ``fn(task)`` for every task as each finishes, in any order."""
        pool = self._started()
        with _no_sigint():  # workers start as tasks are submitted: they ignore Ctrl-C from birth
            futures = [pool.submit(fn, t) for t in tasks]
        try:
            for f in as_completed(futures):
                yield f.result()
        finally:  # a batch abandoned half-way leaves nothing queued behind it
            for f in futures:
                f.cancel()

    def map(self, fn: Callable[[T], R], tasks: Sequence[T]) -> list[R]:
        """``fn(task)`` for every task, in task order."""
        pool = self._started()
        with _no_sigint():
            futures = [pool.submit(fn, t) for t in tasks]
        try:
            return [f.result() for f in futures]
        finally:
            for f in futures:
                f.cancel()

    def close(self, terminate: bool = False) -> None:
        """Stop the processes (tasks not started are cancelled); with ``terminate``, at once,
        running tasks and all (Ctrl-C, SIGTERM: nothing waits for a task to finish)."""
        if self._pool is None:
            return
        pool, self._pool = self._pool, None
        if terminate:
            processes: dict[int, Any] = getattr(pool, "_processes", None) or {}  # no public way
            for process in list(processes.values()):
                with contextlib.suppress(Exception):
                    process.terminate()
        pool.shutdown(wait=True, cancel_futures=True)

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close(terminate=kind is not None and issubclass(kind, (KeyboardInterrupt, SystemExit)))


class DaskCluster(_Closing):
    """A Dask distributed cluster (the optional extra ``cjmsim[dask]``): a scheduler address, or a
    ``distributed.Client`` the caller owns.

    The client is connected at once (a cluster that cannot be reached fails before any work) and
    kept for every batch; closing the executor closes the client only if it opened it.
    """

    def __init__(self, scheduler: Any):
        try:
            from distributed import Client
        except ImportError:  # pragma: no cover - depends on the environment
            raise ArgumentError("scheduler", " needs Dask distributed: pip install 'cjmsim[dask]'") from None
        connect: Any = Client  # distributed is not typed
        self.client: Any
        if isinstance(scheduler, str):
            check_scheduler(scheduler)
            self.client = _connect(connect, scheduler, CONNECT_TIMEOUT)  # read now, so a test may shorten it
            self.owned = True
        else:
            self.client, self.owned = scheduler, False
        #: The scheduler's address (for messages), also of a caller's client.
        self.address: str = scheduler if isinstance(scheduler, str) else _address_of(self.client)
        self.lost = False
        self._batches = itertools.count()

    def _submit(self, fn: Callable[[Any], Any], tasks: Sequence[Any]) -> list[Any]:
        """Futures of the tasks, keyed by the task's own key (if it has one) and the batch."""
        batch = f"{id(self):x}-{next(self._batches)}"
        return [
            self.client.submit(fn, t, key=f"cjmsim-{getattr(t, 'key', i)}-{batch}", pure=False)
            for i, t in enumerate(tasks)
        ]

    def run(self, fn: Callable[[T], R], tasks: Sequence[T]) -> Iterator[R]:
        """Yield ``fn(task)`` for every task as each finishes, in any order.

        Raises:
            SchedulerLost: the scheduler went away before every task finished.
        """
        from distributed import as_completed

        finished: Any = as_completed  # distributed is not typed
        futures = self._submit(fn, tasks)
        pending = iter(finished(futures))
        done = 0
        try:
            while True:
                try:
                    result = next(pending).result()
                except StopIteration:
                    return
                except Exception as e:
                    self._check_lost(e, done, len(tasks))
                    raise
                done += 1
                yield result
        finally:  # a batch abandoned half-way (an error, Ctrl-C) leaves nothing queued on the cluster
            left = [f for f in futures if not f.done()]
            if left and not self.lost:
                with contextlib.suppress(Exception):
                    self.client.cancel(left)

    def map(self, fn: Callable[[T], R], tasks: Sequence[T]) -> list[R]:
        """``fn(task)`` for every task, in task order.

        Raises:
            SchedulerLost: the scheduler went away before every task finished.
        """
        try:
            return list(self.client.gather(self._submit(fn, tasks)))
        except Exception as e:
            self._check_lost(e, 0, len(tasks))
            raise

    def _check_lost(self, error: Exception, done: int, total: int) -> None:
        """Raise :class:`SchedulerLost` if ``error`` came from losing the scheduler, not from a task.

        distributed cancels every future when the scheduler's connection drops and the client
        starts reconnecting (its status is no longer "running"), and a result being fetched as
        it drops fails with a ``CommClosedError``; a task's own error leaves the client running.
        """
        from distributed.comm.core import CommClosedError

        closed = isinstance(error, (CancelledError, CommClosedError))
        if closed or getattr(self.client, "status", "running") != "running":
            self.lost = True
            raise SchedulerLost(self.address, done, total) from None

    def close(self) -> None:
        """Close the client if this executor opened it (a caller's client stays open).

        After the scheduler was lost the client is closed at once (not after its reconnect
        timeout), with distributed's log of the failed reconnect silenced: the caller has had
        one message (:class:`SchedulerLost`).
        """
        if not self.owned:
            return
        self.owned = False
        if not self.lost:
            self.client.close()
            return
        with _silent_distributed(), contextlib.suppress(Exception):
            self.client.close(timeout=2)


def _address_of(client: Any) -> str:
    """A client's scheduler address, or what the client says it is."""
    try:
        return str(client.scheduler.address)
    except AttributeError:
        return str(client)


@contextlib.contextmanager
def _silent_distributed() -> Iterator[None]:
    """distributed's loggers off for the block (each is configured on its own, so each is switched)."""
    names = [n for n in logging.root.manager.loggerDict if n == "distributed" or n.startswith("distributed.")]
    saved = {n: logging.getLogger(n).disabled for n in names}
    for n in names:
        logging.getLogger(n).disabled = True
    try:
        yield
    finally:
        for n, disabled in saved.items():
            logging.getLogger(n).disabled = disabled


def _connect(connect: Any, scheduler: str, timeout: float) -> Any:
    """A client of ``scheduler``, or one ArgumentError if it cannot be reached or does not answer in time.

    distributed bounds the TCP connect by its timeout but not the handshake after it, so a port
    that accepts and never answers would hang forever: the client is made in a thread, waited for
    ``timeout`` seconds, and closed if it connects after that.
    """
    outcome: dict[str, Any] = {}
    lock = threading.Lock()

    def attempt() -> None:
        try:
            client = connect(scheduler, timeout=timeout)
        except BaseException as e:  # handed to the caller
            with lock:
                outcome.setdefault("error", e)
            return
        with lock:
            if "error" in outcome:  # given up on: too late
                client.close()
            else:
                outcome["client"] = client

    thread = threading.Thread(target=attempt, name="cjmsim-dask-connect", daemon=True)
    thread.start()
    thread.join(timeout)
    with lock:
        outcome.setdefault("error", None)  # nothing yet: it did not answer in time
    if "client" in outcome:
        return outcome["client"]
    e = outcome["error"]
    if e is None or isinstance(e, TimeoutError) or "timed out" in str(e).lower():
        raise ArgumentError(
            "scheduler", f" {scheduler}: the Dask scheduler at {scheduler} did not answer within {timeout:g} s"
        ) from None
    if isinstance(e, OSError):
        raise ArgumentError("scheduler", f" {scheduler}: cannot reach the Dask scheduler ({e})") from None
    raise e


#: A Dask scheduler address: [protocol://]host[:port] (an inproc address may have a path).
_ADDRESS = re.compile(
    r"(?:(?P<scheme>tcp|tls|ucx|ws|wss|inproc)://)?"
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)"
    r"(?::(?P<port>[0-9]{1,5}))?(?P<path>/[A-Za-z0-9._/-]*)?"
)


def check_scheduler(scheduler: Any) -> None:
    """Refuse, before connecting, a scheduler address that is not ``[tcp://]host[:port]`` (or a Dask like it).

    Raises:
        ArgumentError: on ``scheduler``.
    """
    if scheduler is None or not isinstance(scheduler, str):
        return
    m = _ADDRESS.fullmatch(scheduler)
    if (
        m is None
        or (m["path"] and m["scheme"] != "inproc")
        or (m["port"] is not None and not 0 < int(m["port"]) < 65536)
        or (m["scheme"] is None and m["port"] is None)
    ):
        raise ArgumentError("scheduler", f" {scheduler!r}: not a Dask scheduler address; give one like tcp://host:8786")


def executor_for(workers: int, scheduler: Any = None) -> Executor:
    """The executor for a worker count or a Dask scheduler address (or a ``distributed.Client``)."""
    if scheduler is not None:
        return DaskCluster(scheduler)
    return InProcess() if workers <= 1 else LocalPool(workers)
