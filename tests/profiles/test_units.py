import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgeopt.errors import UnitError
from edgeopt.profiles.units import Dimension, format_bytes, parse_duration, parse_quantity


@pytest.mark.parametrize(
    "text, dimension, expected",
    [
        ("320KB", Dimension.BYTES, 320_000),
        ("320KiB", Dimension.BYTES, 327_680),
        ("1MiB", Dimension.BYTES, 1_048_576),
        ("1MB", Dimension.BYTES, 1_000_000),
        ("4bit", Dimension.BYTES, 0.5),
        ("216MHz", Dimension.FREQUENCY, 216e6),
        ("3.5W", Dimension.POWER, 3.5),
        ("250mW", Dimension.POWER, 0.25),
        ("25TOPS", Dimension.MAC_RATE, 12.5e12),  # a MAC is two operations
        ("432MMAC/s", Dimension.MAC_RATE, 432e6),
        ("2ms", Dimension.TIME, 0.002),
        ("20us", Dimension.TIME, 2e-5),
        ("30min", Dimension.TIME, 1800),
        ("0.5pJ", Dimension.ENERGY, 0.5e-12),
        ("1.6GB/s", Dimension.BANDWIDTH, 1.6e9),
        ("80M", Dimension.COUNT, 80e6),
        ("2%", Dimension.FRACTION, 0.02),
        (0.02, Dimension.FRACTION, 0.02),
        (4000, Dimension.COUNT, 4000),
        (" 64 KiB ", Dimension.BYTES, 65536),
    ],
)
def test_parses_units_as_written(text, dimension, expected):
    assert parse_quantity(text, dimension) == pytest.approx(expected)


@pytest.mark.parametrize(
    "text, dimension, fragment",
    [
        ("320XB", Dimension.BYTES, "unknown unit 'XB'"),
        ("2 parsecs", Dimension.TIME, "unknown unit"),
        ("fast", Dimension.FREQUENCY, "cannot read 'fast'"),
        ("3W", Dimension.BYTES, "allowed: B, kB"),
        (True, Dimension.COUNT, "boolean"),
        ([1, 2], Dimension.COUNT, "got [1, 2]"),
        ("inf", Dimension.COUNT, "cannot read"),
    ],
)
def test_rejects_bad_quantities_with_allowed_units(text, dimension, fragment):
    with pytest.raises(UnitError, match=None) as info:
        parse_quantity(text, dimension)
    assert fragment in str(info.value)


_PREFIXES = {"": 1, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3}


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from(sorted(_PREFIXES)))
def test_byte_prefixes_scale_exactly(n, prefix):
    assert parse_quantity(f"{n}{prefix}B", Dimension.BYTES) == n * _PREFIXES[prefix]


@given(st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_subnormal=False),
       st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_subnormal=False))
def test_parsing_preserves_order(a, b):
    pa, pb = parse_quantity(f"{a!r}MHz", Dimension.FREQUENCY), parse_quantity(f"{b!r}MHz", Dimension.FREQUENCY)
    assert (a <= b) == (pa <= pb) or math.isclose(pa, pb)


@given(st.integers(min_value=0, max_value=2**40))
def test_plain_numbers_are_base_units(n):
    assert parse_quantity(n, Dimension.BYTES) == n
    assert parse_quantity(str(n), Dimension.BYTES) == n


def test_format_bytes_uses_binary_prefixes():
    assert format_bytes(327_680) == "320.0 KiB"
    assert format_bytes(100) == "100 B"


@pytest.mark.parametrize("text, seconds", [("90s", 90), ("30m", 1800), ("2h", 7200), ("1h30m", 5400), ("1.5h", 5400),
                                           ("45min", 2700), ("300", 300), ("2ms", 0.002), ("1h 30m 15s", 5415)])
def test_durations_read_as_people_write_them(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@given(st.integers(0, 99), st.integers(0, 59), st.integers(0, 59))
def test_hours_minutes_and_seconds_add_up(h, m, s):
    text = (f"{h}h" if h else "") + (f"{m}m" if m else "") + (f"{s}s" if s or not (h or m) else "")
    assert parse_duration(text) == h * 3600 + m * 60 + s


@pytest.mark.parametrize("text", ["", "m", "h30", "3x", "1d"])
def test_unreadable_durations_say_how_to_write_one(text):
    with pytest.raises(UnitError, match="write it like 90s, 30m, 2h or 1h30m"):
        parse_duration(text)


@given(st.one_of(st.floats(), st.integers(min_value=-(10 ** 400), max_value=10 ** 400),
                 st.from_regex(r"-?[0-9]{1,400}(\.[0-9]{0,5})?(e-?[0-9]{1,4})?(ms|us|s)?", fullmatch=True)))
def test_any_number_is_a_normal_finite_quantity_or_one_unit_error(value):
    """Huge integers, 1e400, NaN, subnormals: a UnitError naming the value, never OverflowError or a NaN figure."""
    try:
        seconds = parse_quantity(value, Dimension.TIME)
    except UnitError as exc:
        assert len(str(exc)) < 300
        return
    assert math.isfinite(seconds) and (seconds == 0 or abs(seconds) >= 2.2250738585072014e-308)
    assert abs(seconds) <= 1e30
