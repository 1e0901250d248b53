"""Score a marketing-mix model's estimates against cjmsim's ground truth (pure pandas / numpy).

An MMM fitted on a run's ``exports/<plan>/mmm.csv`` estimates, week by week, each channel's
contribution to orders and a baseline (intercept, trend, seasonality, controls). cjmsim knows
the truth for the same weeks: ``ground_truth.json`` holds each channel's true weekly incremental
orders and revenue (the run minus the run without the channel, same random numbers), and
``mmm.csv``'s ``baseline_orders`` the orders with no marketing at all. :func:`score` puts the two
side by side; ``examples/mmm_fit.py`` fits pymc-marketing's MMM and calls it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["score", "channels_of"]


def channels_of(mmm: pd.DataFrame) -> list[str]:
    """The channel ids with some spend in mmm.csv (its ``spend_<channel>`` columns)."""
    return [c.removeprefix("spend_") for c in mmm.columns if c.startswith("spend_") and mmm[c].sum() > 0]


def _row(item: str, metric: str, estimate: float, truth: float) -> dict[str, Any]:
    error = (estimate - truth) / truth * 100 if truth != 0 else float("nan")
    return {"item": item, "metric": metric, "estimate": estimate, "truth": truth, "error_pct": error}


def score(
    mmm: pd.DataFrame,
    truth: Mapping[str, Any],
    contributions: pd.DataFrame,
    baseline: pd.Series | np.ndarray | None = None,
) -> pd.DataFrame:
    """The MMM's estimates against the truth: one row per (item, metric), with the error in %.

    ``mmm`` is mmm.csv, ``truth`` ground_truth.json (parsed), ``contributions`` the MMM's weekly
    contribution in orders per channel (one column per channel id, one row per week of mmm.csv,
    in its order), ``baseline`` the MMM's weekly baseline in orders (everything but the channels).

    Rows, for each channel with spend: ``contribution_orders`` (the estimate summed over the weeks
    against the true incremental orders summed) and ``roi`` (incremental revenue per unit of spend:
    the estimate is its orders times the run's average order value, revenue / orders, over the
    channel's spend; the truth is the true incremental revenue over the same spend). Then
    ``media, contribution_orders``: every channel's estimate summed, against ``orders -
    baseline_orders`` (what marketing added as a whole; the channels' true increments need not add
    up to it, see docs/ground-truth.md); and ``baseline, orders``: the estimated baseline against
    ``baseline_orders``, summed over the weeks. The media and baseline rows need ``baseline_orders``
    in mmm.csv (a run without ``--no-baseline``); the baseline row also needs ``baseline``.
    ``error_pct`` is (estimate - truth) / truth x 100 (NaN when the truth is 0).
    """
    weeks = len(mmm)
    if len(contributions) != weeks:
        raise ValueError(f"contributions has {len(contributions)} weeks, mmm.csv {weeks}")
    value = float(mmm["revenue"].sum() / mmm["orders"].sum())  # average order value of the run
    rows = []
    total = 0.0
    for ch in channels_of(mmm):
        if ch not in contributions.columns:
            raise ValueError(f"no contribution estimate for channel {ch!r}")
        if ch not in truth["channels"]:
            raise ValueError(f"ground_truth.json has no channel {ch!r}")
        est = float(np.asarray(contributions[ch], dtype=float).sum())
        true_orders = float(np.sum(truth["channels"][ch]["incremental_orders"]))
        true_revenue = float(np.sum(truth["channels"][ch]["incremental_revenue"]))
        spend = float(mmm[f"spend_{ch}"].sum())
        rows.append(_row(ch, "contribution_orders", est, true_orders))
        rows.append(_row(ch, "roi", est * value / spend, true_revenue / spend))
        total += est
    if "baseline_orders" in mmm.columns:
        organic = float(mmm["baseline_orders"].sum())
        rows.append(_row("media", "contribution_orders", total, float(mmm["orders"].sum()) - organic))
        if baseline is not None:
            b = np.asarray(baseline, dtype=float)
            if b.shape != (weeks,):
                raise ValueError(f"baseline has shape {b.shape}, want ({weeks},)")
            rows.append(_row("baseline", "orders", float(b.sum()), organic))
    return pd.DataFrame(rows, columns=["item", "metric", "estimate", "truth", "error_pct"])
