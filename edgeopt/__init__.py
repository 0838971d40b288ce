"""edgeopt: fit neural networks onto tiny hardware.

Library entry points: `load_profile`, `estimate`, `check`, `run_search`, `compress`, `export_onnx`, `export`.
Importing edgeopt is cheap: it configures no logging, writes nothing, and imports torch only when a torch model is
analysed.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from edgeopt.version import __version__

_EXPORTS = {
    "load_profile": "edgeopt.profiles.loader",
    "available_profiles": "edgeopt.profiles.loader",
    "HardwareProfile": "edgeopt.profiles.schema",
    "estimate": "edgeopt.cost.estimate",
    "Estimate": "edgeopt.cost.estimate",
    "Violation": "edgeopt.cost.estimate",
    "Cost": "edgeopt.cost.record",
    "check": "edgeopt.check",
    "CheckResult": "edgeopt.check",
    "EdgeoptError": "edgeopt.errors",
    "build_graph": "edgeopt.graph.build",
    "load_space": "edgeopt.space.spec",
    "load_dataset": "edgeopt.data.loading",
    "SearchSettings": "edgeopt.search.settings",
    "run_search": "edgeopt.runner.coordinator",
    "build_report": "edgeopt.report.search_report",
    "compress": "edgeopt.workflow.compress",
    "CompressionResult": "edgeopt.workflow.compress",
    "load_pipeline": "edgeopt.compression.pipeline",
    "export_onnx": "edgeopt.deploy.onnx",
    "export": "edgeopt.deploy.export",
    "ExportRecord": "edgeopt.deploy.export",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from edgeopt.check import CheckResult, check
    from edgeopt.cost.estimate import Estimate, Violation, estimate
    from edgeopt.cost.record import Cost
    from edgeopt.errors import EdgeoptError
    from edgeopt.graph.build import build_graph
    from edgeopt.profiles.loader import available_profiles, load_profile
    from edgeopt.profiles.schema import HardwareProfile
    from edgeopt.data.loading import load_dataset
    from edgeopt.report.search_report import build_report
    from edgeopt.runner.coordinator import run_search
    from edgeopt.search.settings import SearchSettings
    from edgeopt.space.spec import load_space
    from edgeopt.compression.pipeline import load_pipeline
    from edgeopt.workflow.compress import CompressionResult, compress
    from edgeopt.deploy.onnx import export_onnx
    from edgeopt.deploy.export import ExportRecord, export


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'edgeopt' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
