"""Spend honesty: planned vs bought per campaign, and the warning when a plan buys too little.

A run's campaign table (``Result.campaigns``, campaigns.csv) says, per plan x campaign, how much of
the planned budget was bought and why the rest was not. This module turns it into what the
terminal and the report show: :func:`warnings`, one :class:`SpendWarning` per plan that bought less
than :data:`~cjmsim.analyses.metrics.UNDERSPEND_SHARE` of its budget, naming the campaigns that
fall short most and why; and :func:`spend_table`, the planned-vs-bought table of the report. Both
return plain text and numbers already formatted: the terminal escapes them, the report's
templates autoescape them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cjmsim.analyses.metrics import UNBOUGHT_REASONS, UNDERSPEND_SHARE, underspend
from cjmsim.presentation import format as fmt

if TYPE_CHECKING:
    import pandas as pd

    from cjmsim.analyses.simulate import Result
    from cjmsim.scenario import Scenario

__all__ = ["NAMED", "REASON_LABELS", "SpendWarning", "campaign_label", "reasons", "spend_table", "warnings"]

#: At most this many campaigns are named in a warning; the rest are counted ("and 3 more").
NAMED = 5
#: A reason is named when it accounts for at least this share of a campaign's unbought money.
_MAIN_REASON = 0.1
#: The reasons' names, as the report's table heads and the warnings say them.
REASON_LABELS = {
    "audience": "audience too small",
    "cap": "frequency cap",
    "chance": "random delivery",
    "trigger_cap": "trigger cap",
    "per_action": "no action to pay for",
}


@dataclass(frozen=True)
class SpendWarning:
    """One plan that bought less than the rule's share of its budget: a headline and one line per
    campaign named (largest shortfall first), and how many more fall short."""

    plan: str
    headline: str
    campaigns: list[str]
    more: int

    def lines(self) -> list[str]:
        """The warning as lines of text: the headline, the campaigns, 'and N more campaigns'."""
        out = [self.headline, *(f"  - {c}" for c in self.campaigns)]
        if self.more:
            out.append(f"  and {self.more} more campaign{'s' if self.more != 1 else ''} below {_rule()}")
        return out


def _rule() -> str:
    return f"{100 * UNDERSPEND_SHARE:.0f}%"


def _share(x: float) -> str:
    """A share of a budget, as a whole percent unless that would read 0% or 100% for what is not."""
    pct = 100 * x
    if 0 < pct < 1 or 99 < pct < 100:
        return f"{pct:.1f}%"
    return f"{pct:.0f}%"


def campaign_label(sc: Scenario, row: Any) -> str:
    """A campaign as a reader finds it in the scenario: its name, or 'campaign 3 (<channel>)'."""
    ch = sc.channels[row["channel"]].name or row["channel"]
    name = row["name"] if isinstance(row["name"], str) else ""
    return f"{name} ({ch})" if name else f"campaign {int(row['campaign'])} of the plan ({ch})"


def reasons(sc: Scenario, row: Any) -> list[str]:
    """Why a campaign row (of ``Result.campaigns``) did not buy its budget, the largest reason first.

    Each reason accounting for at least a tenth of the unbought money is named with its share of
    the campaign's budget, e.g. 'audience too small: 24% of its budget found no one left to reach
    in its target cells at the frequency cap (3 a week)' ('found no one in its target cells' when
    none of it was bought)."""
    planned, unbought = float(row["planned"]), float(row["unbought"])
    if planned <= 0 or unbought <= 0:
        return []
    cap = sc.channels[row["channel"]].frequency_cap
    amounts = sorted(((float(row[f"unbought_{r}"]), r) for r in UNBOUGHT_REASONS), reverse=True)
    out = []
    for amount, reason in amounts:
        if amount <= 0 or amount < _MAIN_REASON * unbought:
            continue
        share = _share(amount / planned)
        if reason == "audience" and amount >= planned * (1 - 1e-9):
            why = f"{share} of its budget found no one in its target cells"
        elif reason == "audience":
            why = (
                f"{share} of its budget found no one left to reach in its target cells at the frequency cap "
                f"({cap} a week)"
            )
        elif reason == "cap":
            why = (
                f"{share} of its budget went over the cap of {cap} a week that it shares with the channel's "
                "other campaigns on the same people"
            )
        elif reason == "trigger_cap":
            why = (
                f"{share} of the messages its trigger asked for were over its own weekly cap (a random sample was sent)"
            )
        elif reason == "per_action":
            why = (
                f"{share} of its budget, a ceiling on a bill per action, was not billed: the channel's exposed "
                "agents did not act enough (not an underspend)"
            )
        else:
            why = (
                f"{share} of its budget was not delivered by chance: it reaches few simulated people a week and "
                "a week that delivers less is billed less (more agents shrink this)"
            )
        out.append(f"{REASON_LABELS[reason]}: {why}")
    return out


def warnings(result: Result) -> list[SpendWarning]:
    """A warning for every plan of the run that bought less than the rule's share of its budget."""
    sc = result.scenario
    cur = sc.scenario.currency
    out = []
    for u in underspend(result.campaigns):
        plan = sc.plans[u.plan].name or u.plan
        headline = (
            f"plan \u201c{plan}\u201d bought {_share(u.share)} of its planned budget ({fmt.fixed(u.bought, 'm')} of "
            f"{fmt.fixed(u.planned, 'm')} {cur}), below {_rule()}; a cost per order against a plan that buys all "
            "of its budget compares unequal spend. Campaigns that fell short most:"
        )
        named = []
        for _, row in u.campaigns.head(NAMED).iterrows():
            why = "; ".join(reasons(sc, row)) or "no reason recorded"
            named.append(
                f"{campaign_label(sc, row)}: bought {_share(row['share_bought'])} of "
                f"{fmt.fixed(row['planned'], 'm')} {cur}; {why}"
            )
        out.append(SpendWarning(u.plan, headline, named, max(len(u.campaigns) - NAMED, 0)))
    return out


def _segments(sc: Scenario, ids: str) -> str:
    """A campaign's target segments by their names ('all segments' for every one)."""
    if ids == "all":
        return "all segments"
    return ", ".join(sc.segments[i].name or i if i in sc.segments else i for i in ids.split("; "))


#: A reason's money below this share of the planned budget is shown as a dash (the CSV keeps it).
_NEGLIGIBLE = 1e-4


def _money_cells(row: Any) -> dict[str, str]:
    cells = {k: fmt.fixed(row[k], "m") for k in ("planned", "bought", "unbought")}
    for r in UNBOUGHT_REASONS:
        v = float(row[f"unbought_{r}"])
        cells[r] = fmt.fixed(v, "m") if v > _NEGLIGIBLE * float(row["planned"]) else fmt.DASH
    return cells


def spend_table(result: Result) -> dict[str, Any]:
    """The report's spend section: the warnings, and planned vs bought per campaign in one group per plan.

    Each plan's group has its campaigns in the plan's order and a total row; a campaign below the
    rule's share is marked ``short`` with its reasons. Money is formatted as the comparison table's.
    """
    sc = result.scenario
    camps: pd.DataFrame = result.campaigns
    groups = []
    for p in result.plans:
        rows = camps[camps.plan == p] if not camps.empty else camps
        if rows.empty:
            continue
        body = []
        for _, row in rows.iterrows():
            # a trigger's own cap is meant: the share is judged against what the cap let it send
            asked = float(row["planned"]) - float(row.get("unbought_trigger_cap", 0.0))
            short = bool(row["bought"] < UNDERSPEND_SHARE * asked)
            body.append(
                {
                    "label": campaign_label(sc, row),
                    "segments": _segments(sc, row["segments"]),
                    "stages": str(row["stages"]).replace("; ", ", "),
                    "share": fmt.fixed(row["share_bought"], "p"),
                    "short": short,
                    "reasons": reasons(sc, row) if short else [],
                    **_money_cells(row),
                }
            )
        planned, bought = float(rows.planned.sum()), float(rows.bought.sum())
        asked = planned - float(rows["unbought_trigger_cap"].sum())
        total = {k: float(rows[k].sum()) for k in ("planned", "bought", "unbought")}
        total.update({f"unbought_{r}": float(rows[f"unbought_{r}"].sum()) for r in UNBOUGHT_REASONS})
        total_row: dict[str, Any] = dict(_money_cells(total))
        total_row.update(share=fmt.fixed(fmt.ratio(bought, planned), "p"), short=bought < UNDERSPEND_SHARE * asked)
        groups.append({"plan": sc.plans[p].name or p, "rows": body, "total": total_row})
    return {
        "rule": _rule(),
        "warnings": [{"headline": w.headline, "campaigns": w.campaigns, "more": w.more} for w in warnings(result)],
        "groups": groups,
        "reasons": [REASON_LABELS[r] for r in UNBOUGHT_REASONS],
        "currency": sc.scenario.currency,
        # the campaigns' media only: the interventions' cost is always bought, and shown with the plans
        "interventions": any(sc.plans[p].interventions for p in result.plans),
    }
