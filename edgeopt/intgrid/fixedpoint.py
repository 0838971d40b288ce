"""Fixed-point requantization, as CMSIS-NN and TFLM do it: a real multiplier M > 0 becomes an integer mantissa m and
a right shift n, so that x * M ~ (x * m) / 2^n with one rounding, half away from zero. The C export computes exactly
these integers (int64 product, shifts of non-negative values only: no implementation-defined C).

The mantissa has 23 bits (m in [2^22, 2^23)), not CMSIS-NN's 31, so that m and n pack into one int32 per channel
(m << 8 | n): the 4 bytes a per-channel scale costs in the profiles. Its relative error, 2^-23, moves an int8 output
by at most 2^-15 of a step."""

from __future__ import annotations

import math

import numpy as np

INT32_MIN, INT32_MAX = -(2 ** 31), 2 ** 31 - 1
WIDE_ACC_LIMIT = 2 ** 40  # |accumulator| of an int16-input layer (int64): times a 23-bit mantissa, an int64
NO_BOUND = 2 ** 63 - 1
MANTISSA_BITS = 23


def quantize_multiplier(multiplier: float) -> tuple[int, int]:
    """(m, n) with multiplier ~ m / 2^n, m in [2^22, 2^23), 1 <= n <= 62; a ValueError for a multiplier outside
    [2^-40, 2^22)."""
    if not multiplier > 0 or not math.isfinite(multiplier):
        raise ValueError(f"a requantization multiplier must be positive and finite, got {multiplier!r}")
    mantissa, exponent = math.frexp(multiplier)  # multiplier = mantissa * 2^exponent, mantissa in [0.5, 1)
    m = round(mantissa * 2 ** MANTISSA_BITS)
    if m == 2 ** MANTISSA_BITS:
        m, exponent = 2 ** (MANTISSA_BITS - 1), exponent + 1
    n = MANTISSA_BITS - exponent
    if not 1 <= n <= 62:
        raise ValueError(f"requantization multiplier {multiplier:.6g} is out of the fixed-point range "
                         "[2^-40, 2^22)")
    return m, n


def pack(m, n):
    """One int32 per channel: m << 8 | n (m < 2^23, so the word is positive)."""
    return (np.asarray(m, np.int64) << 8 | np.asarray(n, np.int64)).astype(np.int32)


def rounding_shift(values, n: int | np.ndarray):
    """round(values / 2^n), half away from zero, for int64 `values` (numpy, elementwise)."""
    values = np.asarray(values, dtype=np.int64)
    n = np.asarray(n, dtype=np.int64)
    half = np.left_shift(np.int64(1), n - 1)
    magnitude = np.right_shift(np.abs(values) + half, n)
    return np.where(values < 0, -magnitude, magnitude)


def requantize(acc, m, n):
    """round(acc * m / 2^n), half away from zero: int32 accumulators to the next grid (before its zero point)."""
    acc = np.asarray(acc, dtype=np.int64)
    # |acc| < WIDE_ACC_LIMIT and m < 2^23: the product fits an int64 exactly
    return rounding_shift(acc * np.asarray(m, dtype=np.int64), n)


def ceiling_bound(ceiling_m: int, ceiling_n: int, m, n):
    """The accumulator bound floor(C / M_c) of an activation ceiling C = ceiling_m / 2^ceiling_n (in output steps)
    and a channel's requantization M_c = m / 2^n: one word a layer instead of a bound a channel. Integer only:
    floor(ceiling_m * 2^(n - ceiling_n) / m); NO_BOUND where that is 2^40 or more (no accumulator reaches it)."""
    m = np.asarray(m, dtype=np.int64)
    e = np.asarray(n, dtype=np.int64) - ceiling_n
    # ceiling_m < 2^23 <= 2 m: below e = 0 the bound is 0; beyond e = 40 it is 2^40 or more
    bound = (np.int64(ceiling_m) << np.clip(e, 0, 40)) // m
    return np.where(e < 0, 0, np.where(e > 40, NO_BOUND, bound))


def rounding_divide(values, divisor: int):
    """round(values / divisor), half away from zero (average pooling of accumulators)."""
    values = np.asarray(values, dtype=np.int64)
    magnitude = (np.abs(values) + divisor // 2) // divisor
    return np.where(values < 0, -magnitude, magnitude)
