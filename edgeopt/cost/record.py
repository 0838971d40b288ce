"""Cost: an additive record of what running part of a model costs on a device. Totals are sums of layer costs."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Cost:
    params: int = 0
    weight_bytes: float = 0.0  # as stored on the device, quantization overhead included
    macs: int = 0
    vector_ops: int = 0
    activation_bytes: float = 0.0  # bytes of the activations written (not the peak: see Estimate)
    latency_s: float = 0.0
    energy_j: float = 0.0
    crossbar_tiles: float = 0.0  # tiles blocked on an in-memory accelerator (fractional; see cost.crossbar)

    def __add__(self, other: Cost) -> Cost:
        if not isinstance(other, Cost):
            return NotImplemented
        return Cost(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def to_dict(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def total(costs) -> Cost:
    """Sum of an iterable of Cost records."""
    out = Cost()
    for cost in costs:
        out = out + cost
    return out
