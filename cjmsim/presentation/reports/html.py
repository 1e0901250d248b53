"""What every HTML report shares: the jinja2 environment, chart images, table cells and the atomic write.

Each report module turns its analysis into plain data (text and pre-formatted numbers) and hands
it to :func:`render_page` with one template of ``cjmsim/presentation/templates``; every template
extends ``base.html.j2`` (head, CSP, stylesheet, masthead, footer, print layout). Autoescaping is
on for every template, so user text (plan, segment and channel names) is always escaped; images
are embedded as ``data:`` URIs, there is no script and nothing is fetched from the network.
"""

from __future__ import annotations

import base64
import os
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from cjmsim.output import write_text
from cjmsim.presentation import format as fmt
from cjmsim.scenario import metrics as registry

if TYPE_CHECKING:
    from cjmsim.presentation.charts.chart import Chart

__all__ = [
    "ReportImage",
    "environment",
    "render_page",
    "figures",
    "chart_images",
    "value_cell",
    "difference_cell",
    "write_html",
]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class ReportImage:
    """One chart for a report: a PNG image with its title and a one-sentence caption.

    Attributes:
        slug: short id, used as the figure's anchor (e.g. ``funnel``).
        title: the chart's title; also the image's alt text.
        caption: one sentence on what the chart shows.
        png: the image, PNG bytes.
    """

    slug: str
    title: str
    caption: str
    png: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.png, bytes) or not self.png.startswith(_PNG_SIGNATURE):
            raise ValueError(f"report image {self.slug!r}: png is not PNG bytes (no PNG signature)")

    @property
    def size(self) -> tuple[int, int] | None:
        """Width and height in pixels, from the PNG header; None if the header is cut short."""
        if len(self.png) < 24 or self.png[12:16] != b"IHDR":
            return None
        width, height = struct.unpack(">II", self.png[16:24])
        return int(width), int(height)

    @property
    def data_uri(self) -> str:
        """The image as a ``data:image/png;base64,...`` URI."""
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


# --------------------------------------------------------------------------------------------
# rendering


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The jinja2 environment of every report: package templates, autoescaping, undefined names an error."""
    return Environment(
        loader=PackageLoader("cjmsim.presentation", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_page(template: str, context: Mapping[str, Any]) -> str:
    """Render one report template (a name in ``templates/``) with its context, autoescaped."""
    return environment().get_template(template).render(**context)


def figures(images: Sequence[ReportImage]) -> list[dict[str, Any]]:
    """The charts as the templates show them: slug, title, caption, data URI and pixel size."""
    out = []
    for img in images:
        size = img.size
        out.append(
            {
                "slug": img.slug,
                "title": img.title,
                "caption": img.caption,
                "src": img.data_uri,
                "width": size[0] if size else None,
                "height": size[1] if size else None,
            }
        )
    return out


def chart_images(charts: Iterable[Chart], folder: str | os.PathLike[str]) -> list[ReportImage]:
    """Save each chart as folder/<slug>.png and .svg and return them as report images, in order."""
    from cjmsim.presentation.charts.chart import save  # matplotlib only when charts are written

    return [ReportImage(c.slug, c.title, c.caption, save(c, Path(folder))[0].read_bytes()) for c in charts]


def write_html(html: str, path: str | os.PathLike[str]) -> Path:
    """Write a page atomically (temporary file, then rename), readable by everyone; returns its path."""
    return write_text(path, html)


# --------------------------------------------------------------------------------------------
# table cells of the sweep, attribution and optimizer reports


def value_cell(row: pd.Series, col: str, kind: str) -> dict[str, str]:
    """A value and its 95% CI half-width, rounded (:func:`~cjmsim.presentation.format.table_value`)."""
    v = row.get(col)
    return {
        "value": fmt.table_value(v, kind),
        "ci": fmt.half_width(v, row.get(f"{col}_ci_low"), row.get(f"{col}_ci_high"), kind),
    }


def difference_cell(row: pd.Series, metric: str, kind: str) -> dict[str, str]:
    """A paired difference (``<metric>_diff`` and its CI), signed, with its state: better, worse or clear.

    The state is set when the 95% CI excludes 0: better or worse by the metric's direction, clear
    for a metric that is neither (spend).
    """
    v, lo, hi = (row.get(f"{metric}_diff{s}") for s in ("", "_ci_low", "_ci_high"))
    text = fmt.table_value(v, kind).replace("-", fmt.MINUS)  # a real minus sign, as wide as the plus
    if fmt.finite(v) and float(v) > 0:
        text = "+" + text
    state = ""
    if fmt.finite(lo) and fmt.finite(hi) and (float(lo) > 0 or float(hi) < 0):
        if registry.metric(metric).better is None:
            state = "clear"
        else:
            up = float(lo) > 0
            state = "better" if up == (registry.metric(metric).better != "lower") else "worse"
    return {"value": text, "ci": fmt.half_width(v, lo, hi, kind), "state": state}
