"""The analyses layer: what a strategist asks of a scenario, answered by running the engine.

:mod:`.simulate` (every plan with replications, as tidy tables), :mod:`.metrics` (records to
KPIs with confidence intervals), :mod:`.sweep` (experiments over a grid of scenario changes),
:mod:`.attribution` (each channel's true contribution by counterfactual runs), :mod:`.optimize`
(budget allocation by simulation), :mod:`.exports` (the data a marketer would observe, and the
ground truth behind it), all on one task runner (:mod:`.tasks`). Analyses return tables and
dataclasses; they write no report and print nothing.
"""
