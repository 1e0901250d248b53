"""Ground truth: what each channel of a plan really adds, by counterfactual runs.

A channel's contribution is found by switching it off on the same synthetic customers with the
same random numbers (common random numbers): the difference is exact for the world the scenario
describes, not an estimate from history. For each channel of a plan this module measures, per
segment and replication:

- incremental orders, revenue and margin: the full plan minus the plan without the channel;
- the marginal effect of +10% budget on the channel (and its marginal ROAS);
- Shapley values over channels (exact over every coalition for up to ``EXACT_MAX`` channels,
  otherwise from sampled permutations, with the sampling error stated), which share the total
  effect of the plan (full plan minus no marketing) among channels, interactions included.

The warm-up always runs the scenario's warm-up plan: a counterfactual changes the horizon, not
the past. Every variant is a plan run from its replication's warm-up, which a process simulates
once and every variant forks; the variants of a task step together, the week's random numbers drawn
once for all of them (:func:`cjmsim.engine.run_forked_together`: bit for bit a
:func:`cjmsim.engine.run_plan` each). Groups of variants and replications are independent tasks for
the same executors as sweeps.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cjmsim.analyses import metrics
from cjmsim.analyses.choices import SHAPLEY
from cjmsim.analyses.reconcile import Reconciliation
from cjmsim.analyses.simulate import check_memory
from cjmsim.analyses.tasks import executor_for
from cjmsim.engine import Records, WarmWorlds, run_forked_together
from cjmsim.scenario import INCREMENTAL_METRICS, ArgumentError, Scenario, did_you_mean, parse_scenario

__all__ = ["EXACT_MAX", "EXACT_LIMIT", "Attribution", "attribute", "shapley_weights"]

#: Largest number of channels for which Shapley values are computed exactly (2^n plan runs).
EXACT_MAX = 8
#: Most channels for which exact Shapley values may be asked for (2^16 = 65,536 coalitions).
EXACT_LIMIT = 16
#: Memory per coalition and replication, roughly: the variant plan and its run's table.
_BYTES_PER_RUN = 4_000
_FLOWS = ("orders", "customers", "revenue", "margin", "spend", "media_spend")
#: The variant with neither campaigns nor interventions (made only when the plan has interventions: every
#: other variant keeps them, so ``only_0`` is then the interventions alone, not no marketing).
_NOTHING = "nothing"
_WARM = "__attribution_warmup__"
#: Warm-up worlds a process keeps, one per replication (:class:`cjmsim.engine.WarmWorlds`).
WARM_KEEP = 8
_WARM_WORLDS = WarmWorlds()


#: Most variant plans one job steps together (:func:`cjmsim.engine.run_forked_together`: the week's random
#: numbers drawn once for all of them); fewer when the workers would otherwise sit idle.
VARIANTS_PER_JOB = 8


@dataclass(frozen=True)
class _Job:
    """Variant plans on one replication, stepped together: what a worker needs to run them."""

    variants: tuple[str, ...]
    rep: int
    scenario: Scenario
    seed: int
    threads: int
    warm_key: str  # names the variants' shared warm-up: the scenario without the variant plans (sha256)

    @property
    def key(self) -> str:
        """The run's name on a cluster's dashboard."""
        more = f"+{len(self.variants) - 1}" if len(self.variants) > 1 else ""
        return f"{self.variants[0]}{more}-r{self.rep}"


def _run_job(job: _Job) -> list[tuple[str, int, pd.DataFrame]]:
    """The job's variant plans on its replication: flows per segment and all, and spend per channel, each."""
    sc = job.scenario
    # every variant of a replication has the same warm-up (the scenario's warm-up plan, the same random
    # numbers): a process simulates it once and each variant forks it, bit for bit a run from the start
    warm = _WARM_WORLDS.world((job.warm_key, job.seed, job.rep), sc, job.seed, job.rep, WARM_KEEP)
    recs = run_forked_together(warm, list(job.variants), sc.scenario.weeks, threads=job.threads, lean=True)
    return [(variant, job.rep, _flows(sc, rec)) for variant, rec in zip(job.variants, recs, strict=True)]


def _flows(sc: Scenario, rec: Records) -> pd.DataFrame:
    """One variant's flows per segment and all, and its spend per channel."""
    rows = []
    selections: list[tuple[int | slice, str]] = [*enumerate(sc.segments), (slice(None), "all")]
    for g, seg in selections:
        row = metrics.summary_row(rec, g, sc.scenario.ltv_weeks)
        out: dict[str, Any] = {"segment": seg, **{k: row[k] for k in _FLOWS}}
        for c, ch in enumerate(sc.channels):
            out[f"spend_{ch}"] = (
                float(rec.spend[:, g, c].sum()) if isinstance(g, int) else float(rec.spend[:, :, c].sum())
            )
        rows.append(out)
    return pd.DataFrame(rows)


def shapley_weights(n: int) -> dict[int, float]:
    """Weight of a coalition of size s not holding the channel: s! (n - s - 1)! / n!."""
    return {s: math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n) for s in range(n)}


@dataclass
class Attribution:
    """Channel contributions of one plan.

    Attributes:
        plan: the plan attributed.
        channels: its channels, in scenario order.
        table: one row per channel x segment (and ``all``), plus channel ``total`` (the plan
            against no marketing): spend, incremental and Shapley orders/revenue/margin, marginal
            effects of +10% budget, incremental CPO and ROAS, each with its 95% CI over replications;
            the ``total`` rows also have the plan's ``orders`` and the registry's incremental
            metrics (``inc_orders`` ... ``iromi``, as in a run's summary.csv).
        runs: every variant x replication x segment run (the raw material).
        shapley: "exact" or "sampled (K permutations)".
        scenario_agents: the agents of the scenario as given (its run's), 0 if unknown; the runs
            here may have fewer.
        reconciliation: the plan at the runs' agents and at the scenario's, one run each, when
            the runs used fewer agents and someone asked (:func:`cjmsim.analyses.reconcile.reconcile`).
    """

    plan: str
    channels: list[str]
    table: pd.DataFrame
    runs: pd.DataFrame
    shapley: str
    scenario_agents: int = 0
    reconciliation: Reconciliation | None = None


def _variants(sc: Scenario, plan: str, channels: list[str], shapley: str, samples: int, seed: int) -> dict[str, Any]:
    """Variant plans (name -> campaign list) and the coalition masks Shapley needs."""
    camps = [c.model_dump(mode="json", exclude_none=True) for c in sc.plans[plan].campaigns]
    n = len(channels)

    def only(mask: int) -> list[dict[str, Any]]:
        keep = {ch for i, ch in enumerate(channels) if mask >> i & 1}
        return [c for c in camps if c["channel"] in keep]

    full = (1 << n) - 1
    masks = {0, full, *(full ^ (1 << i) for i in range(n))}
    perms: list[list[int]] = []
    if shapley == "exact":
        masks |= set(range(1 << n))
    elif shapley == "sampled":
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0xA77]))
        for _ in range(samples):
            order = [int(i) for i in rng.permutation(n)]
            perms.append(order)
            m = 0
            for i in order:
                m |= 1 << i
                masks.add(m)
    plans: dict[str, list[dict[str, Any]]] = {f"only_{m}": only(m) for m in sorted(masks)}
    for i, ch in enumerate(channels):
        plus = []
        for c in camps:
            c = dict(c)
            if c["channel"] == ch:
                for key in ("weekly", "total"):
                    if c.get(key) is not None:
                        c[key] = c[key] * 1.1
            plus.append(c)
        plans[f"plus_{i}"] = plus
    return {"plans": plans, "perms": perms}


def attribute(
    scenario: Scenario,
    plan: str | None = None,
    *,
    reps: int = 3,
    agents: int | None = None,
    weeks: int | None = None,
    seed: int | None = None,
    workers: int = 1,
    scheduler: Any = None,
    shapley: str = "auto",
    samples: int = 64,
    progress: Callable[[int, int], None] | None = None,
) -> Attribution:
    """Each channel's true contribution to a plan, by counterfactual runs with common random numbers.

    Args:
        scenario: a validated scenario.
        plan: the plan to attribute (default: the first).
        reps: replications (each variant runs on the same agents and random numbers per replication).
        agents, weeks, seed: override the scenario's settings.
        workers: local processes for the runs (1 = in this process). Ignored with ``scheduler``.
        scheduler: a Dask scheduler address (or a ``distributed.Client``); the runs go to that
            cluster. Results do not depend on the workers or the cluster.
        shapley: "exact" (every coalition, 2^n runs), "sampled" (``samples`` random permutations),
            "none", or "auto" (exact up to ``EXACT_MAX`` channels, else sampled).
        progress: called with (runs done, runs in all).

    Raises:
        ArgumentError: a bad argument, named by its parameter (``plan``, ``shapley``, ...).
    """
    if plan is None:
        plan = next(iter(scenario.plans))
    if plan not in scenario.plans:
        raise ArgumentError("plan", f" {plan!r}: no such plan{did_you_mean(plan, list(scenario.plans))}")
    if shapley not in SHAPLEY:
        raise ArgumentError("shapley", f" {shapley!r}: choose from {', '.join(SHAPLEY)}")
    if reps < 1:
        raise ArgumentError("reps", f" {reps}: need at least 1 replication")
    sc = scenario.with_settings(agents=agents, weeks=weeks, seed=seed)
    channels = [ch for ch in sc.channels if any(c.channel == ch for c in sc.plans[plan].campaigns)]
    if not channels:
        raise ArgumentError("plan", f" {plan!r} has no campaigns: there is nothing to attribute")
    if shapley == "auto":
        shapley = "exact" if len(channels) <= EXACT_MAX else "sampled"
    if shapley == "exact" and len(channels) > EXACT_LIMIT:
        n = len(channels)
        gb = (1 << n) * reps * _BYTES_PER_RUN / 1e9
        raise ArgumentError(
            "shapley",
            lambda name: (
                f" 'exact' over {n} channels ({1 << n:,} coalitions x {reps} replications) needs about "
                f"{gb:,.0f} GB of memory; exact is limited to {EXACT_LIMIT} channels "
                f"({1 << EXACT_LIMIT:,} coalitions): "
                f"use {name('shapley')} sampled (with {name('samples')}) or {name('shapley')} none"
            ),
        )
    if shapley == "sampled" and samples < 2:
        raise ArgumentError("samples", f" {samples}: sampled Shapley values need at least 2 permutations")
    check_memory(sc.scenario.agents, processes=workers if scheduler is None else 1)
    base_seed = sc.scenario.seed
    spec = _variants(sc, plan, channels, shapley, samples, base_seed)
    data = sc.model_dump(mode="json", exclude_none=True)
    warm = data["scenario"].get("warmup_plan")
    variants = dict(spec["plans"])
    # removing a channel keeps the plan's interventions (they are not a channel); no marketing has none
    kept = data["plans"][plan].get("interventions", [])
    data["plans"] = {name: {"campaigns": camps, "interventions": kept} for name, camps in variants.items()}
    if kept:
        variants[_NOTHING] = []
        data["plans"][_NOTHING] = {"campaigns": []}
    data["targets"] = []  # the scenario's targets name its plans, which the variants replace
    if warm is not None:  # the warm-up is the past: the scenario's own warm-up plan, untouched
        data["plans"][_WARM] = sc.plans[warm].model_dump(mode="json", exclude_none=True)
        data["scenario"]["warmup_plan"] = _WARM
    full_sc = parse_scenario(data, source="attribution variants")
    threads = max(1, 2 // max(workers, 1)) if scheduler is None else 1
    past = {k: v for k, v in data["plans"].items() if k == _WARM}  # the only plan the warm-up runs
    text = json.dumps([{k: v for k, v in data.items() if k != "plans"}, past], sort_keys=True, default=str)
    warm_key = hashlib.sha256(text.encode()).hexdigest()
    names = list(variants)
    # variants of a replication step together in jobs, enough jobs to keep every worker busy
    size = max(1, min(VARIANTS_PER_JOB, math.ceil(len(names) * reps / max(workers, 1) / 2)))
    groups = [tuple(names[i : i + size]) for i in range(0, len(names), size)]
    jobs = [_Job(group, r, full_sc, base_seed, threads, warm_key) for group in groups for r in range(reps)]
    parts = []
    done = 0
    with executor_for(workers, scheduler) as runner:
        for results in runner.run(_run_job, jobs):
            for variant, rep, frame in results:
                frame.insert(0, "rep", rep)
                frame.insert(0, "variant", variant)
                parts.append(frame)
            done += len(results)
            if progress is not None:
                progress(done, len(names) * reps)
    runs = pd.concat(parts, ignore_index=True).sort_values(["variant", "rep", "segment"], kind="stable")
    table = _table(runs, plan, channels, list(sc.segments), spec["perms"], shapley)
    label = "exact" if shapley == "exact" else (f"sampled ({samples} permutations)" if shapley == "sampled" else "none")
    return Attribution(plan, channels, table, runs.reset_index(drop=True), label, scenario.scenario.agents)


def _plan_incremental(
    v: Callable[[int | str, str, str], np.ndarray], full: int, seg: str, none_variant: int | str = 0
) -> dict[str, float]:
    """The whole plan against no marketing as every command reports it: its orders and the registry's
    incremental metrics (``inc_orders`` ... ``iromi``, :func:`cjmsim.analyses.metrics.incremental_row`),
    replication by replication, each with its mean and 95% CI. ``none_variant``: the variant with no
    marketing (``only_0``, or :data:`_NOTHING` when the plan's interventions are kept in ``only_0``); the
    plan's ``spend`` counts its interventions, as in every command."""
    flows = ("orders", "customers", "revenue", "margin", "spend")
    plan = {k: v(full, seg, k) for k in flows}
    none = {k: v(none_variant, seg, k) for k in flows}
    per_rep = [
        metrics.incremental_row({k: float(plan[k][r]) for k in flows}, {k: float(none[k][r]) for k in flows})
        for r in range(len(plan["orders"]))
    ]
    out: dict[str, float] = {}
    for name, values in [
        ("orders", plan["orders"]),
        *((m, np.array([x[m] for x in per_rep])) for m in INCREMENTAL_METRICS),
    ]:
        out[name], out[f"{name}_ci_low"], out[f"{name}_ci_high"] = metrics.confidence(np.asarray(values, dtype=float))
    return out


def _table(
    runs: pd.DataFrame, plan: str, channels: list[str], segments: list[str], perms: list[list[int]], shapley: str
) -> pd.DataFrame:
    """The attribution table from the variant runs: per segment, one row per channel and the total."""
    n = len(channels)
    full = (1 << n) - 1
    reps = sorted(runs.rep.unique())
    # each variant and segment's rows by replication, made once (the Shapley sums read each many times)
    groups = {key: sub.set_index("rep").reindex(reps) for key, sub in runs.groupby(["variant", "segment"], sort=False)}
    columns: dict[tuple[str, str, str], np.ndarray] = {}

    def v(mask_or_name: int | str, seg: str, col: str) -> np.ndarray:
        """One column of a variant's runs for a segment, by replication (NaN where one is missing); not to
        be written into (it is shared)."""
        name = mask_or_name if isinstance(mask_or_name, str) else f"only_{mask_or_name}"
        values = columns.get((name, seg, col))
        if values is None:
            values = columns[(name, seg, col)] = groups[(name, seg)][col].to_numpy(dtype=float)
        return values

    weights = shapley_weights(n)
    none_variant: int | str = _NOTHING if _NOTHING in set(runs.variant) else 0
    rows = []
    for seg in [*segments, "all"]:
        for i, ch in enumerate(channels):
            row: dict[str, Any] = {"plan": plan, "channel": ch, "segment": seg}
            spend = v(full, seg, f"spend_{ch}")
            row["spend"] = float(spend.mean())
            per_rep: dict[str, np.ndarray] = {}
            for k in ("orders", "revenue", "margin"):
                per_rep[f"incremental_{k}"] = v(full, seg, k) - v(full ^ (1 << i), seg, k)
                per_rep[f"marginal_{k}"] = v(f"plus_{i}", seg, k) - v(full, seg, k)
            per_rep["marginal_spend"] = v(f"plus_{i}", seg, "media_spend") - v(full, seg, "media_spend")
            with np.errstate(divide="ignore", invalid="ignore"):
                per_rep["marginal_roas"] = np.where(
                    per_rep["marginal_spend"] > 0, per_rep["marginal_revenue"] / per_rep["marginal_spend"], np.nan
                )
                per_rep["incremental_roas"] = np.where(spend > 0, per_rep["incremental_revenue"] / spend, np.nan)
            if shapley == "exact":
                for k in ("orders", "revenue", "margin"):
                    total = np.zeros(len(reps))
                    for mask in range(1 << n):
                        if mask >> i & 1:
                            continue
                        total += weights[bin(mask).count("1")] * (v(mask | 1 << i, seg, k) - v(mask, seg, k))
                    per_rep[f"shapley_{k}"] = total
            elif shapley == "sampled":
                for k in ("orders", "revenue", "margin"):
                    contrib = []
                    for order in perms:
                        before = 0
                        for j in order:
                            if j == i:
                                contrib.append(v(before | 1 << i, seg, k) - v(before, seg, k))
                                break
                            before |= 1 << j
                    per_rep[f"shapley_{k}"] = np.mean(contrib, axis=0)
                    row[f"shapley_{k}_sampling_se"] = float(
                        np.std(contrib, axis=0, ddof=1).mean() / math.sqrt(len(perms))
                    )
            for name, values in per_rep.items():
                mean, lo, hi = metrics.confidence(values)
                row[name], row[f"{name}_ci_low"], row[f"{name}_ci_high"] = mean, lo, hi
            inc = row["incremental_orders"]
            row["incremental_cpo"] = row["spend"] / inc if inc > 0 and row["spend"] > 0 else math.nan
            rows.append(row)
        # the plan as a whole against no marketing: what the Shapley values share out
        total_row: dict[str, Any] = {"plan": plan, "channel": "total", "segment": seg}
        # the channels' media spend: what their incremental orders over only_0 cost (interventions are in both)
        total_row["spend"] = float(v(full, seg, "media_spend").mean())
        for k in ("orders", "revenue", "margin"):
            mean, lo, hi = metrics.confidence(v(full, seg, k) - v(0, seg, k))
            (
                total_row[f"incremental_{k}"],
                total_row[f"incremental_{k}_ci_low"],
                total_row[f"incremental_{k}_ci_high"],
            ) = (
                mean,
                lo,
                hi,
            )
        inc = total_row["incremental_orders"]
        total_row["incremental_cpo"] = total_row["spend"] / inc if inc > 0 and total_row["spend"] > 0 else math.nan
        total_row.update(_plan_incremental(v, full, seg, none_variant))
        rows.append(total_row)
    return pd.DataFrame(rows)
