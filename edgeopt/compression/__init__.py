"""Compression: one config dataclass and one verb per technique, and pipelines of them.

    quantize(model, Int8Config(...), ctx)      prune(model, ChannelPruneConfig(...), ctx)
    distill(student, teacher, DistillConfig(...), ctx)      magnitude_prune(model, MagnitudePruneConfig(...), ctx)
    run_pipeline(SourceModel(model, "mine", normalizer), profile, load_pipeline("pipeline.yaml"), dataset)

`edgeopt.compress(...)` (workflow.compress) runs a pipeline and deploys, measures and writes its result.
"""

from edgeopt.compression.context import CompressContext
from edgeopt.compression.distill import DistillConfig, distill
from edgeopt.compression.pipeline import Pipeline, auto_pipeline, load_pipeline
from edgeopt.compression.prune import ChannelPruneConfig, MagnitudePruneConfig, magnitude_prune, prune
from edgeopt.compression.quantize import CompressError, Int4Config, Int8Config, QuantizeConfig, Quantized, quantize
from edgeopt.compression.registry import STEPS, make_config
from edgeopt.compression.run import Compressed, StepRecord, run_pipeline

__all__ = ["CompressContext", "CompressError", "ChannelPruneConfig", "Compressed", "DistillConfig",
           "Int4Config", "Int8Config", "MagnitudePruneConfig", "Pipeline", "QuantizeConfig", "Quantized", "STEPS",
           "StepRecord", "auto_pipeline", "distill", "load_pipeline", "magnitude_prune", "make_config", "prune",
           "quantize", "run_pipeline"]
