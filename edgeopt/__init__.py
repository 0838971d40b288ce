"""edgeopt: fit neural networks onto tiny hardware.

Library entry points: `load_profile`, `estimate`, `check`, `search_settings` + `search_models` (or `run_search`),
`report_run`, `compress`, `export`, `export_onnx`, `resolve_model`; these take what the commands take (paths, names).
(`edgeopt.search` is the package of search parts, hence `search_models`.)
Importing edgeopt is cheap: it configures no logging, writes nothing, and imports torch only when a torch model is
analysed.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from edgeopt.version import __version__

_EXPORTS = {
    "load_profile": "edgeopt.profiles.loader",
    "available_profiles": "edgeopt.profiles.search_path",
    "HardwareProfile": "edgeopt.profiles.schema",
    "estimate": "edgeopt.cost.estimate",
    "Estimate": "edgeopt.cost.estimate",
    "Violation": "edgeopt.cost.estimate",
    "Cost": "edgeopt.cost.record",
    "check": "edgeopt.gate",
    "CheckResult": "edgeopt.gate",
    "EdgeoptError": "edgeopt.errors",
    "build_graph": "edgeopt.graph.build",
    "load_space": "edgeopt.space.union",
    "load_dataset": "edgeopt.data.loading",
    "SearchSettings": "edgeopt.search.settings",
    "run_search": "edgeopt.runner.coordinator",
    "search_models": "edgeopt.workflow.search",
    "search_settings": "edgeopt.workflow.search",
    "report_run": "edgeopt.workflow.search",
    "resolve_model": "edgeopt.models.reference",
    "build_report": "edgeopt.report.search_report",
    "compress": "edgeopt.workflow.compress",
    "CompressionResult": "edgeopt.workflow.compress",
    "load_pipeline": "edgeopt.compression.pipeline",
    "export_onnx": "edgeopt.deploy.onnx",
    "export": "edgeopt.workflow.export:export_model",
    "ExportRun": "edgeopt.workflow.export",
    "ExportRecord": "edgeopt.deploy.export",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from edgeopt.gate import CheckResult, check
    from edgeopt.cost.estimate import Estimate, Violation, estimate
    from edgeopt.cost.record import Cost
    from edgeopt.errors import EdgeoptError
    from edgeopt.graph.build import build_graph
    from edgeopt.profiles.loader import load_profile
    from edgeopt.profiles.search_path import available_profiles
    from edgeopt.profiles.schema import HardwareProfile
    from edgeopt.data.loading import load_dataset
    from edgeopt.report.search_report import build_report
    from edgeopt.runner.coordinator import run_search
    from edgeopt.search.settings import SearchSettings
    from edgeopt.space.union import load_space
    from edgeopt.compression.pipeline import load_pipeline
    from edgeopt.workflow.compress import CompressionResult, compress
    from edgeopt.deploy.onnx import export_onnx
    from edgeopt.deploy.export import ExportRecord
    from edgeopt.models.reference import resolve_model
    from edgeopt.workflow.export import ExportRun
    from edgeopt.workflow.export import export_model as export
    from edgeopt.workflow.search import report_run, search_models, search_settings


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'edgeopt' has no attribute {name!r}")
    module, _, attribute = module.partition(":")  # "module:attribute" where the face names it otherwise
    value = getattr(import_module(module), attribute or name)
    globals()[name] = value
    return value
