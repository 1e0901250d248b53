"""examples/mmm_score.py: an MMM's estimates scored against the ground truth, exactly, on a constructed example.

The scoring is pure pandas/numpy, so this runs without pymc-marketing (the fit itself,
examples/mmm_fit.py, needs the optional extra and minutes, and is not part of the suite).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load():
    spec = importlib.util.spec_from_file_location("mmm_score", ROOT / "examples" / "mmm_score.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["mmm_score"] = mod
    spec.loader.exec_module(mod)
    return mod


mmm_score = _load()


def _example():
    # three weeks, two channels with spend and one without (it must be left out)
    mmm = pd.DataFrame(
        {
            "date": ["2025-01-06", "2025-01-13", "2025-01-20"],
            "spend_tv": [100.0, 0.0, 300.0],
            "impressions_tv": [1000.0, 0.0, 3000.0],
            "spend_email": [10.0, 10.0, 20.0],
            "messages_email": [25.0, 25.0, 50.0],
            "spend_search": [0.0, 0.0, 0.0],
            "clicks_search": [0.0, 0.0, 0.0],
            "orders": [50.0, 40.0, 70.0],  # 160 orders
            "revenue": [5000.0, 4000.0, 7000.0],  # 16,000: 100 per order
            "margin": [2000.0, 1600.0, 2800.0],
            "baseline_orders": [30.0, 35.0, 35.0],  # 100 organic orders: marketing added 60
        }
    )
    truth = {
        "channels": {
            "tv": {"incremental_orders": [10.0, 5.0, 25.0], "incremental_revenue": [900.0, 600.0, 2500.0]},
            "email": {"incremental_orders": [2.0, 2.0, 6.0], "incremental_revenue": [250.0, 250.0, 500.0]},
        }
    }
    contributions = pd.DataFrame({"tv": [12.0, 6.0, 30.0], "email": [1.0, 1.0, 3.0]})  # 48 and 5 orders
    baseline = np.array([37.0, 33.0, 40.0])  # 110 orders
    return mmm, truth, contributions, baseline


def test_score_is_exact_on_a_constructed_example() -> None:
    mmm, truth, contributions, baseline = _example()
    table = mmm_score.score(mmm, truth, contributions, baseline).set_index(["item", "metric"])
    assert list(table.index) == [
        ("tv", "contribution_orders"),
        ("tv", "roi"),
        ("email", "contribution_orders"),
        ("email", "roi"),
        ("media", "contribution_orders"),
        ("baseline", "orders"),
    ]
    expected = {
        # item, metric: (estimate, truth), computed by hand from _example
        ("tv", "contribution_orders"): (48.0, 40.0),
        ("tv", "roi"): (48 * 100 / 400, 4000 / 400),  # orders x 100 per order / spend; true revenue / spend
        ("email", "contribution_orders"): (5.0, 10.0),
        ("email", "roi"): (5 * 100 / 40, 1000 / 40),
        ("media", "contribution_orders"): (53.0, 60.0),  # 48 + 5 against 160 - 100
        ("baseline", "orders"): (110.0, 100.0),
    }
    for key, (est, true) in expected.items():
        assert table.loc[key, "estimate"] == pytest.approx(est, rel=1e-12)
        assert table.loc[key, "truth"] == pytest.approx(true, rel=1e-12)
        assert table.loc[key, "error_pct"] == pytest.approx((est - true) / true * 100, rel=1e-12)
    assert table.loc[("email", "contribution_orders"), "error_pct"] == pytest.approx(-50.0)


def test_without_baseline_columns_there_are_no_media_or_baseline_rows() -> None:
    mmm, truth, contributions, baseline = _example()
    table = mmm_score.score(mmm.drop(columns=["baseline_orders"]), truth, contributions, baseline)
    assert set(table["item"]) == {"tv", "email"}
    assert len(mmm_score.score(mmm, truth, contributions)) == 5  # no estimated baseline: no baseline row


def test_score_rejects_estimates_that_do_not_match_the_export() -> None:
    mmm, truth, contributions, baseline = _example()
    with pytest.raises(ValueError, match="no contribution estimate for channel 'email'"):
        mmm_score.score(mmm, truth, contributions[["tv"]], baseline)
    with pytest.raises(ValueError, match="contributions has 2 weeks, mmm.csv 3"):
        mmm_score.score(mmm, truth, contributions.iloc[:2], baseline)
    with pytest.raises(ValueError, match="baseline has shape"):
        mmm_score.score(mmm, truth, contributions, baseline[:2])


def test_channels_of_keeps_the_channels_with_spend() -> None:
    mmm, *_ = _example()
    assert mmm_score.channels_of(mmm) == ["tv", "email"]
