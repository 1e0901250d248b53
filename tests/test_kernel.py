"""The compiled step (cjmsim.engine.kernel) computes bit for bit what the numpy step computed.

The kernels replace whole-array numpy operations by loops over agents; nothing about the model changes,
so every comparison here is exact equality, never a tolerance: the own-stage logit against BLAS's matrix
product, the exposures against the numpy functions of cjmsim.engine.exposure, and whole runs of every
shipped scenario (messages, triggers, seasonality, pay per action, interventions, satisfaction, capacity)
with the kernels on and off (``step.COMPILED``).
"""

from __future__ import annotations

from pathlib import Path

import helpers
import numpy as np
import pytest
from test_engine import assert_records_equal

import cjmsim.engine.step as step
from cjmsim import load_scenario, parse_scenario
from cjmsim.engine import make_streams, run_plan, run_plans
from cjmsim.engine.exposure import exposure_counts, exposure_thresholds, hill, hits_cells
from cjmsim.engine.kernel import decide_block, expose_block, logits_block, movers_block, sigmoid_array
from cjmsim.engine.population import CUSTOMER, LOYAL, N_CELLS, REACHED

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("k", [2, 5, 9, 17])
@pytest.mark.parametrize("n", [2, 3, 17, 1000, 10_001])
def test_own_stage_logit_is_blas_bit_for_bit(k: int, n: int) -> None:
    """logits_block's fused multiply-adds in row order give each agent the element of its stage row of
    np.matmul(coef, sat): the product the numpy step took its logits from. (For a single column numpy
    calls a matrix-vector product, which may round differently in the last bit: a block of one agent.)"""
    rng = np.random.default_rng(k * n)
    coef = rng.normal(0, 3, size=(7, k)).astype(np.float32)
    sat = rng.random((k, n), dtype=np.float32)
    sat[k - 1] = 1.0  # the base row
    stage = rng.integers(0, 7, n).astype(np.uint8)
    full = np.empty((7, n), dtype=np.float32)
    np.matmul(coef, sat, out=full)
    out = np.empty(n, dtype=np.float32)
    none = np.zeros(0, dtype=np.intp)
    logits_block(np.zeros((1, n), np.float32), none, none.astype(np.int8), none.astype(np.float32),
                 np.zeros(1, bool), sat, coef, stage, out)  # fmt: skip
    np.testing.assert_array_equal(out, full[stage, np.arange(n)])


@pytest.mark.parametrize("slope", [1.0, 2.0])
def test_plain_saturation_is_numpy_hill_bit_for_bit(slope: float) -> None:
    rng = np.random.default_rng(3)
    n, half = 5000, 0.7
    A = (rng.exponential(2.0, size=(2, n)) * (rng.random((2, n)) < 0.6)).astype(np.float32)
    sat = np.zeros((3, n), dtype=np.float32)
    sat[2] = 1.0
    rows = np.array([1, 0], dtype=np.intp)
    kind = np.array([int(slope), int(slope)], dtype=np.int8)
    halves = np.full(2, half if slope == 1.0 else half * half, dtype=np.float32)
    out = np.empty(n, dtype=np.float32)
    logits_block(A, rows, kind, halves, np.ones(2, bool), sat, np.ones((7, 3), np.float32),
                 np.zeros(n, np.uint8), out)  # fmt: skip
    for j, c in enumerate(rows):
        want = np.empty(n, dtype=np.float32)
        hill(A[c], half, slope, out=want, amax=float(A.max()))
        np.testing.assert_array_equal(sat[j], want)


def test_exposures_are_the_numpy_functions_bit_for_bit() -> None:
    """One channel, means per audience cell: the hits, exposure counts, adstock (with decay and message
    fit), units per cell and reach flags of expose_block against hits_cells and exposure_counts."""
    rng = np.random.default_rng(11)
    n, cap = 30_000, 4
    lam = np.where(rng.random(N_CELLS) < 0.6, rng.exponential(0.8, N_CELLS), 0.0)
    thr = exposure_thresholds(lam, cap)  # (28, cap)
    key = rng.integers(0, N_CELLS, n).astype(np.uint8)
    U = rng.integers(0, 65536, size=(1, n), dtype=np.uint16)
    A0 = rng.exponential(1.0, size=(1, n)).astype(np.float32)
    fit = rng.random(N_CELLS).astype(np.float32)
    flags = (rng.random(n) < 0.3).astype(np.uint8) * np.uint8(REACHED)
    decay = np.array([0.6], dtype=np.float32)
    # numpy
    hit = hits_cells(U[0], thr[:, 0], key)
    x = exposure_counts(U[0][hit], key[hit], thr, False)
    A_np = A0.copy()
    np.multiply(A_np[0], decay[0], out=A_np[0])
    A_np[0][hit] += x * fit[key[hit]]
    units_np = np.bincount(key[hit], weights=x, minlength=N_CELLS)
    fresh = hit[(flags[hit] & REACHED) == 0]
    # compiled
    A, units, fl, exposed = A0.copy(), np.zeros((1, N_CELLS)), flags.copy(), np.zeros(1, bool)
    last = np.full((1, n + 5), -1, dtype=np.int16)
    reached = expose_block(
        U, key, thr[None], np.array([cap]), np.ones(1, bool), np.ones(1, bool), decay, fit[None],
        np.ones(1, bool), A, exposed, units, fl, True, np.array([0]), last, 5, 9,
    )  # fmt: skip
    np.testing.assert_array_equal(A, A_np)
    np.testing.assert_array_equal(units[0], units_np)
    assert reached == fresh.size and exposed[0] == (hit.size > 0)
    assert ((fl & REACHED) != 0).sum() == ((flags & REACHED) != 0).sum() + fresh.size
    np.testing.assert_array_equal(np.flatnonzero(last[0] == 9), hit + 5)  # pay per action: who, when


def test_movers_are_the_numpy_bound_bit_for_bit() -> None:
    rng = np.random.default_rng(5)
    n = 20_000
    p = rng.random(n, dtype=np.float32)
    u = rng.random(n, dtype=np.float32)
    drops = rng.random(7).astype(np.float32) * 0.2
    stage = rng.integers(0, 7, n).astype(np.uint8)
    bound = np.take(drops, stage)
    bound *= 1.0 - p
    bound += p
    out = np.empty(n, dtype=np.intp)
    np.testing.assert_array_equal(out[: movers_block(p, u, drops, stage, out)], np.flatnonzero(u < bound))


def _numpy_sigmoid(x: np.ndarray) -> np.ndarray:
    """The numpy step's sigmoid of float32 logits: negate, exp, add 1, reciprocal, in place."""
    p = x.copy()
    np.negative(p, out=p)
    with np.errstate(over="ignore", invalid="ignore"):  # NaN and inf among the inputs
        np.exp(p, out=p)
    p += 1.0
    np.reciprocal(p, out=p)
    return p


def test_sigmoid_is_numpys_bit_for_bit() -> None:
    """The compiled sigmoid (kernel.expf: numpy's float32 exp written out) against numpy's, on every 97th
    float32 bit pattern (both signs, zero to NaN: about 44 million values, each exponent and mantissa region)
    and at the edges of exp's range. benchmarks/bench_expf.py compares every float32."""
    bits = np.arange(0, 1 << 32, 97, dtype=np.uint64).astype(np.uint32)
    xmax, xmin = 88.72283935546875, 103.97208404541015625  # exp's overflow and underflow edges
    edges = [0.0, -0.0, xmax, -xmax, xmin, -xmin, 87.33654, -87.33654, 17.0, -17.0, np.inf, -np.inf]
    edges = np.array([*edges, np.finfo(np.float32).tiny], dtype=np.float32)
    x = np.concatenate([bits.view(np.float32), edges, np.nextafter(edges, np.float32(np.inf))])
    want = _numpy_sigmoid(x)
    got = np.empty_like(x)
    sigmoid_array(x, got)
    nan = np.isnan(want)
    assert (np.isnan(got) == nan).all()
    np.testing.assert_array_equal(got[~nan].view(np.uint32), want[~nan].view(np.uint32))


@pytest.mark.parametrize("cycle", [False, True])
@pytest.mark.parametrize("satisfaction", [False, True])
def test_movers_of_a_journey_move_are_the_numpy_steps(cycle: bool, satisfaction: bool) -> None:
    """decide_block against the numpy step's _decide: the purchase-cycle logits of customers and loyal agents,
    the unsatisfied agents' offsets, the sigmoid, then the movers and their probabilities and uniforms."""
    rng = np.random.default_rng(21 + 2 * cycle + satisfaction)
    n, t, D = 9_000, 40, 300  # several tiles of 4096
    p = rng.normal(-2.0, 3.0, n).astype(np.float32)
    stage = rng.integers(0, 7, n).astype(np.uint8)
    last = rng.integers(-200, t + 1, n).astype(np.int16)
    table = rng.normal(-1.0, 1.0, (2, D)).astype(np.float32) if cycle else np.zeros((0, 0), np.float32)
    unsat = rng.random(n) < 0.3 if satisfaction else np.zeros(0, bool)
    offsets = rng.normal(0.0, 1.0, 7).astype(np.float32)
    u = rng.random(n, dtype=np.float32)
    drops = (rng.random(7) * 0.2).astype(np.float32)
    # numpy, as World._decide
    q = p.copy()
    if cycle:
        post = np.flatnonzero((stage == CUSTOMER) | (stage == LOYAL))
        d = np.clip(t - last[post].astype(np.int32), 0, D - 1)
        q[post] += table[(stage[post] == LOYAL).astype(np.intp), d]
    if satisfaction:
        un = np.flatnonzero(unsat)
        q[un] += offsets[stage[un]]
    q = _numpy_sigmoid(q)
    want = np.flatnonzero(u < np.take(drops, stage) * (1.0 - q) + q)
    mv, pm, um = np.empty(n, np.intp), np.empty(n, np.float32), np.empty(n, np.float32)
    k = decide_block(p, stage, table, last, t, unsat, offsets, u, drops, mv, pm, um)
    np.testing.assert_array_equal(mv[:k], want)
    np.testing.assert_array_equal(pm[:k], q[want])
    np.testing.assert_array_equal(um[:k], u[want])


def _both(monkeypatch: pytest.MonkeyPatch, run) -> tuple:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(step, "COMPILED", False)
    slow = run()
    monkeypatch.setattr(step, "COMPILED", True)
    return slow, run()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["hifi", "clinic", "minimal", "mmm", "clv"])
def test_shipped_scenarios_compiled_equals_numpy(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Every plan of every shipped scenario: the records with the kernels and without are equal, on two
    threads (the kernels release the GIL) and with the plans sharing the warm-up."""
    sc = load_scenario(ROOT / "scenarios" / f"{name}.toml")
    weeks = min(sc.scenario.weeks, 30)
    plans = [*sc.plans, None]

    def run() -> list:
        return run_plans(sc, plans, make_streams(4, 0, len(sc.segments)), 60_000, weeks, threads=2)

    slow, fast = _both(monkeypatch, run)
    for a, b in zip(slow, fast, strict=True):
        assert_records_equal(a, b)


def test_saturation_forms_and_messages_compiled_equals_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The funnel's slopes 1, 2 and 1.5 (numpy's power form between the kernels' passes), a message fit,
    a triggered e-mail merged into the exposures and a warm-up: the same records either way."""
    data = helpers.funnel_scenario()
    data["scenario"].update(warmup_weeks=4, weeks=10)
    data["channels"]["email"] = {"cost": {"per_message": 1.0}, "requires": "contact", "frequency_cap": 2}
    data["messages"] = {"m": {"fit": {"a": 1.0}, "fit_other": 0.4}}
    camps = data["plans"]["base"]["campaigns"]
    camps[0]["message"] = "m"
    camps.append({"channel": "email", "trigger": {"event": "desire", "after": 1}, "message": "m"})
    sc = parse_scenario(data)

    def run() -> object:
        return run_plan(sc, "base", make_streams(8, 0, 2), 6_000, 10, threads=1)

    slow, fast = _both(monkeypatch, run)
    assert fast.units.sum() > 0 and fast.orders.sum() > 0
    assert_records_equal(slow, fast)


_ONE_SIGNATURE = """
import numba
import cjmsim
from cjmsim.engine import exposure, kernel, pcg
sc = cjmsim.load_scenario("scenarios/hifi.toml")
cjmsim.simulate(sc, agents=3_000, reps=1, weeks=8)
for mod in (kernel, exposure, pcg):
    for name, f in vars(mod).items():
        if isinstance(f, numba.core.registry.CPUDispatcher) and f.__module__ == mod.__name__:
            print(mod.__name__, name, len(f.signatures))
"""


def test_a_run_compiles_every_kernel_once() -> None:
    """A fresh process running hifi (run, its three plans and no marketing) compiles each kernel for one
    signature: a kernel called from another with a literal constant (``False``, ``0``) is typed anew
    (Literal[bool], Literal[int]) and compiled a second time beside the Python caller's version, which
    costs seconds of a fresh install's first run. At least one kernel of each module must have run."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", _ONE_SIGNATURE], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split("\n")
    counts = {f"{m}.{n}": int(k) for m, n, k in (line.split() for line in out if line)}
    assert {name: k for name, k in counts.items() if k > 1} == {}
    for module in ("kernel", "exposure", "pcg"):
        assert any(k == 1 for name, k in counts.items() if f".{module}." in name), module
    # hifi's blocks all take the fused week (cjm's triggered e-mail too: step_block and expose_messages run
    # inside week_block, not from Python); the week's bill and orders are one call each
    for name in ("week_block", "buy_units", "orders_week"):
        assert counts[f"cjmsim.engine.kernel.{name}"] == 1, name


def _numpy_bill(lam, cell_lams, units_cell, chans, weight, budget, carried, price, carry_rate, lean):
    """The week's bill and money records as World._buy computed them with numpy before kernel.buy_units."""
    G, C = lam.shape[0], lam.shape[1]
    planned, spend_rec, stage_rec = np.zeros(C), np.zeros((G, C)), np.zeros((G, C, 7))
    lam_c = lam.transpose(1, 0, 2)[chans]
    shares = np.divide(cell_lams, lam_c, out=np.zeros_like(cell_lams), where=lam_c > 0)
    taken = units_cell.transpose(1, 0, 2)[chans] * shares
    delivered_gs = taken.sum(axis=2) * weight
    delivereds = delivered_gs.sum(axis=1)
    spend = np.minimum(np.maximum(delivereds - carried, 0.0), budget / price) * price
    carry = carry_rate[chans] * delivereds
    carry[carry * price < 1e-6] = 0.0
    np.add.at(planned, chans, budget)
    got = np.flatnonzero(delivereds > 0)
    d = delivereds[got]
    np.add.at(spend_rec.T, chans[got], spend[got, None] * delivered_gs[got] / d[:, None])
    if not lean:
        by_stage = taken[got].reshape(got.size, G, 7, 4).sum(axis=3)
        money = spend[got, None, None] * by_stage * weight / d[:, None, None]
        np.add.at(stage_rec.transpose(1, 0, 2), chans[got], money)
    partial = np.array([(shares[p][cell_lams[p] > 0] < 1.0).any() for p in range(len(chans))])
    return (shares, taken, delivered_gs, delivereds, spend, carry, partial), (planned, spend_rec, stage_rec)


@pytest.mark.parametrize("G", [1, 6, 9, 130])  # one accumulator, eight, and numpy's halves beyond 128 segments
@pytest.mark.parametrize("lean", [False, True])
def test_buy_units_is_numpys_bill_bit_for_bit(G, lean):
    from cjmsim.engine.kernel import buy_units

    rng = np.random.default_rng(G)
    C, P = 4, 7
    chans = rng.integers(0, C, P).astype(np.intp)  # campaigns share channels
    cell_lams = rng.gamma(0.5, 2.0, (P, G, N_CELLS)) * (rng.random((P, G, N_CELLS)) < 0.7)
    lam = np.zeros((G, C, N_CELLS))
    np.add.at(lam.transpose(1, 0, 2), chans, cell_lams)  # the channels' means: the campaigns' sums
    units_cell = rng.gamma(2.0, 50.0, (G, C, N_CELLS)) * (lam > 0)
    weight = 3.7
    budget = rng.uniform(0, 5e4, P)
    budget[2], budget[4] = 0.0, 1e12  # none planned; more than the audience can take
    carried, price = rng.uniform(0, 200, P), rng.uniform(0.2, 40, P)
    carry_rate = np.array([0.0, 0.3, 0.5, 1e-12])  # the last leaves carries worth under a kopeck
    want, records = _numpy_bill(lam, cell_lams, units_cell, chans, weight, budget, carried, price, carry_rate, lean)
    planned, spend_rec, stage_rec = np.zeros(C), np.zeros((G, C)), np.zeros((G, C, 7))
    got = buy_units(lam, cell_lams, units_cell, chans, weight, budget, carried, price, carry_rate, True, lean,
                    planned, spend_rec, stage_rec)  # fmt: skip
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)  # equal, not close: the same float64 operations in the same order
    for a, b in zip((planned, spend_rec, stage_rec), records, strict=True):
        np.testing.assert_array_equal(a, b)
    assert (want[5] == 0).any() and (want[4] > 0).any() and (want[4] < budget).any()  # every branch was taken
    assert want[6].any() and not want[6].all()  # campaigns that share a cell with another of their channel, and not
    untouched = [np.zeros(C), np.zeros((G, C)), np.zeros((G, C, 7))]
    buy_units(lam, cell_lams, units_cell, chans, weight, budget, carried, price, carry_rate, False, lean, *untouched)
    assert not any(a.any() for a in untouched)  # the warm-up records nothing


@pytest.mark.parametrize("horizon", [True, False])
def test_orders_week_is_the_blocks_numpy_orders_bit_for_bit(horizon):
    """kernel.orders_week against World._orders_together's numpy path: values from order_uniforms and
    _order_values over every block's buyers, then each block's counters and LTV windows (np.bincount)."""
    from cjmsim.engine.kernel import orders_week
    from cjmsim.engine.step import _MARGIN, _ORDERS, _REVENUE, _order_values
    from cjmsim.engine.streams import order_counter, order_uniforms

    rng = np.random.default_rng(5)
    B, agents, weeks, t, ltv_weeks, key = 4, 5000, 30, 17, 6, 0x1234_5678_9ABC
    acquired = rng.integers(-1, t, agents).astype(np.int16)  # -1: never acquired
    mu, sigma, margin = rng.uniform(5, 9, B), rng.uniform(0.1, 0.9, B), rng.uniform(0.05, 0.4, B)
    blocks = np.array([0, 2, 3], dtype=np.intp)  # block 1 had no buyer this week
    sizes = [300, 9, 140]  # pairwise sums with eight accumulators and with one
    # each block's buyers among its own agents (a block is a range of the population)
    buyers = np.concatenate(
        [b * 1250 + np.sort(rng.choice(1250, k, replace=False)) for b, k in zip(blocks, sizes, strict=True)]
    )
    first = rng.random(buyers.size) < 0.3
    start = np.concatenate([[0], np.cumsum(sizes)])
    acc0, ltv0 = rng.uniform(0, 1e4, (B, 10)), rng.uniform(0, 1e3, (B, weeks))

    acc, ltv, last = acc0.copy(), ltv0.copy(), np.full(agents, -1, dtype=np.int16)
    u1, u2 = order_uniforms(key, buyers, t, 0)
    value = _order_values(u1, u2, np.repeat(mu[blocks], sizes), np.repeat(sigma[blocks], sizes))
    for j, b in enumerate(blocks):
        bi, f, v = buyers[start[j] : start[j + 1]], first[start[j] : start[j + 1]], value[start[j] : start[j + 1]]
        last[bi] = t
        if horizon:
            acc[b, _ORDERS] += bi.size
            acc[b, _REVENUE] += v.sum()
            acc[b, _MARGIN] += v.sum() * margin[b]
            acq = np.where(f, t, acquired[bi].astype(np.int64))
            ok = (acq >= 0) & (t - acq < ltv_weeks)
            if ok.any():
                ltv[b] += np.bincount(acq[ok], weights=v[ok] * margin[b], minlength=weeks)

    acc_k, ltv_k, last_k = acc0.copy(), ltv0.copy(), np.full(agents, -1, dtype=np.int16)
    got = orders_week(np.uint64(key), order_counter(t, 0), buyers, first, start, blocks, mu, sigma, margin, t,
                      horizon, ltv_weeks, last_k, acquired, acc_k, ltv_k, _ORDERS, _REVENUE, _MARGIN)  # fmt: skip
    np.testing.assert_array_equal(got, value)  # equal, not close: the same operations in the same order
    np.testing.assert_array_equal(last_k, last)
    np.testing.assert_array_equal(acc_k, acc)
    np.testing.assert_array_equal(ltv_k, ltv)
    assert (ltv != ltv0).any() == horizon and (last == t).sum() == buyers.size
