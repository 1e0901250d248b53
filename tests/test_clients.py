"""The exports read by the real client libraries strategists use (installed by the test extra)."""

from __future__ import annotations

import helpers
import pytest

import cjmsim
from cjmsim import parse_scenario
from cjmsim.exports import journeys_table


def test_channelattribution_markov_reads_journeys_and_conserves_conversions():
    ca = pytest.importorskip("ChannelAttribution")
    d = helpers.funnel_scenario()
    d["scenario"].update(agents=6000, weeks=20)
    sc = parse_scenario(d)
    rec = cjmsim.simulate(sc, ["base"], export=True).records["base"][0]
    j = journeys_table(rec, list(sc.channels))
    assert j.total_conversions.sum() > 0
    res = ca.markov_model(
        j, "path", "total_conversions", var_value="total_conversion_value", var_null="total_null",
        order=1, sep=">", verbose=0, flg_pro=False,
    )  # fmt: skip
    assert res.total_conversions.sum() == pytest.approx(j.total_conversions.sum(), rel=1e-6)
    assert res.total_conversion_value.sum() == pytest.approx(j.total_conversion_value.sum(), rel=1e-6)
    assert set(res.channel_name) <= {*sc.channels, "direct"}
