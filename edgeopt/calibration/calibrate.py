"""`calibrate()`: measure (onnxruntime microbenchmarks and given models) or read (a board's measurements file)
latencies, fit the profile's latency figures to them (`cost.calibrate`) and write a profile that extends the original
with every fitted figure marked `source: measured`."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import math
import os
import platform
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from edgeopt.atomic import claim_file
from edgeopt.calibration.latency_fit import (
    MAX_LATENCY_S,
    MIN_LATENCY_S,
    CalibrationError,
    LatencyFit,
    Measurement,
    fit_latency,
)
from edgeopt.calibration.energy_fit import EnergyFit, EnergyMeasurement, fit_energy
from edgeopt.cost.estimate import Estimate, estimate
from edgeopt.cost.record import total
from edgeopt.calibration.board_micro import board_suite, write_board_micro
from edgeopt.calibration.board_rows import emulated_rows
from edgeopt.deploy.emulate import missing_tools, run_emulated
from edgeopt.deploy.export import export
from edgeopt.deploy.lower import lower_onnx
from edgeopt.calibration.microbench import measure_latencies_s, write_micros
from edgeopt.calibration.ort_layout import nchwc_layout
from edgeopt.errors import EdgeoptError
from edgeopt.escape import csv_text
from edgeopt.numbers import NumberError, read_number, short_repr
from edgeopt.graph.ops import Op
from edgeopt.calibration.profile_yaml import calibrated_yaml
from edgeopt.profiles.compute_figures import OP_FIGURE
from edgeopt.profiles.loader import load_profile
from edgeopt.profiles.search_path import available_profiles
from edgeopt.profiles.schema import Calibration, HardwareProfile
from edgeopt.profiles.units import Dimension, UnitError, parse_quantity

RUNTIMES = ("onnxruntime", "cortex-m4", "cortex-m7")  # onnxruntime here; the C export on QEMU's Cortex-M boards
LATENCY_COLUMNS = {"latency": None, "latency_s": 1.0, "latency_ms": 1e-3, "latency_us": 1e-6}
ENERGY_COLUMNS = {"energy": None, "energy_j": 1.0, "energy_mj": 1e-3, "energy_uj": 1e-6}
# a fit off by more than this on average: measurements that disagree with each other (onnxruntime on a quiet machine
# fits to 3-6%; on the shared CI VM in a busy spell, 14-17%)
NOISY_FIT_ERROR = 0.10


@dataclass(frozen=True)
class BoardRows:
    """A measurements file as read: each row's latency measurement and, where given, its measured energy."""

    latency: tuple[Measurement, ...]
    energy_j: tuple[float | None, ...]


@dataclass(frozen=True)
class CalibrationResult:
    """What `calibrate` wrote and the fit behind it; per measurement the estimate before and after."""

    profile: str  # the original
    out: str
    calibration: Calibration
    fit: LatencyFit
    before_s: tuple[float, ...]  # the original profile's estimates of the measured models
    spread: tuple[float, ...]  # per measurement: run-to-run spread of its rounds (0 for a measurements file)
    energy: EnergyFit | None = None  # None: no measured energies; energy stays estimated
    energy_before_j: tuple[float, ...] = ()
    # the runtime's channel layout, read from it rather than fitted: op -> (channel block, tile; 0: one pass)
    layout: dict[Op, tuple[int, int]] = dataclasses.field(default_factory=dict)

    @property
    def caution(self) -> str | None:
        """What to do when the measurements disagree with each other; None when they do not."""
        if self.fit.fit_error <= NOISY_FIT_ERROR:
            return None
        return (f"the fit is off by {self.fit.fit_error:.0%} on average (a quiet machine fits within "
                f"{NOISY_FIT_ERROR:.0%}): the measurements disagree with each other, as a busy machine's or a board's "
                "under changing conditions do; a calibration holds for the state it was measured in: measure again "
                "when the device is quiet")

    def layout_by_figure(self) -> dict[str, dict[str, int]]:
        """The layout as per-op compute figures (channel_block, channel_tile), keyed by op name; a tile of 0 is
        written too (it overrides a parent's)."""
        return {name: {str(op): figures[i] for op, figures in self.layout.items()}
                for i, name in enumerate(("channel_block", "channel_tile"))}

    def layout_figures(self) -> dict[str, dict[str, int]]:
        """`layout_by_figure` under the figures' record keys (op_channel_block, op_channel_tile), as --json says."""
        return {OP_FIGURE[name].key: values for name, values in self.layout_by_figure().items()}

    def to_dict(self) -> dict:
        rows = [{"model": label, "measured_latency_s": m, "estimated_latency_s": b, "calibrated_latency_s": p,
                 "spread": s}
                for label, m, b, p, s in zip(self.fit.labels, self.fit.measured_s, self.before_s,
                                             self.fit.predicted_s, self.spread)]
        energy = None
        if self.energy is not None:
            e = self.energy
            energy = {"figures": {"mac_j": e.mac_j, "weight_energy_per_byte_j": e.weight_energy_per_byte_j,
                                  "activation_energy_per_byte_j": e.activation_energy_per_byte_j,
                                  "static_power_w": e.static_power_w, "source": "measured"},
                      "fit_error": e.fit_error,
                      "measurements": [{"model": label, "measured_energy_j": m, "estimated_energy_j": b,
                                        "calibrated_energy_j": p}
                                       for label, m, b, p in zip(e.labels, e.measured_j, self.energy_before_j,
                                                                 e.predicted_j)]}
        return {"profile": self.profile, "out": self.out, "calibration": dataclasses.asdict(self.calibration),
                "figures": self.fit.per_op_figures() | self.layout_figures() | {
                    "layer_overhead_s": self.fit.layer_overhead_s, "call_overhead_s": self.fit.call_overhead_s,
                    "layout_conversion_cost": self.fit.layout_conversion_cost,
                    "macs_per_s": self.fit.macs_per_s, "weight_bandwidth_bytes_per_s": self.fit.weight_bandwidth,
                    "activation_bandwidth_bytes_per_s": self.fit.activation_bandwidth, "source": "measured"},
                "measurements": rows, "energy": energy, "caution": self.caution}


def calibrate(profile: HardwareProfile | str | os.PathLike, out: str | os.PathLike, *, runtime: str = "onnxruntime",
              models: Sequence[str | os.PathLike] = (), measurements: str | os.PathLike | None = None,
              progress: Callable[[str], None] | None = None) -> CalibrationResult:
    """Fit `profile`'s latency figures to `runtime` (onnxruntime on this machine, or the C export on an emulated
    Cortex-M: microbenchmarks plus `models`), or to a board's `measurements` file (CSV: model, latency), and write the
    calibrated profile to `out`."""
    say = progress or (lambda text: None)
    if not isinstance(profile, HardwareProfile):
        profile = load_profile(profile)
    out = claim_calibrated(out, (profile.path, measurements, *models))
    layout: dict[Op, tuple[int, int]] = {}
    energies: tuple[float | None, ...] = ()
    if measurements is not None:
        board = read_measurements(measurements, profile)
        rows, spreads, energies = list(board.latency), None, board.energy_j
        where = f"measurements in {Path(measurements).name}"
    else:
        if runtime not in RUNTIMES:
            raise EdgeoptError(f"--runtime {runtime!r}: edgeopt measures {', '.join(RUNTIMES)} here (yosys: "
                               "calibrate_fabric); for a board, "
                               "measure there and give --measurements FILE")
        for path in map(Path, models):
            if not path.is_file() or path.suffix != ".onnx":
                raise EdgeoptError(f"--models: {path} is not an ONNX file")
            if runtime != "onnxruntime":
                try:  # before minutes of building the microbenchmarks: the C export takes quantized models only
                    lower_onnx(path)
                except EdgeoptError as exc:
                    raise EdgeoptError(f"--models: {path}: --runtime {runtime} times the C export of an int8 QDQ "
                                       f"model (edgeopt compress writes one): {exc}") from None
        models = tuple(dict.fromkeys(Path(m).resolve() for m in models))  # a file given twice is timed once
        if runtime == "onnxruntime":
            layout = nchwc_layout()
            profile = with_layout(profile, layout)
            rows, spreads = _measure(profile, models, say)
            import onnxruntime

            where = f"onnxruntime {onnxruntime.__version__}, 1 thread"
        else:
            rows, where = _emulate(profile, runtime, models, say)
            spreads = None
    say("fit")
    fit = fit_latency(profile, rows)
    metered = [EnergyMeasurement(m.label, m.estimate, latency, energy)
               for m, latency, energy in zip(rows, fit.predicted_s, energies) if energy is not None]
    energy = fit_energy(profile, metered) if metered else None
    calibration = Calibration(where, _machine(), date.today().isoformat(), len(rows), round(fit.fit_error, 4),
                              round(fit.within_10pct, 4), len(metered) if energy else None,
                              round(energy.fit_error, 4) if energy else None, _largest_layer(rows))
    per_cycle = {fmt: rate / profile.compute.clock_hz for fmt, rate in fit.macs_per_s.items()
                 if f"compute.macs_per_cycle.{fmt}" in profile.figure_sources}
    bandwidths = {level: bw for level, bw in (("weights", fit.weight_bandwidth),
                                              ("activations", fit.activation_bandwidth)) if bw is not None}
    result = CalibrationResult(profile.name, str(out), calibration, fit,
                               tuple(m.estimate.total.latency_s for m in rows),
                               tuple(spreads) if spreads else (0.0,) * len(rows), energy,
                               tuple(m.estimate.total.energy_j for m in metered), layout)
    per_op = {name: {str(op): value for op, value in values.items()} for name, values in fit.per_op.items()}
    per_op |= result.layout_by_figure()
    text = calibrated_yaml(_parent_ref(profile, out), f"{profile.name}-calibrated", per_op=per_op,
                           scalars={"layer_overhead_s": fit.layer_overhead_s, "call_overhead_s": fit.call_overhead_s,
                                    "layout_conversion_cost": fit.layout_conversion_cost},
                           calibration=calibration, macs_per_cycle=per_cycle,
                           peak_macs_per_s={f: r for f, r in fit.macs_per_s.items() if f not in per_cycle},
                           bandwidth_bytes_per_s=bandwidths, energy=energy)
    _write_checked(out, text)
    return result


def _largest_layer(rows) -> int | None:
    """The most elements any layer of the measured models wrote (None when no shape is known)."""
    sizes = [math.prod(layer.output_shape) for m in rows for layer in m.estimate.layers if layer.output_shape]
    return max(sizes) if sizes else None


def with_layout(profile: HardwareProfile, layout: dict[Op, tuple[int, int]]) -> HardwareProfile:
    """`profile` with the runtime's channel blocks and tiles in place of its own for the ops `layout` names."""
    compute = profile.compute.with_figure("channel_block", {op: block for op, (block, _) in layout.items()},
                                          merge=True)
    compute = compute.with_figure("channel_tile", {op: tile for op, (_, tile) in layout.items()}, merge=True)
    return dataclasses.replace(profile, compute=compute)


def _measure(profile: HardwareProfile, models, say) -> tuple[list[Measurement], list[float]]:
    with tempfile.TemporaryDirectory(prefix="edgeopt-calibrate-") as tmp:
        files = write_micros(tmp)
        files += [(str(path), Path(path)) for path in models]
        estimates = [estimate(path, profile) for _, path in files]  # a model the cost model refuses: before timing
        timed = measure_latencies_s([path for _, path in files], progress=say)
    rows = [Measurement(label, est, latency) for (label, _), est, (latency, _) in zip(files, estimates, timed)]
    return rows, [spread for _, spread in timed]


def _emulate(profile: HardwareProfile, cpu: str, models, say) -> tuple[list[Measurement], str]:
    """The board microbenchmarks and `models` (int8 QDQ ONNX) exported to C and run on QEMU's `cpu`: instructions
    per inference at the profile's clock, one a cycle, of each whole call and of each layer in it (the export's
    layer hook: a layer's own count tells its op's figures apart from its neighbours')."""
    if not profile.compute.clock_hz:
        raise EdgeoptError(f"{profile.name} gives no compute.clock: emulated instructions cannot become seconds")
    missing = missing_tools()
    if missing:
        raise EdgeoptError(f"--runtime {cpu} needs {', '.join(missing)} (Debian: gcc-arm-none-eabi, "
                           "libnewlib-arm-none-eabi, qemu-system-arm)")
    with tempfile.TemporaryDirectory(prefix="edgeopt-calibrate-") as tmp:
        built = []
        for micro in board_suite():
            say(f"building {micro.name} (int8, C)")
            built.append((micro.name, *write_board_micro(micro, profile, Path(tmp) / "suite")))
        for i, path in enumerate(map(Path, models)):
            folder = Path(tmp) / "models" / f"{i}"
            export(path, profile, folder)
            built.append((str(path), folder, lower_onnx(path).quantize_input(_random_inputs(path))))
        rows, source = [], ""
        for label, folder, x in built:
            say(f"emulating {label}")
            whole, *layers = emulated_rows(folder, run_emulated(folder, x, cpu), profile.compute.clock_hz)
            est = estimate(Path(whole["model"]), profile)
            rows.append(Measurement(label, est, whole["latency_s"]))
            rows += [Measurement(f"{label}:{row['layer']}", _some_layers(est, row["layer"], label),
                                 row["latency_s"], whole=False) for row in layers]
            source = whole["source"]
    return rows, source


def _random_inputs(path: Path, samples: int = 4) -> np.ndarray:
    """Random float samples in the model's input shape (the arithmetic timed does not depend on the values)."""
    import onnx

    dims = onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim
    shape = (samples, *(d.dim_value or 1 for d in dims[1:]))
    return np.random.default_rng(0).standard_normal(shape).astype(np.float32)


def read_measurements(path: str | os.PathLike, profile: HardwareProfile) -> BoardRows:
    """Rows of a board's measurements CSV: `model` (an ONNX file, relative to the CSV's folder), optionally `layer`
    (one layer inside it by its node name, or several run as one kernel joined with '+'; empty: the whole call), the
    measured time in `latency` (with a unit: 850us, 1.2ms) or `latency_s` / `latency_ms` / `latency_us` (numbers),
    and optionally the energy per inference in `energy` (12uJ) or `energy_j` / `energy_mj` / `energy_uj` (a row may
    leave it empty)."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:  # a spreadsheet's BOM is not part of 'model'
            reader = csv.DictReader(handle)
            fields = reader.fieldnames or []
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise EdgeoptError(f"{path}: cannot read as CSV: {exc}") from None
    columns = [c for c in LATENCY_COLUMNS if c in fields]
    if "model" not in fields or len(columns) != 1:
        raise EdgeoptError(f"{path}: expected a header with 'model' and one of {', '.join(LATENCY_COLUMNS)}; got "
                           f"{', '.join(fields) or 'none'}")
    energy_columns = [c for c in ENERGY_COLUMNS if c in fields]
    if len(energy_columns) > 1:
        raise EdgeoptError(f"{path}: two energy columns ({', '.join(energy_columns)}); give one")
    estimates: dict[Path, Estimate] = {}
    latencies, energies = [], []
    for line, row in enumerate(rows, start=2):
        where = f"{path}:{line}"
        model = csv_text((row.get("model") or "").strip())
        if not model:
            raise EdgeoptError(f"{where}: model: empty; give the ONNX file the latency was measured on")
        model_path = Path(model) if Path(model).is_absolute() else path.parent / model
        if not model_path.is_file() or model_path.suffix != ".onnx":
            raise EdgeoptError(f"{where}: model: {model_path} is not an ONNX file")
        digest = (row.get("model_sha256") or "").strip()
        if digest and digest != hashlib.sha256(model_path.read_bytes()).hexdigest():
            raise EdgeoptError(f"{where}: model: {model_path} is not the file this row timed (its sha256 differs: the "
                               "export was replaced since); time it again")
        if model_path not in estimates:
            estimates[model_path] = estimate(model_path, profile)
        est, label = estimates[model_path], model
        layer = csv_text((row.get("layer") or "").strip())
        if layer:
            est, label = _some_layers(est, layer, f"{where}: layer"), f"{model}:{layer}"
        latency = _quantity(row, columns[0], LATENCY_COLUMNS, Dimension.TIME, where, required=True)
        latencies.append(Measurement(label, est, latency, whole=not layer))
        energies.append(_quantity(row, energy_columns[0], ENERGY_COLUMNS, Dimension.ENERGY, where, required=False)
                        if energy_columns else None)
    if not latencies:
        raise CalibrationError(f"{path}: no measurements (a header and no rows)")
    return BoardRows(tuple(latencies), tuple(energies))


def _quantity(row: dict, column: str, columns: dict, dimension: Dimension, where: str, *, required: bool):
    """A cell with its unit (column without one) or a number in the column's unit; an empty optional cell: None.
    Bounded: a latency from a picosecond to eleven days, an energy from an attojoule to a megajoule."""
    raw, scale = (row.get(column) or "").strip(), columns[column]
    what = "time" if dimension is Dimension.TIME else "energy"
    if not raw and not required:
        return None
    try:
        value = parse_quantity(raw, dimension) if scale is None else float(read_number(raw)) * scale
    except (UnitError, NumberError):
        example = " (with a unit: 850us, 1.2ms)" if dimension is Dimension.TIME else " (with a unit: 12uJ, 0.3mJ)"
        raise EdgeoptError(f"{where}: {column}: {short_repr(raw)} is not {'a' if what == 'time' else 'an'} {what}"
                           + (example if scale is None else " (a number)")) from None
    low, high = (MIN_LATENCY_S, MAX_LATENCY_S) if what == "time" else (1e-18, 1e6)
    if not low <= value <= high:
        measured = "latency" if what == "time" else what
        raise EdgeoptError(f"{where}: {column}: {short_repr(raw)}: a measured {measured} must be positive, from "
                           f"{low:g} to {high:g} {'s' if what == 'time' else 'J'}")
    return value


def _some_layers(est: Estimate, cell: str, where: str) -> Estimate:
    """The estimate of the layers of `est` that `cell` names ('a' or 'a+b+c': several run as one kernel), without the
    per-call overhead, for their own measured latency."""
    by_name = {layer.name: layer for layer in est.layers}
    names = [name.strip() for name in cell.split("+")]
    for name in names:
        if name not in by_name:
            running = [layer.name for layer in est.layers if layer.terms is not None]
            raise EdgeoptError(f"{where}: {name!r} is no layer of {est.model}; its layers: {', '.join(running[:12])}"
                               + (f" and {len(running) - 12} more" if len(running) > 12 else ""))
    layers = tuple(by_name[name] for name in names)
    if all(layer.terms is None for layer in layers):
        raise EdgeoptError(f"{where}: {cell!r} is folded into the layer before it (it does not run on its own)")
    return dataclasses.replace(est, layers=layers, total=total(layer.cost for layer in layers))


CALIBRATED_HEADER = "# Written by `edgeopt calibrate`"


def claim_calibrated(out: str | os.PathLike, inputs=()) -> Path:
    """Check, before any measuring, that `out` may take a calibrated profile: not an input (the profile, the
    measurements, a model), and new or an earlier calibrated profile (its first line says edgeopt wrote it)."""
    out = claim_file(out, inputs)
    if out.exists():
        try:
            with out.open("rb") as handle:
                first = handle.read(len(CALIBRATED_HEADER))
        except OSError as exc:
            raise EdgeoptError(f"{out}: cannot be read: {exc.strerror or exc}") from None
        if first != CALIBRATED_HEADER.encode():
            raise EdgeoptError(f"{out}: exists and is not a profile `edgeopt calibrate` wrote; give a new file (an "
                               "earlier calibrated profile is replaced)")
    return out


def _write_checked(out: Path, text: str) -> None:
    """Write `text` to `out` only once it reads back as a profile beside it (where `extends:` resolves)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    probe = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        probe.write_text(text)
        load_profile(probe)
        os.replace(probe, out)
    finally:
        probe.unlink(missing_ok=True)


def _parent_ref(profile: HardwareProfile, out: Path) -> str:
    """How the calibrated file names its parent: the shipped name, or its path relative to the file."""
    shipped = available_profiles().get(profile.name)
    if profile.path is None or (shipped is not None and Path(shipped).resolve() == Path(profile.path).resolve()):
        return profile.name
    return os.path.relpath(Path(profile.path).resolve(), out.resolve().parent)


def _machine() -> str:
    return f"{platform.node()} ({os.cpu_count()} cores, {platform.machine()})"
