"""Issue 11, the output layer: a folder is complete or absent, nothing of the user's is destroyed,
every OS error is one message and exit 2, and no process or temporary folder outlives a killed run."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cjmsim.analyses.tasks import check_scheduler
from cjmsim.cli import main
from cjmsim.scenario import ArgumentError

ROOT = Path(__file__).resolve().parents[1]
MINIMAL = ROOT / "scenarios" / "minimal.toml"
SMALL = ["--agents", "500", "--weeks", "4", "--no-report", "--quiet"]


def invoke(*args: object):  # noqa: ANN201
    return CliRunner().invoke(main, [str(a) for a in args])


def beside(target: Path) -> list[str]:
    """Entries beside ``target`` that belong to it (its temporaries)."""
    return sorted(p.name for p in target.parent.iterdir() if p.name.startswith(f".{target.name}."))


def assert_refused(res, *words: str) -> None:  # noqa: ANN001
    assert res.exit_code == 2, res.output
    assert isinstance(res.exception, SystemExit), res.exception  # a message, not a traceback
    for w in words:
        assert w in res.output, res.output


def experiment(folder: Path, values: str = "[20, 40]", reps: int = 2, agents: int = 2000) -> Path:
    path = folder / "exp.toml"
    path.write_text(
        f"[experiment]\nscenario = {json.dumps(str(MINIMAL))}\nreps = {reps}\nagents = {agents}\nweeks = 8\n"
        f'seed = 7\n[[parameters]]\nname = "cpc"\npath = "channels.search.cost.cpc"\nvalues = {values}\n',
        encoding="utf-8",
    )
    return path


# ---- a folder of the user's is never replaced without --force


def test_foreign_folder_is_kept_without_force_and_replaced_with_it(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.txt").write_text("years of work")
    res = invoke("run", MINIMAL, *SMALL, "--out", mine)
    assert_refused(res, "--out", "did not write", "--force")
    assert (mine / "thesis.txt").read_text() == "years of work" and beside(mine) == []
    res = invoke("run", MINIMAL, *SMALL, "--out", mine, "--force")
    assert res.exit_code == 0, res.output
    assert not (mine / "thesis.txt").exists() and (mine / "summary.csv").exists() and beside(mine) == []
    # a run folder is a run's to replace; a sweep may not write over it
    assert invoke("run", MINIMAL, *SMALL, "--out", mine).exit_code == 0
    res = invoke("sweep", experiment(tmp_path), "--quiet", "--no-report", "--out", mine)
    assert_refused(res, "run output, not a sweep output")
    assert (mine / "summary_by_rep.csv").exists() and not (mine / "results").exists()


# ---- --out must be a folder or absent


@pytest.mark.parametrize("case", ["file", "under-file", "fifo", "dot", "parent"])
def test_out_that_is_not_a_folder_exits_2(tmp_path, case):
    (tmp_path / "afile").write_text("x")
    os.mkfifo(tmp_path / "fifo")
    out = {"file": "afile", "under-file": "afile/sub", "fifo": "fifo", "dot": ".", "parent": ".."}[case]
    before = sorted(p.name for p in tmp_path.iterdir())
    res = invoke("run", MINIMAL, *SMALL, "--out", out)
    assert_refused(res, "--out")
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert (tmp_path / "afile").read_text() == "x"


# ---- an OS error while writing is one message, and no half folder


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES])
@pytest.mark.parametrize("existing", [False, True])
def test_os_error_while_writing_exits_2_and_leaves_the_folder_as_it_was(tmp_path, monkeypatch, code, existing):
    out = tmp_path / "out"
    if existing:
        assert invoke("run", MINIMAL, *SMALL, "--out", out).exit_code == 0
    before = sorted(p.name for p in out.iterdir()) if existing else None
    real = os.replace

    def replace(src, dst):  # noqa: ANN001, ANN202
        if ".tmp-" in str(src) and Path(src).is_dir():  # the folder's final rename: the last thing that can fail
            raise OSError(code, os.strerror(code), str(dst))
        return real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    res = invoke("run", MINIMAL, *SMALL, "--out", out)
    assert_refused(res, f"cannot write {out}", os.strerror(code), "--out")
    assert "Traceback" not in res.output
    assert (sorted(p.name for p in out.iterdir()) if existing else None) == before
    assert out.exists() == existing and beside(out) == []


def test_os_error_inside_the_folder_names_the_file_not_the_temporary(tmp_path, monkeypatch):
    out = tmp_path / "out"

    def full(self, path, *, index):  # noqa: ANN001, ANN202
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    import pandas as pd

    monkeypatch.setattr(pd.DataFrame, "to_csv", full)
    res = invoke("run", MINIMAL, *SMALL, "--out", out)
    assert_refused(res, f"cannot write {out}", "No space left on device", "free some disk space")
    assert ".tmp" not in res.output and not out.exists() and beside(out) == []


# ---- what a killed run left beside --out is removed by the next run there


def test_stale_temporaries_of_a_killed_run_are_cleaned(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    out = tmp_path / "out"
    old = time.time() - 3600
    stale = [tmp_path / f".out.tmp-{dead.pid}-abcd", tmp_path / f".out.old-{dead.pid}", tmp_path / ".out.tmp-xyz"]
    kept = [tmp_path / f".out.tmp-{os.getppid()}-live", tmp_path / f".other.tmp-{dead.pid}-abcd"]
    fresh = tmp_path / f".out.tmp-{dead.pid}-new"  # newer than this process: not ours to judge
    for p in [*stale, *kept, fresh]:
        p.mkdir()
        (p / "summary.csv").write_text("half")
        if p is not fresh:
            os.utime(p, (old, old))
    os.utime(fresh, (time.time() + 60, time.time() + 60))
    assert invoke("run", MINIMAL, *SMALL, "--out", out).exit_code == 0
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in [*kept, fresh])


# ---- files and folders follow the umask


@pytest.mark.parametrize(("mask", "folder", "file"), [(0o077, 0o700, 0o600), (0o002, 0o775, 0o664)])
def test_output_follows_the_umask(tmp_path, mask, folder, file):
    previous = os.umask(mask)
    try:
        res = invoke("run", MINIMAL, *SMALL, "--out", tmp_path / "out")
    finally:
        os.umask(previous)
    assert res.exit_code == 0, res.output
    assert (tmp_path / "out").stat().st_mode & 0o777 == folder
    assert {p.stat().st_mode & 0o777 for p in (tmp_path / "out").iterdir()} == {file}


# ---- a scheduler address that is not one


def test_bad_scheduler_address_exits_2_before_connecting(tmp_path):
    res = invoke("sweep", experiment(tmp_path), "--scheduler", "not a url", "--quiet", "--out", tmp_path / "o")
    assert_refused(res, "--scheduler 'not a url'", "tcp://host:8786")
    assert not (tmp_path / "o").exists()
    for bad in ["not a url", "tcp://", "tcp://host:99999", "http://host:8786", "host", "tcp://host:86/x"]:
        with pytest.raises(ArgumentError, match="scheduler"):
            check_scheduler(bad)
    for good in [
        "tcp://127.0.0.1:8786",
        "host.example:8786",
        "tls://[::1]:8786",
        "tcp://sched",
        "inproc://10.0.0.1/1/2",
    ]:
        check_scheduler(good)


# ---- signals: nothing is left behind


def _cli(*args: object) -> list[str]:
    return [sys.executable, "-c", "from cjmsim.cli import main; main()", *map(str, args)]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def test_sigterm_while_writing_leaves_no_temporary_folder(tmp_path):
    target = tmp_path / "p" / "run"
    target.parent.mkdir()
    proc = subprocess.Popen(
        _cli("run", MINIMAL, "--agents", "20000", "--quiet", "--out", target),
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while proc.poll() is None and not beside(target) and time.monotonic() < deadline:
        time.sleep(0.005)
    assert proc.poll() is None, "the run ended before its temporary folder was seen"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert b"Traceback" not in err
    assert list(target.parent.iterdir()) == []


def test_a_sigterm_python_swallows_still_stops_the_run(tmp_path, monkeypatch):
    """The handler's SystemExit, raised while a finaliser runs (a ``__del__``: Python prints "Exception ignored"
    and goes on), once let a run in CI finish and exit 0 after a SIGTERM. The status the handler records stops
    the folder from being renamed into place, and the command exits with it."""
    import cjmsim.output.files as files
    from cjmsim.cli.common import _terminate

    swallowed: list[BaseException | None] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: swallowed.append(u.exc_value))
    real = files.umask_mode

    class Finaliser:
        def __del__(self) -> None:
            _terminate(signal.SIGTERM, None)  # the handler, as if the signal came while this ran

    def umask_mode(kind: int) -> int:
        if not swallowed:
            Finaliser()  # made and collected at once: its SystemExit goes to sys.unraisablehook
        return real(kind)

    monkeypatch.setattr(files, "umask_mode", umask_mode)
    target = tmp_path / "run"
    res = invoke("run", MINIMAL, *SMALL, "--out", target)
    assert len(swallowed) == 1 and isinstance(swallowed[0], SystemExit)
    assert res.exit_code == 128 + signal.SIGTERM, res.output
    assert list(tmp_path.iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) is not signal.SIG_IGN  # the command put the handler back


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_sigkilled_sweep_leaves_no_worker_processes(tmp_path):
    # still running seconds after its first part
    path = experiment(tmp_path, values="[10, 20, 30, 40, 50, 60, 70, 80]", reps=4, agents=200_000)
    proc = subprocess.Popen(
        _cli("sweep", path, "--workers", "2", "--quiet", "--no-report", "--out", tmp_path / "sw"),
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    kids: list[int] = []
    left: list[int] = []
    try:
        deadline = time.monotonic() + 30
        workers: list[int] = []
        while time.monotonic() < deadline and proc.poll() is None:
            workers = [k for k in _children(proc.pid) if b"spawn_main" in Path(f"/proc/{k}/cmdline").read_bytes()]
            if len(workers) >= 2 and list((tmp_path / "sw" / "results").glob("*.parquet")):
                break
            time.sleep(0.05)
        assert proc.poll() is None and len(workers) >= 2, f"no running workers: {workers}"
        kids = _children(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 10
        while any(map(_alive, kids)) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = [k for k in kids if _alive(k)]
    finally:
        for k in kids:
            if _alive(k):
                os.kill(k, signal.SIGKILL)
    assert left == [], f"worker processes {left} outlived their SIGKILLed sweep"


# ---- concurrent writers of one output folder: each replace is whole, none fails, nothing is left


FILES = 4  # files per folder a hammer writer writes, each naming its writer


def _hammer(target: str, start: Any, writer: int, rounds: int) -> list[str]:  # noqa: ANN401
    """``rounds`` atomic replaces of ``target`` by 2 threads of this process; errors as text."""
    import threading

    from cjmsim.output import atomic_file, atomic_folder

    errors: list[str] = []

    def replace(thread: int) -> None:
        for i in range(rounds):
            who = f"{writer}-{thread}-{i}"
            try:
                with atomic_folder(target) as tmp:
                    for f in range(FILES):
                        (tmp / f"f{f}.txt").write_text(who)
                with atomic_file(Path(target).parent / "shared.txt") as tmp:
                    tmp.write_text(who * 100)
            except Exception as e:  # every one is a failure of the test
                errors.append(f"{who}: {type(e).__name__}: {e}")

    start.wait()
    threads = [threading.Thread(target=replace, args=(t,)) for t in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_concurrent_atomic_replaces_are_whole_and_leave_nothing(tmp_path):
    import multiprocessing

    target = tmp_path / "out"
    (tmp_path / ".out.lock").write_text("")  # as a writer killed while holding it leaves it
    ctx = multiprocessing.get_context("fork")
    t0 = time.monotonic()
    with ctx.Manager() as manager, ctx.Pool(8) as pool:
        start = manager.Barrier(8)  # 8 processes x 2 threads x 10 replaces = 160 replaces of one folder
        results = [pool.apply_async(_hammer, (str(target), start, w, 10)) for w in range(8)]
        errors = [e for r in results for e in r.get(timeout=60)]
    assert time.monotonic() - t0 < 30
    assert errors == []
    names = sorted(p.name for p in target.iterdir())
    assert names == [f"f{f}.txt" for f in range(FILES)]
    writers = {(target / n).read_text() for n in names}
    assert len(writers) == 1  # one writer's complete folder, never a mix
    shared = (tmp_path / "shared.txt").read_text()
    assert len(shared) % 100 == 0 and shared == shared[: len(shared) // 100] * 100
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "shared.txt"]  # no temporaries, no lock


# ---- stdout closed early (`cjmsim run ... | head -1`): not an error of --out


def test_closed_stdout_exits_141_quietly_with_the_folder_complete(tmp_path):
    read, write = os.pipe()
    os.close(read)  # the reader went away before a line was read: every write is EPIPE
    try:
        proc = subprocess.run(
            _cli("run", MINIMAL, *SMALL[:-1], "--out", tmp_path / "piped"),  # not --quiet: it prints tables
            env=_env(),
            stdout=write,
            stderr=subprocess.PIPE,
            timeout=60,
        )
    finally:
        os.close(write)
    assert proc.returncode == 141, proc.stderr
    assert proc.stderr == b""  # no "cannot write", no traceback, no "Exception ignored"
    assert invoke("run", MINIMAL, *SMALL, "--out", tmp_path / "normal").exit_code == 0
    for name in sorted(p.name for p in (tmp_path / "normal").iterdir()):
        assert (tmp_path / "piped" / name).is_file(), name
    assert sorted(p.name for p in (tmp_path / "piped").iterdir()) == sorted(
        p.name for p in (tmp_path / "normal").iterdir()
    )
    assert beside(tmp_path / "piped") == []


def test_a_broken_pipe_is_141_and_other_os_errors_stay_2():
    from cjmsim.cli.common import CLOSED_PIPE, guarded

    def raising(code: int) -> None:
        raise OSError(code, os.strerror(code))

    with pytest.raises(SystemExit) as exit_info:
        guarded(raising)(errno.EPIPE)
    assert exit_info.value.code == CLOSED_PIPE == 128 + signal.SIGPIPE
    with pytest.raises(SystemExit) as exit_info:
        guarded(raising)(errno.ENOSPC)
    assert exit_info.value.code == 2
