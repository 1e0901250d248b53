"""``cjmsim calibrate``: fit a scenario's free parameters to observed weekly data, with a posterior.

The method (docs/calibration.md says it for a strategist):

1. **The likelihood.** A candidate (one value per free parameter) is simulated on the plan that was in
   force over the observed weeks, with the calibration's seed: every candidate sees the same customers
   and random numbers (common random numbers), so two candidates differ by their parameters, not by
   noise. For every fitted series ``s`` and observed week ``t`` the analytics would see
   ``mu = seen_s * sim_st`` (people; ``seen_s`` the share of real events it records), and the observed
   count is taken as normal around it with variance ``unit * (mu + a * (mu + a)) + (noise * mu)^2 +
   unit``, ``a = seen_s * w / reps`` one simulated agent's worth (``w`` people per simulated agent): the
   counting noise of the real events (Poisson), the simulation's own noise (``a * mu``, and at least one
   agent's worth, ``a^2``: a week in which no simulated agent acted is not sure that no person did), the
   tracking noise, and one unit so that a week of zeros is not infinitely sure. ``unit`` is 1 for counts
   and ``aov * (1 + cv^2)`` for revenue (the variance of a sum of lognormal order values). Each series'
   log-likelihood is multiplied by its weight.
2. **The prior** of each parameter is mapped to the unit interval by its quantile function, so the
   search and the sampler work in the unit cube, where the prior is uniform and the posterior is the
   likelihood.
3. **The point estimate**: CMA-ES (the ``cma`` package: a well-tested, derivative-free optimizer that
   copes with the small steps common random numbers still leave in the likelihood), from the prior
   medians, at most ``evaluations`` candidates.
4. **The posterior**: emcee's affine-invariant ensemble sampler (``emcee``: widely used, few settings,
   its walkers are evaluated in parallel batches), in ``chains`` chains started in a ball around
   the point estimate shaped by the search's last distribution (:func:`_ball`), chain c simulating on
   seed + c: one seed freezes one realisation of the simulation's noise into the likelihood, so the
   chains' pooled draws carry the spread that noise gives the fit. In each chain the first half of the
   steps is burn-in; the pooled rest is thinned evenly to ``draws`` draws. Convergence is reported as the
   acceptance fraction, the integrated autocorrelation time, the effective sample size and the
   between-chain R-hat.
5. **The likelihood's noise check**: the estimate and a few kept draws are simulated again on seeds no chain
   used; the spread over seeds of their log-likelihoods' difference (:func:`likelihood_noise`) says how much
   the simulation's noise, which one chain's seed freezes, moves the comparison of plausible values. Above
   :data:`NOISE_LIMIT` the calibration warns that the intervals cannot be trusted.

Every batch of candidates goes through the shared task runner (in-process, a local pool or a Dask
cluster) and is written to ``evaluations/`` in the output folder as it finishes. The search and the
sampler are deterministic given the seed, so a resumed calibration replays them, reading every batch
it finds, and continues where it stopped: it ends with exactly the results of an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from cjmsim.scenario import (
    ArgumentError,
    Scenario,
    ScenarioError,
    did_you_mean,
    parse_scenario,
    read_toml,
    validation_messages,
)
from cjmsim.scenario.calibration import CALIBRATION_COUNTS, Calibration, Prior

from .draws import Draws, FreeParameter, apply_draw
from .lift import Lift, control_plan, read_lift
from .observed import Observed, read_observed

__all__ = [
    "DEFAULT_AGENTS",
    "DEFAULT_SERIES",
    "Calibrated",
    "LoadedCalibration",
    "PriorMap",
    "calibrate",
    "likelihood_noise",
    "load_calibration",
    "simulate_candidates",
]

#: The series fitted by default, each per segment where the data have it per segment: the weekly flows
#: into interest and into a first order. Series that follow the stock of customers (repeat orders, all
#: orders, revenue) carry that stock's noise from week to week, which the likelihood's weekly noise does
#: not hold: fitted, they made the posterior intervals too narrow in tests (docs/calibration.md); a
#: calibration names them in ``[[series]]`` to fit them anyway.
DEFAULT_SERIES = ("leads", "new_customers")
#: Agents simulated per candidate when the calibration file does not say (the scenario's, if fewer).
DEFAULT_AGENTS = 20_000
#: The prior quantiles a calibration checks the scenario at before any simulation (an impossible prior).
CHECK_QUANTILES = (0.001, 0.999)
#: Where a calibration's batches of simulated candidates are kept (inside the output folder).
EVALUATIONS = "evaluations"
#: The walkers' starting ball: the standard deviations (in the unit cube) its principal axes are held between.
BALL_SD = (0.05, 0.25)
#: The likelihood's noise check: this many posterior draws and the estimate, each simulated on this many
#: seeds that no chain used (:func:`likelihood_noise`).
NOISE_POINTS, NOISE_SEEDS = 4, 4
#: Above this seed-to-seed spread of log-likelihood differences the report warns: half the 90% quantile of
#: chi-square with one degree of freedom, how far below its peak a one-parameter 90% interval ends.
NOISE_LIMIT = 1.35


# --------------------------------------------------------------------------------------------
# priors


@dataclass(frozen=True)
class PriorMap:
    """A parameter's prior as a map from the unit interval: ``value(u)`` is the prior's ``u``-quantile."""

    spec: Prior

    def value(self, u: float) -> float:
        """The prior's ``u``-quantile (``u`` in (0, 1))."""
        return float(self.values(np.array([u]))[0])

    def values(self, u: np.ndarray) -> np.ndarray:
        """The prior's quantiles at every ``u`` (cut to low..high where the prior has them)."""
        from scipy import stats

        p = self.spec
        u = np.asarray(u, dtype=np.float64)
        if p.prior == "uniform":
            assert p.low is not None and p.high is not None
            return p.low + u * (p.high - p.low)
        if p.prior == "loguniform":
            assert p.low is not None and p.high is not None
            return np.exp(math.log(p.low) + u * (math.log(p.high) - math.log(p.low)))
        if p.prior == "normal":
            assert p.mean is not None and p.sd is not None
            dist = stats.norm(p.mean, p.sd)
        else:
            assert p.median is not None and p.sd is not None
            dist = stats.lognorm(s=p.sd, scale=p.median)
        lo = dist.cdf(p.low) if p.low is not None else 0.0
        hi = dist.cdf(p.high) if p.high is not None else 1.0
        return np.asarray(dist.ppf(lo + u * (hi - lo)), dtype=np.float64)

    def describe(self) -> str:
        """The prior in a few words: ``uniform(0.5, 2)``, ``lognormal(median 1, sd 0.3)``."""
        p = self.spec
        cut = f", cut to {p.low:g}..{p.high:g}" if p.low is not None and p.prior in ("normal", "lognormal") else ""
        if p.prior in ("uniform", "loguniform"):
            return f"{p.prior}({p.low:g}, {p.high:g})"
        if p.prior == "normal":
            return f"normal(mean {p.mean:g}, sd {p.sd:g}{cut})"
        return f"lognormal(median {p.median:g}, sd {p.sd:g}{cut})"


# --------------------------------------------------------------------------------------------
# loading


@dataclass(frozen=True)
class LoadedCalibration:
    """A calibration file with everything it names read and checked."""

    path: Path
    spec: Calibration
    scenario_path: Path
    base: dict[str, Any]  # the scenario as parsed TOML
    scenario: Scenario
    observed: Observed
    series: tuple[str, ...]  # the fitted columns of observed.csv
    weights: tuple[float, ...]
    parameters: tuple[FreeParameter, ...]
    priors: tuple[PriorMap, ...]
    agents: int
    weeks: int  # weeks simulated: through the last observed week and every lift test's window
    digest: str
    lifts: tuple[Lift, ...] = ()

    @property
    def dim(self) -> int:
        """The number of free parameters."""
        return len(self.parameters)

    def values_of(self, u: np.ndarray) -> dict[str, float]:
        """The parameter values of a point ``u`` of the unit cube."""
        return {p.name: pm.value(float(x)) for p, pm, x in zip(self.parameters, self.priors, u, strict=True)}


def _where(path: Path, key: str) -> str:
    return f"{path}: {key}"


def load_calibration(path: str | Path) -> LoadedCalibration:
    """Read a calibration file, its scenario and observed data, all checked before any simulation.

    Raises:
        ScenarioError: naming the file and the key (or column and line), what is wrong and what is allowed:
            a path the scenario does not have, a plan it does not have, a series not in the data, a
            prior under which the scenario is impossible, data that do not match the scenario.
    """
    path = Path(path)
    data = read_toml(path)
    try:
        spec = Calibration.model_validate(data)
    except ValidationError as err:
        lines = validation_messages(err, data, Calibration)
        body = lines[0] if len(lines) == 1 else "\n  " + "\n  ".join(lines)
        raise ScenarioError(f"{path}: {body}") from None
    s = spec.calibration
    scenario_path = (path.parent / s.scenario).resolve()
    if not scenario_path.is_file():
        raise ScenarioError(f"{path}: calibration.scenario = {s.scenario!r}: no such file ({scenario_path})")
    base = read_toml(scenario_path)
    scenario = parse_scenario(base, source=str(scenario_path), internal_plans=False)
    if s.plan not in scenario.plans:
        raise ScenarioError(
            f"{path}: calibration.plan = {s.plan!r}: no such plan in {s.scenario}"
            f"{did_you_mean(s.plan, list(scenario.plans))}; plans: {', '.join(scenario.plans)}"
        )
    observed_path = (path.parent / s.observed).resolve()
    if not observed_path.is_file():
        raise ScenarioError(f"{path}: calibration.observed = {s.observed!r}: no such file ({observed_path})")
    observed = read_observed(observed_path, scenario)
    series, weights = _series(path, spec, observed, scenario)
    params = tuple(FreeParameter(p.name, p.path, p.relative) for p in spec.parameters)
    priors = tuple(PriorMap(p) for p in spec.parameters)
    _check_priors(path, base, params, priors)
    agents = s.agents if s.agents is not None else min(DEFAULT_AGENTS, scenario.scenario.agents)
    lifts: tuple[Lift, ...] = ()
    files = [path.read_bytes(), scenario_path.read_bytes(), observed_path.read_bytes()]
    if s.lift is not None:
        lift_path = (path.parent / s.lift).resolve()
        if not lift_path.is_file():
            raise ScenarioError(f"{path}: calibration.lift = {s.lift!r}: no such file ({lift_path})")
        lifts = tuple(read_lift(lift_path, scenario, s.plan))
        if not lifts:
            raise ScenarioError(f"{lift_path}: no lift test of plan {s.plan!r} (its plan column names others)")
        files.append(lift_path.read_bytes())
    weeks = max([int(observed.weeks.max()) + 1, *(min(x.counted[1], scenario.scenario.weeks) for x in lifts)])
    from cjmsim import __version__

    digest = hashlib.sha256(b"\0".join([*files, __version__.encode()])).hexdigest()
    return LoadedCalibration(
        path, spec, scenario_path, base, scenario, observed, series, weights, params, priors, agents, weeks, digest,
        lifts,
    )  # fmt: skip


def _observed_series(observed: Observed) -> dict[str, np.ndarray]:
    """The data's fittable series: its count columns, and ``repeat_orders`` (orders - new_customers) for
    every scope (total, or a segment) that has both."""
    out = dict(observed.series)
    for name in list(observed.series):
        count, sep, segment = name.partition(":")
        if count == "orders" and f"new_customers{sep}{segment}" in observed.series:
            out[f"repeat_orders{sep}{segment}"] = (
                observed.series[name] - observed.series[f"new_customers{sep}{segment}"]
            )
    return out


def _series(
    path: Path, spec: Calibration, observed: Observed, scenario: Scenario
) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """The fitted series and their weights: those named, or by default (:data:`DEFAULT_SERIES`) leads and
    new customers per segment where the data have them per segment, else in total (without either: the
    orders, or else revenue)."""
    present = list(_observed_series(observed))
    if spec.series:
        for i, sw in enumerate(spec.series):
            if sw.name not in present:
                raise ScenarioError(
                    f"{path}: series[{i}].name = {sw.name!r}: not a series of {observed.path.name}"
                    f"{did_you_mean(sw.name, present)}; its series: {', '.join(present) or 'none'}"
                )
        return tuple(s.name for s in spec.series), tuple(s.weight for s in spec.series)
    chosen: list[str] = []
    for count in DEFAULT_SERIES:
        per_segment = [f"{count}:{g}" for g in scenario.segments if f"{count}:{g}" in present]
        if per_segment:
            chosen.extend(per_segment)
        elif count in present:
            chosen.append(count)
    if not chosen:  # no flows in the data: the orders, then revenue, as they are
        for count in ("orders", "revenue"):
            per_segment = [f"{count}:{g}" for g in scenario.segments if f"{count}:{g}" in present]
            chosen.extend(per_segment or ([count] if count in present else []))
    if not chosen:
        raise ScenarioError(
            f"{observed.path}: no series to fit (leads, new_customers, orders, revenue, in total or per segment)"
        )
    return tuple(chosen), tuple(1.0 for _ in chosen)


def _check_priors(
    path: Path, base: dict[str, Any], params: tuple[FreeParameter, ...], priors: tuple[PriorMap, ...]
) -> None:
    """Every path applies, and the scenario is valid with each parameter alone at its prior's median and
    extreme quantiles, then with all at their medians: else an impossible prior, named."""
    for i, (p, pm) in enumerate(zip(params, priors, strict=True)):
        for q in (0.5, *CHECK_QUANTILES):
            value = pm.value(q)
            changed = apply_draw(base, (p,), {p.name: value}, where=str(path))  # a path not there: named here
            try:
                parse_scenario(changed, source="")
            except ScenarioError as e:
                raise ScenarioError(
                    f"{path}: parameters[{i}] ({p.name!r}, {pm.describe()}): impossible prior: at its "
                    f"{q:.1%} quantile, {p.name} = {value:.6g}, the scenario is not valid: {_short(e)}; "
                    "narrow the prior to values the scenario allows"
                ) from None
    medians = {p.name: pm.value(0.5) for p, pm in zip(params, priors, strict=True)}
    try:
        parse_scenario(apply_draw(base, params, medians, where=str(path)), source="")
    except ScenarioError as e:
        raise ScenarioError(
            f"{path}: parameters: with every parameter at its prior's median the scenario is not valid: "
            f"{_short(e)}; change the priors"
        ) from None


def _short(e: ScenarioError) -> str:
    return " ".join(str(e).split())[:300].lstrip(": ")


# --------------------------------------------------------------------------------------------
# simulating candidates


@dataclass(frozen=True)
class CandidateTask:
    """Candidates to simulate, with what a worker needs (it pickles: workers may be other machines)."""

    base: dict[str, Any]
    parameters: tuple[FreeParameter, ...]
    values: tuple[dict[str, float], ...]
    plan: str
    agents: int
    weeks: int
    seed: int
    reps: int
    #: lift tests to replay: (channel, start, end, metric) each
    lifts: tuple[tuple[str, int, int, str], ...] = ()


def simulate_candidates(task: CandidateTask) -> list[np.ndarray | None]:
    """Each candidate's weekly series, (4 x (segments + 1) + lift tests, weeks) in people: the counts of
    :data:`~cjmsim.scenario.calibration.CALIBRATION_COUNTS` in total, then per segment, then for each lift
    test its metric in total with the channel held out (averaged over the replications); None for a
    candidate whose scenario is not valid."""
    from cjmsim.engine import make_streams, run_plan

    out: list[np.ndarray | None] = []
    fields = {"leads": "leads", "new_customers": "customers", "orders": "orders"}
    for values in task.values:
        data = apply_draw(task.base, task.parameters, values, where="candidate")
        horizon = int(data.get("scenario", {}).get("weeks", 52))
        for k, (channel, start, end, _) in enumerate(task.lifts):
            control_plan(data, task.plan, channel, (start, end), horizon, f"__lift_{k}")
        try:
            sc = parse_scenario(data, source="candidate")
        except ScenarioError:
            out.append(None)
            continue
        G = len(sc.segments)
        acc = np.zeros((len(CALIBRATION_COUNTS) * (G + 1) + len(task.lifts), task.weeks))
        for r in range(task.reps):
            rec = run_plan(sc, task.plan, make_streams(task.seed, r, G), task.agents, task.weeks, threads=1)
            w = rec.weight
            per = [rec.leads * w, rec.customers * w, rec.orders * w, rec.revenue * w]  # (W, G) each
            rows = [x.sum(axis=1) for x in per] + [x[:, g] for g in range(G) for x in per]
            for k, (*_, metric) in enumerate(task.lifts):  # the same customers and random numbers, held out
                off = run_plan(sc, f"__lift_{k}", make_streams(task.seed, r, G), task.agents, task.weeks, threads=1)
                rows.append(getattr(off, fields[metric]).sum(axis=1) * off.weight)
            acc += np.stack(rows)
        out.append(acc / task.reps)
    return out


def _row(cal: LoadedCalibration, name: str) -> tuple[int, int, int]:
    """Rows of a simulated series array for a fitted series: its own, the orders of the same scope (for
    revenue's order value), and a row to subtract (-1: none; repeat orders are orders - new customers)."""
    count, _, segment = name.partition(":")
    n = len(CALIBRATION_COUNTS)
    base = 0 if not segment else n * (list(cal.scenario.segments).index(segment) + 1)
    orders = base + CALIBRATION_COUNTS.index("orders")
    if count == "repeat_orders":
        return orders, orders, base + CALIBRATION_COUNTS.index("new_customers")
    return base + CALIBRATION_COUNTS.index(count), orders, -1


@dataclass
class _Likelihood:
    """The observation model, precomputed: the observed values and what each series needs.

    In the search each series' noise scale ``phi`` (>= 1: at least the noise the model names) is profiled
    out, ``phi = mean(r^2 / v)``; :meth:`fix` then holds the scales found at the point estimate, and
    tempers each series by ``(1 - rho) / (1 + rho)``, ``rho`` the lag-1 autocorrelation of its residuals
    there (weeks that move together carry less information than as many independent weeks)."""

    y: np.ndarray  # (S, T)
    cols: np.ndarray  # (T,) observed weeks
    rows: tuple[tuple[int, int, int], ...]
    revenue: tuple[bool, ...]
    cv2: tuple[float, ...]
    seen: tuple[float, ...]
    weights: tuple[float, ...]
    noise: float
    per_agent: float  # people per simulated agent, over the replications
    phi: np.ndarray | None = None  # fixed noise scales (None: profiled)
    temper: np.ndarray | None = None
    #: lift tests: (the metric's row, the held-out run's row, first week, week after the last counted)
    lift_rows: tuple[tuple[int, int, int, int], ...] = ()
    lifts: tuple[Lift, ...] = ()
    population: float = 1.0
    per_agent_people: float = 1.0  # people per simulated agent, over the replications

    def lift_terms(self, sim: np.ndarray) -> float:
        """The lift tests' log-likelihood: each observed lift normal around the replayed one, with the test's
        SE and the paired difference's simulation noise (people per agent x the outcomes it changed)."""
        total = 0.0
        scale = 1000.0 / self.population
        for (row, off, a, b), x in zip(self.lift_rows, self.lifts, strict=True):
            delta = float(sim[row, a:b].sum() - sim[off, a:b].sum())  # people
            var = x.se**2 + scale**2 * self.per_agent_people * (abs(delta) + self.per_agent_people)
            total += -0.5 * ((x.lift - scale * delta) ** 2 / var + math.log(2 * math.pi * var))
        return total

    def replayed(self, sim: np.ndarray) -> list[float]:
        """Each lift test's result as replayed in ``sim`` (per 1,000 people)."""
        return [
            1000.0 * float(sim[row, a:b].sum() - sim[off, a:b].sum()) / self.population
            for row, off, a, b in self.lift_rows
        ]

    def moments(self, sim: np.ndarray, s: int) -> tuple[np.ndarray, np.ndarray]:
        """Series ``s`` as the analytics would see it in ``sim``: its mean and its model variance per week."""
        row, orders, minus = self.rows[s]
        m = sim[row, self.cols]
        if minus >= 0:
            m = m - sim[minus, self.cols]
        mu = self.seen[s] * m
        if self.revenue[s]:
            o = sim[orders, self.cols]
            unit = np.maximum(np.where(o > 0, m / np.maximum(o, 1e-12), 0.0) * (1.0 + self.cv2[s]), 1.0)
        else:
            unit = np.ones_like(mu)
        # the simulation's noise at least one agent's worth: a week in which no simulated agent acted is not
        # sure that none of the people did (its mean is 0, its noise that of a count of one agent)
        one = self.seen[s] * self.per_agent
        var = unit * (mu + one * (mu + one)) + (self.noise * mu) ** 2 + unit
        return mu, var

    def scales(self, sim: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each series' profiled noise scale and the lag-1 autocorrelation of its residuals in ``sim``."""
        phi, rho = [], []
        for s in range(len(self.rows)):
            mu, var = self.moments(sim, s)
            z = (self.y[s] - mu) / np.sqrt(var)
            phi.append(max(1.0, float(np.mean(z * z))))
            zc = z - z.mean()
            den = float(np.sum(zc * zc))
            rho.append(float(np.clip(np.sum(zc[1:] * zc[:-1]) / den, 0.0, 0.9)) if den > 0 and z.size > 2 else 0.0)
        return np.array(phi), np.array(rho)

    def fix(self, sim: np.ndarray) -> None:
        """Hold the noise scales and tempering of the point estimate ``sim`` from now on."""
        phi, rho = self.scales(sim)
        self.phi, self.temper = phi, (1.0 - rho) / (1.0 + rho)

    def __call__(self, sim: np.ndarray | None) -> float:
        if sim is None:
            return -math.inf
        total = self.lift_terms(sim) if self.lifts else 0.0
        for s in range(len(self.rows)):
            mu, var = self.moments(sim, s)
            r2 = (self.y[s] - mu) ** 2
            if self.phi is None:  # profiled: -T/2 log(phi) - T/2 at phi = mean(r^2 / v)
                phi = max(1.0, float(np.mean(r2 / var)))
                ll = -0.5 * float(np.sum(r2 / (phi * var) + np.log(2 * math.pi * phi * var)))
                total += self.weights[s] * ll
            else:
                assert self.temper is not None
                v = self.phi[s] * var
                ll = -0.5 * float(np.sum(r2 / v + np.log(2 * math.pi * v)))
                total += self.weights[s] * float(self.temper[s]) * ll
        return total


def _likelihood(cal: LoadedCalibration) -> _Likelihood:
    sc = cal.scenario
    share = np.array([seg.share for seg in sc.segments.values()], dtype=np.float64)
    cv2_seg = np.array([seg.order_value.cv**2 for seg in sc.segments.values()])
    seen_of = cal.spec.observation.seen
    rows, rev, cv2, seen = [], [], [], []
    for name in cal.series:
        count, _, segment = name.partition(":")
        rows.append(_row(cal, name))
        rev.append(count == "revenue")
        cv2.append(
            float(cv2_seg[list(sc.segments).index(segment)]) if segment else float(cv2_seg @ share / share.sum())
        )
        seen.append(float(seen_of.get("orders" if count == "repeat_orders" else count, 1.0)))
    data = _observed_series(cal.observed)
    y = np.stack([data[name] for name in cal.series])
    population = sc.scenario.population
    return _Likelihood(
        y=y,
        cols=cal.observed.weeks.astype(np.intp),
        rows=tuple(rows),
        revenue=tuple(rev),
        cv2=tuple(cv2),
        seen=tuple(seen),
        weights=cal.weights,
        noise=cal.spec.observation.noise,
        per_agent=population / cal.agents / cal.spec.calibration.reps,
        lift_rows=tuple(
            (
                CALIBRATION_COUNTS.index(x.metric),
                len(CALIBRATION_COUNTS) * (len(sc.segments) + 1) + k,
                x.start,
                min(x.counted[1], cal.weeks),
            )
            for k, x in enumerate(cal.lifts)
        ),
        lifts=cal.lifts,
        population=float(population),
        per_agent_people=population / cal.agents / cal.spec.calibration.reps,
    )


class _Evaluator:
    """Simulates batches of points of the unit cube through an executor, keeping every batch in ``folder``
    (when given) and reading it back on a replay (resume)."""

    def __init__(
        self, cal: LoadedCalibration, runner: Any, folder: Path | None, progress: Callable[[int], None] | None
    ):
        self.cal, self.runner, self.folder, self.progress = cal, runner, folder, progress
        self.likelihood = _likelihood(cal)
        self.batches = 0
        self.evaluations = 0
        self.reused = 0
        self.memo: dict[tuple[int, bytes], np.ndarray | None] = {}
        self.trace: list[tuple[str, np.ndarray, float]] = []
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)

    def _simulate(self, U: np.ndarray, seed: int) -> list[np.ndarray | None]:
        cal = self.cal
        s = cal.spec.calibration
        lifts = tuple((x.channel, x.start, x.end, x.metric) for x in cal.lifts)
        tasks = [
            CandidateTask(
                cal.base, cal.parameters, (cal.values_of(u),), s.plan, cal.agents, cal.weeks, seed, s.reps, lifts
            )
            for u in U
        ]
        return [r[0] for r in self.runner.map(simulate_candidates, tasks)]

    def __call__(self, U: np.ndarray, phase: str, seed: int | None = None) -> np.ndarray:
        """The log posterior (in the unit cube: the log-likelihood) of every row of ``U``, simulated on
        ``seed`` (default the calibration's)."""
        seed = self.cal.spec.calibration.seed if seed is None else seed
        U = np.ascontiguousarray(U, dtype=np.float64)
        inside = np.all((U > 0) & (U < 1), axis=1)
        sims: list[np.ndarray | None] = [None] * len(U)
        part = None if self.folder is None else self.folder / f"b{self.batches:06d}.npz"
        stored = _read_batch(part, U) if part is not None else None
        if stored is not None:
            sims = stored
            self.reused += len(U)
        else:
            todo = [i for i in range(len(U)) if inside[i]]
            for i, sim in zip(todo, self._simulate(U[todo], seed) if todo else [], strict=True):
                sims[i] = sim
            if part is not None:
                _write_batch(part, U, sims)
        self.batches += 1
        self.evaluations += len(U)
        out = np.array([self.likelihood(sim) if inside[i] else -math.inf for i, sim in enumerate(sims)])
        for i, u in enumerate(U):
            self.memo[(seed, u.tobytes())] = sims[i]
            self.trace.append((phase, u.copy(), float(out[i])))
        if self.progress is not None:
            self.progress(len(U))
        return out


def _write_batch(path: Path, U: np.ndarray, sims: Sequence[np.ndarray | None]) -> None:
    from cjmsim.output import atomic_file

    shape = next((s.shape for s in sims if s is not None), (0, 0))
    arr = np.full((len(sims), *shape), np.nan)
    valid = np.array([s is not None for s in sims])
    for i, s in enumerate(sims):
        if s is not None:
            arr[i] = s
    with atomic_file(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, U=U, sims=arr, valid=valid)


def _read_batch(path: Path, U: np.ndarray) -> list[np.ndarray | None] | None:
    """A stored batch's simulations when it holds exactly the points ``U``, else None (run it again)."""
    if not path.is_file():
        return None
    try:
        with np.load(path) as z:
            if z["U"].shape != U.shape or not np.array_equal(z["U"], U):
                return None
            sims, valid = z["sims"], z["valid"]
    except (OSError, ValueError, KeyError):
        return None
    return [sims[i] if valid[i] else None for i in range(len(U))]


# --------------------------------------------------------------------------------------------
# the fit


@dataclass
class Calibrated:
    """What a calibration found: the point estimate, the posterior draws and the diagnostics."""

    cal: LoadedCalibration
    estimate: dict[str, float]  # the point estimate (CMA-ES's best candidate)
    estimate_log_likelihood: float
    draws: Draws
    parameters: pd.DataFrame  # per parameter: prior and posterior summaries, width ratio
    correlations: pd.DataFrame
    fit: pd.DataFrame  # per series and week: observed, simulated at the estimate, predictive band
    trace: pd.DataFrame  # every candidate: phase, parameter values, log-likelihood
    convergence: dict[str, Any]
    evaluations: int
    reused: int
    warnings: list[str] = field(default_factory=list)
    #: per lift test: what it observed (lift, se) and what the fit replays (at the estimate, and the
    #: 5%, 50%, 95% quantiles over the posterior draws), per 1,000 people; empty without lift tests
    lifts: pd.DataFrame = field(default_factory=pd.DataFrame)


def calibrate(
    calibration: str | Path | LoadedCalibration,
    *,
    workers: int = 1,
    scheduler: str | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Calibrated:
    """Fit a calibration: the point estimate by CMA-ES, then the posterior by emcee (module docstring).

    Args:
        calibration: a calibration file or a loaded one.
        workers: local processes (1: in this process). Ignored with ``scheduler``.
        scheduler: a Dask scheduler address; candidates go to that cluster.
        out: folder for the batches of simulated candidates (``evaluations/``), kept as each finishes;
            None keeps them in memory only.
        resume: continue a calibration in ``out``: its stored batches are read, not simulated again.
        progress: called with (candidates done, candidates at most) as batches finish.

    Raises:
        ScenarioError: a bad calibration, or ``out`` holds another calibration's batches.
    """
    import cma
    import emcee

    from cjmsim.analyses.tasks import executor_for

    cal = calibration if isinstance(calibration, LoadedCalibration) else load_calibration(calibration)
    s = cal.spec.calibration
    d = cal.dim
    walkers = s.walkers or max(2 * d + 2, 8)
    if walkers < 2 * d:
        raise ArgumentError("walkers", f" {walkers}: the sampler needs at least 2 x {d} parameters = {2 * d} walkers")
    total = s.evaluations + s.chains * walkers * (s.steps + 1) + NOISE_SEEDS * (NOISE_POINTS + 1)
    folder = None
    if out is not None:
        folder = Path(out) / EVALUATIONS
        _prepare(Path(out), folder, cal, resume)
    done = [0]

    def tick(k: int) -> None:
        done[0] += k
        if progress is not None:
            progress(done[0], total)

    with executor_for(workers, scheduler) as runner:
        ev = _Evaluator(cal, runner, folder, tick)
        # ---- the point estimate
        es = cma.CMAEvolutionStrategy(
            d * [0.5],
            0.25,
            {
                "bounds": [d * [1e-6], d * [1 - 1e-6]],
                "seed": s.seed + 1,  # cma takes seed 0 as "draw one"
                "maxfevals": s.evaluations,
                "verbose": -9,
                "verb_disp": 0,
                "verb_log": 0,
            },
        )
        while not es.stop():
            X = np.array(es.ask())
            if ev.evaluations + len(X) > s.evaluations:
                break
            lp = ev(X, "search")
            es.tell(list(X), [_loss(v) for v in lp])
        best_u = _best(ev)
        best_sim = ev.memo[(s.seed, best_u.tobytes())]
        assert best_sim is not None  # the priors' medians are valid, so the search found a valid candidate
        ev.likelihood.fix(best_sim)  # the posterior's noise scales and tempering: the estimate's
        best_lp = float(ev.likelihood(best_sim))
        tick(max(0, s.evaluations - ev.evaluations))  # the search may stop early
        # ---- the posterior: one ensemble per chain, chain c on seed + c, all from a ball around the estimate
        root = _ball(es)
        samplers = []
        for c in range(s.chains):
            seed_c = s.seed + c
            rng = np.random.default_rng(seed_c)
            p0 = best_u + rng.normal(size=(walkers, d)) @ root.T
            p0 = np.where((p0 > 1e-4) & (p0 < 1 - 1e-4), p0, best_u + 0.1 * (p0 - best_u))  # outside: pulled in
            p0 = np.clip(p0, 1e-4, 1 - 1e-4)
            sampler = emcee.EnsembleSampler(
                walkers, d, lambda X, seed_c=seed_c: ev(X, "posterior", seed_c), vectorize=True
            )
            sampler.random_state = np.random.RandomState(seed_c).get_state()
            sampler.run_mcmc(p0, s.steps, progress=False)
            samplers.append(sampler)
        # ---- the likelihood's own noise: the estimate and a few kept draws, on seeds no chain used
        kept = np.concatenate([x.get_chain(discard=s.steps // 2).reshape(-1, d) for x in samplers])
        check = np.vstack([best_u, kept[np.linspace(0, len(kept) - 1, NOISE_POINTS).round().astype(np.intp)]])
        noise_lp = np.array([ev(check, "noise check", s.seed + s.chains + m) for m in range(NOISE_SEEDS)])
    burn = s.steps // 2
    chains = [x.get_chain(discard=burn) for x in samplers]  # each (steps - burn, walkers, d)
    flat = np.concatenate([x.reshape(-1, d) for x in chains])
    flat_lp = np.concatenate([x.get_log_prob(discard=burn).reshape(-1) for x in samplers])
    flat_seed = np.concatenate([np.full(x.shape[0] * x.shape[1], s.seed + c) for c, x in enumerate(chains)])
    pick = np.unique(np.linspace(0, len(flat) - 1, min(s.draws, len(flat))).round().astype(np.intp))
    U, LP, seeds = flat[pick], flat_lp[pick], flat_seed[pick]
    values = np.column_stack([pm.values(U[:, j]) for j, pm in enumerate(cal.priors)])
    table = pd.DataFrame({"draw": np.arange(len(U)), **{p.name: values[:, j] for j, p in enumerate(cal.parameters)}})
    table["log_likelihood"] = LP
    draws = Draws(
        cal.parameters,
        table,
        {"calibration": str(cal.path), "scenario": str(cal.scenario_path), "plan": s.plan, "seed": s.seed},
    )
    estimate = cal.values_of(best_u)
    convergence = _convergence(samplers, chains, walkers, burn)
    convergence["likelihood_noise"] = likelihood_noise(noise_lp)
    convergence["noise_points"], convergence["noise_seeds"] = NOISE_POINTS, NOISE_SEEDS
    assert ev.likelihood.phi is not None and ev.likelihood.temper is not None
    convergence["noise_scale"] = dict(zip(cal.series, ev.likelihood.phi.round(4).tolist(), strict=True))
    convergence["temper"] = dict(zip(cal.series, ev.likelihood.temper.round(4).tolist(), strict=True))
    warnings = _warnings(convergence, s.steps - burn)
    sims = [ev.memo[(int(sd), u.tobytes())] for sd, u in zip(seeds, U, strict=True)]
    return Calibrated(
        cal=cal,
        estimate=estimate,
        estimate_log_likelihood=best_lp,
        draws=draws,
        parameters=_parameter_table(cal, estimate, values),
        correlations=pd.DataFrame(
            np.corrcoef(values, rowvar=False).reshape(d, d) if d > 1 else np.ones((1, 1)),
            index=[p.name for p in cal.parameters],
            columns=[p.name for p in cal.parameters],
        ),
        fit=_fit_table(cal, ev.likelihood, ev.memo[(s.seed, best_u.tobytes())], sims, s.seed),
        trace=_trace_table(cal, ev.trace),
        convergence=convergence,
        evaluations=ev.evaluations,
        reused=ev.reused,
        warnings=warnings,
        lifts=_lift_table(cal, ev.likelihood, ev.memo[(s.seed, best_u.tobytes())], sims),
    )


def _warnings(convergence: dict[str, Any], kept: int) -> list[str]:
    """What a fit's convergence summary says a strategist must not overlook, as sentences."""
    warnings = []
    if not convergence["converged"]:
        warnings.append(
            f"the sampler may not have converged: {kept} steps kept per walker, "
            f"{convergence['tau_max']:.0f} steps of autocorrelation (emcee's rule: keep at least 50 times that); "
            "raise calibration.steps"
        )
    if convergence["rhat_max"] > 1.1:
        warnings.append(
            f"the chains on different seeds disagree (R-hat up to {convergence['rhat_max']:.2f}): the simulation's "
            "own noise moves the posterior; the pooled draws carry that spread, and more agents per candidate "
            "would narrow it"
        )
    if convergence["likelihood_noise"] > NOISE_LIMIT:
        warnings.append(
            f"the simulation's own noise moves the log-likelihood of plausible values by about "
            f"{convergence['likelihood_noise']:.1f} units from seed to seed (the spread of their difference from "
            f"the estimate's over {NOISE_SEEDS} seeds no chain used), more than the {NOISE_LIMIT} units that separate "
            "a 90% interval's end from its middle: the intervals can be narrower than the data support and off "
            "centre; more agents per candidate (calibration.agents) or replications (calibration.reps) lower that "
            "noise"
        )
    return warnings


def _lift_table(
    cal: LoadedCalibration, lik: _Likelihood, best: np.ndarray | None, sims: list[np.ndarray | None]
) -> pd.DataFrame:
    """Each lift test observed against its replay at the estimate and over the posterior draws."""
    if not cal.lifts:
        return pd.DataFrame()
    draws = np.array([lik.replayed(x) for x in sims if x is not None])  # (draws, tests)
    at = lik.replayed(best) if best is not None else [math.nan] * len(cal.lifts)
    rows = []
    for k, x in enumerate(cal.lifts):
        q = np.quantile(draws[:, k], [0.05, 0.5, 0.95]) if len(draws) else np.full(3, math.nan)
        rows.append(
            {
                "name": x.name, "channel": x.channel, "start": x.start, "end": x.end, "window": x.window,
                "metric": x.metric, "observed": x.lift, "se": x.se, "estimate": at[k],
                "replay_p05": q[0], "replay_p50": q[1], "replay_p95": q[2],
            }
        )  # fmt: skip
    return pd.DataFrame(rows)


def _loss(log_likelihood: float) -> float:
    """CMA-ES minimizes: the negative log-likelihood, a large finite number for an impossible candidate."""
    return -log_likelihood if math.isfinite(log_likelihood) else 1e300


def _ball(es: Any) -> np.ndarray:
    """The walkers' starting ball (a matrix ``R``: a start is the estimate + ``R @ z``, ``z`` standard normal):
    the shape of CMA-ES's last search distribution (its step size squared times its covariance matrix, in the
    unit cube), each principal axis's standard deviation held between :data:`BALL_SD`. The lower bound makes
    the start wider than a narrow posterior, so that a chain too short to converge errs wide, where R-hat
    shows it, rather than narrow around the estimate; the axes follow the ridges the search found."""
    scale = np.asarray(es.sigma_vec.scaling, dtype=np.float64) * np.ones(es.N)
    cov = es.sigma**2 * np.asarray(es.sm.C, dtype=np.float64) * np.outer(scale, scale)
    w, v = np.linalg.eigh(cov)
    return np.asarray(v * np.clip(np.sqrt(np.maximum(w, 0.0)), *BALL_SD), dtype=np.float64)


def _best(ev: _Evaluator) -> np.ndarray:
    """The search's best candidate (the first of equals)."""
    i = max(range(len(ev.trace)), key=lambda k: (ev.trace[k][2], -k))
    return ev.trace[i][1]


def _convergence(samplers: list[Any], chains: list[np.ndarray], walkers: int, burn: int) -> dict[str, Any]:
    """The sampler's figures: acceptance, each parameter's autocorrelation time (the longest over the
    chains), the effective draws, emcee's rule of thumb, and the between-chain R-hat (Gelman-Rubin)."""
    import emcee

    kept = chains[0].shape[0]
    # a parameter that never moved has tau NaN; a short chain is said once, in the calibration's own words
    emcee_log = logging.getLogger("emcee")
    level = emcee_log.level
    emcee_log.setLevel(logging.ERROR)
    try:
        with np.errstate(invalid="ignore", divide="ignore"):
            taus = np.array([emcee.autocorr.integrated_time(x, quiet=True) for x in chains], dtype=np.float64)
    finally:
        emcee_log.setLevel(level)
    # at least one step: a chain whose walkers barely moved can give an estimate of 0 (and 1 / 0 draws)
    taus = np.maximum(np.where(np.isfinite(taus), taus, float(kept)), 1.0)
    tau = taus.max(axis=0)
    rhat = _rhat([x.reshape(-1, x.shape[-1]) for x in chains]) if len(chains) > 1 else np.ones(tau.size)
    return {
        "chains": len(chains),
        "walkers": walkers,
        "steps_kept": int(kept),
        "burn_in": int(burn),
        "acceptance_fraction": float(np.mean([np.mean(x.acceptance_fraction) for x in samplers])),
        "tau": [float(x) for x in tau],
        "tau_max": float(tau.max()),
        "effective_samples": float(sum(walkers * kept / t.max() for t in taus)),
        "converged": bool(kept >= 50 * tau.max()),
        "rhat": [float(x) for x in rhat],
        "rhat_max": float(rhat.max()),
    }


def likelihood_noise(lp: np.ndarray) -> float:
    """How much the simulation's noise moves the log-likelihood between plausible parameter values.

    ``lp`` is (seeds, points): the log-likelihood of the point estimate (column 0) and of posterior draws
    (the other columns), each simulated on every seed. A chain holds one seed, so it treats that seed's
    log-likelihood as exact; but candidates far apart share fewer random numbers (an agent whose uniform
    falls between their two probabilities moves in one and not the other, and its path differs from then
    on), so their difference carries noise. Returns the median over the draws of the standard deviation
    over seeds of ``lp[:, j] - lp[:, 0]``; 0 when nothing varies, NaN when no draw has two finite values.
    """
    with np.errstate(invalid="ignore"):  # -inf - -inf: an invalid candidate, left out below
        diff = lp[:, 1:] - lp[:, :1]
    sds = [float(np.std(col[np.isfinite(col)], ddof=1)) for col in diff.T if np.isfinite(col).sum() >= 2]
    return float(np.median(sds)) if sds else math.nan


def _rhat(chains: list[np.ndarray]) -> np.ndarray:
    """Gelman-Rubin's potential scale reduction per parameter over chains of equal length (n, d): about 1
    when the chains agree; above about 1.1, their seeds' noise (or too few steps) moves the posterior."""
    x = np.stack(chains)  # (m, n, d)
    n = x.shape[1]
    w = x.var(axis=1, ddof=1).mean(axis=0)
    b = n * x.mean(axis=1).var(axis=0, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.sqrt(((n - 1) / n * w + b / n) / w)
    return np.where(np.isfinite(r), r, 1.0)


def _parameter_table(cal: LoadedCalibration, estimate: dict[str, float], values: np.ndarray) -> pd.DataFrame:
    """Per parameter: prior and posterior (mean, 5%, 50%, 95%), the estimate, and the width ratio."""
    rows = []
    for j, (p, pm) in enumerate(zip(cal.parameters, cal.priors, strict=True)):
        lo, mid, hi = pm.values(np.array([0.05, 0.5, 0.95]))
        v = values[:, j]
        q05, q50, q95 = np.quantile(v, [0.05, 0.5, 0.95])
        rows.append(
            {
                "parameter": p.name,
                "path": p.path,
                "relative": p.relative,
                "prior": pm.describe(),
                "prior_p05": lo,
                "prior_p50": mid,
                "prior_p95": hi,
                "estimate": estimate[p.name],
                "posterior_mean": float(v.mean()),
                "posterior_p05": q05,
                "posterior_p50": q50,
                "posterior_p95": q95,
                # what the data pin down: the posterior's 90% interval as a share of the prior's
                "width_ratio": (q95 - q05) / (hi - lo) if hi > lo else math.nan,
            }
        )
    return pd.DataFrame(rows)


def _fit_table(
    cal: LoadedCalibration, lik: _Likelihood, best: np.ndarray | None, sims: list[np.ndarray | None], seed: int
) -> pd.DataFrame:
    """Per fitted series and observed week: observed, what the analytics would see at the estimate, and the
    posterior predictive band (5%, 50%, 95%: each draw's expected count plus the noise the fit found)."""
    rng = np.random.default_rng([seed, 1])
    frames = []
    weeks = cal.observed.weeks
    phi = lik.phi if lik.phi is not None else np.ones(len(cal.series))
    for s, name in enumerate(cal.series):
        draws = []
        for sim in sims:
            if sim is None:
                continue
            mu, var = lik.moments(sim, s)
            draws.append(mu + rng.normal(size=mu.shape) * np.sqrt(phi[s] * var))
        band = np.quantile(np.stack(draws), [0.05, 0.5, 0.95], axis=0) if draws else np.full((3, len(weeks)), np.nan)
        at = lik.moments(best, s)[0] if best is not None else np.full(len(weeks), np.nan)
        frames.append(
            pd.DataFrame(
                {
                    "series": name,
                    "week": weeks,
                    "observed": lik.y[s],
                    "estimate": at,
                    "band_p05": band[0],
                    "band_p50": band[1],
                    "band_p95": band[2],
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _trace_table(cal: LoadedCalibration, trace: list[tuple[str, np.ndarray, float]]) -> pd.DataFrame:
    U = np.array([u for _, u, _ in trace])
    data: dict[str, Any] = {"evaluation": np.arange(len(trace)), "phase": [p for p, _, _ in trace]}
    for j, (p, pm) in enumerate(zip(cal.parameters, cal.priors, strict=True)):
        data[p.name] = pm.values(np.clip(U[:, j], 1e-12, 1 - 1e-12))
    data["log_likelihood"] = [lp for _, _, lp in trace]
    return pd.DataFrame(data)


def _prepare(out: Path, folder: Path, cal: LoadedCalibration, resume: bool) -> None:
    """Check ``out`` may hold this calibration's batches (its own, on resume) and record what they are of."""
    from cjmsim.output import check_resumable, metadata, write_json

    check_resumable(
        out,
        folder.exists() and any(folder.glob("*.npz")),
        cal.digest,
        resume,
        "a calibration's simulated candidates",
        "another calibration (or another version of its files or of cjmsim)",
    )
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(".*.tmp"):  # a batch a killed calibration was writing
        if stale.is_file():
            stale.unlink()
    s = cal.spec.calibration
    info = metadata(
        "calibrate",
        cal.scenario,
        scenario_path=cal.scenario_path,
        seed=s.seed,
        reps=s.reps,
        elapsed_s=None,
        plans=[s.plan],
        settings={"calibration": str(cal.path), "digest": cal.digest, "agents": cal.agents, "weeks": cal.weeks},
    )
    write_json(out / "metadata.json", info)
