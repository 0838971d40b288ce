"""The CI budget gate: does a model meet a device's budgets, and did it grow past a recorded baseline?"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree as ET

from edgeopt.atomic import write_text_atomic
from edgeopt.cost.estimate import Estimate, estimate, legality_violations, limit_checks
from edgeopt.models.reference import COMPRESSION, ELF, EXPORT, resolve_model
from edgeopt.errors import BaselineError
from edgeopt.deploy.engine_check import engine_facts, export_format
from edgeopt.figures import CALIBRATED, ESTIMATED, FIGURE_NAMES
from edgeopt.profiles.loader import load_profile
from edgeopt.profiles.schema import HardwareProfile

BASELINE_FORMAT = 1
# Cost figure -> the per-layer cost field that explains its growth (a layer has activations, the model a peak).
REGRESSION_METRICS = {name: {"peak_activation_bytes": "activation_bytes"}.get(name, name) for name in FIGURE_NAMES}


@dataclass(frozen=True)
class CheckItem:
    """One line of the gate; one JUnit testcase."""

    name: str
    kind: str  # "budget" (a limit) or "legality" (ops and formats) or "regression" (against the baseline)
    passed: bool
    limit: float | str | None
    actual: float | str
    message: str
    layer: str | None = None
    source: str = ESTIMATED  # where `actual` comes from: estimated (cost model), calibrated (the cost model on
    # figures fitted to measurements) or measured (toolchain)

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "passed": self.passed, "limit": self.limit,
                "actual": self.actual, "message": self.message, "layer": self.layer, "source": self.source}


@dataclass(frozen=True)
class Regression:
    metric: str
    baseline: float
    now: float
    tolerance: float
    grew_most: str | None  # the layer whose share of this metric grew the most
    grew_most_delta: float

    @property
    def delta(self) -> float:
        return self.now - self.baseline

    @property
    def delta_ratio(self) -> float:
        return self.delta / self.baseline if self.baseline else (0.0 if self.now == 0 else float("inf"))

    @property
    def passed(self) -> bool:
        return self.now <= self.baseline * (1 + self.tolerance)

    def to_dict(self) -> dict:
        return {"metric": self.metric, "baseline": self.baseline, "now": self.now, "delta": self.delta,
                "delta_ratio": self.delta_ratio, "tolerance": self.tolerance, "passed": self.passed,
                "grew_most": self.grew_most, "grew_most_delta": self.grew_most_delta}


@dataclass(frozen=True)
class CheckResult:
    estimate: Estimate | None  # None for a linked image (ELF): only its measured flash and RAM are gated
    items: tuple[CheckItem, ...]
    regressions: tuple[Regression, ...] = ()
    baseline_path: str | None = None
    baseline_written: bool = False
    notes: tuple[str, ...] = field(default=())
    image: str | None = None  # the ELF checked, when it was one
    image_profile: str | None = None

    @property
    def model(self) -> str:
        return self.estimate.model if self.estimate is not None else str(self.image)

    @property
    def profile(self) -> str:
        return self.estimate.profile if self.estimate is not None else str(self.image_profile)

    @property
    def passed(self) -> bool:
        return all(item.passed for item in self.items)

    @property
    def failures(self) -> tuple[CheckItem, ...]:
        return tuple(item for item in self.items if not item.passed)

    def to_dict(self) -> dict:
        return {
            "passed": self.passed,
            "model": self.model,
            "profile": self.profile,
            "items": [item.to_dict() for item in self.items],
            "regressions": [r.to_dict() for r in self.regressions],
            "baseline": self.baseline_path,
            "baseline_written": self.baseline_written,
            "notes": list(self.notes),
            "estimate": ({k: v for k, v in self.estimate.to_dict().items() if k != "layers"}
                         if self.estimate is not None else None),
        }

    def to_junit_xml(self) -> str:
        """JUnit XML with one testcase per budget, legality rule and baseline metric."""
        name = f"edgeopt check {self.model} on {self.profile}"
        suites = ET.Element("testsuites", name="edgeopt", tests=str(len(self.items)),
                            failures=str(len(self.failures)))
        suite = ET.SubElement(suites, "testsuite", name=name, tests=str(len(self.items)),
                              failures=str(len(self.failures)), errors="0", skipped="0")
        for item in self.items:
            case = ET.SubElement(suite, "testcase", classname=f"edgeopt.{item.kind}.{self.profile}",
                                 name=item.name)
            if not item.passed:
                failure = ET.SubElement(case, "failure", message=item.message, type=item.kind)
                failure.text = json.dumps(item.to_dict(), indent=2)
            else:
                ET.SubElement(case, "system-out").text = item.message
        for element in suites.iter():  # XML 1.0 cannot hold most control characters, even escaped
            element.text = _xml_text(element.text)
            for key, value in element.attrib.items():
                element.set(key, _xml_text(value))
        ET.indent(suites)
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def _xml_text(text: str | None) -> str | None:
    """`text` with the characters XML 1.0 forbids (C0 controls but tab, newline, return) written as \\xNN."""
    if text is None:
        return None
    return "".join(c if c in "\t\n\r" or ord(c) >= 0x20 else f"\\x{ord(c):02x}" for c in text)


def check(
    model,
    profile: HardwareProfile | str | os.PathLike,
    *,
    input_shape=None,
    max_params: float | None = None,
    max_weight_bytes: float | None = None,
    max_activation_bytes: float | None = None,
    max_latency_s: float | None = None,
    max_energy_j: float | None = None,
    baseline: str | os.PathLike | None = None,
    tolerance: float = 0.0,
    update_baseline: bool = False,
) -> CheckResult:
    """Check `model` against the profile's budgets (each `max_*` given here replaces the profile's) and, with a
    `baseline` file, against the recorded figures with a relative `tolerance` (0.02 = 2%).

    With `update_baseline`, the current figures are written to `baseline` (atomically) instead of compared.
    `model` may be a C export folder (`edgeopt export`): its flash and RAM are then measured (the model compiled for
    a Cortex-M4 and sized by `arm-none-eabi-size`, plus the arena and buffers it states) and gated in place of the
    estimated weight and activation bytes; every other figure is the estimate of the QDQ file it was made from. A
    Verilog export folder: its engine's clocks at the profile's clock replace the estimated latency, and its cells
    (synthesized with yosys for the profile's fabric) are gated against the fabric's budgets.
    """
    if not isinstance(profile, HardwareProfile):
        profile = load_profile(profile)
    overrides = {"max_params": max_params, "max_weight_bytes": max_weight_bytes,
                 "max_activation_bytes": max_activation_bytes, "max_latency_s": max_latency_s,
                 "max_energy_j": max_energy_j}
    profile = profile.with_budgets(**{k: v for k, v in overrides.items() if v is not None})
    if tolerance < 0:
        raise BaselineError(f"tolerance must be 0 or more, got {tolerance:g}")
    ref = resolve_model(model) if isinstance(model, (str, os.PathLike)) else None
    if ref is not None and ref.kind == ELF:
        if baseline is not None:
            raise BaselineError(f"{model}: a baseline records a model's estimates; a linked image has none (give the "
                                "model or its export folder)")
        return _check_image(Path(model), profile)
    measured = engine = None
    if ref is not None and ref.kind == EXPORT and export_format(model) == "verilog":
        engine = Path(model)
        model = engine / "source.onnx"
    elif ref is not None and ref.kind == EXPORT:
        from edgeopt.deploy.emulate import export_sizes

        measured = export_sizes(model)
        model = Path(model) / "source.onnx"
    elif ref is not None and ref.kind == COMPRESSION:
        model = ref.onnx_file
    est = estimate(model, profile, input_shape)
    items = [_measured_item(c, measured) if measured is not None and c.what in MEASURED else _limit_item(c, est)
             for c in limit_checks(est, profile) if c.limit is not None]
    notes = est.notes
    if engine is not None:  # the engine's own clocks replace the estimated latency; its cells are gated
        engine_gated, note = _engine_items(engine, profile)
        items = [item for item in items if item.name not in ("max_latency_s", "max_dsps")] + engine_gated
        notes = (*notes, note)
    items.append(_legality_item(est, profile))

    regressions: tuple[Regression, ...] = ()
    written = False
    if baseline is not None and update_baseline:
        write_baseline(est, baseline)
        written = True
    elif baseline is not None:
        recorded = read_baseline(baseline)
        if recorded["profile"] != est.profile:
            raise BaselineError(f"{baseline}: recorded for profile {recorded['profile']!r}, but checking against "
                                f"{est.profile!r}; record a baseline per profile (--update-baseline)")
        regressions = tuple(_regressions(est, recorded, tolerance))
        items.extend(_regression_item(r) for r in regressions)
    return CheckResult(est, tuple(items), regressions, os.fspath(baseline) if baseline is not None else None,
                       written, notes)


def _limit_item(c, est: Estimate) -> CheckItem:
    message = (f"{c.label}: {c.actual:.6g} within {c.what} {c.limit:.6g}" if c.passed
               else c.violation().message)
    source = ESTIMATED
    if c.what == "max_latency_s":
        source = est.latency_from.source
        message += (f" ({est.latency_from} latency)" if source == CALIBRATED else
                    "; checked against an estimate: the profile is not calibrated (edgeopt calibrate)")
    elif c.what in ("max_luts", "max_ffs") and est.fabric is not None:
        source = (est.fabric.luts_from if c.what == "max_luts" else est.fabric.ffs_from).source
    elif c.what in ("max_energy_j", "max_power_w"):
        source = est.energy_from.source
        message += (f" ({est.energy_from} energy)" if source == CALIBRATED else
                    "; checked against an estimate: the profile's energy is not calibrated (edgeopt calibrate "
                    "--measurements with an energy column)")
    return CheckItem(c.what, "budget", c.passed, c.limit, c.actual, message, c.layer, source)


FABRIC_LIMITS = (("max_luts", "luts", "LUTs"), ("max_ffs", "ffs", "flip-flops"), ("max_dsps", "dsps", "DSP slices"),
                 ("max_brams", "brams", "block RAMs"))


def _engine_items(folder: Path, profile: HardwareProfile) -> tuple[list[CheckItem], str]:
    """A Verilog export's engine: its clocks at the profile's clock against the latency budget, its cells against
    the fabric's budgets."""
    fabric = profile.fabric
    facts = engine_facts(folder, fabric.family if fabric is not None else None)
    items = []
    limit, clock = profile.budgets.max_latency_s, profile.compute.clock_hz
    if limit is not None and clock:
        latency = facts.clocks / clock
        passed = latency <= limit
        items.append(CheckItem("max_latency_s", "budget", passed, limit, latency,
                               f"engine latency: {facts.clocks:,} clocks ({facts.lanes} lane"
                               f"{'s' if facts.lanes != 1 else ''}, counted from its loop "
                               f"nest as simulation counts them) at {clock / 1e6:.6g} MHz = {latency:.6g} s "
                               f"{'within' if passed else 'over'} max_latency_s {limit:.6g}", None, "measured"))
    if fabric is not None and facts.fabric is not None:
        for what, key, label in FABRIC_LIMITS:
            limit = getattr(fabric, what)
            if limit is None:
                continue
            actual = getattr(facts.fabric, key)
            passed = actual <= limit
            items.append(CheckItem(what, "budget", passed, limit, actual,
                                   f"{label} on {fabric.family} ({facts.fabric.tool}, {facts.fabric_how}): "
                                   f"{actual:g} {'within' if passed else 'over'} {what} {limit:g}", None, "measured"))
    reached = facts.fabric.fmax_hz if facts.fabric is not None else None
    if reached is not None and clock:
        passed = reached >= clock
        items.append(CheckItem("clock_hz", "budget", passed, clock, reached,
                               f"clock reached by place and route ({facts.fabric.place_route}): "
                               f"{reached / 1e6:.6g} MHz {'at least' if passed else 'below'} the profile's "
                               f"{clock / 1e6:.6g} MHz", None, "measured"))
    note = (f"a Verilog export: latency from the engine's {facts.clocks:,} clocks" +
            (f"; cells {facts.fabric_how} for {fabric.family}" if facts.fabric is not None else
             "; the profile states no fabric, so no cells are gated"))
    return items, note


MEASURED = {"max_weight_bytes": "flash", "weight_memory": "flash", "max_activation_bytes": "RAM",
            "activation_memory": "RAM"}


def _measured_item(c, measured) -> CheckItem:
    what = MEASURED[c.what]
    actual = measured.flash_bytes if what == "flash" else measured.ram_bytes
    detail = (f"code {measured.code_bytes} + constants {measured.constant_bytes}" if what == "flash" else
              f"arena {measured.arena_bytes} + input/logits {measured.io_bytes}")
    passed = actual <= c.limit
    message = (f"measured {what} ({measured.cpu}, arm-none-eabi-size: {detail}): {actual} B "
               f"{'within' if passed else 'over'} {c.what} {c.limit:.6g} (estimated {c.actual:.6g})")
    return CheckItem(c.what, "budget", passed, c.limit, actual, message, None, "measured")


def _check_image(path: Path, profile: HardwareProfile) -> CheckResult:
    """A linked firmware image: its flash (every allocated section with contents) and RAM (every allocated writable
    section), by section flags, against the device's memories and the weight/activation budgets (which then bound
    the whole image)."""
    from edgeopt.deploy.emulate import image_sizes

    sizes = image_sizes(path)
    b = profile.budgets
    items = []
    flash = "flash: " + " + ".join(f"{name} {size}" for name, size in sizes.flash)
    ram = "RAM: " + " + ".join(f"{name} {size}" for name, size in sizes.ram)
    for what, limit, actual, detail in (
            ("weight_memory", profile.weight_memory.usable_bytes, sizes.flash_bytes, flash),
            ("max_weight_bytes", b.max_weight_bytes, sizes.flash_bytes, f"flash of the whole image ({flash})"),
            ("activation_memory", profile.activation_memory.usable_bytes, sizes.static_ram_bytes,
             f"{ram} (the stack and heap are the firmware's own)"),
            ("max_activation_bytes", b.max_activation_bytes, sizes.static_ram_bytes,
             f"RAM of the whole image ({ram})")):
        if limit is None:
            continue
        passed = actual <= limit
        items.append(CheckItem(what, "budget", passed, limit, actual,
                               f"measured {detail} (section flags, arm-none-eabi-objdump): {actual} B "
                               f"{'within' if passed else 'over'} {what} {limit:.6g}", None, "measured"))
    notes = ("a linked image: its flash and RAM are measured and gated; params, latency and energy need the model "
             "(edgeopt check MODEL or EXPORT_FOLDER)",)
    return CheckResult(None, tuple(items), notes=notes, image=str(path), image_profile=profile.name)


def _legality_item(est: Estimate, profile: HardwareProfile) -> CheckItem:
    problems = legality_violations(est, profile)
    if not problems:
        return CheckItem("supported_ops_and_formats", "legality", True, "profile ops and formats", "all supported",
                         f"every op and weight format runs on {profile.name}")
    return CheckItem("supported_ops_and_formats", "legality", False, "profile ops and formats",
                     f"{len(problems)} unsupported", "; ".join(p.message for p in problems), problems[0].layer)


def _regression_item(r: Regression) -> CheckItem:
    sign = "+" if r.delta >= 0 else ""
    message = (f"{r.metric}: baseline {r.baseline:.6g}, now {r.now:.6g}, delta {sign}{r.delta:.6g} "
               f"({sign}{r.delta_ratio:.2%}; tolerance {r.tolerance:.2%})")
    if not r.passed and r.grew_most:
        message += f"; grew most: {r.grew_most} (+{r.grew_most_delta:.6g})"
    return CheckItem(f"baseline_{r.metric}", "regression", r.passed, r.baseline * (1 + r.tolerance), r.now, message,
                     r.grew_most)


# -- baseline files ---------------------------------------------------------------------------------------------


def baseline_record(est: Estimate) -> dict:
    """What a baseline file holds: totals and per-layer figures, so a regression can name the layer that grew."""
    figures = est.figures()
    totals = {name: figures.value(name) for name in FIGURE_NAMES}
    layers = {layer.name: {field: getattr(layer.cost, field) for field in set(REGRESSION_METRICS.values())}
              for layer in est.layers}
    return {"edgeopt_baseline": BASELINE_FORMAT, "model": est.model, "profile": est.profile, "totals": totals,
            "layers": layers}


def write_baseline(est: Estimate, path: str | os.PathLike) -> None:
    """Write the baseline atomically: a reader never sees half a file."""
    write_text_atomic(path, json.dumps(baseline_record(est), indent=2, sort_keys=True) + "\n")


def read_baseline(path: str | os.PathLike) -> dict:
    """Read and validate a baseline file written by `write_baseline`."""
    path = Path(path)
    if not path.is_file():
        raise BaselineError(f"{path}: no such baseline file; create it with --update-baseline")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BaselineError(f"{path}: not a readable baseline JSON file: {exc}") from None
    if not isinstance(data, dict) or data.get("edgeopt_baseline") != BASELINE_FORMAT:
        raise BaselineError(f"{path}: not an edgeopt baseline (expected \"edgeopt_baseline\": {BASELINE_FORMAT})")
    totals = data.get("totals")
    if not isinstance(totals, dict) or not isinstance(data.get("profile"), str):
        raise BaselineError(f"{path}: a baseline needs 'profile' and 'totals'")
    for metric in REGRESSION_METRICS:
        if not isinstance(totals.get(metric), (int, float)):
            raise BaselineError(f"{path}: totals.{metric}: expected a number, got {totals.get(metric)!r}")
    if not isinstance(data.get("layers", {}), dict):
        raise BaselineError(f"{path}: layers: expected a mapping of layer name -> figures")
    return data


def _regressions(est: Estimate, recorded: dict, tolerance: float):
    now = baseline_record(est)
    old_layers = recorded.get("layers", {})
    for metric, layer_field in REGRESSION_METRICS.items():
        grew_most, grew_by = None, 0.0
        for name, figures in now["layers"].items():
            before = old_layers.get(name, {}).get(layer_field, 0) if isinstance(old_layers.get(name), dict) else 0
            delta = figures[layer_field] - (before if isinstance(before, (int, float)) else 0)
            if delta > grew_by:
                grew_most, grew_by = name, delta
        yield Regression(metric, float(recorded["totals"][metric]), float(now["totals"][metric]), tolerance,
                         grew_most, grew_by)
