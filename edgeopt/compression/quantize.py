"""quantize(model, Int8Config(...), ctx): post-training quantization with calibration; mixed precision and QAT
as fallbacks.

Formats come from the profile: weights in one of its weight formats, activations in one of its activation formats,
per-channel or per-tensor scales as its `quantization.granularity` says, biases at its `bias_bits`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from edgeopt.compression.context import CompressContext
from edgeopt.compression.fakequant import LayerQuant, QuantPlan, attach, fold_batchnorm, weighted_layers
from edgeopt.errors import EdgeoptError
from edgeopt.numbers import NumberError, check_fields
from edgeopt.intgrid.grid import activation_params
from edgeopt.profiles.formats import get_format
from edgeopt.profiles.schema import Analog

CALIBRATION_METHODS = ("minmax", "percentile", "mse")


def check_options(step: str, config, bounds: dict) -> None:
    """A step's numeric options in their ranges (`numbers.check_fields`), as one CompressError."""
    try:
        check_fields(step, config, bounds)
    except NumberError as exc:
        raise CompressError(str(exc)) from None


class CompressError(EdgeoptError):
    """A compression step or pipeline that cannot run as asked (format the device lacks, bad option, bad model)."""


@dataclass(frozen=True)
class QuantizeConfig:
    """Post-training quantization; falls back to mixed precision, then quantization-aware training, past `max_drop`."""

    weights: str | None = None  # None: the profile's default weight format
    activations: str | None = None  # None: the profile's default activation format (float formats stay float)
    calibration: str = "minmax"  # minmax | percentile | mse (minmax measured best here: BENCHMARKS.md)
    percentile: float = 99.99
    calibration_samples: int = 512
    mixed_precision: bool = True  # widen the most sensitive layers when the profile offers a wider weight format
    qat_epochs: int = 4  # quantization-aware fine-tuning (straight-through estimator); 0: never
    qat_lr: float = 3e-4
    noise_finetune_epochs: int = 3  # analog profiles: fine-tune with the profile's weight noise injected
    noise_draws: int = 5  # analog profiles: noisy accuracy is the mean over this many seeded draws
    batch_size: int = 64

    def __post_init__(self):
        check_options("quantize", self, {
            "percentile": (50.0, 100.0, False), "calibration_samples": (1, 10_000_000, True),
            "qat_epochs": (0, 100_000, True), "qat_lr": (1e-9, 10.0, False),
            "noise_finetune_epochs": (0, 100_000, True), "noise_draws": (1, 1000, True),
            "batch_size": (1, 1 << 20, True)})
        if self.calibration not in CALIBRATION_METHODS:
            raise CompressError(f"quantize: calibration {self.calibration!r} is not one of "
                                f"{', '.join(CALIBRATION_METHODS)}")
        if not 50.0 < self.percentile <= 100.0:
            raise CompressError(f"quantize: percentile {self.percentile} must be in (50, 100]")
        for name in ("calibration_samples", "noise_draws", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise CompressError(f"quantize: {name} must be at least 1, got {getattr(self, name)}")
        for name in ("qat_epochs", "noise_finetune_epochs"):
            if int(getattr(self, name)) < 0:
                raise CompressError(f"quantize: {name} must be 0 or more, got {getattr(self, name)}")
        for name in ("weights", "activations"):
            value = getattr(self, name)
            if value is not None:
                try:
                    get_format(value)
                except ValueError as exc:
                    raise CompressError(f"quantize: {name}: {exc}") from None


@dataclass(frozen=True)
class Int8Config(QuantizeConfig):
    weights: str | None = "int8"


@dataclass(frozen=True)
class Int4Config(QuantizeConfig):
    """4-bit weights, 8-bit activations: only on profiles that list int4 among their weight formats."""

    weights: str | None = "int4"
    activations: str | None = "int8"


@dataclass(frozen=True)
class Quantized:
    """A quantized model: the batchnorm-folded float module computing as `plan` says, and how it got there."""

    model: object  # nn.Module with the plan attached
    plan: QuantPlan
    noise: Analog | None
    method: str  # ptq | mixed | qat
    scores: dict = field(default_factory=dict)  # metric after each attempt, and with/without analog noise


def quantize(model, config: QuantizeConfig, ctx: CompressContext) -> Quantized:
    """Quantize `model` to the profile's formats; returns the simulated model and its plan (for export)."""
    weights, activations = check_formats(config, ctx.profile)
    folded = fold_batchnorm(model)
    names = weighted_layers(folded)
    if not names:
        raise CompressError(f"quantize: {type(model).__name__} has no Conv1d, Conv2d or Linear layer to quantize")
    ranges = _calibrate(folded, names, ctx, config)
    per_channel = ctx.profile.quantization.granularity == "per-channel"
    act = activations if get_format(activations).integer else None
    layers = []
    for name in names:
        low, high, out_low, out_high = ranges[name]
        scale, zero = activation_params(low, high, get_format(act).bits) if act else (1.0, 0)
        layers.append(LayerQuant(name, weights, per_channel, act, scale, zero, ctx.profile.quantization.bias_bits,
                                 out_low, out_high))
    plan = QuantPlan(tuple(layers))
    scores = {"float": ctx.score(folded)}
    simulated = attach(copy.deepcopy(folded), plan)
    scores["ptq"] = ctx.score(simulated)
    method = "ptq"
    wider = _wider_format(weights, ctx)
    if not ctx.within_tolerance(scores["ptq"]) and config.mixed_precision and wider:
        mixed, scores["mixed"] = _mixed_precision(folded, plan, wider, ctx)
        if ctx.within_tolerance(scores["mixed"]):
            plan, simulated, method = mixed, attach(copy.deepcopy(folded), mixed), "mixed"
        # otherwise quantization-aware training starts from the narrow plan: widening everything is no answer
    if not ctx.within_tolerance(scores[method]) and config.qat_epochs > 0:
        simulated = _finetune(folded, plan, None, config.qat_epochs, config, ctx)
        method, scores["qat"] = "qat", ctx.score(simulated)
    noise = ctx.profile.analog
    if noise is not None:
        scores["analog_clean"] = scores[method]
        scores["analog_noisy"] = _noisy_score(simulated, plan, noise, config, ctx)
        if config.noise_finetune_epochs > 0:
            simulated = _finetune(simulated, plan, noise, config.noise_finetune_epochs, config, ctx)
            scores["noise_trained_clean"] = ctx.score(simulated)
            scores["noise_trained_noisy"] = _noisy_score(simulated, plan, noise, config, ctx)
    return Quantized(simulated, plan, noise, method, scores)


def check_formats(config: QuantizeConfig, profile) -> tuple[str, str]:
    """(weight format, activation format) the config asks for on `profile`; an error when the device lacks one.

    Unset weights take the profile's default format, or its narrowest integer format of at least 8 bits when the
    default is a float one (a host that runs fp32 by default, int8 when asked)."""
    weights = config.weights or _default_integer_format(profile)
    activations = config.activations or profile.activation_format
    if weights not in profile.weight_formats:
        raise CompressError(f"quantize: weights {weights!r} are not a format {profile.name} runs; "
                            f"its weight formats: {', '.join(profile.weight_formats)}")
    if not get_format(weights).integer:
        raise CompressError(f"quantize: weights {weights!r} are a float format; choose an integer one of "
                            f"{', '.join(f for f in profile.weight_formats if get_format(f).integer) or '(none)'}")
    if activations not in profile.activation_formats:
        raise CompressError(f"quantize: activations {activations!r} are not a format {profile.name} runs; "
                            f"its activation formats: {', '.join(profile.activation_formats)}")
    return weights, activations


def _default_integer_format(profile) -> str:
    if get_format(profile.weight_format).integer:
        return profile.weight_format
    integers = sorted((f for f in profile.weight_formats if get_format(f).integer), key=lambda f: (
        get_format(f).bits < 8, get_format(f).bits))
    return integers[0] if integers else profile.weight_format


def _wider_format(weights: str, ctx: CompressContext) -> str | None:
    """The narrowest format the profile offers that is wider than `weights` (what mixed precision falls back to)."""
    bits = get_format(weights).bits
    wider = [f for f in ctx.profile.weight_formats if get_format(f).bits > bits]
    return min(wider, key=lambda f: (get_format(f).bits, not get_format(f).integer)) if wider else None


def _calibrate(model, names: list[str], ctx: CompressContext, config: QuantizeConfig) -> dict:
    """(input low, input high, output low, output high) per layer, over the first calibration samples."""
    import torch

    seen: dict[str, list] = {name: [[], []] for name in names}
    modules = dict(model.named_modules())

    def record(name):
        def hook(module, args, out):  # returns None: observes without replacing the output
            seen[name][0].append(args[0].detach().flatten())
            seen[name][1].append(out.detach().flatten())
        return hook

    hooks = [modules[n].register_forward_hook(record(n)) for n in names]
    x = ctx.data.x_train[:config.calibration_samples]
    model.eval()
    with torch.no_grad():
        for first in range(0, len(x), 256):
            model(x[first:first + 256])
    for hook in hooks:
        hook.remove()
    out = {}
    for name in names:
        inputs, outputs = torch.cat(seen[name][0]), torch.cat(seen[name][1])
        out[name] = (*_range(inputs, config), float(outputs.min()), float(outputs.max()))
    return out


def _range(values, config: QuantizeConfig) -> tuple[float, float]:
    import torch

    values = values.float()
    if values.numel() > 1_000_000:  # a seeded subsample keeps calibration fast and deterministic
        generator = torch.Generator().manual_seed(0)
        values = values[torch.randperm(values.numel(), generator=generator)[:1_000_000]]
    low, high = float(values.min()), float(values.max())
    if config.calibration == "percentile":
        q = torch.tensor([(100.0 - config.percentile) / 100.0, config.percentile / 100.0])
        low, high = (float(v) for v in torch.quantile(values, q))
    elif config.calibration == "mse":
        low, high = _mse_range(values, low, high)
    return low, high


def _mse_range(values, low: float, high: float) -> tuple[float, float]:
    """The clipping of [low, high] that minimises the 8-bit quantization error of `values`."""
    import torch

    best = (float("inf"), low, high)
    for ratio in torch.linspace(0.3, 1.0, 15).tolist():
        lo, hi = min(low * ratio, 0.0), max(high * ratio, 0.0)
        scale, zero = activation_params(lo, hi, 8)
        error = float(((torch.fake_quantize_per_tensor_affine(values, scale, zero, -128, 127) - values) ** 2).mean())
        if error < best[0]:
            best = (error, lo, hi)
    return best[1], best[2]


def _mixed_precision(folded, plan: QuantPlan, wider: str, ctx: CompressContext) -> tuple[QuantPlan, float]:
    """Widen the layers whose own quantization costs most, one at a time, until the drop is within tolerance."""
    gains = []
    for q in plan.layers:
        trial = plan.with_layer(q.name, weight_format=wider)
        gains.append((ctx.score(attach(copy.deepcopy(folded), trial)), q.name))
    score = ctx.score(attach(copy.deepcopy(folded), plan))
    for _, name in sorted(gains, key=lambda g: -g[0]):
        plan = plan.with_layer(name, weight_format=wider)
        score = ctx.score(attach(copy.deepcopy(folded), plan))
        if ctx.within_tolerance(score):
            break
    return plan, score


def _finetune(model, plan: QuantPlan, noise: Analog | None, epochs: int, config: QuantizeConfig,
              ctx: CompressContext):
    """Train through the simulated integer arithmetic (and noise), then return the model computing without noise.

    Quantization-aware training keeps its best validation epoch; noise training keeps its last (its point is
    robustness, which the clean score does not see)."""
    from edgeopt.compression.fakequant import detach
    from edgeopt.train.fit import FitSettings, fit

    trained = attach(detach(copy.deepcopy(model)), plan, noise)
    fit(trained, ctx.data.x_train, ctx.data.y_train,
        FitSettings(epochs, lr=config.qat_lr, batch_size=config.batch_size, seed=ctx.seed),
        teacher_logits=ctx.teacher_logits, select=ctx.score if noise is None else None)
    return attach(detach(trained), plan)


def _noisy_score(model, plan: QuantPlan, noise: Analog, config: QuantizeConfig, ctx: CompressContext) -> float:
    import torch

    from edgeopt.compression.fakequant import detach

    noisy = attach(detach(copy.deepcopy(model)), plan, noise)
    scores = []
    with torch.random.fork_rng(devices=[]):
        for draw in range(config.noise_draws):
            torch.manual_seed(ctx.seed * 7919 + draw)
            scores.append(ctx.score(noisy))
    return sum(scores) / len(scores)
