"""Regenerate the bundled ONNX examples from examples/models.py (seeded weights, fixed input shapes).

    python examples/export_examples.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from models import kws_dscnn, read_classifier  # noqa: E402

EXAMPLES = {"kws_dscnn": (kws_dscnn, (1, 1, 49, 10)), "read_classifier": (read_classifier, (1, 1, 256))}


def export(name: str) -> Path:
    factory, shape = EXAMPLES[name]
    target = HERE / f"{name}.onnx"
    with tempfile.TemporaryDirectory(dir=HERE) as tmp:
        path = Path(tmp) / target.name
        torch.onnx.export(factory(), (torch.zeros(shape),), str(path), dynamo=True, external_data=False,
                          input_names=["input"], output_names=["logits"])
        path.replace(target)
    return target


if __name__ == "__main__":
    for example in EXAMPLES:
        print(export(example))
