"""The HTML report of a calibration, and the writer of its charts.

:func:`write` saves every chart of :mod:`cjmsim.presentation.charts.calibrate` (PNG and SVG) and a
self-contained ``report.html`` rendered from ``templates/calibrate.html.j2`` (which extends the
reports' one base template) with autoescaping: images as data URIs, no script and nothing fetched
from the network. The page opens with the headline of :mod:`cjmsim.presentation.calibration_text`
(what the data narrow and cannot, the strongest correlation, the sampler's convergence, the share of
observed weeks inside the predictive band), then the parameters' prior and posterior, the fitted
series with their noise scales and tempering, the sampler's convergence figures, every chart and how
it was all computed. Parameter values are written with 3 significant digits
(:func:`~cjmsim.presentation.format.table_value`), shares as percentages.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cjmsim import __version__
from cjmsim.presentation import format as fmt
from cjmsim.presentation.calibration_text import LOOSE, NARROW, band_shares, headline, series_label
from cjmsim.presentation.reports.html import ReportImage, chart_images, figures, render_page, write_html

if TYPE_CHECKING:
    from cjmsim.analyses.calibration import Calibrated

__all__ = ["render", "write"]


def _value(x: object) -> str:
    """A parameter's value: 3 significant digits, a dash for none."""
    return fmt.table_value(x, "n")


def _interval(low: object, high: object) -> str:
    return f"[{_value(low)}, {_value(high)}]"


def _observed_weeks(result: Calibrated) -> str:
    weeks = result.cal.observed.weeks
    span = fmt.active_weeks([(int(w), int(w) + 1) for w in weeks], result.cal.weeks)
    return f"{len(weeks)} ({span})"


def _facts(result: Calibrated, generated: date | None) -> list[tuple[str, str]]:
    cal = result.cal
    s = cal.spec.calibration
    c = result.convergence
    plan = cal.scenario.plans[s.plan]
    return [
        ("Scenario", cal.scenario.scenario.name),
        ("Plan in force", plan.name or s.plan),
        ("Observed weeks", _observed_weeks(result)),
        ("Series fitted", str(len(cal.series))),
        ("Free parameters", str(cal.dim)),
        ("Agents per candidate", f"{cal.agents:,}" + (f" \u00d7 {s.reps} replications" if s.reps > 1 else "")),
        ("Candidates", f"{result.evaluations:,}" + (f" ({result.reused:,} read back)" if result.reused else "")),
        (
            "Sampler",
            f"{c.get('chains', 1)} chains \u00d7 {c['walkers']} walkers \u00d7 {c['steps_kept'] + c['burn_in']} steps",
        ),
        ("Posterior draws", f"{len(result.draws):,}"),
        ("Seed", str(s.seed)),
        ("Date", (generated or date.today()).isoformat()),
        ("cjmsim", __version__),
    ]


def _reading(ratio: float) -> str:
    """What a width ratio says, in the words of the headline's thresholds."""
    if not fmt.finite(ratio):
        return ""
    if ratio < NARROW:
        return "narrowed to under half"
    return "barely narrowed" if ratio > LOOSE else "partly narrowed"


def _parameters(result: Calibrated) -> list[dict[str, Any]]:
    """One row per parameter: its prior, the prior's and the posterior's 90% intervals and medians, the
    estimate and the width of the posterior's interval as a share of the prior's."""
    rows = []
    for r in result.parameters.itertuples():
        rows.append(
            {
                "name": str(r.parameter),
                "path": str(r.path),
                "relative": bool(r.relative),
                "prior": str(r.prior),
                "prior_90": _interval(r.prior_p05, r.prior_p95),
                "prior_median": _value(r.prior_p50),
                "estimate": _value(r.estimate),
                "posterior_90": _interval(r.posterior_p05, r.posterior_p95),
                "posterior_median": _value(r.posterior_p50),
                "width": fmt.percent(r.width_ratio) if fmt.finite(r.width_ratio) else fmt.DASH,
                "reading": _reading(r.width_ratio),
            }
        )
    return rows


def _series(result: Calibrated) -> list[dict[str, str]]:
    """One row per fitted series: its label and column, weight, observed and estimated totals over the
    observed weeks, the share of weeks inside the band, the noise scale and the tempering."""
    c = result.convergence
    shares = band_shares(result.fit)
    weights = dict(zip(result.cal.series, result.cal.weights, strict=True))
    cur = result.cal.scenario.scenario.currency
    rows = []
    for name, part in result.fit.groupby("series", sort=False):
        name = str(name)
        kind = "m" if name.startswith("revenue") else "n"
        unit = f" {cur}" if kind == "m" else ""
        rows.append(
            {
                "label": series_label(result, name),
                "column": name,
                "weight": fmt.setting(weights.get(name, 1.0)),
                "observed": fmt.table_value(float(part.observed.sum()), kind) + unit,
                "estimate": fmt.table_value(float(part.estimate.sum()), kind) + unit,
                "inside": fmt.percent(shares[name], 0),
                "noise": fmt.rounded(c.get("noise_scale", {}).get(name, float("nan")), "r"),
                "temper": fmt.rounded(c.get("temper", {}).get(name, float("nan")), "r"),
            }
        )
    return rows


def _convergence(result: Calibrated) -> list[tuple[str, str]]:
    """The sampler's convergence figures, as label and value."""
    c = result.convergence
    kept, tau = c["steps_kept"], c["tau_max"]
    rows = [
        ("Chains (each on its own seed)", str(c.get("chains", 1))),
        ("Walkers per chain", str(c["walkers"])),
        ("Steps per walker", f"{kept + c['burn_in']} ({c['burn_in']} burn-in, {kept} kept)"),
        ("Acceptance fraction", fmt.rounded(c["acceptance_fraction"], "r")),
    ]
    for name, t in zip(result.parameters.parameter, c.get("tau", []), strict=False):
        rows.append((f"Autocorrelation time, \u201c{name}\u201d", f"{fmt.rounded(t, 'w')} steps"))
    rows += [
        ("Kept steps \u00f7 longest autocorrelation time", fmt.multiple(kept / tau) if tau > 0 else fmt.DASH),
        ("Effective draws, about", fmt.count(c["effective_samples"])),
        (
            "emcee's rule of thumb (kept steps \u2265 50 \u00d7 autocorrelation time)",
            "met" if c["converged"] else "not met",
        ),
        ("R-hat between the chains, largest (about 1: they agree)", fmt.rounded(c.get("rhat_max", 1.0), "r")),
        (
            "Log-likelihood noise between plausible values, over seeds (at most 1.35 to trust the intervals)",
            fmt.rounded(c["likelihood_noise"], "r") if fmt.finite(c.get("likelihood_noise")) else fmt.DASH,
        ),
    ]
    return rows


def _method(result: Calibrated) -> list[str]:
    """'How this was computed': docs/calibration.md's method in seven sentences, with this run's numbers."""
    cal = result.cal
    s = cal.spec.calibration
    c = result.convergence
    return [
        f"Every candidate (one value per free parameter) was simulated on the plan in force over the observed weeks "
        f"with {cal.agents:,} agents and seed {s.seed}, so every candidate sees the same customers and random "
        "numbers and two candidates differ by their parameters, not by noise.",
        "Each observed weekly value is taken as normal around what the company's analytics would see in the "
        "simulation, with a variance that adds the counting noise of the real events, the simulation's own noise "
        "(at least one simulated agent's worth), "
        "the stated tracking noise and one unit, times a noise scale per series estimated from its residuals.",
        "Each prior is mapped to the unit interval by its quantile function, and CMA-ES searched that cube from the "
        f"prior medians for the point estimate, the best of {int((result.trace.phase == 'search').sum()):,} "
        "candidates; it is the value calibrated.toml sets.",
        f"emcee's ensemble sampler then ran {c.get('chains', 1)} chains of {c['walkers']} walkers for "
        f"{c['steps_kept'] + c['burn_in']} steps from a ball around the estimate shaped by the search, each chain "
        "on its own seed "
        "(its draws pooled, so the posterior carries the simulation's own noise), with the noise scales held at "
        "the estimate's and each series tempered by "
        "(1 \u2212 \u03c1) / (1 + \u03c1), \u03c1 the lag-1 autocorrelation of its residuals; the first half of "
        f"the steps is burn-in and the rest was thinned to {len(result.draws):,} draws.",
        f"The estimate and {c.get('noise_points', 0)} of the kept draws were then simulated again on "
        f"{c.get('noise_seeds', 0)} seeds no "
        "chain used: the spread of their log-likelihoods' difference from seed to seed is the noise the "
        "simulation leaves in the comparison of plausible values, which a chain on one seed takes as exact.",
        "The width against the prior is the posterior's 90% interval (5th to 95th percentile of the draws) as a share "
        "of the prior's, and the predictive band is the 5% to 95% range of each draw's expected series plus the "
        "fitted noise, so about 90% of the observed weeks fall inside it when the model and its noise are right.",
        "This report does not know the true values: a narrow posterior says that under this scenario's model the "
        "data leave few values plausible, not that they are the right ones; docs/calibration.md gives every "
        "formula.",
    ]


def _lifts(result: Calibrated) -> list[dict[str, str]]:
    """The lift tests: observed against replayed (per 1,000 people), formatted."""
    rows = []
    for _, r in result.lifts.iterrows():
        rows.append(
            {
                "name": str(r["name"]),
                "what": f"{r['channel']} held out in weeks {int(r['start'])}-{int(r['end']) - 1}, "
                f"{str(r['metric']).replace('_', ' ')} counted {int(r['window'])} weeks more",
                "observed": f"{r['observed']:.3g} \u00b1 {r['se']:.2g}",
                "estimate": f"{r['estimate']:.3g}",
                "posterior": f"{r['replay_p05']:.3g} to {r['replay_p95']:.3g}",
            }
        )
    return rows


def render(result: Calibrated, images: Sequence[ReportImage], *, generated: date | None = None) -> str:
    """Render the calibration report as one self-contained HTML page (inline CSS, data-URI images, no script).

    Args:
        result: what :func:`cjmsim.analyses.calibration.calibrate` returned.
        images: the charts, in the order they should appear.
        generated: the report's date; default today.
    """
    cal = result.cal
    said = headline(result)
    context = {
        "title": cal.spec.calibration.name,
        "description": "",
        "scenario": cal.scenario.scenario.name,
        "plan": cal.scenario.plans[cal.spec.calibration.plan].name or cal.spec.calibration.plan,
        "observed": cal.observed.path.name,
        "facts": _facts(result, generated),
        "headline": said,
        "converged": bool(result.convergence["converged"]),
        "warnings": [w for w in result.warnings if fmt.sentence(w) not in said],  # the rest are in the headline
        "parameters": _parameters(result),
        "series": _series(result),
        "convergence": _convergence(result),
        "lifts": _lifts(result),
        "currency": cal.scenario.scenario.currency,
        "narrow": fmt.percent(NARROW, 0),
        "loose": fmt.percent(LOOSE, 0),
        "images": figures(images),
        "method": _method(result),
        "version": __version__,
    }
    return render_page("calibrate.html.j2", context)


def write(result: Calibrated, folder: str | os.PathLike[str]) -> Path:
    """Save every calibration chart (PNG and SVG) in folder/charts, then folder/report.html; returns the page's path.

    The page embeds the PNGs and is written atomically by :func:`cjmsim.presentation.reports.html.write_html`.
    """
    from cjmsim.presentation.charts.calibrate import all_charts  # matplotlib only when charts are drawn

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    images = chart_images(all_charts(result), out / "charts")
    return write_html(render(result, images), out / "report.html")
