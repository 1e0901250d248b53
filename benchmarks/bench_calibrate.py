"""The calibration's done-when run: ten parameters of hifi, calibrated back from its own exported data.

Run by hand from the repository root (about 10 minutes on 2 cores; the machine should be otherwise idle):

    python benchmarks/bench_calibrate.py [--workers 2] [--agents 20000] [--data-agents 100000] [--lift]
        [--write docs/performance.md]

It exports hifi's ``baseline`` plan (observed.csv) at ``--data-agents`` (100,000) and seed 42, frees ten
parameters (four base rates and a drop rate, relative to the scenario's; two channels' odds,
relative; two saturation half-points and the return rate) with wide priors that are off-centre,
and runs ``cjmsim.analyses.calibration.calibrate`` with the file's defaults (300 candidates for
the point estimate, 4 chains of 22 walkers x 100 steps) at ``--agents`` per candidate and seed 7. It reports
the wall time (issue 16's done-when: under 20 minutes), the candidates simulated per second, the
peak memory of this process, and how many of the ten 90% posterior intervals hold the true value.
``--lift`` adds the data of two holdout tests of the two fitted channels (lift.csv: contextual ads held out
in weeks 8-13, SEO in weeks 30-35, a fifth of the audience, first orders up to 3 weeks after), replayed at
``--data-agents`` on the data's customers, and calibrates to them too.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from bench_sweep import measured, write_section

from cjmsim import load_scenario, parse_scenario
from cjmsim.analyses.calibration import calibrate
from cjmsim.analyses.calibration.lift import lift_table
from cjmsim.analyses.exports import observed_table
from cjmsim.engine import make_streams, run_plan

BEGIN, END = "<!-- bench_calibrate: begin -->", "<!-- bench_calibrate: end -->"
ROOT = Path(__file__).resolve().parent.parent

#: (name, path, relative, prior, truth): a relative parameter's truth is 1, an absolute one's the scenario's value
PARAMETERS = [
    (
        "aware_rate",
        "segments.*.base.aware",
        True,
        'prior = "lognormal"\nmedian = 1.2\nsd = 0.5\nlow = 0.1\nhigh = 5',
        1.0,
    ),
    (
        "interest_rate",
        "segments.*.base.interest",
        True,
        'prior = "lognormal"\nmedian = 0.8\nsd = 0.5\nlow = 0.1\nhigh = 3',
        1.0,
    ),
    (
        "desire_rate",
        "segments.*.base.desire",
        True,
        'prior = "lognormal"\nmedian = 1.2\nsd = 0.5\nlow = 0.1\nhigh = 3',
        1.0,
    ),
    (
        "purchase_rate",
        "segments.*.base.purchase",
        True,
        'prior = "lognormal"\nmedian = 0.85\nsd = 0.5\nlow = 0.1\nhigh = 3',
        1.0,
    ),
    (
        "drop_desire",
        "segments.*.drop.desire",
        True,
        'prior = "lognormal"\nmedian = 1.1\nsd = 0.5\nlow = 0.1\nhigh = 3',
        1.0,
    ),
    (
        "return_x",
        "segments.*.return_rate",
        True,
        'prior = "lognormal"\nmedian = 0.9\nsd = 0.5\nlow = 0.1\nhigh = 5',
        1.0,
    ),
    ("context_odds", "segments.*.odds.context.*", True, 'prior = "uniform"\nlow = 0.7\nhigh = 1.5', 1.0),
    ("seo_odds", "segments.*.odds.seo.*", True, 'prior = "uniform"\nlow = 0.7\nhigh = 1.5', 1.0),
    ("context_half", "channels.context.saturation.half", False, 'prior = "uniform"\nlow = 0.05\nhigh = 1.5', 0.3),
    ("seo_half", "channels.seo.saturation.half", False, 'prior = "uniform"\nlow = 0.05\nhigh = 1.5', 0.3),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--agents", type=int, default=20_000)
    ap.add_argument(
        "--data-agents",
        type=int,
        default=100_000,
        help="Agents of the run the data are exported from (hifi has 3 million people: 100,000 agents count 30 "
        "people each, so the data carry 30 times a real company's counting noise).",
    )
    ap.add_argument("--lift", action="store_true", help="Also fit two holdout tests of the fitted channels.")
    ap.add_argument("--write", help="Markdown file whose bench_calibrate section is replaced with the figures.")
    args = ap.parse_args()
    head = measured()
    sc = load_scenario(ROOT / "scenarios" / "hifi.toml")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rec = run_plan(sc, "baseline", make_streams(42, 0, len(sc.segments)), args.data_agents, sc.scenario.weeks)
        observed_table(rec, sc).to_csv(folder / "observed.csv", index=False)
        lift = ""
        if args.lift:
            data = sc.model_dump(mode="json", exclude_none=True)
            data["lift_tests"] = [
                {
                    "name": f"{c} holdout",
                    "channel": c,
                    "weeks": w,
                    "window": 3,
                    "metric": "new_customers",
                    "holdout": 0.2,
                }
                for c, w in (("context", [8, 14]), ("seo", [30, 36]))
            ]
            tested = parse_scenario(data, source="hifi with two lift tests")
            table = lift_table(tested, "baseline", tested.lift_tests, 42, args.data_agents, sc.scenario.weeks)
            table.to_csv(folder / "lift.csv", index=False)
            lift = 'lift = "lift.csv"\n'
        entries = "\n".join(
            f'[[parameters]]\nname = "{n}"\npath = "{p}"\nrelative = {str(r).lower()}\n{prior}\n'
            for n, p, r, prior, _ in PARAMETERS
        )
        (folder / "cal.toml").write_text(
            f'[calibration]\nscenario = "{(ROOT / "scenarios" / "hifi.toml").as_posix()}"\n'
            f'observed = "observed.csv"\n{lift}plan = "baseline"\nagents = {args.agents}\nseed = 7\n\n{entries}'
        )
        t0 = time.perf_counter()
        res = calibrate(folder / "cal.toml", workers=args.workers)
        wall = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = res.parameters.set_index("parameter")
    held = [n for n, *_, truth in PARAMETERS if t.loc[n, "posterior_p05"] <= truth <= t.loc[n, "posterior_p95"]]
    c = res.convergence
    lines = [
        head,
        "",
        f"Ten parameters of hifi calibrated back from its own `baseline` data ({args.data_agents:,} agents, seed 42"
        f"{'; two lift tests, of contextual ads and SEO' if args.lift else ''}), "
        f"{args.agents:,} agents per candidate, {args.workers} workers:",
        "",
        "| figure | value |",
        "|---|---|",
        f"| wall time | {wall:,.0f} s ({wall / 60:.1f} min; the done-when asks under 20 min) |",
        f"| candidates simulated | {res.evaluations:,} ({res.evaluations / wall:.1f} a second) |",
        f"| peak memory of the calibrating process | {rss:,.0f} MB |",
        f"| 90% posterior intervals holding the truth | {len(held)} of {len(PARAMETERS)} |",
        f"| sampler | acceptance {c['acceptance_fraction']:.2f}, autocorrelation up to {c['tau_max']:.0f} steps, "
        f"about {c['effective_samples']:.0f} effective draws, R-hat up to {c['rhat_max']:.2f} |",
        f"| log-likelihood noise between plausible values, over seeds | {c['likelihood_noise']:.1f} "
        "(the intervals are trustworthy at 1.35 or less) |",
        "",
        "| parameter | truth | prior 90% | posterior 90% | width vs prior |",
        "|---|---|---|---|---|",
        *(
            f"| {n} | {truth:g} | {t.loc[n, 'prior_p05']:.3g}..{t.loc[n, 'prior_p95']:.3g} | "
            f"{t.loc[n, 'posterior_p05']:.3g}..{t.loc[n, 'posterior_p95']:.3g} | {t.loc[n, 'width_ratio']:.0%} |"
            for n, *_, truth in PARAMETERS
        ),
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section(args.write, BEGIN, END, text)


if __name__ == "__main__":
    main()
