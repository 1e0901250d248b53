"""The compiled float32 exp and sigmoid (cjmsim.engine.kernel.expf, sigmoid32) against numpy's, on every float32.

The engine's sigmoid moved from numpy into the compiled step (issue 15) on the promise that it gives the same
bits: this script checks that promise on all 2^32 float32 bit patterns (NaN compared as NaN), for exp and for
the sigmoid the step computes, and times both forms of the sigmoid on a million logits. It takes about two
minutes on 2 cores; tests/test_kernel.py checks a dense sample in the suite.

    python benchmarks/bench_expf.py
"""

from __future__ import annotations

import os
import time

import numba
import numpy as np

from cjmsim.engine.kernel import expf, sigmoid_array

CHUNK = 1 << 24


@numba.njit(nogil=True, error_model="numpy")
def _exp_array(x: np.ndarray, out: np.ndarray) -> None:
    for i in range(x.size):
        out[i] = expf(x[i])


def _numpy_sigmoid(x: np.ndarray, out: np.ndarray) -> None:
    np.negative(x, out=out)
    np.exp(out, out=out)
    out += 1.0
    np.reciprocal(out, out=out)


def _differ(a: np.ndarray, b: np.ndarray) -> int:
    both_nan = np.isnan(a) & np.isnan(b)
    return int(((a.view(np.uint32) != b.view(np.uint32)) & ~both_nan).sum())


def main() -> None:
    """Compare every float32, then time the two sigmoids."""
    started = time.time()
    bad_exp = bad_sigmoid = 0
    got, want = np.empty(CHUNK, np.float32), np.empty(CHUNK, np.float32)
    with np.errstate(all="ignore"):
        for start in range(0, 1 << 32, CHUNK):
            x = np.arange(start, start + CHUNK, dtype=np.uint64).astype(np.uint32).view(np.float32)
            _exp_array(x, got)
            np.exp(x, out=want)
            bad_exp += _differ(got, want)
            sigmoid_array(x, got)
            _numpy_sigmoid(x, want)
            bad_sigmoid += _differ(got, want)
    print(f"every float32 (2^32 inputs), {time.time() - started:.0f} s: exp differs from np.exp on {bad_exp}, "
          f"the sigmoid from numpy's on {bad_sigmoid}")  # fmt: skip
    x = np.random.default_rng(1).normal(-3.0, 4.0, 1 << 20).astype(np.float32)
    out = np.empty_like(x)
    for name, fn in (("numpy (4 passes)", _numpy_sigmoid), ("compiled (one pass)", sigmoid_array)):
        fn(x, out)
        best = min(_timed(fn, x, out) for _ in range(20))
        print(f"sigmoid, {name}: {best / x.size * 1e9:.2f} ns per value (load {os.getloadavg()[0]:.2f})")
    if bad_exp or bad_sigmoid:
        raise SystemExit("the compiled exp or sigmoid differs from numpy's")


def _timed(fn, x: np.ndarray, out: np.ndarray) -> float:  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    fn(x, out)
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
