"""The calibration report: every chart written and embedded, user text escaped in the page and in the
SVGs, the headline's claims read off the tables, nothing fetched, and ``--no-report``.

The fit is the tiny one of tests/test_calibration.py (600 agents, 12 weeks, a few dozen candidates):
it checks the report's machinery, not the statistics. The calibration's name and a parameter's name
carry markup: both are free text of the calibration file.
"""

from __future__ import annotations

import base64
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from test_attribution_report import HOSTILE, NETWORK, PNG_IMG, _esc, _section
from test_calibration import write_tiny_calibration

from cjmsim import cli
from cjmsim.analyses.calibration import Calibrated, calibrate
from cjmsim.presentation import format as fmt
from cjmsim.presentation.calibration_text import LOOSE, NARROW, band_shares, headline, series_label
from cjmsim.presentation.charts.calibrate import all_charts
from cjmsim.presentation.reports.calibrate import render, write

ROOT = Path(__file__).resolve().parent.parent
MINIMAL = ROOT / "scenarios" / "minimal.toml"
PLAN = "search_and_email"
WEEKS = 12
#: a parameter's name as a user may write it: markup, an ampersand, a dollar (mathtext in matplotlib)
NAME = f"purchase {HOSTILE} & $rate"
TITLE = f"Tiny {HOSTILE} & co"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny calibration of tests/test_calibration.py, with markup in its title and a parameter's name."""
    return write_tiny_calibration(tmp_path_factory.mktemp("calreport"), name=TITLE, first=NAME)


@pytest.fixture(scope="module")
def fitted(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Calibrated, Path]:
    out = tmp_path_factory.mktemp("fit") / "out"
    return calibrate(data_dir / "cal.toml", out=out), out


@pytest.fixture(scope="module")
def written(fitted: tuple[Calibrated, Path], data_dir: Path) -> Path:
    """The command run again on the fit's folder (--resume: every candidate read back), writing the report."""
    _, out = fitted
    res = CliRunner().invoke(
        cli.main, ["calibrate", str(data_dir / "cal.toml"), "--out", str(out), "--quiet", "--resume"]
    )
    assert res.exit_code == 0, res.output
    return out / "report.html"


@pytest.fixture(scope="module")
def page(written: Path) -> str:
    return written.read_text(encoding="utf-8")


def test_every_chart_is_written_and_embedded(fitted: tuple[Calibrated, Path], written: Path, page: str) -> None:
    res, _ = fitted
    charts = all_charts(res)
    assert [c.slug for c in charts] == [
        "calibration_fit",
        "calibration_parameters",
        "calibration_correlations",
        "calibration_trace",
    ]
    assert page.count("<img") == page.count(PNG_IMG) == len(charts) >= 4
    folder = written.parent / "charts"
    assert sorted(p.stem for p in folder.glob("*.png")) == sorted(c.slug for c in charts)
    assert sorted(p.stem for p in folder.glob("*.svg")) == sorted(c.slug for c in charts)
    for chart in charts:
        png = folder / f"{chart.slug}.png"
        assert png.is_file() and (folder / f"{chart.slug}.svg").is_file()
        assert f'{PNG_IMG}{base64.b64encode(png.read_bytes()).decode("ascii")}"' in page
        figure = page.split(f'<figure id="fig-{chart.slug}">')[1].split("</figure>")[0]
        assert _esc(chart.title) in figure and _esc(chart.caption) in figure
        assert chart.caption.endswith(".") and chart.caption.count(". ") == 0  # one sentence
    assert 'id="charts"' not in render(res, [])  # no images, no empty section


def test_user_text_is_escaped_in_the_page(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>")
    assert f"<h1>{_esc(TITLE)}</h1>" in page  # the calibration's name is the title
    assert _esc(NAME) in _section(page, "parameters")
    assert _esc(NAME) in _section(page, "headline")  # named in the correlation sentence
    assert HOSTILE not in page and "<script" not in page.lower()


def test_user_text_is_escaped_in_the_svgs(written: Path) -> None:
    svgs = sorted((written.parent / "charts").glob("*.svg"))
    assert len(svgs) == 4
    for svg in svgs:
        text = svg.read_text(encoding="utf-8")
        ET.fromstring(text)  # well-formed XML: no markup of the name got through
        assert "<script" not in text.lower() and HOSTILE not in text
    # the parameter's name is drawn in the prior-vs-posterior chart (its text kept, escaped, in the SVG)
    drawn = (written.parent / "charts" / "calibration_parameters.svg").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in drawn


def test_nothing_is_fetched(page: str) -> None:
    assert "Content-Security-Policy" in page and "<link" not in page.lower()
    assert "http://" not in page and "https://" not in page
    assert not NETWORK.search(page), NETWORK.search(page)


def test_the_headline_band_shares_are_fit_csvs(fitted: tuple[Calibrated, Path], page: str) -> None:
    res, out = fitted
    fit = pd.read_csv(out / "fit.csv")
    said = page.split('<p class="finding">')[1].split("</p>")[0]
    assert "a well-calibrated fit holds about 90%" in said
    for name, part in fit.groupby("series", sort=False):
        inside = ((part.observed >= part.band_p05) & (part.observed <= part.band_p95)).mean()
        assert _esc(f"{series_label(res, str(name))} {100 * inside:.0f}%") in said, name
    assert band_shares(fit) == pytest.approx(band_shares(res.fit))


def test_the_headline_reads_its_claims_off_the_tables(fitted: tuple[Calibrated, Path], page: str) -> None:
    res, out = fitted
    said = headline(res)
    p = pd.read_csv(out / "parameters.csv")
    for r in p.itertuples():
        named = f"\u201c{r.parameter}\u201d ({fmt.percent(r.width_ratio)})"
        assert (named in said) == (r.width_ratio < NARROW or r.width_ratio > LOOSE), (r.parameter, said)
    assert "recovered" not in said and "true value" not in said  # the report does not know the truth
    if not res.convergence["converged"]:
        assert res.warnings and fmt.sentence(res.warnings[0]) in said
    assert _esc(said) in page
    # the parameters table: the width vs prior of each parameter, as a percentage
    rows = _section(page, "parameters").split("<tbody>")[1].split("</tbody>")[0].split("<tr>")[1:]
    assert len(rows) == len(p)
    for row, r in zip(rows, p.itertuples(), strict=True):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)
        assert cells[-1].startswith(fmt.percent(r.width_ratio))


def test_no_report_writes_no_report(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = CliRunner().invoke(
        cli.main, ["calibrate", str(data_dir / "cal.toml"), "--out", str(out), "--quiet", "--no-report"]
    )
    assert res.exit_code == 0, res.output
    assert (out / "fit.csv").is_file() and (out / "parameters.csv").is_file()
    assert not (out / "report.html").exists() and not (out / "charts").exists()


def test_no_report_removes_an_earlier_report(
    fitted: tuple[Calibrated, Path], written: Path, data_dir: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "out"
    shutil.copytree(written.parent, copy)
    assert (copy / "report.html").is_file()
    res = CliRunner().invoke(
        cli.main, ["calibrate", str(data_dir / "cal.toml"), "--out", str(copy), "--quiet", "--resume", "--no-report"]
    )
    assert res.exit_code == 0, res.output
    assert not (copy / "report.html").exists() and not (copy / "charts").exists()


def test_write_leaves_only_the_page_and_its_charts(fitted: tuple[Calibrated, Path], tmp_path: Path) -> None:
    res, _ = fitted
    path = write(res, tmp_path)
    assert path == tmp_path / "report.html"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["charts", "report.html"]  # no temporary file
