"""Hardening (issue 11): sweeps that stop half-way say so in one line and resume.

- A Dask scheduler that dies mid-sweep: exit 2, one message naming the scheduler, how many tasks
  finished of how many, that the parts are kept and ``--resume``; the resumed sweep's tables equal
  an uninterrupted sweep's.
- Sizes before work: a grid whose points cannot fit in memory is refused ("needs about N GB")
  before one point is built; a sweep over 10,000 tasks or an estimated hour asks for ``--yes``
  and says its estimate; with ``--yes`` it runs.
- Ctrl-C (SIGINT to the whole process group, as a terminal sends it) during a two-worker sweep:
  exit 130 within seconds, one line "interrupted: N of M tasks done ...; rerun with --resume", no
  worker traceback, no worker left; ``--resume`` finishes it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cjmsim import load_scenario
from cjmsim.analyses import simulate
from cjmsim.analyses import sweep as sweep_module
from cjmsim.scenario import ScenarioError
from tests.test_hardening_output import _alive, _children, _cli
from tests.test_sweep import CPC, MINIMAL, assert_same_results, invoke, results_parts, write_experiment

ROOT = Path(__file__).resolve().parents[1]

#: Eight levels x (2 plans + no marketing) x 2 reps = 48 tasks; each takes long enough that a kill lands mid-sweep.
LEVELS = """
[[parameters]]
name = "cpc"
path = "channels.search.cost.cpc"
values = [10, 20, 30, 40, 50, 60, 70, 80]
"""

#: A scheduler with one worker thread in one process: SIGKILL takes both down at once.
SCHEDULER = """
import time
from distributed import LocalCluster
cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp",
                       dashboard_address=":0", scheduler_port=0)
print(cluster.scheduler_address, flush=True)
while True:
    time.sleep(1)
"""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _kill_after_first_part(proc: subprocess.Popen[str], results: Path, deadline: float) -> None:
    while time.monotonic() < deadline and not any(results.glob("*.parquet")):
        time.sleep(0.01)
    proc.kill()


@pytest.mark.slow
def test_scheduler_dying_mid_sweep_is_one_message_and_resume_finishes(tmp_path):
    pytest.importorskip("distributed")
    path = write_experiment(tmp_path, LEVELS, agents=100_000, weeks=8)  # one worker thread: seconds after a part
    proc = subprocess.Popen(
        [sys.executable, "-c", SCHEDULER], env=_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert proc.stdout is not None
        address = proc.stdout.readline().strip()
        assert address.startswith("tcp://"), address
        out = tmp_path / "out"
        t0 = time.monotonic()
        killer = threading.Thread(target=_kill_after_first_part, args=(proc, out / "results", t0 + 20))
        killer.start()
        res = invoke("sweep", path, "--scheduler", address, "--out", out, "--quiet", "--no-report")
        killer.join()
        assert time.monotonic() - t0 < 20  # not the client's reconnect timeout, nor a hang
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    assert res.exit_code == 2, res.output
    assert isinstance(res.exception, SystemExit) and "Traceback" not in res.output
    m = re.search(rf"lost the scheduler {re.escape(address)} after (\d+) of (\d+) tasks", res.output)
    assert m, res.output
    done, total = int(m[1]), int(m[2])
    assert total == 8 * (2 + 1) * 2 and 1 <= done < total  # plans and no marketing
    assert len(results_parts(out)) == done  # every task counted has its part, and no other
    assert "the finished parts are kept" in res.output and "--resume" in res.output
    assert len(res.output.strip().splitlines()) == 1

    again = invoke("sweep", path, "--out", out, "--resume", "--quiet", "--no-report")
    assert again.exit_code == 0, again.output
    full = tmp_path / "full"
    assert invoke("sweep", path, "--out", full, "--quiet", "--no-report").exit_code == 0
    assert_same_results(out, full)


# ---- sizes before any work


def _grid(folder: Path, num: int, *, agents: int = 500, weeks: int = 4, reps: int = 2) -> Path:
    """Two parameters of ``num`` levels each: a grid of num^2 points."""
    body = "".join(
        f'[[parameters]]\nname = "{n}"\npath = "channels.{ch}.cost.{key}"\n'
        f"range = {{start = 1, stop = 9, num = {num}}}\n"
        for n, ch, key in [("cpc", "search", "cpc"), ("send", "email", "per_message")]
    )
    return write_experiment(folder, body, agents=agents, weeks=weeks, reps=reps)


class Ran(Exception):
    """Raised in place of building or running a sweep: the size checks let it through."""


def _no_points(*args: object, **kwargs: object) -> None:
    raise Ran


def test_a_million_point_grid_is_refused_before_its_points_are_built(tmp_path, monkeypatch):
    monkeypatch.setattr(simulate, "available_memory", lambda: 8_000_000_000)
    monkeypatch.setattr(sweep_module, "points", _no_points)  # building one point fails the test
    path = _grid(tmp_path, 1000)
    t0 = time.monotonic()
    res = invoke("sweep", path, "--out", tmp_path / "o", "--yes", "--quiet")
    assert time.monotonic() - t0 < 10
    assert res.exit_code == 2 and isinstance(res.exception, SystemExit), res.output
    m = re.search(r"needs about ([\d,.]+) GB of memory \(1,000,000 points", res.output)
    assert m, res.output
    # a validated scenario holds about 7 bytes per byte of its JSON (measured 7.3): at least this much
    import json

    scenario_json = len(json.dumps(load_scenario(MINIMAL).model_dump(mode="json", exclude_none=True)))
    assert float(m[1].replace(",", "")) >= 1_000_000 * 7 * scenario_json / 1e9 > 8
    assert "more than the 8.0 GB available" in res.output and "fewer points" in res.output
    assert not (tmp_path / "o").exists()
    with pytest.raises(ScenarioError, match="needs about"):
        sweep_module.load_experiment(path)


def test_a_sweep_over_10000_tasks_needs_yes(tmp_path, monkeypatch):
    monkeypatch.setattr(sweep_module, "load_experiment", _no_points)
    path = _grid(tmp_path, 60)
    tasks = 60 * 60 * (len(load_scenario(MINIMAL).plans) + 1) * 2  # the plans and no marketing
    assert tasks > 10_000
    res = invoke("sweep", path, "--out", tmp_path / "o", "--quiet")
    assert res.exit_code == 2 and isinstance(res.exception, SystemExit), res.output
    assert f"a large sweep: {tasks:,} tasks (3,600 points x 2 plans + no marketing x 2 reps)" in res.output
    assert "rerun with --yes" in res.output and not (tmp_path / "o").exists()
    res = invoke("sweep", path, "--out", tmp_path / "o", "--yes")
    assert isinstance(res.exception, Ran), res.output  # past the check: the sweep would be loaded and run
    assert f"a large sweep: {tasks:,} tasks" in res.output  # the estimate is still said


def test_a_sweep_over_an_hour_needs_yes_and_workers_share_it(tmp_path, monkeypatch):
    monkeypatch.setattr(sweep_module, "load_experiment", _no_points)
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    # 4 points x (2 plans + no marketing) x 1 rep = 12 tasks
    path = _grid(tmp_path, 2, agents=5_000_000, weeks=1040, reps=1)
    hours = 12 * (sweep_module.TASK_OVERHEAD_S + 5_000_000 * 1040 / sweep_module.AGENT_WEEKS_PER_S) / 3600
    assert 1 < hours < 2  # the stated model: over an hour on one worker, under it on two
    res = invoke("sweep", path, "--out", tmp_path / "o", "--quiet")
    assert res.exit_code == 2, res.output
    said = f"12 tasks (4 points x 2 plans + no marketing x 1 rep) of 5,000,000 agents x 1040 weeks: about {hours:.1f} h"
    assert said in res.output
    res = invoke("sweep", path, "--out", tmp_path / "o", "--quiet", "--workers", "2")
    assert isinstance(res.exception, Ran), res.output


# ---- Ctrl-C during a multi-worker sweep


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_ctrl_c_stops_a_two_worker_sweep_in_one_line(tmp_path):
    # 48 tasks, large enough that the rest of the sweep takes seconds after the first part (about 8 s on
    # 2 cores; at 20,000 agents x 8 weeks it was over within half a second, and a SIGINT sent a moment
    # late found a finished sweep)
    path = write_experiment(tmp_path, LEVELS, agents=1_000_000, weeks=26)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        _cli("sweep", path, "--workers", "2", "--quiet", "--no-report", "--out", out),
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: SIGINT to the group, as Ctrl-C at a terminal
    )
    workers: set[int] = set()
    deadline = time.monotonic() + 60
    while proc.poll() is None and not any((out / "results").glob("*.parquet")) and time.monotonic() < deadline:
        workers |= set(_children(proc.pid))  # the workers and multiprocessing's resource tracker
        time.sleep(0.01)
    assert proc.poll() is None, "the sweep ended before its first part was seen"
    workers |= set(_children(proc.pid))
    os.killpg(proc.pid, signal.SIGINT)
    t0 = time.monotonic()
    stdout, stderr = proc.communicate(timeout=30)
    assert time.monotonic() - t0 < 5  # promptly: running tasks are not waited for
    err = stderr.decode()
    assert proc.returncode == 130, f"{err!r}, {len(results_parts(out))} of 48 parts written"
    assert "Traceback" not in err and "KeyboardInterrupt" not in err and "Aborted" not in err, err
    m = re.fullmatch(r"interrupted: (\d+) of 48 tasks done \(kept in (.+)\); rerun with --resume\n", err)
    assert m, err
    assert int(m[1]) == len(results_parts(out)) >= 1 and Path(m[2]) == out
    assert stdout == b""
    assert workers, "no worker process was seen"
    time.sleep(0.5)
    assert [w for w in workers if _alive(w)] == []
    again = invoke("sweep", path, "--out", out, "--resume", "--quiet", "--no-report", "--workers", "2")
    assert again.exit_code == 0, again.output
    assert len(results_parts(out)) == 48


def test_ctrl_c_after_the_last_task_is_the_same_one_line_and_resume_writes_the_tables(tmp_path, monkeypatch):
    from cjmsim.cli import sweep as sweep_cli

    path = write_experiment(tmp_path, CPC, reps=2, agents=1000, weeks=6)  # 2 points x (2 plans + none) x 2 reps
    out = tmp_path / "out"
    real = sweep_cli._write_sweep_tables

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # Ctrl-C as the tables are written: every task is done

    monkeypatch.setattr(sweep_cli, "_write_sweep_tables", interrupted)
    res = invoke("sweep", path, "--out", out, "--quiet", "--no-report")
    assert res.exit_code == 130, res.output
    assert res.output == f"interrupted: 12 of 12 tasks done (kept in {out}); rerun with --resume\n"
    assert len(results_parts(out)) == 12 and not (out / "summary.csv").exists()
    monkeypatch.setattr(sweep_cli, "_write_sweep_tables", real)
    again = invoke("sweep", path, "--out", out, "--resume", "--quiet", "--no-report")
    assert again.exit_code == 0, again.output
    assert (out / "summary.csv").exists() and len(results_parts(out)) == 12


def test_the_estimate_counts_a_no_marketing_run_per_point_and_rep():
    args = {"points": 3, "plans": 2, "reps": 4, "agents": 1000, "weeks": 10, "segments": 2, "columns": 20}
    plain, with_baseline = (sweep_module.SweepSize(**args, scenario_bytes=100, baseline=b) for b in (False, True))
    assert (plain.tasks, with_baseline.tasks) == (3 * 2 * 4, 3 * 3 * 4)
    assert "24 tasks (3 points x 2 plans x 4 reps)" in plain.describe()
    assert "36 tasks (3 points x 2 plans + no marketing x 4 reps)" in with_baseline.describe()
    assert with_baseline.result_bytes == 36 * 3 * 20 * 8  # rows (tasks x segments and all) x columns x 8
