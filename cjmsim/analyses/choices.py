"""The analyses' lists of choices, in a module light enough for the command line's help to import.

Each list is the one its analysis checks against; the CLI offers exactly these, never a copy.
"""

from __future__ import annotations

__all__ = ["EXPORTS", "OBJECTIVES", "OBSERVED_COUNTS", "SHAPLEY", "SPLITS"]

#: Exports a run can write (``cjmsim run --export``): see :mod:`cjmsim.analyses.exports`.
EXPORTS: tuple[str, ...] = ("journeys", "transactions", "mmm", "events", "observed")
#: The count columns of observed.csv, the calibration's data contract (docs/calibration.md): each a
#: total (``orders``) and per segment (``orders:<segment>``). People, but ``revenue`` (currency).
OBSERVED_COUNTS: tuple[str, ...] = ("leads", "new_customers", "orders", "revenue")
#: Optimizer objectives: what to minimize or maximize.
OBJECTIVES: tuple[str, ...] = ("min-cpo", "max-orders", "max-margin", "max-inc-margin", "min-icpo")
#: How the optimizer splits each base campaign into decision variables.
SPLITS: tuple[str, ...] = ("none", "segment", "stage", "segment,stage")
#: Shapley modes of attribution: exact up to EXACT_MAX channels (auto), exact, sampled, none.
SHAPLEY: tuple[str, ...] = ("auto", "exact", "sampled", "none")
