"""Train the ~100k-parameter ReadsTeacher on the bundled `reads` example and save its state dict (weights only).

    python examples/train_teacher.py runs/reads_teacher.pt
    edgeopt compress examples/models.py:reads_teacher --weights runs/reads_teacher.pt \\
        --profile sequencer-fpga --pipeline examples/pipelines/fpga-4k.yaml -o runs/compressed
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from models import ReadsTeacher  # noqa: E402

from edgeopt.data.loading import load_dataset  # noqa: E402
from edgeopt.data.normalize import Normalizer  # noqa: E402
from edgeopt.train.fit import FitSettings, fit  # noqa: E402
from edgeopt.train.loop import DeviceData, evaluate  # noqa: E402


def train_teacher(epochs: int = 25, seed: int = 0) -> torch.nn.Module:
    """The teacher trained on raw (identity-normalised) reads; deterministic for a seed."""
    torch.manual_seed(seed)
    dataset = load_dataset(None)
    data = DeviceData(dataset, Normalizer.identity(dataset.x_train))
    model = ReadsTeacher()
    fit(model, data.x_train, data.y_train, FitSettings(epochs, lr=3e-3, weight_decay=1e-4, seed=seed))
    print(f"teacher: {sum(p.numel() for p in model.parameters()):,} params, validation F1 "
          f"{evaluate(model, data.x_eval, data.y_eval).f1:.4f}")
    return model


if __name__ == "__main__":
    torch.set_num_threads(1)
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/reads_teacher.pt")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    torch.save(train_teacher().state_dict(), tmp)
    os.replace(tmp, out)
    print(f"saved {out}")
