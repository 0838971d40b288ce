"""Number formats a device stores weights and activations in."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NumberFormat:
    name: str
    bits: int
    integer: bool  # integer formats carry per-channel (or per-tensor) scales and zero points

    @property
    def bytes(self) -> float:
        return self.bits / 8


FORMATS: dict[str, NumberFormat] = {
    f.name: f
    for f in (
        NumberFormat("fp32", 32, False),
        NumberFormat("fp16", 16, False),
        NumberFormat("bf16", 16, False),
        NumberFormat("int16", 16, True),
        NumberFormat("int8", 8, True),
        NumberFormat("int4", 4, True),
        # Mythic-style analog cells: ~8 bits of conductance per weight, programmed with a per-channel scale.
        NumberFormat("analog8", 8, True),
    )
}


def get_format(name: str) -> NumberFormat:
    """Format by name; raises ValueError listing the valid ones."""
    try:
        return FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown number format {name!r}; valid formats: {', '.join(FORMATS)}") from None
