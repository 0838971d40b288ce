"""Compression: one config dataclass and one verb per technique, and pipelines of them.

    quantize(model, Int8Config(...), ctx)      prune(model, ChannelPruneConfig(...), ctx)
    distill(student, teacher, DistillConfig(...), ctx)      magnitude_prune(model, MagnitudePruneConfig(...), ctx)
    compress(model, profile, load_pipeline("pipeline.yaml"), dataset, "out/")
"""

from edgeopt.compress.context import CompressContext
from edgeopt.compress.distill import DistillConfig, distill
from edgeopt.compress.pipeline import Pipeline, auto_pipeline, load_pipeline
from edgeopt.compress.prune import ChannelPruneConfig, MagnitudePruneConfig, magnitude_prune, prune
from edgeopt.compress.quantize import CompressError, Int4Config, Int8Config, QuantizeConfig, Quantized, quantize
from edgeopt.compress.registry import STEPS, make_config
from edgeopt.compress.run import CompressionResult, compress

__all__ = ["CompressContext", "CompressError", "ChannelPruneConfig", "CompressionResult", "DistillConfig",
           "Int4Config", "Int8Config", "MagnitudePruneConfig", "Pipeline", "QuantizeConfig", "Quantized", "STEPS",
           "auto_pipeline", "compress", "distill", "load_pipeline", "magnitude_prune", "make_config", "prune",
           "quantize"]
