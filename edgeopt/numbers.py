"""The one reader of numbers from YAML, CSV, JSON and flags: finite, within the range stated for the figure, whole
where a count is meant. Python's integers are compared exactly, so a 300-digit integer is out of range, never an
OverflowError; NaN, infinities and subnormal floats (5e-324) are refused before they reach any arithmetic."""

from __future__ import annotations

import math
import sys

from edgeopt.errors import EdgeoptError

# Magnitudes past these are typing accidents, not devices: their products overflow or lose every digit.
LARGEST = 1e30
SMALLEST = sys.float_info.min  # below it a float is subnormal: its reciprocal overflows


class NumberError(EdgeoptError):
    """A number that is not one, or lies outside what the figure allows."""


def read_number(value: object, *, low: float | None = None, high: float | None = None, integer: bool = False,
                low_open: bool = False) -> int | float:
    """`value` (an int, a float, or text holding one) checked: finite, not subnormal, at most `LARGEST` in size,
    within [`low`, `high`] (`low_open`: above `low`), and whole when `integer` (then returned as an int)."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = int(text) if text.lstrip("+-").isdigit() and len(text) < 40 else float(text)
        except ValueError:
            raise NumberError(f"{value!r} is not a number") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise NumberError(f"{value!r} is not a number")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NumberError(f"{value!r} is not a finite number")
        if value != 0 and abs(value) < SMALLEST:
            raise NumberError(f"{value!r} is too small to compute with (a subnormal float); give 0 or a normal number")
    if abs(value) > LARGEST:
        raise NumberError(f"{short_repr(value)} is too large (at most {LARGEST:g})")
    if integer:
        if isinstance(value, float) and not value.is_integer():
            raise NumberError(f"{value!r} is not a whole number")
        value = int(value)
    if low is not None and (value <= low if low_open else value < low):
        raise NumberError(f"{short_repr(value)} is {'not above' if low_open else 'below'} {low:g}")
    if high is not None and value > high:
        raise NumberError(f"{short_repr(value)} is above {high:g}")
    return value


def short_repr(value: object) -> str:
    """`value`'s repr, a long one (a 300-digit integer) cut to what an error line can hold."""
    text = repr(value)
    return text if len(text) <= 24 else f"{text[:12]}...({len(text)} digits)"


def check_fields(owner: str, record, bounds: dict[str, tuple[float | None, float | None, bool]],
                 above: tuple[str, ...] = ()) -> None:
    """Each field of `record` named in `bounds` (lowest, highest, whole number?) read by `read_number` (the fields
    named in `above` must be more than their lowest); None passes. Raises NumberError naming `owner` (if any) and
    the field."""
    prefix = f"{owner}: " if owner else ""
    for name, (low, high, integer) in bounds.items():
        value = getattr(record, name)
        if value is None:
            continue
        if isinstance(value, str):  # a record holds numbers; text is read with read_number where it comes in
            raise NumberError(f"{prefix}{name}: {short_repr(value)} is text, not a number")
        try:
            read_number(value, low=low, high=high, integer=integer, low_open=name in above)
        except NumberError as exc:
            raise NumberError(f"{prefix}{name}: {exc}") from None
        if integer and isinstance(value, float):
            raise NumberError(f"{prefix}{name}: expected a whole number, got {short_repr(value)}")
