"""One entry to the IR from whatever the user has: a Graph, an ONNX path, or a torch nn.Module."""

from __future__ import annotations

import os
from pathlib import Path

from edgeopt.errors import ModelError
from edgeopt.graph.ir import Graph
from edgeopt.graph.model_spec import load_model_spec, parse_input_shape


def build_graph(model, input_shape=None) -> Graph:
    """The IR of `model`: a Graph (returned as is), a path to an .onnx file, or a torch nn.Module."""
    if isinstance(model, Graph):
        return model
    if isinstance(model, (str, os.PathLike)):
        path = Path(model)
        if path.suffix.lower() != ".onnx":
            raise ModelError(f"{path}: unsupported model file type {path.suffix or '(none)'!r}; "
                             "give an .onnx file, or a torch module from the library or as module:factory")
        from edgeopt.graph.from_onnx import graph_from_onnx

        return graph_from_onnx(path, input_shape)
    if hasattr(model, "named_modules") and callable(model):
        if input_shape is None:
            raise ModelError(f"an input shape is needed to analyse the torch module {type(model).__name__}, "
                             "e.g. input_shape=(1, 3, 224, 224)")
        from edgeopt.graph.from_torch import graph_from_module

        return graph_from_module(model, input_shape)
    raise ModelError(f"cannot analyse a {type(model).__name__}: give a torch nn.Module, an .onnx path or a Graph")


def load_graph(spec: str, input_shape: str | None = None) -> Graph:
    """The IR of a MODEL argument as the commands take it (an .onnx file or `module:factory`), with an
    `--input-shape` text (1,3,224,224; several inputs: 1,64;1,10) parsed."""
    return build_graph(load_model_spec(spec), parse_input_shape(input_shape) if input_shape else None)
