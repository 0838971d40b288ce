from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Nothing a test runs may write to $HOME.
_scratch = tempfile.mkdtemp(prefix="edgeopt-tests-")
os.environ.setdefault("MPLCONFIGDIR", os.path.join(_scratch, "mpl"))
os.environ.setdefault("XDG_CACHE_HOME", os.path.join(_scratch, "cache"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "examples"))


def _has_gpu() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


def pytest_collection_modifyitems(config, items):
    if _has_gpu():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def onnx_export(tmp_path_factory):
    """Export a torch module to ONNX once per session (the dynamo exporter takes seconds)."""
    import torch

    cache: dict[str, Path] = {}
    directory = tmp_path_factory.mktemp("onnx")

    def export(name: str, module, shape) -> Path:
        if name not in cache:
            path = directory / f"{name}.onnx"
            torch.onnx.export(module.eval(), (torch.zeros(shape),), str(path), dynamo=True, external_data=False,
                              verbose=False)
            cache[name] = path
        return cache[name]

    return export
