"""The analyses' lists of choices, in a module light enough for the command line's help to import.

Each list is the one its analysis checks against; the CLI offers exactly these, never a copy.
"""

from __future__ import annotations

__all__ = [
    "EXPORTS",
    "OBJECTIVES",
    "OBSERVED_COUNTS",
    "SERVE_AGENTS",
    "SERVE_PREVIEW_AGENTS",
    "SERVE_REPS",
    "SHAPLEY",
    "SPLITS",
]

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
#: The live what-if's full size (``cjmsim serve``, :mod:`cjmsim.analyses.whatif`): agents and replications.
#: Chosen so an edit of hifi updates in well under a second on a two-core machine (docs/performance.md).
SERVE_AGENTS = 10_000
SERVE_REPS = 5
#: The preview that comes first: one replication at this many agents (none when --agents is no larger).
SERVE_PREVIEW_AGENTS = 2_000
