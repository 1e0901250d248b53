"""Hardening (issue 11): sweeps that stop half-way say so in one line and resume.

- A Dask scheduler that dies mid-sweep: exit 2, one message naming the scheduler, how many tasks
  finished of how many, that the parts are kept and ``--resume``; the resumed sweep's tables equal
  an uninterrupted sweep's.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.test_sweep import assert_same_results, invoke, results_parts, write_experiment

ROOT = Path(__file__).resolve().parents[1]

#: Eight levels x 2 plans x 2 reps = 32 tasks; each takes long enough that a kill lands mid-sweep.
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
    path = write_experiment(tmp_path, LEVELS, agents=20000, weeks=8)
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
    assert total == 8 * 2 * 2 and 1 <= done < total
    assert len(results_parts(out)) == done  # every task counted has its part, and no other
    assert "the finished parts are kept" in res.output and "--resume" in res.output
    assert len(res.output.strip().splitlines()) == 1

    again = invoke("sweep", path, "--out", out, "--resume", "--quiet", "--no-report")
    assert again.exit_code == 0, again.output
    full = tmp_path / "full"
    assert invoke("sweep", path, "--out", full, "--quiet", "--no-report").exit_code == 0
    assert_same_results(out, full)
