"""Hardening (issue 11): resuming a sweep whose results parts are damaged or foreign, a results
folder without metadata.json, and a Dask scheduler that accepts and never answers."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest

from cjmsim.analyses import tasks
from cjmsim.analyses.sweep import run_sweep
from cjmsim.scenario import ArgumentError
from tests.test_sweep import CPC, invoke, results_parts, write_experiment


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An experiment and the folder of its uninterrupted sweep (CLI, no report)."""
    folder = tmp_path_factory.mktemp("resume")
    path = write_experiment(folder, CPC, agents=1000, weeks=6)
    full = folder / "full"
    res = invoke("sweep", path, "--out", full, "--no-report", "--quiet")
    assert res.exit_code == 0, res.output
    return path, full


def _truncate(p: Path, other: Path) -> None:
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _empty(p: Path, other: Path) -> None:
    p.write_bytes(b"")


def _not_parquet(p: Path, other: Path) -> None:
    p.write_text("point,plan,rep\n0,none,0\n")


def _another_task(p: Path, other: Path) -> None:
    shutil.copyfile(other, p)  # a real part, of another task


def _other_columns(p: Path, other: Path) -> None:
    pd.read_parquet(p).drop(columns=["orders"]).to_parquet(p)


DAMAGE: dict[str, Callable[[Path, Path], None]] = {
    "truncated": _truncate,
    "empty": _empty,
    "not_parquet": _not_parquet,
    "another_task": _another_task,
    "other_columns": _other_columns,
}
WHY = {
    "truncated": "not a readable Parquet file",
    "empty": "empty (0 bytes)",
    "not_parquet": "not a readable Parquet file",
    "another_task": "the task its file name says",
    "other_columns": "columns are not this sweep's",
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_damaged_or_foreign_part_is_set_aside_and_run_again(case, finished, tmp_path):
    path, full = finished
    cut = tmp_path / "cut"
    shutil.copytree(full, cut)
    parts = results_parts(cut)
    bad = parts[1]
    DAMAGE[case](bad, parts[-1])
    res = invoke("sweep", path, "--out", cut, "--resume", "--no-report", "--quiet")
    assert res.exit_code == 0, res.output
    assert f"warning: {bad}" in res.output and WHY[case] in res.output
    assert (cut / "rejected" / bad.name).is_file()
    # the final tables are the uninterrupted sweep's, exactly
    for name in ("summary.csv", "differences.csv"):
        assert (cut / name).read_bytes() == (full / name).read_bytes(), name
    assert [p.name for p in results_parts(cut)] == [p.name for p in results_parts(full)]
    for a, b in zip(results_parts(cut), results_parts(full), strict=True):
        pd.testing.assert_frame_equal(pd.read_parquet(a), pd.read_parquet(b), check_exact=True)


def test_library_names_the_part_in_the_result(finished, tmp_path):
    path, full = finished
    cut = tmp_path / "cut"
    shutil.copytree(full, cut)
    bad = results_parts(cut)[0]
    bad.write_bytes(b"")
    res = run_sweep(path, out=cut, resume=True)
    assert len(res.warnings) == 1 and res.warnings[0].startswith(f"{bad}: empty (0 bytes)")
    assert run_sweep(path, out=cut, resume=True).warnings == []  # run again: nothing left to set aside


def test_parts_without_metadata_say_so(finished, tmp_path):
    path, full = finished
    cut = tmp_path / "cut"
    shutil.copytree(full, cut)
    (cut / "metadata.json").unlink()
    message = "metadata.json is missing: this folder cannot be checked against the experiment; use another out or force"
    with pytest.raises(ArgumentError, match=f"{message}$"):
        run_sweep(path, out=cut, resume=True)
    with pytest.raises(ArgumentError, match=f"{message}$"):
        run_sweep(path, out=cut)
    # the command line says the sweep's own message (not "a folder cjmsim did not write"), resumed or not
    cli_message = message.replace("another out or force", "another --out or --force")
    for resume in (["--resume"], []):
        res = invoke("sweep", path, "--out", cut, *resume, "--no-report", "--quiet")
        assert res.exit_code == 2, res.output
        assert res.output == f"error: --out {cut}: {cli_message}\n"
    assert [p.name for p in results_parts(cut)] == [p.name for p in results_parts(full)]  # untouched
    assert (cut / "summary.csv").exists() and not (cut / "metadata.json").exists()
    # a folder of the user's is still refused as one, even with a results/ folder of other files
    (cut / "results" / "notes.txt").write_text("mine")
    for p in results_parts(cut):
        p.unlink()
    res = invoke("sweep", path, "--out", cut, "--no-report", "--quiet")
    assert res.exit_code == 2 and "a folder cjmsim did not write" in res.output


@pytest.fixture
def silent_listener() -> Iterator[str]:
    """A TCP port on 127.0.0.1 that accepts connections and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.1)
    stop = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(2)
        for c in held:
            c.close()
        server.close()


def test_silent_scheduler_is_one_message_within_the_timeout(silent_listener, finished, monkeypatch, tmp_path):
    pytest.importorskip("distributed")
    assert tasks.CONNECT_TIMEOUT == 20.0  # the stated default (docs/sweeps.md)
    monkeypatch.setattr(tasks, "CONNECT_TIMEOUT", 1.5)
    path, _ = finished
    t0 = time.monotonic()
    res = invoke("sweep", path, "--out", tmp_path / "out", "--scheduler", silent_listener, "--quiet")
    assert time.monotonic() - t0 < 10
    assert res.exit_code == 2, res.output
    assert f"the Dask scheduler at {silent_listener} did not answer within 1.5 s" in res.output
    assert not (tmp_path / "out").exists()  # nothing written
