"""What a worker does: set up its data on its device once, then train packs of trials to a rung.

Everything crossing a process (or Ray) boundary here is plain data: `WorkerSetup` (the dataset, normalisation and
selection), `Work` (trial specs and the rung's epochs), and per trial a `RungResult` or a `Failure`. The worker never
touches the study store: the coordinator is its one writer.
"""

from __future__ import annotations

import json
import traceback
from dataclasses import dataclass

import numpy as np

from edgeopt.data.dataset import Dataset
from edgeopt.data.normalize import Normalizer
from edgeopt.runner.pack import trains_alone
from edgeopt.runner.pack_train import train_pack
from edgeopt.train.cv import FoldedData, Selection, train_cv
from edgeopt.train.loop import DeviceData, RungResult, TrainingError, TrialSpec, train_trial

FAILURE_KINDS = ("training", "out_of_memory", "worker_lost", "error")


@dataclass(frozen=True)
class WorkerSetup:
    dataset: Dataset
    normalizer: dict
    selection: dict  # Selection.to_dict()
    seed: int
    threads: int = 1
    teacher_logits: np.ndarray | None = None  # on the samples trials train on (pooled under cross-validation)


@dataclass(frozen=True)
class Work:
    """Trials of one pack key to train to one rung. A pack of one trains alone (train_trial or train_cv)."""

    specs: tuple[TrialSpec, ...]
    rung: int
    target_epochs: int

    @property
    def trials(self) -> tuple[int, ...]:
        return tuple(s.number for s in self.specs)


@dataclass(frozen=True)
class Failure:
    """Why a trial of a pack has no result. `training`: the trial itself (NaN loss); never retried.
    `out_of_memory` and `worker_lost`: the pack or its worker; retried (split) by the coordinator."""

    kind: str
    message: str


class WorkerState:
    """One worker's data on its device, made once per input normalisation its trials use (the search's, and a
    trial's own where its config chooses another, as `normalization: series`)."""

    def __init__(self, setup: WorkerSetup, device: str):
        import torch

        if device == "cpu":
            torch.set_num_threads(setup.threads)
        else:
            torch.cuda.set_device(torch.device(device))
        self.setup = setup
        self.selection = Selection.from_dict(setup.selection)
        self.device = device
        self._data: dict[str, DeviceData | FoldedData] = {}
        self.data = self.data_for(setup.normalizer)

    def data_for(self, normalizer: dict | None) -> DeviceData | FoldedData:
        """The tensors normalised as `normalizer` says (the search's when None), made on first use."""
        import torch

        normalizer = normalizer or self.setup.normalizer
        key = json_key(normalizer)
        if key not in self._data:
            setup, logits = self.setup, self.setup.teacher_logits
            norm = Normalizer.from_dict(normalizer)
            if self.selection.method == "holdout":
                data = DeviceData(setup.dataset, norm, self.device)
                if logits is not None:
                    data.teacher_logits = torch.from_numpy(logits).to(self.device)
            else:
                data = FoldedData(setup.dataset, norm, self.selection, self.device, setup.seed)
                if logits is not None:
                    data.set_teacher_logits(torch.from_numpy(logits).to(self.device))
            self._data[key] = data
        return self._data[key]

    def run(self, work: Work) -> list[RungResult | Failure]:
        """Train the work's trials; every failure becomes a `Failure` (a worker never raises for a trial)."""
        try:
            data = self.data_for(work.specs[0].normalizer)
            if len({json_key(s.normalizer) for s in work.specs}) != 1:
                raise ValueError("a pack of trials normalised in different ways")
            alone = any(trains_alone(s.space["family"], s.config) for s in work.specs)
            if len(work.specs) == 1 or isinstance(data, FoldedData) or alone:
                return [self._alone(spec, data, work.target_epochs) for spec in work.specs]
            results = train_pack(work.specs, data, work.target_epochs)
            return [r if isinstance(r, RungResult) else Failure("training", str(r)) for r in results]
        except Exception as exc:  # the whole pack: out of memory, a bug
            return [_failure(exc)] * len(work.specs)

    def _alone(self, spec: TrialSpec, data: DeviceData | FoldedData, target_epochs: int) -> RungResult | Failure:
        try:
            if isinstance(data, FoldedData):
                return train_cv(spec, data, target_epochs)
            return train_trial(spec, data, target_epochs)
        except TrainingError as exc:
            return Failure("training", str(exc))
        except Exception as exc:
            return _failure(exc)


def json_key(normalizer: dict | None) -> str:
    return json.dumps(normalizer, sort_keys=True)


def _failure(exc: BaseException) -> Failure:
    if _out_of_memory(exc):
        _release_cuda_memory()
        return Failure("out_of_memory", f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    if isinstance(exc, (TrainingError, ValueError, RuntimeError)):
        return Failure("training" if isinstance(exc, TrainingError) else "error", f"{type(exc).__name__}: {exc}")
    return Failure("error", "".join(traceback.format_exception_only(type(exc), exc)).strip()[:400])


def _out_of_memory(exc: BaseException) -> bool:
    try:
        import torch

        if isinstance(exc, torch.cuda.OutOfMemoryError):
            return True
    except ImportError:
        pass
    return isinstance(exc, MemoryError) or "out of memory" in str(exc).lower()


def _release_cuda_memory() -> None:
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def training_bytes(graph, batch: int) -> int:
    """A trial's training memory from its graph (batch 1), roughly: fp32 weights, gradients and two optimizer
    moments, and every activation kept for the backward pass with its gradient, at the trial's batch size."""
    activations = sum(t.numel for t in graph.tensors.values() if t.shape is not None)
    return int(4 * (4 * graph.params + 2 * batch * activations))


__all__ = ["FAILURE_KINDS", "Failure", "Work", "WorkerSetup", "WorkerState", "training_bytes"]
