"""Fit pymc-marketing's MMM on a cjmsim export and score it against the ground truth.

    cjmsim run scenarios/mmm.toml --plan flighted --export mmm
    python examples/mmm_fit.py out/mmm/exports/flighted

reads ``mmm.csv`` and ``ground_truth.json`` from the folder, fits a Bayesian MMM on weekly orders
(pymc-marketing: geometric adstock, logistic saturation, one channel per ``spend_<channel>``
column; controls: the ``season`` / ``trend`` columns of mmm.csv when it has them, yearly Fourier
terms otherwise), and prints and writes ``mmm_score.csv`` beside the inputs: per channel the
estimated contribution (orders) and ROI against the truth, the media total and the baseline
(examples/mmm_score.py). ``--season-lag 6`` moves the season control 6 weeks later: the season
index multiplies the rates at which needs arise, and their orders come weeks later (see
docs/ground-truth.md). Prints the sampler's divergences and largest r-hat. Needs the optional
extra: ``pip install -e '.[mmm]'`` (pymc-marketing). Defaults (2 chains x 500 draws after 1,000
tuning steps, target_accept 0.95) take one to a few minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mmm_score import channels_of, score  # noqa: E402


def controls_of(mmm: pd.DataFrame) -> list[str]:
    """The control columns in mmm.csv: the seasonality / trend index when the run exported it."""
    return [c for c in mmm.columns if any(k in c.lower() for k in ("season", "trend"))]


def lag_season(mmm: pd.DataFrame, lag: int) -> pd.DataFrame:
    """mmm.csv with its ``season`` column moved ``lag`` weeks later (the trend is left as it is).

    The season index multiplies the weekly rates at which needs arise; the orders it brings come
    weeks later (aware -> interest -> desire -> order), so a control lagged by that lead time has the
    shape of the orders. The index repeats every 52 weeks (it is a function of the week of the year),
    so the first ``lag`` weeks take the values of the same weeks a year later.
    """
    if lag == 0 or "season" not in mmm.columns:
        return mmm
    if not 0 < lag <= len(mmm) - 52:
        raise ValueError(f"--season-lag must be 0..{len(mmm) - 52} weeks for {len(mmm)} weeks of data, got {lag}")
    season = mmm["season"].to_numpy()
    out = mmm.copy()
    out["season"] = np.concatenate([season[52 - lag : 52], season[: len(season) - lag]])
    return out


def fit(
    mmm: pd.DataFrame, draws: int, tune: int, chains: int, seed: int, l_max: int, adstock: str = "geometric"
) -> tuple[pd.DataFrame, np.ndarray, str]:
    """Fit the MMM on orders; return the weekly mean contribution per channel, the baseline (orders)
    and the sampler's diagnostics (divergent transitions, the largest r-hat of the parameters)."""
    from pymc_marketing.mmm import MMM, DelayedAdstock, GeometricAdstock, LogisticSaturation

    channels = channels_of(mmm)
    spend = [f"spend_{c}" for c in channels]
    controls = controls_of(mmm)
    X = mmm[["date", *spend, *controls]].copy()
    X["date"] = pd.to_datetime(X["date"])
    y = mmm["orders"].astype(float)
    model = MMM(
        date_column="date",
        channel_columns=spend,
        adstock=GeometricAdstock(l_max=l_max) if adstock == "geometric" else DelayedAdstock(l_max=l_max),
        saturation=LogisticSaturation(),
        control_columns=controls or None,
        yearly_seasonality=None if controls else 2,
    )
    model.fit(
        X,
        y,
        draws=draws,
        tune=tune,
        chains=chains,
        cores=chains,
        target_accept=0.95,
        random_seed=seed,
        progressbar=False,
    )
    parts = model.compute_mean_contributions_over_time(original_scale=True)  # weeks x components, in orders
    contributions = parts[spend].rename(columns=dict(zip(spend, channels, strict=True))).reset_index(drop=True)
    baseline = parts.drop(columns=spend).sum(axis=1).to_numpy()  # intercept + controls + seasonality
    import arviz as az

    divergences = int(model.idata.sample_stats["diverging"].sum())
    names = [v.name for v in model.model.free_RVs]
    rhat = float(az.rhat(model.idata, var_names=names).to_array().max())
    return contributions, baseline, f"{divergences} divergences, max r-hat {rhat:.2f}"


def main() -> None:
    """Parse the arguments, fit, score, print and write the table."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folder", type=Path, help="an exports/<plan> folder with mmm.csv and ground_truth.json")
    p.add_argument("--draws", type=int, default=500)
    p.add_argument("--tune", type=int, default=1000)
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--l-max", type=int, default=8, help="longest adstock lag in weeks")
    p.add_argument(
        "--adstock",
        choices=["geometric", "delayed"],
        default="geometric",
        help="geometric (largest effect in the week of spend) or delayed (a peak after a lag, fitted)",
    )
    p.add_argument(
        "--season-lag",
        type=int,
        default=0,
        help="move the season control this many weeks later (the lead time from a need to its orders)",
    )
    p.add_argument(
        "--drop-control",
        action="append",
        default=[],
        metavar="COLUMN",
        help="leave this control column out (repeatable; with none left, yearly Fourier terms are used)",
    )
    p.add_argument("--out", type=Path, help="the score CSV (default: <folder>/mmm_score.csv)")
    a = p.parse_args()
    mmm = pd.read_csv(a.folder / "mmm.csv")
    try:
        data = lag_season(mmm, a.season_lag)
    except ValueError as e:
        p.error(str(e))
    unknown = sorted(set(a.drop_control) - set(controls_of(mmm)))
    if unknown:
        p.error(f"--drop-control {', '.join(unknown)}: not a control of mmm.csv (its controls: {controls_of(mmm)})")
    data = data.drop(columns=a.drop_control)
    truth = json.loads((a.folder / "ground_truth.json").read_text(encoding="utf-8"))
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        contributions, baseline, diagnostics = fit(data, a.draws, a.tune, a.chains, a.seed, a.l_max, a.adstock)
    seconds = time.perf_counter() - start
    table = score(mmm, truth, contributions, baseline)
    out = a.out or a.folder / "mmm_score.csv"
    table.to_csv(out, index=False)
    controls = controls_of(data) or ["yearly Fourier terms (2 modes)"]
    if a.season_lag and "season" in controls:
        controls = [f"season (lagged {a.season_lag} weeks)" if c == "season" else c for c in controls]
    print(
        f"pymc-marketing MMM on {a.folder / 'mmm.csv'}: {len(mmm)} weeks, channels {', '.join(channels_of(mmm))}; "
        f"{a.adstock} adstock (l_max {a.l_max}), logistic saturation; "
        f"controls {', '.join(controls)}; {a.chains} chains x {a.draws} draws (+{a.tune} tune), seed {a.seed}, "
        f"{seconds:.0f} s, {diagnostics}"
    )
    print("| item | metric | estimate | truth | error % |")
    print("|---|---|---:|---:|---:|")
    for r in table.itertuples():
        fmt = "{:,.0f}" if r.metric.endswith("orders") else "{:.2f}"
        print(f"| {r.item} | {r.metric} | {fmt.format(r.estimate)} | {fmt.format(r.truth)} | {r.error_pct:+.0f}% |")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
