"""The HTML run report: self-contained, user text escaped, and really rendered by a browser."""

from __future__ import annotations

import base64
import re
import tomllib
from io import BytesIO
from pathlib import Path

import markupsafe
import matplotlib.image
import pytest
from browser import CHROMIUM, chromium, pixels_near
from matplotlib.figure import Figure

import cjmsim
from cjmsim.analyses.simulate import Result
from cjmsim.presentation.reports.run import ROWS, ReportImage, default_assumptions, render_report, write_report

ROOT = Path(__file__).resolve().parents[1]
MINIMAL = ROOT / "scenarios" / "minimal.toml"

# solid colours no part of the report's own CSS uses, so finding them on a screenshot means the
# image itself was decoded and painted
COLOURS = {"funnel": (1.0, 0.0, 0.0), "orders": (0.0, 0.8, 0.0), "spend": (1.0, 0.0, 1.0)}
# anything that makes a browser fetch: a src/href/... pointing at a host, a CSS url() or @import
NETWORK = re.compile(
    r"""(?:src|href|srcset|data|action|poster|xlink:href)\s*=\s*["']?\s*(?:https?:)?//"""
    r"""|url\(\s*["']?\s*(?:https?:)?//|@import""",
    re.IGNORECASE,
)


def _png(colour: tuple[float, float, float]) -> bytes:
    """A tiny chart: a 200 x 100 px PNG, solid ``colour`` with one white line."""
    fig = Figure(figsize=(4, 2), dpi=50, facecolor=colour)
    ax = fig.add_axes((0.1, 0.1, 0.8, 0.8), facecolor=colour)
    ax.plot([0, 1], [0, 1], color="white")
    ax.set_axis_off()
    buf = BytesIO()
    fig.savefig(buf, format="png", facecolor=colour)
    return buf.getvalue()


def _images() -> list[ReportImage]:
    return [
        ReportImage(slug, f"Chart {slug}", f"What the {slug} chart shows, in one sentence.", _png(colour))
        for slug, colour in COLOURS.items()
    ]


@pytest.fixture(scope="module")
def result() -> Result:
    return cjmsim.simulate(cjmsim.load_scenario(MINIMAL), agents=2000, weeks=8)


@pytest.fixture(scope="module")
def images() -> list[ReportImage]:
    return _images()


def test_report_is_self_contained(result: Result, images: list[ReportImage]) -> None:
    html = render_report(result, images)
    assert html.startswith("<!DOCTYPE html>")
    assert html.count("<img") == len(images)
    for img in images:
        uri = "data:image/png;base64," + base64.b64encode(img.png).decode("ascii")
        assert f'src="{uri}"' in html
        assert f'alt="{img.title}"' in html
        assert img.caption in html
    sc = result.scenario
    for plan in sc.plans.values():
        assert str(markupsafe.escape(plan.name)) in html
        assert str(markupsafe.escape(plan.description)) in html
    for seg in sc.segments.values():
        assert str(markupsafe.escape(seg.name)) in html
        assert str(markupsafe.escape(seg.persona.wants)) in html
    for ch in sc.channels.values():
        assert str(markupsafe.escape(ch.name)) in html
    assert sc.scenario.name in html and str(markupsafe.escape(sc.scenario.description)) in html
    assert cjmsim.__version__ in html
    assert "<style>" in html and "<link" not in html.lower()
    assert "<script" not in html.lower()
    assert "http://" not in html and "https://" not in html
    assert not NETWORK.search(html), NETWORK.search(html)
    # one replication: no half-widths; the default assumptions are there
    assert "\u00b1" not in html.split('id="results"')[1].split("</table>")[0]
    for item in default_assumptions(result):
        assert str(markupsafe.escape(item)) in html


def test_comparison_table_numbers(result: Result) -> None:
    html = render_report(result, [])
    totals = result.totals()
    table = html.split('id="results"')[1].split("</table>")[0]
    for plan in result.plans:
        assert f"{totals.loc[plan, 'orders']:,.0f}" in table
        assert f"{totals.loc[plan, 'agents']:,.0f}" in table
    assert f'Spend<span class="unit">, {result.scenario.scenario.currency}</span>' in table
    assert 'id="charts"' not in html  # no images, no empty section


def test_half_widths_with_replications() -> None:
    res = cjmsim.simulate(cjmsim.load_scenario(MINIMAL), agents=2000, weeks=8, reps=3)
    html = render_report(res, [])
    table = html.split('id="results"')[1].split("</table>")[0]
    assert table.count('<td class="ci">\u00b1 ') >= 10
    assert "mean of 3 replications" in html


def test_rows_match_the_terminal_table() -> None:
    from cjmsim.cli.tables import ROWS as TERMINAL_ROWS

    assert [col for _, rows in ROWS for col, _, _ in rows] == [col for col, _, _ in TERMINAL_ROWS]
    assert [kind for _, rows in ROWS for _, _, kind in rows] == [kind for _, _, kind in TERMINAL_ROWS]


def test_user_text_is_escaped() -> None:
    data = tomllib.loads(MINIMAL.read_text(encoding="utf-8"))
    first = next(iter(data["segments"]))
    data["segments"][first]["name"] = "<script>alert(1)</script> Beginner"
    plan = next(iter(data["plans"]))
    data["plans"][plan]["description"] = '<b>x</b> & "q"'
    sc = cjmsim.parse_scenario(data, source="test")
    res = cjmsim.simulate(sc, agents=2000, weeks=8)
    html = render_report(res, _images())
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Beginner" in html
    assert "<script>alert(1)</script>" not in html
    assert "<script" not in html.lower()
    assert "&lt;b&gt;x&lt;/b&gt; &amp; &#34;q&#34;" in html
    assert "<b>x</b>" not in html


def test_custom_assumptions_replace_the_defaults(result: Result) -> None:
    html = render_report(result, [], ["Prices stay as in 2024 & no <competitor> reacts."])
    assert "Prices stay as in 2024 &amp; no &lt;competitor&gt; reacts." in html
    assert default_assumptions(result)[0] not in html


def test_report_image_must_be_png() -> None:
    with pytest.raises(ValueError, match="'broken'.*not PNG"):
        ReportImage("broken", "Broken", "Not an image.", b"GIF89a garbage")
    img = _images()[0]
    assert img.size == (200, 100)


def test_write_report(result: Result, images: list[ReportImage], tmp_path: Path) -> None:
    path = write_report(result, images, tmp_path / "out" / "report.html")
    assert path == tmp_path / "out" / "report.html"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.count("<img") == len(images)
    assert sorted(p.name for p in path.parent.iterdir()) == ["report.html"]  # no temporary file left


# --------------------------------------------------------------------------------------------
# a real browser (tests/browser.py)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (CI installs Debian's chromium)")
def test_chromium_renders_the_report(result: Result, images: list[ReportImage], tmp_path: Path) -> None:
    # negative control for the colour check below: a cyan image cut after its header, which the
    # browser cannot decode, so no cyan may be painted
    cyan = (0.0, 1.0, 1.0)
    broken = ReportImage("broken", "Chart broken", "An image that cannot be decoded.", _png(cyan)[:33] + bytes(64))
    report = write_report(result, [*images, broken], tmp_path / "report.html")
    url = report.resolve().as_uri()

    shot = tmp_path / "shot.png"
    chromium(tmp_path, "screenshot 1200x2400", "--window-size=1200,2400", f"--screenshot={shot}", url)
    assert shot.is_file() and shot.stat().st_size > 0, "chromium made no screenshot"
    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (2400, 1200)
    assert pixels.std() > 0.05, "the screenshot is blank"
    head, body = pixels[:150, :, :3], pixels[150:900, :, :3]
    assert head.mean() < 0.4, "the dark masthead is missing: the inline CSS was not applied"
    assert head.std() > 0.02 and body.std() > 0.05, "a region of the screenshot is uniform"
    # every row band of the first screen has something on it (no empty gap, no collapsed layout)
    bands = [pixels[y : y + 300, :, :3].std() for y in range(0, 2400, 300)]
    assert min(bands) > 0.01, bands

    # the whole page, tall enough for every figure: each image's own colour is on screen
    tall = tmp_path / "tall.png"
    chromium(tmp_path, "screenshot 1200x5000", "--window-size=1200,5000", f"--screenshot={tall}", url)
    page = matplotlib.image.imread(tall)
    for slug, colour in COLOURS.items():
        # 200 x 100 px solid, less the line: thousands of pixels when painted
        assert pixels_near(page, colour) > 10_000, f"image {slug!r} was not painted"
    assert pixels_near(page, cyan) < 100, "the broken image was painted: the colour check proves nothing"

    dom = chromium(tmp_path, "dump-dom", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count("<img") == report.read_text(encoding="utf-8").count("<img") == 4
    assert "Chart broken" in dom.stdout
