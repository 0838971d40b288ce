"""Load and validate hardware profiles from YAML: the one boundary where raw data becomes a HardwareProfile."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType

from edgeopt.errors import ProfileError, UnitError
from edgeopt.graph.ops import EPILOGUE_OPS, MAC_OPS, SUPPORT_OPS, Op, parse_op
from edgeopt.profiles.compute_figures import LAYOUT, OP_FIGURES, SCALAR_FIGURES, ComputeFigure, OpFigures
from edgeopt.profiles.extends import load_merged
from edgeopt.profiles.formats import FORMATS
from edgeopt.profiles.search_path import PROFILE_NAME, did_you_mean, resolve_profile
from edgeopt.profiles.schema import (
    Analog,
    MEMORY_KINDS,
    Budgets,
    Calibration,
    Compute,
    Crossbar,
    FABRIC_FAMILIES,
    FABRIC_TERMS,
    Fabric,
    FabricFit,
    Energy,
    HardwareProfile,
    MemoryLevel,
    Quantization,
)
from edgeopt.numbers import short_repr
from edgeopt.profiles.units import Dimension, parse_quantity
from edgeopt.profiles.yamldoc import FieldPath, Location, locate

ESTIMATE = "estimate"
MEASURED = "measured"  # fitted to measurements by `edgeopt calibrate` (the profile's `calibration:` says how)
_FIGURE_KEYS = ("value", "source", "note")


def load_profile(name_or_path: str | os.PathLike) -> HardwareProfile:
    """Load, merge (`extends:`) and validate a profile given by file path or shipped name."""
    path = resolve_profile(name_or_path)
    data, locations = load_merged(path, ())
    return _Builder(path, data, locations).build()


def unsourced_figures(profile: HardwareProfile) -> list[str]:
    """Field paths of figures that cite no source and are not marked `estimate`."""
    return sorted(path for path, source in profile.figure_sources.items() if not source)


# -- validation ---------------------------------------------------------------------------------------------------


class _Builder:
    """Walks the merged YAML once, turning every field into typed values and every problem into one ProfileError."""

    def __init__(self, path: Path, data: dict, locations: dict[FieldPath, Location]):
        self.path = path
        self.locations = locations
        self.figure_sources: dict[str, str] = {}
        self.root = data
        self.sources = self._sources(data.get("sources", {}))

    # errors

    def fail(self, field: FieldPath, problem: str) -> ProfileError:
        where = locate(self.locations, field, str(self.path))
        return ProfileError(f"{where}: {'.'.join(field) or '(top level)'}: {problem}")

    # readers

    def mapping(self, field: FieldPath, value: object, allowed: tuple[str, ...]) -> dict:
        if not isinstance(value, dict):
            raise self.fail(field, f"expected a mapping with keys {', '.join(allowed)}; got {value!r}")
        for key in value:
            if key not in allowed:
                raise self.fail(
                    (*field, key), f"unknown key{did_you_mean(key, allowed)}; allowed keys: {', '.join(allowed)}"
                )
        return value

    def figure(
        self,
        field: FieldPath,
        value: object,
        dimension: Dimension,
        *,
        low: float = 0.0,
        low_inclusive: bool = True,
        high: float | None = None,
    ) -> float:
        raw, source = value, ""
        if isinstance(value, dict):
            self.mapping(field, value, _FIGURE_KEYS)
            if "value" not in value:
                raise self.fail(field, "a figure written as a mapping needs a 'value'")
            raw = value["value"]
            source = self._source(field, value.get("source"))
        try:
            number = parse_quantity(raw, dimension)
        except UnitError as exc:
            raise self.fail(field, str(exc)) from None
        too_low = number < low if low_inclusive else number <= low
        if too_low or (high is not None and number > high):
            bound = f"{'at least' if low_inclusive else 'more than'} {low:g}"
            if high is not None:
                bound += f" and at most {high:g}"
            raise self.fail(field, f"value {raw!r} is out of range; it must be {bound} ({dimension.value})")
        if field in self.locations and field[0] != "quantization":
            # Only figures written in a file are device claims; defaults and storage conventions are edgeopt's.
            self.figure_sources[".".join(field)] = source
        return number

    def _source(self, field: FieldPath, source: object) -> str:
        if source is None:
            return ""
        if not isinstance(source, str) or not source.strip():
            raise self.fail((*field, "source"), f"expected a source key, a URL, {ESTIMATE!r} or {MEASURED!r}; got "
                                                f"{source!r}")
        if source in (ESTIMATE, MEASURED) or source.startswith(("http://", "https://")) or source in self.sources:
            return source
        raise self.fail(
            (*field, "source"),
            f"unknown source {source!r}{did_you_mean(source, self.sources)}; use a key of 'sources' "
            f"({', '.join(self.sources) or 'none defined'}), a URL, {ESTIMATE!r} or {MEASURED!r}",
        )

    def choice(self, field: FieldPath, value: object, allowed) -> str:
        if value not in allowed:
            raise self.fail(field, f"{value!r} is not allowed{did_you_mean(str(value), allowed)}; "
                            f"allowed: {', '.join(allowed)}")
        return value

    def text(self, field: FieldPath, value: object) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(field, f"expected non-empty text, got {value!r}")
        return value

    def required(self, data: dict, field: FieldPath, what: str) -> object:
        if field[-1] not in data:
            raise self.fail(field, f"missing required field ({what})")
        return data[field[-1]]

    # sections

    def _sources(self, value: object) -> dict[str, str]:
        if not isinstance(value, dict):
            raise self.fail(("sources",), f"expected a mapping of source key -> URL or citation, got {value!r}")
        return {key: self.text(("sources", key), text) for key, text in value.items()}

    def build(self) -> HardwareProfile:
        top = self.mapping(
            (),
            self.root,
            ("name", "description", "sources", "memory", "compute", "crossbar", "energy", "formats",
             "quantization", "ops", "budgets", "sparse_weights", "analog", "calibration", "fabric"),
        )
        name = self.text(("name",), self.required(top, ("name",), "the profile's name"))
        if not PROFILE_NAME.fullmatch(name):  # it names report files and run folders, and reaches generated C
            raise self.fail(("name",), f"{name[:80]!r} is not a profile name: letters, digits, '.', '_' and '-', "
                                       "starting with a letter or digit, at most 64 characters")
        memory = self.mapping(("memory",), self.required(top, ("memory",), "weights and activations"),
                              ("weights", "activations"))
        weight_memory = self._memory(("memory", "weights"), self.required(memory, ("memory", "weights"), "a size"))
        activation_memory = self._memory(
            ("memory", "activations"), self.required(memory, ("memory", "activations"), "a size")
        )
        formats = self._formats(self.required(top, ("formats",), "weight and activation formats"))
        crossbar = self._crossbar(top["crossbar"]) if "crossbar" in top else None
        if weight_memory.kind == "crossbar" and crossbar is None:
            raise self.fail(("crossbar",), "missing: memory.weights.kind is 'crossbar', so rows, cols and tiles "
                                           "are required")
        compute = self._compute(self.required(top, ("compute",), "throughput per format"), formats)
        sparse = top.get("sparse_weights", False)
        if not isinstance(sparse, bool):
            raise self.fail(("sparse_weights",), f"expected true or false, got {sparse!r}")
        return HardwareProfile(
            name=name,
            description=self.text(("description",), top["description"]) if "description" in top else "",
            weight_memory=weight_memory,
            activation_memory=activation_memory,
            compute=compute,
            energy=self._energy(top.get("energy", {}), formats),
            weight_formats=formats["weights"],
            activation_formats=formats["activations"],
            weight_format=formats["default_weights"],
            activation_format=formats["default_activations"],
            quantization=self._quantization(top.get("quantization", {})),
            ops=self._ops(top.get("ops", "all")),
            budgets=self._budgets(top.get("budgets", {})),
            crossbar=crossbar,
            sparse_weights=sparse,
            analog=self._analog(top["analog"]) if "analog" in top else None,
            fabric=self._fabric(top["fabric"]) if "fabric" in top else None,
            path=self.path,
            sources=MappingProxyType(self.sources),
            figure_sources=MappingProxyType(self.figure_sources),
            calibration=self._calibration(top["calibration"]) if "calibration" in top else None,
        )

    def _memory(self, field: FieldPath, value: object) -> MemoryLevel:
        data = self.mapping(field, value, ("kind", "size", "reserved", "bandwidth", "energy_per_byte"))
        kind = self.choice((*field, "kind"), data.get("kind", "sram"), MEMORY_KINDS)
        size = self.figure((*field, "size"), self.required(data, (*field, "size"), "bytes, e.g. 320KiB"),
                           Dimension.BYTES, low_inclusive=False)
        reserved = self.figure((*field, "reserved"), data.get("reserved", 0), Dimension.BYTES)
        if reserved >= size:
            raise self.fail((*field, "reserved"), f"reserved {reserved:g} bytes leaves nothing of size {size:g}")
        bandwidth = None
        if "bandwidth" in data:
            bandwidth = self.figure((*field, "bandwidth"), data["bandwidth"], Dimension.BANDWIDTH, low_inclusive=False)
        energy = self.figure((*field, "energy_per_byte"), data.get("energy_per_byte", 0), Dimension.ENERGY)
        return MemoryLevel(kind, size, reserved, bandwidth, energy)

    def _formats(self, value: object) -> dict:
        field = ("formats",)
        data = self.mapping(field, value, ("weights", "activations", "default_weights", "default_activations"))
        out: dict[str, object] = {}
        for key in ("weights", "activations"):
            names = self.required(data, (*field, key), f"a list of formats from {', '.join(FORMATS)}")
            if isinstance(names, str):
                names = [names]
            if not isinstance(names, list) or not names:
                raise self.fail((*field, key), f"expected a non-empty list of formats from {', '.join(FORMATS)}")
            out[key] = tuple(self.choice((*field, key, str(i)), n, tuple(FORMATS)) for i, n in enumerate(names))
        for key, listed in (("default_weights", "weights"), ("default_activations", "activations")):
            out[key] = self.choice((*field, key), data.get(key, out[listed][0]), out[listed])
        return out

    def _compute(self, value: object, formats: dict) -> Compute:
        field = ("compute",)
        data = self.mapping(field, value, ("clock", "macs_per_cycle", "peak", "fused_ops", "layout_ops",
                                           *(f.yaml_key for f in (*OP_FIGURES, *SCALAR_FIGURES))))
        clock = self.figure((*field, "clock"), data["clock"], Dimension.FREQUENCY, low_inclusive=False) \
            if "clock" in data else None
        rates = self._rates(data, clock, formats)
        layout_ops = self._op_list((*field, "layout_ops"), data.get("layout_ops", []),
                                   tuple(sorted(o.value for o in SUPPORT_OPS - MAC_OPS)))
        per_op = {spec.name: self._per_op(spec, data.get(spec.yaml_key, {}), layout_ops) for spec in OP_FIGURES}
        default_efficiency = per_op["efficiency"].pop("default", 1.0)
        ops = {op: OpFigures(**{name: values[op] for name, values in per_op.items() if op in values})
               for op in sorted({op for values in per_op.values() for op in values}, key=str)}
        scalars = {spec.name: self._scalar(spec, data.get(spec.yaml_key, spec.default)) for spec in SCALAR_FIGURES}
        return Compute(macs_per_s=MappingProxyType(rates), ops=MappingProxyType(ops),
                       default_efficiency=default_efficiency, clock_hz=clock, layout_ops=layout_ops,
                       fused_ops=MappingProxyType(self._fused_ops((*field, "fused_ops"), data.get("fused_ops", {}))),
                       **scalars)

    def _rates(self, data: dict, clock: float | None, formats: dict) -> dict[str, float]:
        """Peak MAC/s per format, from `macs_per_cycle` at the clock and `peak` (each format from one of them)."""
        field = ("compute",)
        rates: dict[str, float] = {}
        if "macs_per_cycle" in data:
            if clock is None:
                raise self.fail((*field, "macs_per_cycle"), "needs compute.clock to turn MACs per cycle into MAC/s")
            per_cycle = self._per_format((*field, "macs_per_cycle"), data["macs_per_cycle"], Dimension.COUNT)
            rates.update({fmt: n * clock for fmt, n in per_cycle.items()})
        if "peak" in data:
            peak = self._per_format((*field, "peak"), data["peak"], Dimension.MAC_RATE)
            for fmt in peak.keys() & rates.keys():
                raise self.fail((*field, "peak", fmt), "given both as peak and as macs_per_cycle; keep one")
            rates.update(peak)
        default_weights = formats["default_weights"]
        if default_weights not in rates:
            raise self.fail((*field, "peak"), f"missing throughput for the default weight format "
                                              f"{default_weights!r} (give compute.peak or compute.macs_per_cycle)")
        return rates

    def _scalar(self, spec: ComputeFigure, raw: object) -> float:
        return self.figure(("compute", spec.yaml_key), raw, spec.dimension, low=spec.low,
                           low_inclusive=spec.low_inclusive, high=spec.high)

    def _per_op(self, spec: ComputeFigure, value: object, layout_ops: frozenset[Op]) -> dict:
        """A mapping of op (those `spec` allows) -> its figure, bounded and whole as `spec` says; an efficiency map
        may also give a `default`."""
        field = ("compute", spec.yaml_key)
        allowed_ops = spec.allowed_ops(layout_ops)
        if spec.ops == LAYOUT and value and isinstance(value, dict) and not layout_ops:
            raise self.fail(field, "only compute.layout_ops run in the blocked layout, and there are none")
        allowed = tuple(sorted(op.value for op in allowed_ops))
        if spec.name == "efficiency":
            allowed = ("default", *allowed)
        if not isinstance(value, dict):
            what = {Dimension.FRACTION: "fraction", Dimension.TIME: "time"}.get(
                spec.dimension, "channels" if spec.whole else "MACs")
            raise self.fail(field, f"expected a mapping of op -> {what}, got {value!r}")
        out: dict = {}
        for key, raw in value.items():
            name = self.choice((*field, str(key)), key, allowed)
            number = self.figure((*field, str(key)), raw, spec.dimension, low=spec.low,
                                 low_inclusive=spec.low_inclusive, high=spec.high)
            if spec.whole:
                if number != int(number):
                    raise self.fail((*field, str(key)), f"expected a whole number of channels, got {number:g}")
                number = int(number)
            out[name if name == "default" else Op(name)] = number
        return out

    def _fused_ops(self, field: FieldPath, value: object) -> dict[Op, frozenset[Op]]:
        """A mapping of MAC op -> the ops a runtime runs inside such a layer."""
        mac_ops = tuple(sorted(o.value for o in MAC_OPS))
        if not isinstance(value, dict):
            raise self.fail(field, f"expected a mapping of MAC op ({', '.join(mac_ops)}) -> a list of ops, "
                                   f"got {value!r}")
        allowed = tuple(sorted(o.value for o in EPILOGUE_OPS))
        return {Op(self.choice((*field, str(key)), key, mac_ops)): self._op_list((*field, str(key)), names, allowed)
                for key, names in value.items()}

    def _op_list(self, field: FieldPath, value: object, allowed: tuple[str, ...]) -> frozenset[Op]:
        if not isinstance(value, list):
            raise self.fail(field, f"expected a list of ops from {', '.join(allowed)}, got {value!r}")
        return frozenset(Op(self.choice((*field, str(i)), name, allowed)) for i, name in enumerate(value))

    def _per_format(self, field: FieldPath, value: object, dimension: Dimension) -> dict[str, float]:
        if not isinstance(value, dict) or not value:
            raise self.fail(field, f"expected a mapping of format -> value, formats from {', '.join(FORMATS)}")
        return {
            self.choice((*field, str(fmt)), fmt, tuple(FORMATS)): self.figure(
                (*field, str(fmt)), raw, dimension, low_inclusive=dimension is Dimension.ENERGY
            )
            for fmt, raw in value.items()
        }

    def _crossbar(self, value: object) -> Crossbar:
        field = ("crossbar",)
        data = self.mapping(field, value, ("rows", "cols", "tiles"))
        sizes = []
        for key in ("rows", "cols", "tiles"):
            number = self.figure((*field, key), self.required(data, (*field, key), "a positive whole number"),
                                 Dimension.COUNT, low=1)
            if number != int(number):
                raise self.fail((*field, key), f"expected a whole number, got {number:g}")
            sizes.append(int(number))
        return Crossbar(*sizes)

    def _fabric(self, value: object) -> Fabric:
        field = ("fabric",)
        keys = ("family", "max_luts", "max_ffs", "max_dsps", "max_brams")
        data = self.mapping(field, value, (*keys, "luts", "ffs", "fit"))
        family = self.choice((*field, "family"), self.required(data, (*field, "family"), "the part family yosys "
                                                               f"synthesizes for: {', '.join(FABRIC_FAMILIES)}"),
                             FABRIC_FAMILIES)
        limits = {}
        for key in keys[1:]:
            if key in data:
                number = self.figure((*field, key), data[key], Dimension.COUNT, low=0)
                if number != int(number):
                    raise self.fail((*field, key), f"expected a whole number of cells, got {number:g}")
                limits[key] = number
        model = {}
        for key in ("luts", "ffs"):
            if key in data:
                terms = self.mapping((*field, key), data[key], tuple(FABRIC_TERMS))
                model[key] = {term: self.figure((*field, key, term), terms[term], Dimension.COUNT, low=0,
                                                high=1e6) for term in terms}
                missing = [term for term in FABRIC_TERMS if term not in terms]
                if missing:
                    raise self.fail((*field, key), f"missing terms {', '.join(missing)} (edgeopt calibrate "
                                                   "--runtime yosys writes every one)")
        if ("luts" in model) != ("ffs" in model) or ("fit" in data) != bool(model):
            raise self.fail(field, "luts, ffs and fit come together (written by edgeopt calibrate --runtime yosys)")
        fit = self._fabric_fit(data["fit"]) if "fit" in data else None
        return Fabric(family, **limits, **model, fit=fit)

    def _fabric_fit(self, value: object) -> FabricFit:
        field = ("fabric", "fit")
        keys = ("tool", "machine", "date", "samples", "luts_fit_error", "ffs_fit_error", "luts_within_10pct",
                "ffs_within_10pct")
        data = self.mapping(field, value, keys)
        for key in keys:
            self.required(data, (*field, key), "written by edgeopt calibrate --runtime yosys")
        samples = data["samples"]
        if not isinstance(samples, int) or isinstance(samples, bool) or not 1 <= samples <= 1 << 32:
            raise self.fail((*field, "samples"), f"expected a positive whole number, got {short_repr(samples)}")
        shares = {}
        for key in keys[4:]:
            number = data[key]
            high = 1 if key.endswith("10pct") else 1e6
            if isinstance(number, bool) or not isinstance(number, (int, float)) or not 0 <= number <= high:
                raise self.fail((*field, key), f"expected a number from 0 to {high:g}, got {short_repr(number)}")
            shares[key] = float(number)
        return FabricFit(self.text((*field, "tool"), data["tool"]), self.text((*field, "machine"), data["machine"]),
                         self.text((*field, "date"), str(data["date"])), samples, **shares)

    def _calibration(self, value: object) -> Calibration:
        field = ("calibration",)
        keys = ("runtime", "machine", "date", "samples", "fit_error", "within_10pct")
        data = self.mapping(field, value, (*keys, "energy_samples", "energy_fit_error", "max_activation_elements"))
        for key in keys:
            self.required(data, (*field, key), "written by edgeopt calibrate")
        if ("energy_samples" in data) != ("energy_fit_error" in data):
            raise self.fail((*field, "energy_samples"), "energy_samples and energy_fit_error come together")
        for key in ("samples", "energy_samples", "max_activation_elements"):
            count = data.get(key, 1)
            if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 1 << 48:
                raise self.fail((*field, key), f"expected a positive whole number, got {short_repr(count)}")
        shares = {}
        for key in ("fit_error", "within_10pct", "energy_fit_error"):
            if key not in data:
                continue
            number = data[key]
            if isinstance(number, bool) or not isinstance(number, (int, float)) or not 0 <= number < 1e6:
                raise self.fail((*field, key), f"expected a non-negative number, got {number!r}")
            shares[key] = float(number)
        if shares["within_10pct"] > 1:
            raise self.fail((*field, "within_10pct"), f"a share is at most 1, got {shares['within_10pct']!r}")
        return Calibration(self.text((*field, "runtime"), data["runtime"]), self.text((*field, "machine"),
                           data["machine"]), self.text((*field, "date"), str(data["date"])), data["samples"],
                           shares["fit_error"], shares["within_10pct"], data.get("energy_samples"),
                           shares.get("energy_fit_error"), data.get("max_activation_elements"))

    def _analog(self, value: object) -> Analog:
        field = ("analog",)
        data = self.mapping(field, value, ("weight_noise", "adc_bits", "dac_bits"))
        noise = self.figure((*field, "weight_noise"), self.required(data, (*field, "weight_noise"),
                            "the std of weight noise relative to each channel's range, e.g. 0.02"),
                            Dimension.COUNT, low=0)
        if noise >= 1:
            raise self.fail((*field, "weight_noise"), f"expected a fraction of the weight range below 1, got {noise:g}")
        bits = {}
        for key in ("adc_bits", "dac_bits"):
            if key in data:
                number = self.figure((*field, key), data[key], Dimension.COUNT, low=2)
                if number != int(number) or number > 16:
                    raise self.fail((*field, key), f"expected a whole number of bits from 2 to 16, got {number:g}")
                bits[key] = int(number)
        return Analog(noise, bits.get("adc_bits"), bits.get("dac_bits"))

    def _energy(self, value: object, formats: dict) -> Energy:
        field = ("energy",)
        data = self.mapping(field, value, ("per_mac", "static_power"))
        per_mac = self._per_format((*field, "per_mac"), data["per_mac"], Dimension.ENERGY) if "per_mac" in data else {}
        static = self.figure((*field, "static_power"), data.get("static_power", 0), Dimension.POWER)
        return Energy(MappingProxyType(per_mac), static)

    def _quantization(self, value: object) -> Quantization:
        field = ("quantization",)
        data = self.mapping(field, value, ("granularity", "scale_bytes", "zero_point_bytes", "bias_bits"))
        granularity = self.choice((*field, "granularity"), data.get("granularity", "per-channel"),
                                  ("per-channel", "per-tensor"))
        scale = self.figure((*field, "scale_bytes"), data.get("scale_bytes", 4), Dimension.BYTES)
        zero_point = self.figure((*field, "zero_point_bytes"), data.get("zero_point_bytes", 0), Dimension.BYTES)
        bias_bits = self.figure((*field, "bias_bits"), data.get("bias_bits", 32), Dimension.COUNT, low=2, high=64)
        if bias_bits != int(bias_bits):
            raise self.fail((*field, "bias_bits"), f"expected a whole number of bits from 2 to 64, got {bias_bits:g}")
        return Quantization(granularity, scale, zero_point, int(bias_bits))

    def _ops(self, value: object) -> frozenset[Op]:
        if value == "all":
            return frozenset(SUPPORT_OPS)
        if not isinstance(value, list) or not value:
            raise self.fail(("ops",), "expected 'all' or a non-empty list of op names")
        ops = set()
        for i, name in enumerate(value):
            try:
                ops.add(parse_op(str(name)))
            except ValueError as exc:
                raise self.fail(("ops", str(i)), str(exc)) from None
        return frozenset(ops)

    def _budgets(self, value: object) -> Budgets:
        field = ("budgets",)
        specs: dict[str, tuple[Dimension, Callable[[float], float]]] = {
            "max_params": (Dimension.COUNT, float),
            "max_weight_bytes": (Dimension.BYTES, float),
            "max_activation_bytes": (Dimension.BYTES, float),
            "max_latency": (Dimension.TIME, float),
            "max_energy": (Dimension.ENERGY, float),
            "max_power": (Dimension.POWER, float),
        }
        data = self.mapping(field, value, tuple(specs))
        parsed = {key: self.figure((*field, key), raw, specs[key][0], low_inclusive=False)
                  for key, raw in data.items()}
        return Budgets(
            max_params=parsed.get("max_params"),
            max_weight_bytes=parsed.get("max_weight_bytes"),
            max_activation_bytes=parsed.get("max_activation_bytes"),
            max_latency_s=parsed.get("max_latency"),
            max_energy_j=parsed.get("max_energy"),
            max_power_w=parsed.get("max_power"),
        )
