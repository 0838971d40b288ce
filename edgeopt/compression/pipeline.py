"""A pipeline: an ordered list of step configs with a metric and a tolerance, from YAML or chosen for a profile."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from edgeopt.numbers import NumberError, read_number
from edgeopt.compression.distill import DistillConfig
from edgeopt.compression.prune import ChannelPruneConfig, MagnitudePruneConfig
from edgeopt.compression.quantize import CompressError, QuantizeConfig
from edgeopt.compression.registry import STEPS, make_config, step_name
from edgeopt.profiles.formats import get_format
from edgeopt.profiles.yamldoc import locate, read_yaml
from edgeopt.figures import QUALITY_METRICS

PIPELINE_KEYS = ("steps", "metric", "max_drop")


@dataclass(frozen=True)
class Pipeline:
    steps: tuple  # step configs, in order
    metric: str = "f1"
    max_drop: float | None = 0.01  # in `metric`, against the input model; None: no limit
    source: str = "(library)"

    def __post_init__(self):
        if self.metric not in QUALITY_METRICS:
            raise CompressError(f"{self.source}: metric {self.metric!r} is not one of {', '.join(QUALITY_METRICS)}")
        if self.max_drop is not None and not 0.0 <= self.max_drop < 1.0:  # NaN fails here too
            raise CompressError(f"{self.source}: max_drop must be in [0, 1), got {self.max_drop}")
        names = [step_name(step) for step in self.steps]
        if not names:
            raise CompressError(f"{self.source}: the pipeline has no steps; steps: {', '.join(STEPS)}")
        if "quantize" in names and names.index("quantize") != len(names) - 1:
            raise CompressError(f"{self.source}: quantize must be the last step (steps after it would train away "
                                "from the integer grid); got " + " -> ".join(names))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(step_name(step) for step in self.steps)

    def describe(self) -> list[dict]:
        import dataclasses

        return [{"step": step_name(s), **dataclasses.asdict(s)} for s in self.steps]


def load_pipeline(path: str | os.PathLike) -> Pipeline:
    """A pipeline from YAML: `steps:` a list of one-key mappings (`- prune: {...}`), optional metric and max_drop."""
    path = Path(path)
    data, locations = read_yaml(path, CompressError)
    if not isinstance(data, dict):
        raise CompressError(f"{path}: expected a mapping with a steps: list, got {type(data).__name__}")
    unknown = sorted(set(data) - set(PIPELINE_KEYS))
    if unknown:
        raise CompressError(f"{locate(locations, (unknown[0],), str(path))}: unknown key {unknown[0]!r}; "
                            f"valid keys: {', '.join(PIPELINE_KEYS)}")
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise CompressError(f"{locate(locations, ('steps',), str(path))}: steps: expected a non-empty list such as "
                            f"- prune: {{ratio: 0.5}}; steps: {', '.join(STEPS)}")
    steps = []
    for i, item in enumerate(raw_steps):
        where = locate(locations, ("steps", str(i)), str(path))
        if isinstance(item, str):
            item = {item: None}
        if not isinstance(item, dict) or len(item) != 1:
            raise CompressError(f"{where}: each step is one name with its options, e.g. - quantize: "
                                f"{{calibration: mse}}; got {item!r}")
        ((name, options),) = item.items()
        steps.append(make_config(name, options, where))
    max_drop = data.get("max_drop", 0.01)
    try:
        max_drop = None if max_drop is None else float(read_number(max_drop, low=0.0, high=1.0))
    except NumberError as exc:
        raise CompressError(f"{locate(locations, ('max_drop',), str(path))}: max_drop: {exc}; expected a share "
                            "such as 0.01") from None
    return Pipeline(tuple(steps), str(data.get("metric", "f1")), max_drop, str(path))


def auto_pipeline(model, profile, sample_shape: tuple[int, ...], *, max_drop: float | None = 0.01,
                  metric: str = "f1") -> Pipeline:
    """What --auto does: a model over the profile's budgets is pruned toward them with distillation and distilled
    again; then every model is quantized to the profile's default formats."""
    from edgeopt.compression.prune import budget_shortfalls

    steps: list = []
    if budget_shortfalls(model, profile, (1, *sample_shape)):
        steps += [ChannelPruneConfig(steps=4, finetune_epochs=6, distill=True), DistillConfig(epochs=15)]
    if any(get_format(f).integer for f in profile.weight_formats):
        steps.append(QuantizeConfig())
    if not steps:
        raise CompressError(f"--auto: the model already fits {profile.name}, which runs no integer weight format; "
                            "there is nothing to do")
    return Pipeline(tuple(steps), metric, max_drop, "--auto")


__all__ = ["Pipeline", "load_pipeline", "auto_pipeline", "ChannelPruneConfig", "MagnitudePruneConfig",
           "DistillConfig", "QuantizeConfig"]
