"""The compiled PCG64 stream (cjmsim.engine.pcg) draws exactly what numpy's default generator draws.

A block's exposure uniforms are ``random_raw`` outputs read as 16-bit integers and its journey uniforms
``Generator.random(dtype=np.float32)``; the stream must give the same numbers for any sequence of calls
(sizes 0, 1, odd, every remainder modulo the four lanes), keep numpy's buffered half of a 64-bit output
between float32 calls, and a copy must go on from the same state, apart from the original.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from cjmsim.engine.pcg import PCGStream


def _numpy_uint16(rng: np.random.Generator, rows: int, n: int) -> np.ndarray:
    return rng.bit_generator.random_raw((rows * n + 3) // 4).view(np.uint16)[: rows * n].reshape(rows, n)


@pytest.mark.parametrize("seed", [0, 1, 2026, 2**63 + 5])
def test_a_mixed_sequence_of_draws_equals_numpys(seed: int) -> None:
    seq = np.random.SeedSequence(seed).spawn(3)[2]
    ref, ours = np.random.default_rng(seq), PCGStream(seq)
    sizes = np.random.default_rng(seed + 1).integers(0, 70, size=120)
    sizes[:12] = [0, 1, 2, 3, 4, 5, 7, 8, 9, 1, 1, 1]  # every remainder modulo four, and odd counts in a row
    for i, n in enumerate(sizes.tolist()):
        if i % 3 == 0:
            rows = 1 + i % 7
            np.testing.assert_array_equal(ours.uint16(rows, n), _numpy_uint16(ref, rows, n), err_msg=f"call {i}")
        else:
            np.testing.assert_array_equal(ours.random_float32(n), ref.random(n, dtype=np.float32), err_msg=f"call {i}")
    assert ours.random_float32(3).dtype == np.float32


def test_large_blocks_and_an_output_buffer_equal_numpys() -> None:
    seq = np.random.SeedSequence(7)
    ref, ours = np.random.default_rng(seq), PCGStream(seq)
    out, want = np.empty(262_145, dtype=np.float32), np.empty(262_145, dtype=np.float32)
    for _ in range(3):
        np.testing.assert_array_equal(ours.uint16(7, 131_071), _numpy_uint16(ref, 7, 131_071))
        ours.random_float32(out.size, out)
        ref.random(out.size, dtype=np.float32, out=want)
        np.testing.assert_array_equal(out, want)
    assert 0.0 <= out.min() and out.max() < 1.0 and abs(float(out.mean()) - 0.5) < 3 * (1 / 12 / out.size) ** 0.5


def test_a_copy_goes_on_from_the_same_state_apart_from_the_original() -> None:
    a = PCGStream(np.random.SeedSequence(3))
    a.random_float32(5)  # an odd count: an upper half is buffered, and the copy must carry it
    b = copy.deepcopy(a)
    first = a.random_float32(9)
    np.testing.assert_array_equal(b.random_float32(9), first)
    np.testing.assert_array_equal(a.uint16(3, 10), b.uint16(3, 10))
    a.uint16(1, 4)  # the original moves on alone
    assert not np.array_equal(a.random_float32(4), b.random_float32(4))


def test_the_buffers_a_compiled_caller_draws_into_give_numpys_numbers() -> None:
    """kernel.week_block draws a block's week itself: ``fill_outputs`` into :meth:`PCGStream.uint16_buffers`
    and ``float32_into`` with :meth:`PCGStream.float32_scratch` give numpy's numbers, also when the shape
    changes, when ``uint16`` grew the buffer in between, and in a copy."""
    from cjmsim.engine.pcg import fill_outputs, float32_into

    seq = np.random.SeedSequence(11)
    ref, ours = np.random.default_rng(seq), PCGStream(seq)
    for i, (rows, n) in enumerate([(3, 5), (3, 5), (2, 9), (2, 9), (7, 1)]):
        raw, view = ours.uint16_buffers(rows, n)
        fill_outputs(ours.state, ours.lanes, raw, raw.size)
        np.testing.assert_array_equal(view, _numpy_uint16(ref, rows, n), err_msg=f"{rows} x {n}")
        if i == 2:  # a larger uint16 call reallocates the stream's buffer in between
            np.testing.assert_array_equal(ours.uint16(9, 40), _numpy_uint16(ref, 9, 40))
    twin = np.random.default_rng(seq)
    twin.bit_generator.state = ref.bit_generator.state
    other = copy.deepcopy(ours)
    for stream, rng in ((ours, ref), (other, twin)):
        for n in (13, 6, 1):  # odd counts: the buffered upper half carries over between calls
            out = np.empty(n, dtype=np.float32)
            float32_into(stream.state, stream.lanes, out, stream.float32_scratch(n))
            np.testing.assert_array_equal(out, rng.random(n, dtype=np.float32))
