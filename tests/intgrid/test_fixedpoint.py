"""Fixed-point requantization against exact rational arithmetic."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgeopt.intgrid.fixedpoint import (NO_BOUND, WIDE_ACC_LIMIT, ceiling_bound, pack, quantize_multiplier, requantize,
                                        rounding_divide, rounding_shift)

INT32 = st.integers(-(2 ** 31) + 1, 2 ** 31 - 1)


def round_half_away(value: Fraction) -> int:
    magnitude = math.floor(abs(value) + Fraction(1, 2))
    return -magnitude if value < 0 else magnitude


@given(value=st.integers(-(2 ** 62), 2 ** 62), n=st.integers(1, 62))
def test_rounding_shift_is_exact_rounding_half_away_from_zero(value, n):
    assert int(rounding_shift(value, n)) == round_half_away(Fraction(value, 2 ** n))


@given(value=st.integers(-(2 ** 40), 2 ** 40), divisor=st.integers(1, 10_000))
def test_rounding_divide_is_exact(value, divisor):
    assert int(rounding_divide(value, divisor)) == round_half_away(Fraction(value, divisor))


@given(multiplier=st.floats(2.0 ** -39, 2.0 ** 21, allow_nan=False), acc=INT32)
def test_requantize_is_within_half_a_step_plus_the_mantissa_error(multiplier, acc):
    m, n = quantize_multiplier(multiplier)
    assert 2 ** 22 <= m < 2 ** 23 and 1 <= n <= 62
    assert abs(Fraction(m, 2 ** n) - Fraction(multiplier)) <= Fraction(multiplier) * Fraction(1, 2 ** 23)
    word = int(pack(m, n))
    assert word > 0 and (word >> 8, word & 0xFF) == (m, n)
    exact = Fraction(acc) * Fraction(m, 2 ** n)
    assert int(requantize(acc, m, n)) == round_half_away(exact)  # one rounding of the integer product
    assert abs(int(requantize(acc, m, n)) - float(acc) * multiplier) <= 0.5 + abs(acc) * multiplier * 2 ** -22


def test_requantize_is_elementwise_over_channels():
    acc = np.array([[100, -100], [7, -7]], np.int64)
    fixed = [quantize_multiplier(0.5), quantize_multiplier(0.25)]
    m = np.array([f[0] for f in fixed]).reshape(1, 2)
    n = np.array([f[1] for f in fixed]).reshape(1, 2)
    assert requantize(acc, m, n).tolist() == [[50, -25], [4, -2]]  # 3.5 -> 4 and -1.75 -> -2: half away from zero


@pytest.mark.parametrize("bad", [0.0, -1.0, math.inf, math.nan, 2.0 ** 22, 2.0 ** -41])
def test_multipliers_out_of_range_are_refused(bad):
    with pytest.raises(ValueError, match="multiplier"):
        quantize_multiplier(bad)


MULTIPLIER = st.floats(2.0 ** -39, 2.0 ** 21, allow_nan=False)


@given(ceiling=st.floats(2.0 ** -30, 2.0 ** 21), multiplier=MULTIPLIER, acc=st.integers(-(2 ** 40), 2 ** 40 - 1))
def test_ceiling_bound_is_the_largest_accumulator_below_the_ceiling(ceiling, multiplier, acc):
    """ReLU6's bound as one word a layer: exactly floor(C / M_c) of the two packed rationals, so clamping the
    accumulator there and requantizing never lands above the ceiling's own requantization."""
    cm, cn = quantize_multiplier(ceiling)
    m, n = quantize_multiplier(multiplier)
    bound = int(ceiling_bound(cm, cn, np.array([m]), np.array([n]))[0])
    exact = math.floor(Fraction(cm, 2 ** cn) / Fraction(m, 2 ** n))
    if exact >= WIDE_ACC_LIMIT:
        assert bound == NO_BOUND or bound == exact
    else:
        assert bound == exact
    clamped = min(acc, bound)
    assert Fraction(clamped * m, 2 ** n) <= Fraction(cm, 2 ** cn)
    # monotone requantization: the clamp commutes with it up to the bound's own rounding
    assert int(requantize(clamped, m, n)) <= round_half_away(Fraction(cm, 2 ** cn)) + 1
