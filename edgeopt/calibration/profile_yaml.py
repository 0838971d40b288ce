"""A calibrated profile as YAML: `extends:` the original, every fitted figure marked `source: measured`, and a
`calibration:` block saying on what, where, when and how well. Same figures in, same bytes out."""

from __future__ import annotations

import json
from collections.abc import Mapping

from edgeopt.profiles.schema import Calibration


def calibrated_yaml(parent: str, name: str, *, op_efficiency: Mapping[str, float], op_overhead_s: Mapping[str, float],
                    layer_overhead_s: float, call_overhead_s: float, calibration: Calibration,
                    macs_per_cycle: Mapping[str, float] | None = None,
                    peak_macs_per_s: Mapping[str, float] | None = None,
                    bandwidth_bytes_per_s: Mapping[str, float] | None = None, energy=None,
                    op_half_length: Mapping[str, float] | None = None,
                    op_output_cost: Mapping[str, float] | None = None,
                    op_window_cost: Mapping[str, float] | None = None,
                    op_group_cost: Mapping[str, float] | None = None,
                    op_channel_block: Mapping[str, int] | None = None,
                    op_channel_tile: Mapping[str, int] | None = None,
                    layout_conversion_cost: float | None = None,
                    blocked_op_efficiency: Mapping[str, float] | None = None) -> str:
    """The YAML of a profile that extends `parent` (a shipped name, or a path relative to the file's folder). Peak
    rates are written in the form the parent gives them (per cycle at its clock, or as a peak); bandwidths per memory
    level (weights, activations); `energy` (a `cost.energy_fit.EnergyFit`, or None) adds the fitted energy figures."""
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
    lines += [
        "compute:",
        f"  layer_overhead: {figure(_time(layer_overhead_s))}",
        f"  call_overhead: {figure(_time(call_overhead_s))}",
    ]
    if layout_conversion_cost is not None:
        lines.append(f"  layout_conversion_cost: {figure(f'{layout_conversion_cost:.4g}')}")
    for title, values, text in (("macs_per_cycle", macs_per_cycle, lambda v: f"{v:.4g}"),
                                ("peak", peak_macs_per_s, lambda v: f"{v:.4g}MAC/s"),
                                ("op_overhead", op_overhead_s, _time),
                                ("op_half_length", op_half_length, lambda v: f"{v:.4g}"),
                                ("op_output_cost", op_output_cost, lambda v: f"{v:.4g}"),
                                ("op_window_cost", op_window_cost, lambda v: f"{v:.4g}"),
                                ("op_group_cost", op_group_cost, lambda v: f"{v:.4g}"),
                                ("op_channel_block", op_channel_block, str),
                                ("op_channel_tile", op_channel_tile, str),
                                ("op_efficiency", op_efficiency, lambda v: f"{v:.4g}"),
                                ("blocked_op_efficiency", blocked_op_efficiency, lambda v: f"{v:.4g}")):
        if values:
            lines.append(f"  {title}:")
            lines += [f"    {key}: {figure(text(values[key]))}" for key in sorted(values)]
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


def _joules(joules: float) -> str:
    return f"{joules * 1e12:.4g}pJ"


def _time(seconds: float) -> str:
    return f"{seconds * 1e6:.4g}us"
