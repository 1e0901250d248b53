"""Export files: the observed data and ground truth of a run, as the tools that read them expect.

The tables are built by :mod:`cjmsim.analyses.exports`; this module only lays them out on disk,
in ``exports/<plan>/`` inside the run's (temporary, then atomically renamed) folder.
"""

from __future__ import annotations

import json
from pathlib import Path

from cjmsim.analyses.exports import events_table, ground_truth, journeys_table, mmm_table, transactions_table
from cjmsim.engine import Records
from cjmsim.scenario import Scenario

__all__ = ["write_exports"]


def write_exports(sc: Scenario, records: dict[str, list[Records]], seed: int, kinds: list[str], folder: Path) -> None:
    """Write the requested exports of every plan into folder/exports/<plan>/."""
    channels = list(sc.channels)
    for plan, reps in records.items():
        rec = reps[0]
        d = folder / "exports" / plan
        d.mkdir(parents=True, exist_ok=True)
        if "journeys" in kinds:
            journeys_table(rec, channels).to_csv(d / "journeys.csv", index=False)
        if "transactions" in kinds:
            transactions_table(rec, sc.scenario.start_date).to_csv(d / "transactions.csv", index=False)
        if "mmm" in kinds:
            mmm_table(rec, sc).to_csv(d / "mmm.csv", index=False)
            (d / "ground_truth.json").write_text(json.dumps(ground_truth(sc, plan, rec, seed), indent=1) + "\n")
        if "events" in kinds:
            events_table(rec, sc).to_parquet(d / "events.parquet", index=False)
