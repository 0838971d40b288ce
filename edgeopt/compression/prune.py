"""prune(model, ChannelPruneConfig(...), ctx): structured pruning that removes channels and neurons for real.

torch-pruning's dependency graph keeps coupled layers consistent (a conv's output channels, the batchnorm after it, the
next layer's inputs). The target is stated in the profile's terms and checked with the cost model; pruning goes in
steps with fine-tuning between them, and a step that breaks the tolerance is undone (the smaller ratio is kept).
`magnitude_prune` zeroes single weights instead: the cost model counts that as a saving only on profiles that declare
`sparse_weights: true`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field

from edgeopt.compression.context import CompressContext
from edgeopt.compression.quantize import CompressError, check_options as _check
from edgeopt.cost.estimate import Estimate, estimate, limit_checks
from edgeopt.figures import FIGURE_NAMES
from edgeopt.train.fit import FitSettings, fit

IMPORTANCES = ("l1", "l2", "fpgm", "lamp")


@dataclass(frozen=True)
class ChannelPruneConfig:
    """Remove a fraction of every prunable layer's channels (`ratio`), or as many as a target needs.

    `target` maps params / weight_bytes / macs / latency_s / peak_activation_bytes / energy_j to a limit; with neither
    ratio nor target, the target is the profile's budgets and memory sizes.
    """

    ratio: float | None = None
    target: Mapping[str, float] | None = None
    steps: int = 4
    finetune_epochs: int = 4
    lr: float = 2e-3
    batch_size: int = 64
    importance: str = "l2"
    global_pruning: bool = False
    distill: bool = True  # fine-tune against the pipeline's teacher when it has one
    max_ratio: float = 0.9  # torch-pruning leaves a layer whole when a ratio would empty it

    def __post_init__(self):
        _check("prune", self, {"ratio": (0.0, 1.0, False), "steps": (1, 100, True),
                               "finetune_epochs": (0, 100_000, True), "lr": (1e-9, 10.0, False),
                               "batch_size": (1, 1 << 20, True), "max_ratio": (0.0, 1.0, False)})
        if self.ratio is not None and not 0.0 < self.ratio < 1.0:
            raise CompressError(f"prune: ratio must be between 0 and 1 (exclusive), got {self.ratio}")
        if self.ratio is not None and self.target is not None:
            raise CompressError("prune: give either ratio or target, not both")
        for key, value in (self.target or {}).items():
            if key not in FIGURE_NAMES:
                raise CompressError(f"prune: unknown target {key!r}; valid targets: {', '.join(FIGURE_NAMES)}")
            if not isinstance(value, (int, float)) or value <= 0:
                raise CompressError(f"prune: target {key} must be a positive number, got {value!r}")
        if self.importance not in IMPORTANCES:
            raise CompressError(f"prune: importance {self.importance!r} is not one of {', '.join(IMPORTANCES)}")
        if self.steps < 1 or self.finetune_epochs < 0:
            raise CompressError(f"prune: steps must be at least 1 and finetune_epochs 0 or more, got "
                                f"{self.steps} and {self.finetune_epochs}")
        if not 0.0 < self.max_ratio < 1.0:
            raise CompressError(f"prune: max_ratio must be between 0 and 1 (exclusive), got {self.max_ratio}")


@dataclass(frozen=True)
class MagnitudePruneConfig:
    """Zero the smallest-magnitude weights (unstructured), then fine-tune with the zeros held."""

    sparsity: float = 0.5
    scope: str = "global"  # global | layer
    finetune_epochs: int = 3
    lr: float = 1e-3
    batch_size: int = 64
    distill: bool = True

    def __post_init__(self):
        _check("magnitude_prune", self, {"sparsity": (0.0, 1.0, False), "finetune_epochs": (0, 100_000, True),
                                         "lr": (1e-9, 10.0, False), "batch_size": (1, 1 << 20, True)})
        if not 0.0 < self.sparsity < 1.0:
            raise CompressError(f"magnitude_prune: sparsity must be between 0 and 1 (exclusive), got {self.sparsity}")
        if self.scope not in ("global", "layer"):
            raise CompressError(f"magnitude_prune: scope {self.scope!r} is not one of global, layer")


@dataclass(frozen=True)
class PruneStep:
    ratio: float
    params: int
    score: float
    within_tolerance: bool


@dataclass(frozen=True)
class Pruned:
    model: object
    ratio: float  # channel ratio actually removed
    target_met: bool
    history: tuple[PruneStep, ...] = field(default=())
    note: str = ""
    reverted: bool = False  # the last step broke the tolerance and an earlier, smaller ratio was kept


def prune(model, config: ChannelPruneConfig, ctx: CompressContext) -> Pruned:
    """Structured pruning toward `config`'s ratio or target, fine-tuning after each step."""
    model = copy.deepcopy(model).eval()
    ratio, note = (config.ratio, "") if config.ratio is not None else _ratio_for_target(model, config, ctx)
    if ratio <= 0.0:
        return Pruned(model, 0.0, True, (), "the model already meets the target; nothing pruned")
    pruner = _pruner(model, ratio, config, ctx, steps=config.steps)
    teacher = ctx.teacher_logits if config.distill else None
    # Every step is kept: a step can dip below the tolerance and the next, fine-tuned longer, recover; the result is
    # the last step within the tolerance (the smaller ratio is the fallback when the target costs too much quality).
    snapshots, history = [(0.0, copy.deepcopy(model))], []
    for step in range(1, config.steps + 1):
        pruner.step()
        fit(model, ctx.data.x_train, ctx.data.y_train,
            FitSettings(config.finetune_epochs, lr=config.lr, batch_size=config.batch_size, seed=ctx.seed + step),
            teacher_logits=teacher, select=ctx.score)
        step_ratio = _geometric(ratio, config.steps)[step]
        score = ctx.score(model)
        ok = ctx.within_tolerance(score)
        history.append(PruneStep(step_ratio, _params(model), score, ok))
        if ok:
            snapshots.append((step_ratio, copy.deepcopy(model)))
    reached, accepted = snapshots[-1]
    reverted = reached < _geometric(ratio, config.steps)[-1]
    if reverted:
        final = history[-1]
        note = (f"pruning {final.ratio:.2f} of the channels left {ctx.metric} at {final.score:.4f}, past the "
                f"tolerance; kept ratio {reached:.2f}, the largest within it")
    met = _meets(accepted, config, ctx)
    return Pruned(accepted.eval(), reached, met, tuple(history), note, reverted)


def magnitude_prune(model, config: MagnitudePruneConfig, ctx: CompressContext) -> Pruned:
    """Unstructured magnitude pruning with the zeros held through fine-tuning."""
    import torch

    from edgeopt.compression.fakequant import weighted_layers

    model = copy.deepcopy(model).eval()
    modules = dict(model.named_modules())
    weights = [modules[name].weight for name in weighted_layers(model)]
    if config.scope == "global":
        threshold = torch.quantile(torch.cat([w.detach().abs().flatten() for w in weights]).float(), config.sparsity)
        masks = [(w.detach().abs() > threshold).to(w.dtype) for w in weights]
    else:
        masks = [(w.detach().abs() > torch.quantile(w.detach().abs().flatten().float(), config.sparsity)).to(w.dtype)
                 for w in weights]

    def apply():
        with torch.no_grad():
            for w, m in zip(weights, masks):
                w.mul_(m)

    apply()
    fit(model, ctx.data.x_train, ctx.data.y_train,
        FitSettings(config.finetune_epochs, lr=config.lr, batch_size=config.batch_size, seed=ctx.seed),
        teacher_logits=ctx.teacher_logits if config.distill else None, after_step=apply, select=ctx.score)
    zeros = sum(int(w.numel() - w.count_nonzero()) for w in weights)
    total = sum(w.numel() for w in weights)
    score = ctx.score(model)
    saving = ("the profile declares sparse_weights, so zeros are not stored" if ctx.profile.sparse_weights else
              f"{ctx.profile.name} stores weights densely (no sparse_weights), so the zeros save no memory or time")
    return Pruned(model, zeros / total, True, (PruneStep(zeros / total, _params(model), score,
                                                         ctx.within_tolerance(score)),), saving)


def _geometric(ratio: float, steps: int) -> list[float]:
    """Cumulative ratios that remove the same share of the remaining channels at every step (a linear schedule's
    last step would remove most of what is left at once)."""
    return [1.0 - (1.0 - ratio) ** (i / steps) for i in range(steps + 1)]


def _importance(name: str):
    import torch_pruning as tp

    imp = tp.importance
    return {"l1": lambda: imp.GroupMagnitudeImportance(p=1), "l2": lambda: imp.GroupMagnitudeImportance(p=2),
            "fpgm": imp.FPGMImportance, "lamp": imp.LAMPImportance}[name]()


def _output_layer(model, num_classes: int):
    """The classifier layer: its outputs are the classes and must never be pruned."""
    from edgeopt.compression.fakequant import weighted_layers

    modules = dict(model.named_modules())
    for name in reversed(weighted_layers(model)):
        m = modules[name]
        if getattr(m, "out_features", getattr(m, "out_channels", None)) == num_classes:
            return m
    raise CompressError(f"prune: found no output layer with {num_classes} outputs in {type(model).__name__}")


def _params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def _estimate(model, ctx: CompressContext) -> Estimate:
    return estimate(model, ctx.profile, ctx.input_shape)


def _meets(model, config: ChannelPruneConfig, ctx: CompressContext) -> bool:
    if config.ratio is not None:
        return True
    return not _shortfalls(_estimate(model, ctx), config, ctx)


def _shortfalls(est: Estimate, config: ChannelPruneConfig, ctx: CompressContext) -> list[str]:
    """What still exceeds the target: the given figures, or the profile's size, latency and energy limits."""
    if config.target:
        actual = est.figures()
        return [f"{k} {actual.value(k):.6g} > {v:.6g}" for k, v in config.target.items() if actual.value(k) > v]
    return _limit_shortfalls(est, ctx.profile)


def budget_shortfalls(model, profile, input_shape) -> list[str]:
    """The profile's size, latency and energy limits `model` exceeds once stored in the profile's format."""
    return _limit_shortfalls(estimate(model, profile, input_shape), profile)


def _limit_shortfalls(est: Estimate, profile) -> list[str]:
    # Average power is energy over latency: pruning need not lower it, so it is no pruning target.
    return [f"{c.what} {c.actual:.6g} > {c.limit:.6g}" for c in limit_checks(est, profile)
            if not c.passed and c.what != "max_power_w"]


def _pruner(model, ratio: float, config: ChannelPruneConfig, ctx: CompressContext, steps: int = 1):
    """torch-pruning's MetaPruner over `model`, never touching its classifier outputs; `steps` geometric steps."""
    import torch_pruning as tp

    return tp.pruner.MetaPruner(model, ctx.data.x_train[:2], importance=_importance(config.importance),
                                global_pruning=config.global_pruning, pruning_ratio=ratio, iterative_steps=steps,
                                ignored_layers=[_output_layer(model, ctx.num_classes), *_fixed_layers(model)],
                                iterative_pruning_ratio_scheduler=_geometric)


def _fixed_layers(model) -> list:
    """Layers whose weights are fixed, not trained (a downsampling front end): their channels are the input's."""
    return [m for m in model.modules() if getattr(m, "weight", None) is not None
            and not getattr(m.weight, "requires_grad", True)]


def _ratio_for_target(model, config: ChannelPruneConfig, ctx: CompressContext) -> tuple[float, str]:
    """The smallest channel ratio whose one-shot pruned model meets the target (a grid, then bisection, on
    throwaway copies)."""
    seen: dict[float, list[str]] = {}

    def shortfalls(ratio: float) -> list[str]:
        if ratio not in seen:
            trial = copy.deepcopy(model)
            _pruner(trial, ratio, config, ctx).step()
            seen[ratio] = _shortfalls(_estimate(trial, ctx), config, ctx)
        return seen[ratio]

    if not _shortfalls(_estimate(model, ctx), config, ctx):
        return 0.0, ""
    # Channel counts are whole numbers, so the cost is a step function of the ratio: scan a grid, then refine.
    grid = [round(config.max_ratio * i / 24, 6) for i in range(1, 25)]
    first = next((r for r in grid if not shortfalls(r)), None)
    if first is None:
        return config.max_ratio, (f"pruning {config.max_ratio:.0%} of channels is not enough: "
                                  f"{'; '.join(shortfalls(config.max_ratio))}")
    low, high = first - config.max_ratio / 24, first
    for _ in range(5):
        mid = (low + high) / 2
        low, high = (low, mid) if not shortfalls(mid) else (mid, high)
    return high, ""
