"""The terminal's tables: a run's, a sweep's, an attribution's and an optimization's, fitted to the width.

Every table is first a :class:`Grid` (key columns on the left, value columns, cells of numbers);
:func:`fit` lays it out within the console's width, never cutting a number or a name: it puts a
cell's CI on a second line, wraps labels and names at spaces, and splits the value columns into
several tables (each repeating the key columns), in that order of preference. Numbers are written
by :mod:`cjmsim.presentation.format`'s terminal functions (``4.79 bn \u00b1 0.53 bn``), every row
or column heading with its unit.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich import box
from rich.cells import cell_len
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from cjmsim.presentation import comparison
from cjmsim.presentation import format as fmt
from cjmsim.scenario.metrics import INCREMENTAL_METRICS, Metric, metric

from .common import plain

if TYPE_CHECKING:
    import pandas as pd

    from cjmsim.analyses.calibration import PosteriorResult
    from cjmsim.analyses.simulate import Result
    from cjmsim.scenario import Scenario

__all__ = [
    "DIFFERENCE_METRICS",
    "INCREMENTAL_ROWS",
    "ROWS",
    "Cell",
    "Grid",
    "attribution_table",
    "compact_cell",
    "comparison_table",
    "differences_grid",
    "fit",
    "heading",
    "incremental_grid",
    "optimize_headline",
    "optimize_table",
    "FEW_DRAWS",
    "POSTERIOR_METRICS",
    "posterior_headline",
    "posterior_tables",
    "run_tables",
    "sweep_table",
    "totals_grid",
]


#: The comparison table's rows: the run report's (:data:`cjmsim.presentation.comparison.ROWS`), with the
#: registry's plain labels: (column, label, format code), n = count, m = money, p = percent,
#: w = weeks, r = ratio. The terminal's totals table adds the planned spend before the spend.
ROWS: list[tuple[str, str, str]] = [(col, metric(col).label, kind) for col, kind in comparison.COLUMNS]
#: The run's first table: each plan against no marketing on the same customers and random numbers
#: (every incremental metric, in the registry's order, as the report's first group).
INCREMENTAL_ROWS: tuple[str, ...] = INCREMENTAL_METRICS
#: The paired-differences table's metrics, with the incremental figures (first) and without them.
DIFFERENCE_METRICS: tuple[tuple[str, ...], tuple[str, ...]] = (
    ("inc_orders", "spend", "icpo", "revenue", "inc_margin"),
    ("orders", "spend", "cpo", "revenue", "margin"),
)
#: The longest a label column is before :func:`fit` tries wrapping it.
LABEL_WIDTH = 24
#: A cell: groups of atoms (rich markup). One line: the groups side by side; narrower: a group a line;
#: narrowest: an atom a line. ``[["4.79 bn", "[dim]\u00b1 0.53 bn[/]"]]`` is a value and its CI.
Cell = Sequence[Sequence[str]]


def heading(m: Metric, currency: str) -> str:
    """A row or column heading with its unit: ``Spend, RUB``, ``ROMI, %``, ``Leads, people``."""
    label = m.label
    low = label.lower()
    if m.money:
        return f"{label}, {currency}"
    if m.kind == "percent":
        return f"{label}, %"
    if m.kind == "weeks":
        return label if "weeks" in low else f"{label}, weeks"
    if m.kind == "ratio":
        return f"{label}, x"
    if m.unit == "people" and not any(w in low for w in ("people", "customers")):
        return f"{label}, people"
    if m.unit == "orders" and "orders" not in low:
        return f"{label}, orders"
    return label


@dataclass
class Grid:
    """A table before it is fitted to a width.

    Attributes:
        title: the line above it (rich markup, user text escaped).
        keys: the key columns' headings (repeated in every table a split makes).
        rows: per row, its key cells (markup; wrapped at spaces when narrow).
        columns: the value columns' headings (markup; wrapped at spaces).
        cells: per row, one :data:`Cell` per value column.
        notes: lines printed under it (footnotes).
    """

    title: str
    keys: list[str]
    rows: list[list[str]]
    columns: list[str]
    cells: list[list[Cell]]
    notes: list[str] = field(default_factory=list)


def _width(markup: str) -> int:
    """The terminal cells a markup line takes."""
    return max((cell_len(line) for line in Text.from_markup(markup).plain.splitlines()), default=0)


def _word(markup: str) -> int:
    """The longest word of a markup text: the narrowest a column holding it may be without cutting it."""
    return max((cell_len(w) for w in Text.from_markup(markup).plain.split()), default=1)


def _lines(cell: Cell, mode: int) -> str:
    """A cell's text in a layout: 0 one line, 1 a group a line, 2 an atom a line."""
    if mode == 0:
        return "  ".join(" ".join(g) for g in cell)
    if mode == 1:
        return "\n".join(" ".join(g) for g in cell)
    return "\n".join(a for g in cell for a in g)


def _chunks(n: int, k: int) -> list[list[int]]:
    """0..n-1 in k runs of near-equal length, in order."""
    size, extra = divmod(n, k)
    out, at = [], 0
    for i in range(k):
        step = size + (i < extra)
        out.append(list(range(at, at + step)))
        at += step
    return out


def _table(grid: Grid, cols: list[int], key_widths: list[int], mode: int, slack: int = 0) -> Table:
    """One table of the grid: its key columns and the value columns ``cols``, in fixed widths.

    ``slack`` terminal columns are given back to the key columns (up to their natural width), then
    to the value columns whose heading wraps (up to the heading's length).
    """
    texts = [[_lines(row[c], mode) for c in cols] for row in grid.cells]
    keys = list(key_widths)
    values = [max([_word(grid.columns[c]), *(_width(row[i]) for row in texts)]) for i, c in enumerate(cols)]
    wants = [(keys, i, max([_width(k), *(_width(r[i]) for r in grid.rows)])) for i, k in enumerate(grid.keys)]
    wants += [(values, i, _width(grid.columns[c])) for i, c in enumerate(cols)]
    for widths, i, want in wants:
        more = min(slack, max(0, want - widths[i]))
        widths[i] += more
        slack -= more
    multi = any("\n" in t for row in texts for t in row) or any(
        _width(k) > w for row in grid.rows for k, w in zip(row, keys, strict=True)
    )
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, show_lines=multi)
    for name, w in zip(grid.keys, keys, strict=True):
        table.add_column(name, width=w, overflow="fold")
    for c, w in zip(cols, values, strict=True):
        table.add_column(grid.columns[c], width=w, justify="right", overflow="fold")
    for key_cells, row in zip(grid.rows, texts, strict=True):
        table.add_row(*key_cells, *row)
    return table


def fit(grid: Grid, width: int | None = None) -> list[RenderableType]:
    """The grid laid out within ``width`` terminal columns (None: no limit): the title, the tables, the notes.

    Preference: one table with one-line cells; then wrapped labels; then each CI on its own line;
    then two tables, three, ... (each repeating the key columns); what width is left over widens
    the labels again. If even one value column a table cannot fit, the narrowest layout is returned
    and rich folds it (a terminal under ~30 columns).
    """
    measure = Console(file=io.StringIO(), width=100_000)
    natural = [max([_width(k), *(_width(r[i]) for r in grid.rows)]) for i, k in enumerate(grid.keys)]
    narrow = [max([_word(k), *(_word(r[i]) for r in grid.rows)]) for i, k in enumerate(grid.keys)]
    capped = [max(n, min(w, LABEL_WIDTH)) for n, w in zip(narrow, natural, strict=True)]
    modes = [m for m in (0, 1, 2) if m == 0 or any(_lines(c, m) != _lines(c, m - 1) for r in grid.cells for c in r)]
    keys = list(dict.fromkeys(tuple(k) for k in (natural, capped, narrow)))
    layouts = [(list(k), m) for m in modes[:2] for k in keys] + [(list(k), m) for m in modes[2:] for k in keys]
    n = len(grid.columns)
    chosen: list[Table] = []
    for parts in range(1, max(n, 1) + 1):
        for key_widths, mode in layouts:
            chunks = _chunks(n, parts)
            tables = [_table(grid, cols, key_widths, mode) for cols in chunks]
            if width is None or all(measure.measure(t).maximum <= width for t in tables):
                if width is not None:
                    tables = [
                        _table(grid, cols, key_widths, mode, width - measure.measure(t).maximum)
                        for cols, t in zip(chunks, tables, strict=True)
                    ]
                chosen = tables
                break
        if chosen:
            break
    else:
        chosen = [_table(grid, cols, list(keys[-1]), modes[-1]) for cols in _chunks(n, max(n, 1))]
    out: list[RenderableType] = []
    for i, t in enumerate(chosen):
        more = f" [dim]({i + 1} of {len(chosen)})[/]" if len(chosen) > 1 else ""
        out += [Text.from_markup(grid.title + more), t]
    out += [Text.from_markup(note) for note in grid.notes]
    return out


# --------------------------------------------------------------------------------------------
# cells


def _value(row: pd.Series, col: str, kind: str) -> Cell:
    """A value and its 95% CI half-width (dimmed), as one group."""
    value, half = fmt.terminal_ci(row.get(col), row.get(f"{col}_ci_low"), row.get(f"{col}_ci_high"), kind)
    return [[value, f"[dim]{half}[/]"] if half else [value]]


def _significant(lo: object, hi: object) -> bool:
    """Whether a paired 95% CI excludes zero."""
    return fmt.finite(lo) and fmt.finite(hi) and (float(lo) > 0 or float(hi) < 0)  # type: ignore[arg-type]


def _difference(d: pd.Series, kind: str) -> Cell:
    """A paired difference \u00b1 half-width (``*`` when its CI excludes zero), then ratio [CI]."""
    diff, half = fmt.terminal_diff(d["diff"], d["diff_ci_low"], d["diff_ci_high"], kind)
    mark = "*" if _significant(d["diff_ci_low"], d["diff_ci_high"]) else ""
    first = [diff + mark] + ([f"[dim]{half}[/]"] if half else [])
    ratio, ci = fmt.terminal_ratio(d["ratio"], d["ratio_ci_low"], d["ratio_ci_high"])
    if ratio == fmt.DASH:
        return [first]
    return [first, [ratio] + ([f"[dim]{ci}[/]"] if ci else [])]


# --------------------------------------------------------------------------------------------
# a run


def _name(result: Result, plan: str) -> str:
    """A plan's name as a heading (its id when it has none), escaped."""
    return plain(result.scenario.plans[plan].name or plan)


def _where(result: Result, segment: str) -> str:
    """'all segments' or the segment's name, escaped."""
    return "all segments" if segment == "all" else plain(result.scenario.segments[segment].name or segment)


def _scope(result: Result, segment: str) -> str:
    """'Hi-fi retailer: all segments, 52 weeks' (escaped)."""
    return f"{plain(result.scenario.scenario.name)}: {_where(result, segment)}, {result.weeks} weeks"


def _run_grid(result: Result, segment: str, names: Sequence[str], title: str) -> Grid:
    """Metrics as rows, plans as columns, for one segment."""
    s = result.summary
    by_plan = s[s.segment == segment].set_index("plan")
    cur = result.scenario.scenario.currency
    rows, cells = [], []
    for col in names:
        if col not in by_plan.columns:
            continue
        m = metric(col)
        rows.append([plain(heading(m, cur))])
        cells.append([_value(by_plan.loc[p], col, m.code) for p in result.plans])
    what = f"mean of {result.reps} replications \u00b1 95% CI half-width" if result.reps > 1 else "one replication"
    return Grid(
        f"[bold]{title}[/]. {_scope(result, segment)}, {what}",
        ["Metric"],
        rows,
        [_name(result, p) for p in result.plans],
        cells,
    )


def incremental_grid(result: Result, segment: str = "all") -> Grid:
    """Each plan against no marketing on the same customers and random numbers (needs a baseline run)."""
    return _run_grid(result, segment, INCREMENTAL_ROWS, "Incremental over no marketing")


def totals_grid(result: Result, segment: str = "all") -> Grid:
    """Every order counted, including those that would come with no marketing."""
    names = [col for col, _, _ in ROWS if col not in INCREMENTAL_METRICS]  # those lead, in their own table
    if segment != "all" and "planned_spend" in names:
        names.remove("planned_spend")  # a plan-level figure: on the all rows only
    label = "Totals, including orders that would come anyway" if result.incremental else "Totals"
    return _run_grid(result, segment, names, label)


def differences_grid(result: Result) -> Grid | None:
    """Every plan against the reference, paired by replication (all segments); None with one plan."""
    d = result.differences
    others = [p for p in result.plans if p != result.reference]
    if not others or d is None or d.empty:
        return None
    d = d[d.segment == "all"].set_index(["plan", "metric"])
    shown = DIFFERENCE_METRICS[0] if result.incremental else DIFFERENCE_METRICS[1]
    rows, cells = [], []
    for col in shown:
        if not all((p, col) in d.index for p in others):
            continue
        m = metric(col)
        rows.append([plain(heading(m, result.scenario.scenario.currency))])
        cells.append([_difference(d.loc[(p, col)], m.code) for p in others])
    ref = _name(result, result.reference)
    notes = [f"difference: plan \u2212 {ref}, paired by replication; \u00d7: plan / {ref} (ratio of means)"]
    if result.reps > 1:
        notes.append(
            f"* the paired 95% CI excludes zero ({result.reps} replications); without *, the plans are not "
            "distinguishable on that number at this number of replications"
        )
    else:
        notes.append("one replication: no CIs; use --reps 3 or more to compare plans")
    what = "mean of paired differences \u00b1 95% CI half-width, ratio [95% CI]" if result.reps > 1 else ""
    title = f"[bold]Paired differences from {ref}[/]. {_scope(result, 'all')}" + (f", {what}" if what else "")
    return Grid(title, ["Metric"], rows, [_name(result, p) for p in others], cells, notes)


def comparison_table(result: Result, segment: str = "all", width: int | None = None) -> Group:
    """Plans side by side for one segment (``all`` = totals): the incremental table (with a baseline run),
    then the totals, with 95% CIs when reps > 1, fitted to ``width`` terminal columns (None: no limit)."""
    grids = ([incremental_grid(result, segment)] if result.incremental else []) + [totals_grid(result, segment)]
    return Group(*[r for g in grids for r in fit(g, width)])


def run_tables(result: Result, width: int | None, segments: bool = False) -> Group:
    """Everything ``cjmsim run`` prints before its last line: the comparison (and per segment), the differences."""
    parts: list[RenderableType] = [comparison_table(result, "all", width)]
    diff = differences_grid(result)
    if diff is not None:
        parts += fit(diff, width)
    if segments:
        parts += [comparison_table(result, seg, width) for seg in result.scenario.segments]
    return Group(*parts)


# --------------------------------------------------------------------------------------------
# a sweep and an attribution


def sweep_table(result: Any, segment: str = "all", width: int | None = None) -> Group:
    """Per point and plan, the experiment's metrics with their 95% CI half-widths, fitted to ``width``;
    over posterior draws, each metric's mean with its 90% posterior interval by its ends."""
    exp = result.experiment
    posterior = exp.posterior is not None
    s = result.summary
    rows = s[s.segment == segment]
    params = [p.name for p in exp.spec.parameters]
    sc = exp.scenarios[0]
    cur = sc.scenario.currency
    shown = [m for m in exp.spec.experiment.metrics if m in rows.columns]
    keys: list[list[str]] = []
    cells: list[list[Cell]] = []
    for _, r in rows.iterrows():
        key = [fmt.setting(r[p]) if fmt.finite(r[p]) else plain(r[p]) for p in params]
        plan = r["plan"]
        key.append(plain(sc.plans[plan].name or plan) if plan in sc.plans else plain(plan))
        keys.append(key)
        if posterior:
            cells.append([[_interval(r[m], r[f"{m}_p05"], r[f"{m}_p95"], metric(m).code)] for m in shown])
        else:
            cells.append([_value(r, m, metric(m).code) for m in shown])
    runs = f"{exp.reps:,} posterior draws" if posterior else f"{exp.spec.experiment.reps} reps"
    what = "mean [90% interval over draws]" if posterior else "mean \u00b1 95% CI half-width"
    name = plain(exp.spec.experiment.name)
    title = f"[bold]{name}[/]: {len(exp.points)} points x {len(exp.plans)} plans x {runs} ({what})"
    notes = []
    if posterior:
        notes.append(
            "interval: the 5th to 95th percentile over the draws (parameters' uncertainty and simulation noise), "
            "not a confidence interval"
        )
        if exp.reps < FEW_DRAWS:
            notes.append(f"{exp.reps} draws: the ends lie close to the extreme draws; use more draws to rely on them")
    columns = [plain(heading(metric(m), cur)) for m in shown]
    grid = Grid(title, [*map(plain, params), "Plan"], keys, columns, cells, notes)
    return Group(*fit(grid, width))


def compact_cell(row: pd.Series, col: str, kind: str) -> str:
    """An optimizer table cell, as the HTML reports write it: 3 significant digits, M and B, and the
    95% CI half-width dimmed in the value's unit."""
    text = fmt.table_value(row[col], kind)
    half = fmt.half_width(row[col], row.get(f"{col}_ci_low"), row.get(f"{col}_ci_high"), kind)
    return f"{text} [dim]{half}[/]" if half else text


def attribution_table(attr: Any, scenario: Scenario, width: int | None = None) -> Group:
    """Per channel (all segments): spend, incremental and Shapley orders with 95% CIs, ROAS; fitted to ``width``."""
    t = attr.table[attr.table.segment == "all"]
    cur = scenario.scenario.currency
    wanted = ("spend", "incremental_orders", "shapley_orders", "incremental_revenue", "incremental_cpo",
              "incremental_roas", "marginal_roas")  # fmt: skip
    shown = [m for m in wanted if m in t.columns]
    keys, cells = [], []
    for _, r in t.iterrows():
        ch = r["channel"]
        name = scenario.channels[ch].name if ch in scenario.channels else None
        keys.append([plain(name or ("All channels (the plan vs no marketing)" if ch == "total" else ch))])
        cells.append([_value(r, m, metric(m).code) for m in shown])
    plan = scenario.plans[attr.plan].name if attr.plan in scenario.plans else None
    title = (
        f"[bold]{plain(plan or attr.plan)}[/]: what each channel adds, all segments "
        f"(mean \u00b1 95% CI half-width; Shapley {plain(attr.shapley)})"
    )
    grid = Grid(title, ["Channel"], keys, [plain(heading(metric(m), cur)) for m in shown], cells)
    return Group(*fit(grid, width))


def optimize_table(sc: Scenario, final: Result, plans: list[str], width: int | None = None) -> Group:
    """Plans on the fresh replications (rows, by name): the incremental orders, iCPO and iROMI when
    the re-evaluation ran no marketing, then orders, spend, CPO, revenue, gross margin and ROMI,
    each with its 95% CI, fitted to ``width``."""
    cur = sc.scenario.currency
    t = final.summary[final.summary.segment == "all"].set_index("plan")
    shown = [
        m
        for m in ("inc_orders", "icpo", "iromi", "orders", "spend", "cpo", "revenue", "margin", "romi")
        if m in t.columns
    ]
    known = final.scenario.plans
    grid = Grid(
        f"[bold]Fresh replications[/] ({final.reps} x {final.agents:,} agents; mean \u00b1 95% CI half-width)",
        ["Plan"],
        [[plain(known[p].name or p if p in known else p)] for p in plans],
        [plain(heading(metric(m), cur)) for m in shown],
        [[_value(t.loc[p], m, metric(m).code) for m in shown] for p in plans],
    )
    return Group(*fit(grid, width))


def optimize_headline(opt: Any) -> str:
    """The verdict (the report's, from :mod:`cjmsim.presentation.optimize_text`), the agents used, then one
    line per compared plan: paired relative differences with 95% CIs."""
    from cjmsim.presentation.optimize_text import agents_note, headline, signed_money

    lines = [plain(headline(opt)) + ".", plain(agents_note(opt))]
    known = opt.final.scenario.plans

    def name(plan: str) -> str:
        return plain(known[plan].name or plan if plan in known else plan)

    for other, g in opt.comparison.groupby("versus", sort=False):
        g = g.set_index("metric")
        parts = [
            f"{metric(m).short} {g.loc[m, 'relative']:+.1%} "
            f"[{g.loc[m, 'relative_ci_low']:+.1%}, {g.loc[m, 'relative_ci_high']:+.1%}]"
            for m in ("orders", "spend", "cpo", "margin")
        ]
        if "inc_net_margin" in g.index:
            r = g.loc["inc_net_margin"]
            parts.append(
                f"inc. margin less spend {signed_money(r.difference)} "
                f"[{signed_money(r.ci_low)}, {signed_money(r.ci_high)}]"
            )
        lines.append(f"{name(opt.plan_name)} vs {name(other)} (paired, 95% CI): " + ", ".join(parts))
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# plans under uncertainty: a run over posterior draws

#: What ``run --posterior`` prints: the plans' table (first two, and the shares of draws won on
#: them) and the verdicts' table, with no marketing run (first) and without it.
POSTERIOR_METRICS: tuple[tuple[str, ...], tuple[str, ...]] = (
    ("inc_orders", "icpo", "inc_margin", "iromi"),
    ("orders", "cpo", "margin", "romi"),
)
#: Below this many draws the 90% intervals' ends are close to the extreme draws: the table says so.
FEW_DRAWS = 20


def _interval(value: object, low: object, high: object, kind: str, sign: bool = False) -> list[str]:
    """A value and its 90% interval (dimmed), as one group."""
    text, ends = fmt.terminal_interval(value, low, high, kind, sign=sign)
    return [text, f"[dim]{ends}[/]"] if ends else [text]


def _verdict_words(verdict: str, better: str) -> str:
    """'higher: better', 'lower: worse', 'no clear difference' (a metric without a direction: the side alone)."""
    if verdict not in ("higher", "lower") or better not in ("higher", "lower"):
        return verdict
    return f"{verdict}: {'better' if verdict == better else 'worse'}"


def posterior_tables(result: PosteriorResult, width: int | None = None) -> Group:
    """What ``cjmsim run --posterior`` prints: each plan's two headline metrics with their 90% posterior
    intervals and the share of draws it wins on each, then every plan against the reference, paired
    within each draw, with the verdict of each difference's interval; fitted to ``width``."""
    sc = result.scenario
    cur = sc.scenario.currency
    n = int(result.settings["draws_used"])
    shown = POSTERIOR_METRICS[0] if result.incremental else POSTERIOR_METRICS[1]
    names = {p: plain(sc.plans[p].name or p) for p in result.plans}
    summary = result.summary.set_index("plan")
    wins = result.wins.set_index(["plan", "metric"])
    head = shown[:2]
    cells = []
    for p in result.plans:
        row: list[Cell] = [[_interval(summary.loc[p, m], summary.loc[p, f"{m}_p05"], summary.loc[p, f"{m}_p95"],
                                      metric(m).code)] for m in head]  # fmt: skip
        row += [[[fmt.terminal(wins.loc[(p, m), "share"], "p")]] for m in head if (p, m) in wins.index]
        cells.append(row)
    columns = [plain(heading(metric(m), cur)) for m in head]
    columns += [f"Draws won on {metric(m).short}" for m in head if m in set(result.wins.metric)]
    scope = f"{plain(sc.scenario.name)}: all segments, {sc.scenario.weeks} weeks, {n:,} posterior draws"
    grids = [
        Grid(
            f"[bold]Plans under uncertainty[/]. {scope}, mean [90% interval over draws]",
            ["Plan"],
            [[names[p]] for p in result.plans],
            columns,
            cells,
            [f"won: the share of draws in which the plan is the best of the {len(result.plans)} plans run"],
        )
    ]
    others = [p for p in result.plans if p != result.reference]
    d = result.differences.set_index(["plan", "metric"])
    rows, diff_cells = [], []
    for m in shown:
        if not all((p, m) in d.index for p in others):
            continue
        rows.append([plain(heading(metric(m), cur))])
        line: list[Cell] = []
        for p in others:
            r = d.loc[(p, m)]
            cell = [_interval(r["diff"], r.diff_p05, r.diff_p95, metric(m).code, sign=True)]
            if fmt.finite(r["diff"]):  # no verdict where no draw has the difference (n/a)
                cell.append([_verdict_words(str(r.verdict), str(r.better))])
            line.append(cell)
        diff_cells.append(line)
    if others and rows:
        ref = names[result.reference]
        notes = [
            f"difference: plan \u2212 {ref} in the same draw (the same customers and random numbers); mean and "
            "90% interval over draws: it includes the parameters' uncertainty, not only the simulation's noise",
            "a side (higher, lower) is named only where the 90% interval excludes zero",
        ]
        if n < FEW_DRAWS:
            notes.append(f"{n} draws: the interval's ends lie close to the extreme draws; use more draws to rely on it")
        title = f"[bold]Paired differences from {ref}[/]. {scope}"
        grids.append(Grid(title, ["Metric"], rows, [names[p] for p in others], diff_cells, notes))
    return Group(*[r for g in grids for r in fit(g, width)])


def posterior_headline(opt: Any) -> str:
    """What an optimization over posterior draws found, in plain lines: what it searched for (the best
    expected objective, or the smallest worst-case regret and how large it is for the optimized and the
    base plan), then the optimized plan against each compared plan over the draws on fresh random
    numbers: paired relative differences with their 90% posterior intervals."""
    from cjmsim.presentation.optimize_text import OBJECTIVE_METRIC, signed_money

    s = opt.settings
    _, label, _, money = OBJECTIVE_METRIC[opt.objective]
    known = opt.posterior.scenario.plans

    def name(plan: str) -> str:
        return plain(known[plan].name or plan if plan in known else plan)

    n = int(s["draws_used"])
    aim = "the smallest worst-case regret in" if s.get("robust") else "the best expected"
    lines = [f"Searched for {aim} {label} over {n:,} posterior draws (draw i on replication i)."]
    if not opt.found:
        lines.append(
            f"No better allocation found: in {s['evaluations_used']} evaluations no candidate beat "
            f"{name(opt.base_plan)}, so the optimized plan is the base plan."
        )
    d = opt.draws
    if s.get("robust") and len(d) and "regret" in d:
        cur = opt.scenario.scenario.currency if money else ""

        def say(x: float) -> str:
            return signed_money(x, cur).lstrip("+") if money else fmt.count(x)

        worst = d.loc[d.regret.idxmax()] if d.regret.notna().any() else None
        base = (d.best - d.base) if OBJECTIVE_METRIC[opt.objective][2] else (d.base - d.best)
        if worst is not None:
            lines.append(
                f"Worst-case regret on the search's draws ({label} short of the best candidate seen for that draw): "
                f"{say(float(worst.regret))} in draw {worst.draw} for the optimized plan, "
                f"{say(float(base.max()))} for {name(opt.base_plan)}."
            )
    for other, g in opt.comparison.groupby("versus", sort=False):
        g = g.set_index("metric")
        parts = [
            f"{metric(m).short} {g.loc[m, 'relative']:+.1%} "
            f"[{g.loc[m, 'relative_p05']:+.1%}, {g.loc[m, 'relative_p95']:+.1%}]"
            for m in ("orders", "spend", "cpo", "margin")
            if m in g.index
        ]
        if "inc_net_margin" in g.index:
            r = g.loc["inc_net_margin"]
            parts.append(
                f"inc. margin less spend {signed_money(r.difference)} [{signed_money(r.p05)}, {signed_money(r.p95)}]"
            )
        lines.append(
            f"{name(opt.plan_name)} vs {name(other)} over {n:,} draws on fresh random numbers "
            "(paired within each draw; mean [90% interval over draws]): " + ", ".join(parts)
        )
    return "\n".join(lines)
