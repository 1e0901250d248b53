"""The optimizer's sentences: its verdict, the search's finding and the agent counts, in one place.

Every title, caption and headline of an optimization (the report, its charts and the terminal)
takes its claims from here, so they cannot disagree:

- :func:`headline`: "no better allocation found" when the search found none (the optimized plan is
  then the base plan); otherwise the objective's paired difference against the base plan and every
  compared plan on the fresh replications, claimed as a gain or a loss only where its 95% CI
  excludes zero, else "not distinguishable at N replications";
- :func:`search_finding`: what the search itself found, on its own replications;
- :func:`agents_note`: how many agents the search and the fresh re-evaluation used, against the
  scenario's own (``cjmsim run``'s).

Pure text from an :class:`~cjmsim.analyses.optimize.Optimization`: no matplotlib, no jinja2, so the
terminal imports it cheaply. Plain text: matplotlib needs any '$' escaped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cjmsim.presentation import format as fmt

if TYPE_CHECKING:
    from cjmsim.analyses.optimize import Optimization

__all__ = ["OBJECTIVE_METRIC", "Claim", "agents_note", "claims", "headline", "search_finding", "signed_money"]

#: Objective -> (trace and comparison column in natural units, its name, higher is better, money?).
OBJECTIVE_METRIC: dict[str, tuple[str, str, bool, bool]] = {
    "min-cpo": ("cpo", "CPO", False, True),
    "max-orders": ("orders", "orders", True, False),
    "max-margin": ("net_margin", "gross margin less spend", True, True),
    "max-inc-margin": ("inc_net_margin", "incremental margin less spend", True, True),
    "min-icpo": ("icpo", "iCPO", False, True),
}


@dataclass(frozen=True)
class Claim:
    """The optimized plan against one other plan on the objective's metric, paired on the fresh replications.

    ``value``, ``low`` and ``high`` are the paired difference (money for sums) or the paired relative
    difference (for orders and the cost ratios) with its 95% CI; ``state`` is ``better`` or
    ``worse`` when the CI excludes zero, ``tie`` when it spans zero, ``unknown`` without a CI."""

    other: str
    name: str
    value: float
    low: float
    high: float
    relative: bool
    state: str
    reps: int


def _plan_name(opt: Optimization, plan: str) -> str:
    plans = opt.fresh.scenario.plans
    return (plans[plan].name or plan) if plan in plans else plan


def signed_money(x: float, currency: str = "") -> str:
    """A signed amount, compact: '+12.3M', '\u22128,100', with the currency when given."""
    if not fmt.finite(x):
        return "n/a"
    text = fmt.compact(abs(x)) if abs(x) >= 1e4 else fmt.count(abs(x))
    sign = "+" if x > 0 else fmt.MINUS if x < 0 else ""
    return f"{sign}{text}" + (f" {currency}" if currency else "")


def claims(opt: Optimization) -> list[Claim]:
    """The optimized plan against the base plan and every compared plan, on the objective's metric."""
    metric, name, higher, _ = OBJECTIVE_METRIC[opt.objective]
    relative = metric in ("orders", "cpo", "icpo")
    c = opt.comparison
    out = []
    for other in dict.fromkeys(c.versus) if len(c) else []:
        hit = c[(c.versus == other) & (c.metric == metric)]
        if not len(hit):
            continue
        r = hit.iloc[0]
        keys = ("relative", "relative_ci_low", "relative_ci_high") if relative else ("difference", "ci_low", "ci_high")
        value, low, high = (float(r[k]) for k in keys)
        if not (fmt.finite(low) and fmt.finite(high)):
            state = "unknown"
        elif low > 0 or high < 0:
            state = "better" if (low > 0) == higher else "worse"
        else:
            state = "tie"
        out.append(Claim(str(other), name, value, low, high, relative, state, opt.fresh.reps))
    return out


def _needed(c: Claim) -> str:
    """How many replications would likely separate two plans, from the observed spread (``tie`` only)."""
    half = (c.high - c.low) / 2
    if not (fmt.finite(half) and fmt.finite(c.value)) or c.value == 0 or half <= 0:
        return ""
    n = math.ceil(c.reps * (half / abs(c.value)) ** 2)  # the CI's half-width shrinks as 1 / sqrt(reps)
    return f"; about {n:,} would tell them apart if the difference holds" if n > c.reps else ""


def _interval(c: Claim, currency: str) -> str:
    if c.relative:
        return f"[{fmt.signed_percent(c.low)}, {fmt.signed_percent(c.high)}]"
    return f"[{signed_money(c.low)}, {signed_money(c.high)}]"


def _said(opt: Optimization, c: Claim, first: bool = True) -> str:
    """One claim in words: a gain or a loss only where the CI excludes zero (the metric named in the first)."""
    cur = opt.scenario.scenario.currency
    other = f"\u201c{_plan_name(opt, c.other)}\u201d"
    ci = _interval(c, cur)
    if c.state in ("tie", "unknown"):
        diff = fmt.signed_percent(c.value) if c.relative else signed_money(c.value, cur)
        why = f"at {c.reps} replications" if c.state == "tie" else "without a confidence interval"
        return f"is not distinguishable from {other} on {c.name} {why} ({diff} {ci}{_needed(c)})"
    if c.relative:
        size = fmt.percent(abs(c.value))
        if c.name == "orders":
            more = "more" if c.value > 0 else "fewer"
            return f"{'wins' if c.value > 0 else 'gets'} {size} {more} orders {ci} than {other}"
        verb = "cuts" if c.value < 0 else "raises"
        return f"{verb} {c.name} by {size} {ci} against {other}"
    amount = signed_money(c.value, cur)
    what = f" of {c.name}" if first else ""
    return f"{'adds' if c.value > 0 else 'loses'} {amount}{what} {ci} against {other}"


def headline(opt: Optimization) -> str:
    """The verdict in one sentence, for the report's finding, the comparison chart and the terminal.

    'No better allocation found ...' when the search found none; else the objective's paired
    difference against each other plan on the fresh replications, a gain claimed only where its
    95% CI excludes zero."""
    metric, name, _, _ = OBJECTIVE_METRIC[opt.objective]
    s = opt.settings
    used, allowed = s.get("evaluations_used", len(opt.trace)), s.get("evaluations_allowed", s.get("evaluations"))
    base = f"\u201c{_plan_name(opt, opt.base_plan)}\u201d"
    if not opt.found:
        return (
            f"No better allocation found: in {used} of {allowed} evaluations no candidate beat {base}'s {name} "
            "on the search replications, so the optimized plan is the base plan"
        )
    said = [_said(opt, c, k == 0) for k, c in enumerate(claims(opt))]
    if not said:
        return f"The optimized plan could not be compared with {base} on {name}"
    return (
        "On fresh replications the optimized plan "
        + "; it ".join(said)
        + f" (paired, {opt.fresh.reps} replications, 95% CI)"
    )


def search_finding(opt: Optimization) -> str:
    """What the search found on its own replications (the convergence chart's title)."""
    metric, name, higher, money = OBJECTIVE_METRIC[opt.objective]
    cur = opt.scenario.scenario.currency
    t = opt.trace
    s = opt.settings
    used = s.get("evaluations_used", len(t))
    say = (lambda x: fmt.money(x, cur)) if money else fmt.count
    if not len(t) or metric not in t:
        return f"The search used {used} evaluations"
    start = float(t[metric].iloc[0])
    if not opt.found:
        return f"No better allocation found in {used} evaluations: none beat the base plan's {name} ({say(start)})"
    ok = t[t.feasible.astype(bool)]
    best = ok[metric].max() if higher else ok[metric].min()
    k = int(ok.evaluation[ok[metric] == best].iloc[0])
    change = f" ({fmt.signed_percent(best / start - 1)})" if fmt.finite(start) and start > 0 else ""
    return (
        f"On the search replications, {name} from {say(start)} (the base plan) to {say(best)}{change}; "
        f"the best at evaluation {k} of {used}"
    )


def agents_note(opt: Optimization) -> str:
    """The agents of the search and of the fresh re-evaluation against the scenario's (``cjmsim run``'s)."""
    s = opt.settings
    run = int(s.get("scenario_agents", opt.fresh.agents))
    search = int(s.get("agents", opt.scenario.scenario.agents))
    final = int(opt.fresh.agents)
    said = (
        f"Searched at {search:,} agents (the scenario's run uses {run:,}); "
        f"the fresh re-evaluation is at {final:,} agents"
    )
    if final < run:
        said += (
            f", also fewer than cjmsim run's {run:,}: its totals differ from cjmsim run's by sampling noise "
            "(the paired differences are unaffected in expectation)"
        )
    elif search < run:
        said += ", as in cjmsim run, so its totals are the run's on other replications"
    return said + "."
