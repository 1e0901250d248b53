"""The live what-if page in a real browser (issue 17): playwright driving Debian's chromium, as CI installs it.

The page loads with no request leaving 127.0.0.1, moving a budget slider updates the KPIs (preview, then the
full size), the shown incremental orders equal ``cjmsim run`` of the downloaded [plans.NAME] block at the same
agents, replications and seed, and hostile plan, campaign, segment and channel names are shown as text.
Skipped, with the reason, where chromium or playwright is missing.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helpers
import pandas as pd
import pytest
from click.testing import CliRunner
from test_serve import HOSTILE, hostile_scenario

from cjmsim.cli import main
from cjmsim.presentation import format as fmt

CHROMIUM = Path("/usr/bin/chromium")
HIFI = Path(__file__).resolve().parents[1] / "scenarios" / "hifi.toml"
#: What the probe of this machine found Chromium needs to start quietly in a closed network.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]

pytestmark = pytest.mark.slow

if not CHROMIUM.exists():
    pytest.skip("no /usr/bin/chromium (apt-get install -y chromium; .ci/run installs it)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the test extra has it)")


def _serve(file: Path, *args: str) -> Iterator[str]:
    """``cjmsim serve FILE --port 0 ARGS`` in a subprocess; yields the page's address, stops it after."""
    code = "from cjmsim.cli import main; main()"
    cmd = [sys.executable, "-c", code, "serve", str(file), "--port", "0", *args]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, cwd=file.parent)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert url, line + (proc.stderr.read() if proc.poll() is not None else "")
        yield url.group()
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=20)  # reads and closes its stderr
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


class Page:
    """A chromium page that records every request and any dialog a script opened."""

    def __init__(self, browser: Any, url: str) -> None:
        self.page = browser.new_page(viewport={"width": 1400, "height": 1800}, accept_downloads=True)
        self.urls: list[str] = []
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda r: self.urls.append(r.url))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.url = url
        self.page.goto(url, wait_until="networkidle", timeout=60_000)
        self.done()

    def done(self) -> str:
        """Wait for the full size's numbers; the status line."""
        self.page.wait_for_selector("#status[data-state=done]", timeout=60_000)
        return self.page.inner_text("#status")

    def outside(self) -> list[str]:
        return [u for u in self.urls if not u.startswith((self.url, "data:", "blob:"))]

    def kpi(self, metric: str, column: int) -> str:
        """A KPI cell's value (column 1: the reference, 2: the edited plan), without its CI line."""
        cell = self.page.locator(f"#kpis tr[data-metric={metric}] td:nth-of-type({column})")
        return cell.evaluate("td => td.firstChild.textContent")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


def test_moving_a_slider_updates_the_kpis_to_the_numbers_of_cjmsim_run(browser: Any, tmp_path: Path) -> None:
    scenario = tmp_path / "hifi.toml"
    scenario.write_text(HIFI.read_text(encoding="utf-8"), encoding="utf-8")
    args = ("--agents", "3000", "--reps", "2", "--preview-agents", "1000", "--seed", "5")
    for url in _serve(scenario, *args):
        p = Page(browser, url)
        before = p.kpi("inc_orders", 2)
        slider = p.page.locator("input[type=range]").first  # cjm's first campaign: SEO guides for beginners
        slider.fill("0")
        slider.dispatch_event("change")
        p.page.wait_for_selector("#status[data-state=updating]", timeout=10_000)
        status = p.done()
        assert "3,000 agents, 2 replications" in status
        after = p.kpi("inc_orders", 2)
        assert after != before
        assert p.page.locator(".campaign.changed").count() == 1
        p.page.fill("#save-name", "cjm_seo0")
        with p.page.expect_download() as got:
            p.page.click("#download-plan")
        block = Path(got.value.path()).read_text(encoding="utf-8")
        assert p.outside() == [] and p.dialogs == [] and p.errors == []
    saved = tomllib.loads(block)["plans"]["cjm_seo0"]
    assert saved["campaigns"][0]["weekly"] == 0
    scenario.write_text(scenario.read_text(encoding="utf-8") + "\n" + block, encoding="utf-8")
    run = ["run", str(scenario), "--plan", "baseline", "--plan", "cjm_seo0", "--reference", "baseline"]
    res = CliRunner().invoke(main, [*run, *args[:4], "--seed", "5", "--out", str(tmp_path / "out"), "--no-report"])
    assert res.exit_code == 0, res.output
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    row = summary[(summary.plan == "cjm_seo0") & (summary.segment == "all")].iloc[0]
    assert after == fmt.fixed(row.inc_orders, "n")  # the library's number, as the page formats it


def test_hostile_names_are_shown_as_text(browser: Any, tmp_path: Path) -> None:
    file = tmp_path / "shop.toml"
    file.write_text(helpers.to_toml(hostile_scenario()) + "\n", encoding="utf-8")
    for url in _serve(file, "--agents", "1000", "--reps", "2", "--preview-agents", "400"):
        p = Page(browser, url)
        page = p.page
        text = page.inner_text("body")
        for name in (f"Base {HOSTILE}", f"Camp {HOSTILE}", f"Seg {HOSTILE}", f"Ads {HOSTILE}", f"Shop {HOSTILE}"):
            assert name in text, name
        page.select_option("#plan", "base")
        page.select_option("#reference", "more")
        p.done()
        assert "More </script><script>alert(2)</script>" in page.inner_text("#kpis")
        assert page.locator("img").count() == 0 and page.locator("script").count() == 1
        assert page.locator("svg text", has_text=HOSTILE).count() >= 1  # the charts' legends, as text
        assert p.dialogs == [] and p.errors == [] and p.outside() == []
