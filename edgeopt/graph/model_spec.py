"""Models named on the command line: an .onnx file, or a torch factory (`package.module:factory`, `file.py:factory`)."""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from pathlib import Path

from edgeopt.errors import ModelError

FACTORY_SPEC = re.compile(  # package.module:factory or path/to/file.py:factory
    r"^(?P<module>[^:]+):(?P<attr>[A-Za-z_][A-Za-z0-9_.]*)$")


def load_model_spec(spec: str):
    """A path for .onnx files; for `module:factory` the nn.Module that calling `factory()` returns."""
    if spec.lower().endswith(".onnx"):
        return Path(spec)
    match = FACTORY_SPEC.match(spec)
    if not match:
        path = Path(spec)
        if not path.exists():
            raise ModelError(f"{spec}: no such model file")
        raise ModelError(f"{spec}: unsupported model; give an .onnx file or a torch factory as "
                         "package.module:factory or path/to/file.py:factory")
    module = _import(match["module"], spec)
    target = module
    for part in match["attr"].split("."):
        if not hasattr(target, part):
            raise ModelError(f"{spec}: {match['module']} has no attribute {match['attr']!r}")
        target = getattr(target, part)
    model = target
    if callable(target) and not hasattr(target, "named_modules"):
        try:
            model = target()
        except Exception as exc:  # the user's factory failed: say which and why, no traceback
            raise ModelError(f"{spec}: calling {match['attr']}() failed: {type(exc).__name__}: {exc}") from None
    if not hasattr(model, "named_modules"):
        raise ModelError(f"{spec}: the factory returned a {type(model).__name__}, not a torch nn.Module")
    return model


def _import(name: str, spec: str):
    try:
        if name.endswith(".py"):
            path = Path(name)
            if not path.is_file():
                raise ModelError(f"{spec}: no such file {name}")
            module_spec = importlib.util.spec_from_file_location(f"_edgeopt_model_{path.stem}", path)
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[module_spec.name] = module
            module_spec.loader.exec_module(module)
            return module
        return importlib.import_module(name)
    except ModelError:
        raise
    except Exception as exc:  # the user's module failed to import: say which and why, no traceback
        raise ModelError(f"{spec}: importing {name} failed: {type(exc).__name__}: {exc}") from None


def parse_input_shape(text: str) -> tuple[int, ...] | list[tuple[int, ...]]:
    """'1,3,224,224' or '1x3x224x224' -> (1, 3, 224, 224); several inputs separated by ';'."""
    shapes = []
    for part in text.split(";"):
        dims = [d for d in re.split(r"[,x×\s]+", part.strip().strip("()[]")) if d]
        try:
            shape = tuple(int(d) for d in dims)
        except ValueError:
            raise ModelError(f"input shape {text!r}: expected whole numbers like 1,3,224,224") from None
        if not shape or any(d <= 0 for d in shape):
            raise ModelError(f"input shape {text!r}: dimensions must be positive, batch first, like 1,3,224,224")
        shapes.append(shape)
    return shapes[0] if len(shapes) == 1 else shapes


def normalise_input_shapes(input_shape) -> list[tuple[int, ...]]:
    """One shape or a sequence of shapes (one per input) -> a list of shapes of positive whole numbers."""
    if input_shape is None or not len(input_shape):
        raise ModelError("an input shape is needed, batch first, e.g. (1, 3, 224, 224)")
    first = input_shape[0]
    shapes = [tuple(s) for s in input_shape] if isinstance(first, (list, tuple)) else [tuple(input_shape)]
    for shape in shapes:
        if not shape or any(not isinstance(d, int) or d <= 0 for d in shape):
            raise ModelError(f"input shape {shape} must be positive whole numbers, batch first, e.g. (1, 3, 224, 224)")
    return shapes
