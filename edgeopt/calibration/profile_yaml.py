"""A calibrated profile as YAML: `extends:` the original, every fitted figure marked `source: measured`, and a
`calibration:` block saying on what, where, when and how well. Same figures in, same bytes out."""

from __future__ import annotations

import json
from collections.abc import Mapping

from edgeopt.profiles.compute_figures import OP_FIGURES, SCALAR_FIGURES, ComputeFigure
from edgeopt.profiles.schema import Calibration
from edgeopt.profiles.units import Dimension


def calibrated_yaml(parent: str, name: str, *, per_op: Mapping[str, Mapping[str, float]],
                    scalars: Mapping[str, float | None], calibration: Calibration,
                    macs_per_cycle: Mapping[str, float] | None = None,
                    peak_macs_per_s: Mapping[str, float] | None = None,
                    bandwidth_bytes_per_s: Mapping[str, float] | None = None, energy=None) -> str:
    """The YAML of a profile that extends `parent` (a shipped name, or a path relative to the file's folder):
    `per_op` figures (an `OP_FIGURES` name -> op name -> value) and `scalars` (a `SCALAR_FIGURES` name -> value;
    None: not fitted, the parent's stays) as the table writes them. Peak rates are written in the form the parent
    gives them (per cycle at its clock, or as a peak); bandwidths per memory level (weights, activations); `energy`
    (an `EnergyFit`, or None) adds the fitted energy figures."""
    def figure(value: str) -> str:
        return f"{{value: {value}, source: measured}}"

    lines = [
        "# Written by `edgeopt calibrate`: figures fitted to measurements (source: measured); the rest is",
        f"# {parent}'s. Re-run the calibration rather than editing the figures by hand.",
        f"name: {json.dumps(name)}",
        f"extends: {json.dumps(parent)}",
    ]
    memory: dict[str, list[str]] = {}
    for level, bandwidth in sorted((bandwidth_bytes_per_s or {}).items()):
        memory.setdefault(level, []).append(f"    bandwidth: {figure(f'{bandwidth:.4g}B/s')}")
    if energy is not None:
        for level, per_byte in (("weights", energy.weight_energy_per_byte_j),
                                ("activations", energy.activation_energy_per_byte_j)):
            if per_byte is not None:
                memory.setdefault(level, []).append(f"    energy_per_byte: {figure(_joules(per_byte))}")
    if memory:
        lines.append("memory:")
        for level in sorted(memory):
            lines += [f"  {level}:", *memory[level]]
    lines.append("compute:")
    lines += [f"  {spec.yaml_key}: {figure(_text(spec, scalars[spec.name]))}" for spec in SCALAR_FIGURES
              if scalars.get(spec.name) is not None]
    for title, values, text in (("macs_per_cycle", macs_per_cycle, lambda v: f"{v:.4g}"),
                                ("peak", peak_macs_per_s, lambda v: f"{v:.4g}MAC/s")):
        if values:
            lines.append(f"  {title}:")
            lines += [f"    {key}: {figure(text(values[key]))}" for key in sorted(values)]
    for spec in OP_FIGURES:
        values = per_op.get(spec.name)
        if values:
            lines.append(f"  {spec.yaml_key}:")
            lines += [f"    {key}: {figure(_text(spec, values[key]))}" for key in sorted(values)]
    if energy is not None:
        lines += ["energy:", "  per_mac:"]
        lines += [f"    {fmt}: {figure(_joules(energy.mac_j[fmt]))}" for fmt in sorted(energy.mac_j)]
        lines.append(f"  static_power: {figure(f'{energy.static_power_w:.4g}W')}")
    lines += [
        "calibration:",
        f"  runtime: {json.dumps(calibration.runtime)}",
        f"  machine: {json.dumps(calibration.machine)}",
        f"  date: {json.dumps(calibration.date)}",
        f"  samples: {calibration.samples}",
        f"  fit_error: {calibration.fit_error:.4f}",
        f"  within_10pct: {calibration.within_10pct:.4f}",
    ]
    if calibration.energy_fit_error is not None:
        lines += [f"  energy_samples: {calibration.energy_samples}",
                  f"  energy_fit_error: {calibration.energy_fit_error:.4f}"]
    if calibration.max_activation_elements is not None:
        lines.append(f"  max_activation_elements: {calibration.max_activation_elements}")
    return "\n".join(lines) + "\n"


def _text(spec: ComputeFigure, value: float) -> str:
    """A fitted figure as YAML: times in microseconds, channel counts whole, the rest to four digits."""
    if spec.dimension is Dimension.TIME:
        return _time(value)
    return str(int(value)) if spec.whole else f"{value:.4g}"


def _joules(joules: float) -> str:
    return f"{joules * 1e12:.4g}pJ"


def _time(seconds: float) -> str:
    return f"{seconds * 1e6:.4g}us"
