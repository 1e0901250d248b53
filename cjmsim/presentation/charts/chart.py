"""A chart as every analysis hands it over: a titled Figure with its caption, saved as PNG and SVG.

Chart modules (run, sweep, attribution, optimize) return :class:`Chart` values from their
``all_charts``; :func:`save` writes one as ``slug.png`` and a byte-stable ``slug.svg``, and
:func:`png_bytes` gives the PNG a report embeds.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure

from cjmsim.presentation.style import DPI

__all__ = ["Chart", "png_bytes", "save"]


@dataclass(frozen=True)
class Chart:
    """One chart of :func:`all_charts`: a file-name slug, its title, a plain-language caption, the figure."""

    slug: str
    title: str
    caption: str
    figure: Figure


def save(chart_or_figure: Chart | Figure, folder: str | Path, slug: str | None = None) -> list[Path]:
    """Write ``slug.png`` and ``slug.svg`` into folder (created if missing); returns the two paths.

    The slug defaults to the chart's own; it is required for a bare Figure.
    """
    chart = chart_or_figure if isinstance(chart_or_figure, Chart) else None
    fig = chart.figure if chart else chart_or_figure
    name = slug or (chart.slug if chart else "")
    if not name or not isinstance(fig, Figure):
        raise ValueError("save() needs a Chart, or a Figure and a slug")
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    png, svg = out / f"{name}.png", out / f"{name}.svg"
    with matplotlib.rc_context({"svg.hashsalt": "cjmsim"}):  # fixed element ids: the same run, the same SVG
        fig.savefig(svg, format="svg", metadata={"Date": None})
    # the PNG keeps the layout the SVG's draw just computed (constrained layout is a fifth of a chart's time):
    # the SVG's text extents are the wider, so the PNG's labels keep their margins; the engine comes back
    # afterwards, for a figure drawn again
    engine = fig.get_layout_engine()
    fig.set_layout_engine("none")
    try:
        fig.savefig(png, format="png", dpi=DPI, metadata={"Software": None})
    finally:
        fig.set_layout_engine(engine)
    return [png, svg]


def png_bytes(figure: Figure) -> bytes:
    """The figure as PNG bytes at the chart resolution, e.g. to embed in an HTML report."""
    buf = io.BytesIO()
    figure.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()
