"""A real browser for the report tests: Debian's headless Chromium, and what a painted report is.

CI installs Debian's chromium (.ci/run); where it is missing the browser tests skip
(``CHROMIUM is None``). Every report's test calls :func:`assert_report_painted`.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import matplotlib.image
import numpy as np

CHROMIUM = shutil.which("chromium")


def chromium(tmp: Path, what: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run headless chromium on ``args`` (at most 90 s); prints how long it took."""
    assert CHROMIUM is not None
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        f"--user-data-dir={tmp / 'prof'}",
        *args,
    ]
    start = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=False)
    print(f"chromium {what}: {time.perf_counter() - start:.2f} s")
    return res


def pixels_near(shot: np.ndarray, colour: tuple[float, float, float], tol: float = 0.08) -> int:
    """How many pixels of a screenshot are within ``tol`` of ``colour`` in every channel."""
    return int((np.abs(shot[:, :, :3] - np.array(colour)) < tol).all(axis=2).sum())


def assert_report_painted(
    report: Path, tmp: Path, height: int, colour: tuple[float, float, float], images: int
) -> None:
    """A report page in a 1200 x height window: masthead styled, tables on screen, a chart in
    ``colour`` (one no CSS of the page uses) painted, and ``images`` <img> elements in the DOM."""
    url = report.resolve().as_uri()
    shot = tmp / "shot.png"
    chromium(tmp, f"screenshot 1200x{height}", f"--window-size=1200,{height}", f"--screenshot={shot}", url)
    assert shot.is_file() and shot.stat().st_size > 0, "chromium made no screenshot"
    page = matplotlib.image.imread(shot)
    assert page.shape[:2] == (height, 1200)
    head, body = page[:150, :, :3], page[150:1500, :, :3]
    assert head.mean() < 0.4, "the dark masthead is missing: the inline CSS was not applied"
    assert body.std() > 0.05, "the tables are not on screen"
    assert pixels_near(page, colour, tol=0.02) > 2_000, "no chart was painted"
    dom = chromium(tmp, "dump-dom", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count("<img") == report.read_text(encoding="utf-8").count("<img") == images
