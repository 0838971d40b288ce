"""The compression steps: each a name, a frozen config dataclass and a verb returning one `StepOutcome`, so a YAML
pipeline resolves to typed configs and a pipeline runs without isinstance chains; unknown names and keys are errors."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from dataclasses import dataclass, field

from edgeopt.compression.context import CompressContext
from edgeopt.compression.distill import DistillConfig, distill
from edgeopt.compression.fakequant import QuantPlan
from edgeopt.compression.prune import ChannelPruneConfig, MagnitudePruneConfig, magnitude_prune, prune
from edgeopt.compression.quantize import CompressError, QuantizeConfig, quantize
from edgeopt.numbers import NumberError, read_number
from edgeopt.errors import UnitError
from edgeopt.figures import COST_FIGURES
from edgeopt.profiles.units import Dimension, parse_quantity


@dataclass(frozen=True)
class StepOutcome:
    """What every step returns: the model after it, its quantization plan (None: float), a note for the report (a
    fallback taken, a target missed) and the step's own figures."""

    model: object
    plan: QuantPlan | None = None
    note: str = ""
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Step:
    name: str
    config: type
    apply: Callable[[object, object, CompressContext], StepOutcome]


def _prune(model, config: ChannelPruneConfig, ctx: CompressContext) -> StepOutcome:
    pruned = prune(model, config, ctx)
    note = pruned.note or ("" if pruned.target_met else "the target is not met")
    return StepOutcome(pruned.model, None, note, {"ratio": pruned.ratio, "target_met": pruned.target_met,
                                                   "history": [dataclasses.asdict(h) for h in pruned.history],
                                                   "reverted": pruned.reverted})


def _magnitude_prune(model, config: MagnitudePruneConfig, ctx: CompressContext) -> StepOutcome:
    pruned = magnitude_prune(model, config, ctx)
    return StepOutcome(pruned.model, None, pruned.note, {"sparsity": pruned.ratio})


def _distill(model, config: DistillConfig, ctx: CompressContext) -> StepOutcome:
    return StepOutcome(distill(model, ctx.teacher, config, ctx))


QUANTIZE_NOTES = {"ptq": "post-training quantization", "mixed": "mixed precision after post-training lost too much",
                  "qat": "quantization-aware fine-tuning after post-training lost too much"}


def _quantize(model, config: QuantizeConfig, ctx: CompressContext) -> StepOutcome:
    q = quantize(model, config, ctx)
    note = QUANTIZE_NOTES[q.method]
    if q.noise is not None:
        note += (f"; under analog noise {ctx.metric} {q.scores['analog_noisy']:.4f} before, "
                 f"{q.scores.get('noise_trained_noisy', q.scores['analog_noisy']):.4f} after noise training")
    return StepOutcome(q.model, q.plan, note, {"method": q.method, "scores": q.scores, "formats": q.plan.formats()})


STEPS: dict[str, Step] = {step.name: step for step in (
    Step("prune", ChannelPruneConfig, _prune),
    Step("magnitude_prune", MagnitudePruneConfig, _magnitude_prune),
    Step("distill", DistillConfig, _distill),
    Step("quantize", QuantizeConfig, _quantize),
)}

# Prune targets as written in YAML (with units) -> the config's base-unit keys.
TARGETS = {f.target_key: (f.name, Dimension(f.dimension)) for f in COST_FIGURES}


def step_of(config) -> Step:
    """The step a config belongs to (its class, or the nearest base a step registers: Int8Config is quantize's)."""
    by_class = {step.config: step for step in STEPS.values()}
    for cls in type(config).__mro__:
        if cls in by_class:
            return by_class[cls]
    raise CompressError(f"{type(config).__name__} is not a compression step; steps: {', '.join(STEPS)}")


def step_name(config) -> str:
    return step_of(config).name


def apply_step(config, model, ctx: CompressContext) -> StepOutcome:
    """Run the step `config` configures on `model`."""
    return step_of(config).apply(model, config, ctx)


def make_config(name: str, options: object, where: str):
    """The config for step `name` from YAML `options` (a mapping or nothing); `where` prefixes error messages."""
    if name not in STEPS:
        raise CompressError(f"{where}: unknown step {name!r}; valid steps: {', '.join(STEPS)}")
    cls = STEPS[name].config
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
    if int in args or float in args:  # text too: YAML reads 1e-3 as text; ranges are the config's to check
        try:
            number = read_number(value, integer=float not in args)
        except NumberError as exc:
            raise CompressError(f"{where}: {step}.{key}: {exc}") from None
        return number if float not in args else float(number)
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
