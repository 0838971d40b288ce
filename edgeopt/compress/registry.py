"""Step names -> config dataclasses, so a YAML pipeline resolves to typed configs; unknown names and keys are errors."""

from __future__ import annotations

import dataclasses
import typing

from edgeopt.compress.distill import DistillConfig
from edgeopt.compress.prune import ChannelPruneConfig, MagnitudePruneConfig
from edgeopt.compress.quantize import CompressError, QuantizeConfig
from edgeopt.errors import UnitError
from edgeopt.profiles.units import Dimension, parse_quantity

STEPS: dict[str, type] = {
    "prune": ChannelPruneConfig,
    "magnitude_prune": MagnitudePruneConfig,
    "distill": DistillConfig,
    "quantize": QuantizeConfig,
}

# Prune targets as written in YAML (with units) -> the config's base-unit keys.
TARGETS = {"params": ("params", Dimension.COUNT), "weight_bytes": ("weight_bytes", Dimension.BYTES),
           "macs": ("macs", Dimension.COUNT), "latency": ("latency_s", Dimension.TIME),
           "peak_activation_bytes": ("peak_activation_bytes", Dimension.BYTES),
           "energy": ("energy_j", Dimension.ENERGY)}


def step_name(config) -> str:
    for name, cls in STEPS.items():
        if isinstance(config, cls):
            return name
    raise CompressError(f"{type(config).__name__} is not a compression step; steps: {', '.join(STEPS)}")


def make_config(name: str, options: object, where: str):
    """The config for step `name` from YAML `options` (a mapping or nothing); `where` prefixes error messages."""
    if name not in STEPS:
        raise CompressError(f"{where}: unknown step {name!r}; valid steps: {', '.join(STEPS)}")
    cls = STEPS[name]
    options = {} if options is None else options
    if not isinstance(options, dict):
        raise CompressError(f"{where}: {name}: expected a mapping of options, got {options!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    values = {}
    for key, value in options.items():
        if key not in fields:
            raise CompressError(f"{where}: {name}: unknown option {key!r}; valid options: {', '.join(fields)}")
        values[key] = _coerce(name, key, value, hints[key], where)
    try:
        return cls(**values)
    except CompressError as exc:
        raise CompressError(f"{where}: {exc}") from None


def _coerce(step: str, key: str, value, hint, where: str):
    if key == "target" and step == "prune":
        return _target(value, where)
    args = set(typing.get_args(hint)) or {hint}
    if value is None and type(None) in args:
        return None
    if bool in args:
        if isinstance(value, bool):
            return value
        raise CompressError(f"{where}: {step}.{key}: expected true or false, got {value!r}")
    if int in args and float not in args:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise CompressError(f"{where}: {step}.{key}: expected a whole number, got {value!r}")
    if float in args:
        try:
            return float(value)  # YAML reads 1e-3 as text
        except (TypeError, ValueError):
            raise CompressError(f"{where}: {step}.{key}: expected a number, got {value!r}") from None
    if str in args:
        if isinstance(value, str):
            return value
        raise CompressError(f"{where}: {step}.{key}: expected text, got {value!r}")
    return value


def _target(value, where: str) -> dict[str, float]:
    if not isinstance(value, dict) or not value:
        raise CompressError(f"{where}: prune.target: expected a mapping such as {{params: 4000}} or "
                            f"{{weight_bytes: 4KiB}}; keys: {', '.join(TARGETS)}")
    out = {}
    for key, raw in value.items():
        if key not in TARGETS:
            raise CompressError(f"{where}: prune.target: unknown key {key!r}; valid keys: {', '.join(TARGETS)}")
        name, dimension = TARGETS[key]
        try:
            out[name] = parse_quantity(raw, dimension)
        except UnitError as exc:
            raise CompressError(f"{where}: prune.target.{key}: {exc}") from None
    return out
