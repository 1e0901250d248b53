"""Charts of every analysis; this package's own names are the run charts (``cjmsim.charts``).

:mod:`.run` draws a run's charts (the journey map's small multiples among them), :mod:`.sweep`,
:mod:`.attribution`, :mod:`.optimize` and :mod:`.calibrate` those of the other analyses.
Each function takes a result and returns a matplotlib Figure.
"""

from __future__ import annotations

from cjmsim.presentation.style import CHANNEL_COLOURS, PLAN_COLOURS, plan_colours

from .run import (
    Chart,
    all_charts,
    budget_by_stage,
    exposure_heatmap,
    exposure_heatmaps,
    funnel,
    kpi_comparison,
    orders_vs_spend,
    png_bytes,
    save,
    spend_by_channel,
    stage_occupancy,
    time_to_purchase,
    time_to_purchase_by_plan,
)

__all__ = [
    "CHANNEL_COLOURS",
    "PLAN_COLOURS",
    "Chart",
    "all_charts",
    "budget_by_stage",
    "exposure_heatmap",
    "exposure_heatmaps",
    "funnel",
    "kpi_comparison",
    "orders_vs_spend",
    "plan_colours",
    "png_bytes",
    "save",
    "spend_by_channel",
    "stage_occupancy",
    "time_to_purchase",
    "time_to_purchase_by_plan",
]
