"""The shared task runner (cjmsim.analyses.tasks) and the analyses on it.

Executors are reusable across batches (a pool's processes live as long as the executor), give
``map`` results in task order and ``run`` results as tasks finish, and close what they opened.
Attribution and the optimizer give identical tables (exact, not approximate) in this process,
on two local processes and on a Dask cluster: one seed, one result, wherever the tasks ran.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import helpers
import pandas as pd
import pytest
from click.testing import CliRunner
from test_optimize import two_channels

from cjmsim import Scenario, parse_scenario
from cjmsim.analyses.attribution import Attribution, attribute
from cjmsim.analyses.optimize import Optimization, optimize
from cjmsim.analyses.tasks import DaskCluster, InProcess, LocalPool, executor_for
from cjmsim.cli import main


def square(x: int) -> int:
    """A task: importable by spawned workers."""
    return x * x


def slow_square(x: int) -> int:
    """A task that finishes later the smaller it is (so finish order is not task order)."""
    time.sleep(0.05 * (4 - x))
    return x * x


def pid(_x: int) -> int:
    """A task that names the process it ran in."""
    return os.getpid()


# ---- the executors


def test_executor_for_picks_the_executor() -> None:
    with executor_for(1) as a, executor_for(2) as b:
        assert isinstance(a, InProcess) and isinstance(b, LocalPool)


def test_in_process_runs_in_task_order() -> None:
    with InProcess() as ex:
        assert ex.map(square, [3, 1, 2]) == [9, 1, 4]
        assert list(ex.run(square, [3, 1, 2])) == [9, 1, 4]


def test_local_pool_keeps_its_processes_across_batches_until_closed() -> None:
    pool = LocalPool(2)
    with pool:
        first = set(pool.map(pid, list(range(6))))
        second = set(pool.map(pid, list(range(6))))
        assert os.getpid() not in first
        assert len(first | second) <= 2  # the same two processes served both batches
        assert pool.map(slow_square, [0, 1, 2, 3]) == [0, 1, 4, 9]  # task order
        assert sorted(pool.run(slow_square, [0, 1, 2, 3])) == [0, 1, 4, 9]
    assert pool._pool is None  # closed by `with`
    pool.close()  # closing twice is harmless


@pytest.fixture(scope="module")
def cluster() -> Any:
    distributed = pytest.importorskip("distributed")
    # a random dashboard port: other test runs on the machine may hold the default one
    c = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    try:
        yield c
    finally:
        c.close()


def _clients(cluster: Any) -> list[Any]:
    deadline = time.monotonic() + 5
    while True:
        clients = [c for c in cluster.scheduler.clients if c != "fire-and-forget"]
        if not clients or time.monotonic() > deadline:
            return clients
        time.sleep(0.1)


def test_dask_cluster_runs_many_batches_on_one_client_and_closes_it(cluster: Any) -> None:
    with DaskCluster(cluster.scheduler_address) as ex:
        client = ex.client
        assert ex.map(slow_square, [0, 1, 2, 3]) == [0, 1, 4, 9]  # task order
        assert ex.map(square, [0, 1, 2, 3]) == [0, 1, 4, 9]  # another batch, the same client
        assert sorted(ex.run(square, [1, 2, 3])) == [1, 4, 9]
        assert ex.client is client
    assert client.status == "closed"
    assert not _clients(cluster)


def test_a_callers_client_stays_open(cluster: Any) -> None:
    from distributed import Client

    with Client(cluster) as client:
        with executor_for(1, client) as ex:
            assert ex.map(square, [2]) == [4]
        assert client.status == "running"


# ---- identical results on any executor


@pytest.fixture(scope="module")
def funnel() -> Scenario:
    d = helpers.funnel_scenario()
    d["scenario"].update(agents=1500, weeks=8)
    return parse_scenario(d)


def _same_attribution(a: Attribution, b: Attribution) -> None:
    pd.testing.assert_frame_equal(a.table, b.table, check_exact=True)
    pd.testing.assert_frame_equal(a.runs, b.runs, check_exact=True)


def test_attribution_is_identical_on_one_worker_two_workers_and_a_cluster(funnel: Scenario, cluster: Any) -> None:
    one = attribute(funnel, "base", reps=2)
    _same_attribution(one, attribute(funnel, "base", reps=2, workers=2))
    _same_attribution(one, attribute(funnel, "base", reps=2, scheduler=cluster.scheduler_address))


def _same_optimization(a: Optimization, b: Optimization) -> None:
    for table in ("trace", "variables", "comparison", "curves"):
        pd.testing.assert_frame_equal(getattr(a, table), getattr(b, table), check_exact=True, obj=table)
    assert a.campaigns == b.campaigns and a.message == b.message


def test_optimization_is_identical_on_one_worker_two_workers_and_a_cluster(cluster: Any) -> None:
    sc = parse_scenario(two_channels())
    kw: dict[str, Any] = {"keep_orders": True, "split": "none", "reps": 2, "evaluations": 10, "final_reps": 2}
    one = optimize(sc, "base", "min-cpo", workers=1, **kw)
    assert set(one.trace.kind) >= {"start", "gradient"} and not one.curves.empty  # a real search
    _same_optimization(one, optimize(sc, "base", "min-cpo", workers=2, **kw))
    _same_optimization(one, optimize(sc, "base", "min-cpo", scheduler=cluster.scheduler_address, **kw))
    assert not _clients(cluster)  # the optimizer closed the client it opened


def _invoke(*args: Any) -> Any:
    res = CliRunner().invoke(main, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    return res


def _tables(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.csv"))}


def test_cli_optimize_and_attribute_on_a_cluster_write_the_same_tables(write_toml: Any, cluster: Any) -> None:
    path = write_toml(two_channels())
    opt = ["optimize", path, "--plan", "base", "--split", "none", "--evaluations", "8", "--final-reps", "2",
           "--no-report", "--quiet"]  # fmt: skip
    _invoke(*opt, "--workers", "1", "--out", "o1")
    _invoke(*opt, "--scheduler", cluster.scheduler_address, "--out", "o2")
    assert _tables(Path("o1")) == _tables(Path("o2"))
    att = ["attribute", path, "--plan", "base", "--reps", "2", "--agents", "1000", "--no-report", "--quiet"]
    _invoke(*att, "--out", "a1")
    _invoke(*att, "--scheduler", cluster.scheduler_address, "--out", "a2")
    assert _tables(Path("a1")) == _tables(Path("a2"))
    assert set(_tables(Path("a1"))) == {"attribution.csv", "attribution_runs.csv"}


@pytest.mark.parametrize("command", ["attribute", "optimize"])
def test_scheduler_option_reads_as_the_sweeps(command: str) -> None:
    def help_of(cmd: str) -> str:
        option = next(p for p in main.commands[cmd].params if p.name == "scheduler")
        return str(option.help)

    from cjmsim.analyses.tasks import CONNECT_TIMEOUT

    assert (
        help_of(command)
        == help_of("sweep")
        == (
            "Dask scheduler address (tcp://host:8786): run the tasks on that cluster "
            f"(it must answer within {CONNECT_TIMEOUT:g} s)."
        )
    )
