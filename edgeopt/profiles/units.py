"""Parse quantities with units ("320KB", "1MiB", "216MHz", "3.5W", "25TOPS", "2ms") into base units.

Base units: bytes, hertz, watts, seconds, joules, MAC/s, bytes/s, plain counts. Decimal prefixes (k, M, G, T) are
powers of 1000 and binary prefixes (Ki, Mi, Gi) are powers of 1024, exactly as written: "1MB" is 1,000,000 bytes and
"1MiB" is 1,048,576. Throughput given in operations (TOPS) counts a MAC as two operations.
"""

from __future__ import annotations

import math
import re
from enum import Enum

from edgeopt.numbers import NumberError, read_number, short_repr
from edgeopt.errors import UnitError


class Dimension(Enum):
    BYTES = "bytes"
    FREQUENCY = "frequency"
    POWER = "power"
    TIME = "time"
    ENERGY = "energy"
    MAC_RATE = "MAC/s"
    BANDWIDTH = "bytes/s"
    COUNT = "count"
    FRACTION = "fraction"


_DECIMAL = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}
_BINARY = {"Ki": 1024.0, "Mi": 1024.0**2, "Gi": 1024.0**3, "Ti": 1024.0**4}
_SUBUNIT = {"": 1.0, "m": 1e-3, "u": 1e-6, "µ": 1e-6, "n": 1e-9, "p": 1e-12, "f": 1e-15}

# Each dimension: unit symbol -> (allowed prefix table, factor to the base unit).
_UNITS: dict[Dimension, dict[str, tuple[dict[str, float], float]]] = {
    Dimension.BYTES: {"B": ({**_DECIMAL, **_BINARY}, 1.0), "bit": ({**_DECIMAL, **_BINARY}, 1 / 8)},
    Dimension.FREQUENCY: {"Hz": (_DECIMAL, 1.0)},
    Dimension.POWER: {"W": ({**_SUBUNIT, **_DECIMAL}, 1.0)},
    Dimension.TIME: {"s": (_SUBUNIT, 1.0), "min": ({"": 1.0}, 60.0), "h": ({"": 1.0}, 3600.0)},
    Dimension.ENERGY: {"J": ({**_SUBUNIT, **_DECIMAL}, 1.0)},
    Dimension.MAC_RATE: {"OPS": (_DECIMAL, 0.5), "MAC/s": (_DECIMAL, 1.0), "MACs/s": (_DECIMAL, 1.0)},
    Dimension.BANDWIDTH: {"B/s": ({**_DECIMAL, **_BINARY}, 1.0)},
    Dimension.COUNT: {"": (_DECIMAL, 1.0)},
    Dimension.FRACTION: {"%": ({"": 1.0}, 0.01), "": ({"": 1.0}, 1.0)},
}

_QUANTITY = re.compile(r"^\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*([^\d\s].*?)?\s*$")


def allowed_units(dimension: Dimension) -> list[str]:
    """Examples of the unit spellings accepted for a dimension, for error messages."""
    out = []
    for unit, (prefixes, _) in _UNITS[dimension].items():
        for prefix in prefixes:
            if prefix in ("K", "µ"):
                continue
            out.append(prefix + unit)
    return [u for u in out if u] or ["a plain number"]


def parse_quantity(value: object, dimension: Dimension) -> float:
    """Return `value` in the dimension's base unit. Plain numbers are taken as already in base units."""
    if isinstance(value, bool):
        raise UnitError(f"expected a {dimension.value} quantity, got a boolean {value!r}")
    try:
        if isinstance(value, (int, float)):
            result = float(read_number(value))
        elif isinstance(value, str):
            result = _parse_text(value, dimension)
        else:
            raise UnitError(f"expected a {dimension.value} quantity such as {_example(dimension)}, got {value!r}")
        if not math.isfinite(result):
            raise UnitError(f"{value!r} is not a finite {dimension.value} quantity")
        return float(read_number(result))  # in range once converted: "1e-310s" is subnormal in seconds
    except NumberError as exc:
        raise UnitError(f"{short_repr(value)} as a {dimension.value} quantity: {exc}") from None


def _parse_text(text: str, dimension: Dimension) -> float:
    match = _QUANTITY.match(text)
    if not match:
        raise UnitError(f"cannot read {text!r} as a {dimension.value} quantity; write it like {_example(dimension)}")
    number = float(match.group(1))
    suffix = (match.group(2) or "").strip()
    if not suffix:
        return number  # a bare number is already in base units, as for int and float values
    for unit, (prefixes, factor) in _UNITS[dimension].items():
        if unit and not suffix.endswith(unit):
            continue
        prefix = suffix[: len(suffix) - len(unit)] if unit else suffix
        if prefix in prefixes:
            return _scale(_scale(number, prefixes[prefix]), factor)
    raise UnitError(
        f"unknown unit {suffix!r} in {text!r} for a {dimension.value} quantity; "
        f"allowed: {', '.join(allowed_units(dimension))}"
    )


_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)(?:m|min))?(?:(\d+(?:\.\d+)?)s)?$")


def parse_duration(value: object) -> float:
    """Seconds of a wall-clock budget: "90s", "30m", "2h", "1h30m", "1.5h", "45min", a plain number of seconds, or
    any time quantity ("2ms"). "m" alone means minutes here: nobody gives a search a budget in milliseconds."""
    if isinstance(value, str):
        text = value.strip().replace(" ", "")
        match = _DURATION.match(text)
        if text and match and any(match.groups()):
            hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
            return hours * 3600 + minutes * 60 + seconds
        try:
            return parse_quantity(value, Dimension.TIME)
        except UnitError:
            raise UnitError(f"cannot read {value!r} as a duration; write it like 90s, 30m, 2h or 1h30m") from None
    return parse_quantity(value, Dimension.TIME)


def _scale(number: float, factor: float) -> float:
    # Dividing by 1e6 is exact where multiplying by 1e-6 is not: "20us" must read as 2e-05, not 1.9999999999999998e-05.
    return number * factor if factor >= 1 else number / round(1 / factor)


def _example(dimension: Dimension) -> str:
    return {
        Dimension.BYTES: '"320KiB" or "1MB"',
        Dimension.FREQUENCY: '"216MHz"',
        Dimension.POWER: '"3.5W"',
        Dimension.TIME: '"2ms"',
        Dimension.ENERGY: '"0.5pJ"',
        Dimension.MAC_RATE: '"25TOPS" or "432MMAC/s"',
        Dimension.BANDWIDTH: '"1.6GB/s"',
        Dimension.COUNT: '"4000" or "80M"',
        Dimension.FRACTION: '"2%" or 0.02',
    }[dimension]


def format_bytes(n_bytes: float) -> str:
    """Human-readable size with binary prefixes, e.g. 327680 -> '320.0 KiB'."""
    size = float(n_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def format_seconds(seconds: float) -> str:
    """Human-readable duration: '1.23 ms', '45.6 us'."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
        if abs(seconds) >= scale or unit == "ns":
            return f"{seconds / scale:.3g} {unit}"
    raise AssertionError("unreachable")


def format_joules(joules: float) -> str:
    """Human-readable energy: '3.2 uJ'."""
    for unit, scale in (("J", 1.0), ("mJ", 1e-3), ("uJ", 1e-6), ("nJ", 1e-9), ("pJ", 1e-12)):
        if abs(joules) >= scale or unit == "pJ":
            return f"{joules / scale:.3g} {unit}"
    raise AssertionError("unreachable")


def format_count(n: float) -> str:
    """Counts with SI suffixes: 3504872 -> '3.50M'."""
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{unit}"
    return f"{n:.0f}"
