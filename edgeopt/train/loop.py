"""Train one trial to a budget (epochs), resuming from its checkpoint; report validation metrics.

A trial is described by plain data (TrialSpec), so another process or a fused multi-trial trainer can run it; the
dataset is moved to the device once per worker (DeviceData), and batches are slices of device tensors.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeopt.data.dataset import Dataset
from edgeopt.data.normalize import Normalizer
from edgeopt.errors import EdgeoptError
from edgeopt.space.spec import SearchSpace
from edgeopt.train.augment import augment, mixed_loss
from edgeopt.train.budget import LEGACY_BUDGET, TrainingBudget
from edgeopt.train.losses import distillation_loss
from edgeopt.metrics import Metrics, classification_metrics


class TrainingError(EdgeoptError):
    """A trial that cannot train: NaN loss, out of memory. The search records it as failed and goes on."""


@dataclass(frozen=True)
class TrialSpec:
    """Everything needed to train a trial, as data: picklable, JSON-able."""

    number: int
    space: dict  # SearchSpace.to_json()
    config: dict
    sample_shape: tuple[int, ...]
    num_classes: int
    seed: int
    checkpoint: str
    positive_class: int = 1
    normalizer: dict | None = None  # saved in the checkpoint, so a trained model can be evaluated or exported alone
    distill: tuple[float, float] | None = None  # (temperature, alpha): train against DeviceData.teacher_logits
    budget: dict | None = None  # TrainingBudget.to_dict(): batch cap and epoch scale; None: as sampled
    study: str | None = None  # the study's uid, written into the checkpoint; a checkpoint of another study is stale
    keep_epoch: int | None = None  # a cross-validation refit: the epoch whose weights it keeps (the folds' median best)

    @property
    def training_budget(self) -> TrainingBudget:
        return LEGACY_BUDGET if self.budget is None else TrainingBudget.from_dict(self.budget)


@dataclass(frozen=True)
class RungResult:
    epochs: int
    metrics: Metrics
    train_loss: float
    seconds: float
    probs: np.ndarray | None = None  # class probabilities on the evaluation split (pooled across folds by CV)
    extra: dict | None = None  # further figures for the store (cross-validation: mean and spread over folds)
    kept_epoch: int | None = None  # `early_stop`: the epoch whose weights the trial keeps (scored and deployed)


class DeviceData:
    """Normalised train and validation tensors on one device, made once per worker."""

    def __init__(self, dataset: Dataset, normalizer: Normalizer, device: str = "cpu", split: str = "val"):
        import torch

        self.device = device
        self.x_train = torch.from_numpy(normalizer.apply(dataset.x_train)).to(device)
        self.y_train = torch.from_numpy(dataset.y_train).to(device)
        x_eval, y_eval = (dataset.x_val, dataset.y_val) if split == "val" else (dataset.x_test, dataset.y_test)
        self.x_eval = torch.from_numpy(normalizer.apply(x_eval)).to(device)
        self.y_eval = torch.from_numpy(y_eval).to(device)
        self.teacher_logits = None  # set by a search with --teacher: the teacher's logits on x_train, computed once


def build_model(spec: TrialSpec):
    return SearchSpace.from_json(spec.space).build(spec.config, spec.sample_shape, spec.num_classes, spec.seed)


def learning_rate(config: dict, step: int, total_steps: int) -> float:
    """The learning rate at optimizer step `step` of `total_steps` (the space's full budget). Configs stored before
    `lr_schedule` existed trained at a constant rate, and resume that way."""
    lr = float(config["lr"])
    if config.get("lr_schedule", "constant") == "constant":
        return lr
    return lr * 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / total_steps))


def optimizer_for(model, config: dict):
    """The torch optimizer a trial trains with (Adam, AdamW, or SGD with Nesterov momentum 0.9)."""
    import torch

    params = model.parameters()
    lr, wd = float(config["lr"]), float(config["weight_decay"])
    if config["optimizer"] == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=wd, nesterov=True)
    if config["optimizer"] == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    return torch.optim.Adam(params, lr=lr, weight_decay=wd)


@dataclass(frozen=True)
class EpochPlan:
    """How a trial's rung runs: its batch, optimizer steps per pass over the data, the steps of the space's whole
    budget (the learning-rate schedule's length) and the passes to reach."""

    batch: int
    steps_per_epoch: int
    total_steps: int
    target_epochs: int


def epoch_plan(spec: TrialSpec, n: int, target_epochs: int) -> EpochPlan:
    """The plan of training `spec` on `n` samples to `target_epochs` of the space's budget (times the budget's epoch
    scale), shared by a trial trained alone and one trained in a pack."""
    budget = spec.training_budget
    batch = budget.batch_size(int(spec.config["batch_size"]))
    steps_per_epoch = -(-n // batch)
    total_steps = SearchSpace.from_json(spec.space).max_epochs * budget.epoch_scale * steps_per_epoch
    return EpochPlan(batch, steps_per_epoch, total_steps, target_epochs * budget.epoch_scale)


def epoch_seed(spec: TrialSpec, epoch: int) -> int:
    """The seed of a trial's data order (and dropout) in one epoch: (seed, epoch) alone decide them."""
    return spec.seed * 100_003 + epoch


def require_teacher(spec: TrialSpec, data) -> None:
    if spec.distill is not None and data.teacher_logits is None:
        raise TrainingError(f"trial {spec.number}: distillation asked for, but no teacher logits were computed")


def train_trial(spec: TrialSpec, data: DeviceData, target_epochs: int) -> RungResult:
    """Train from the trial's checkpoint (if any) up to `target_epochs` of the space's budget (passes over the data:
    that times the budget's epoch scale), save the checkpoint, evaluate."""
    import torch
    import torch.nn.functional as F

    start = time.perf_counter()
    model = build_model(spec).to(data.device)
    optimizer = optimizer_for(model, spec.config)
    state = read_checkpoint(spec, data.device)
    done = restore(state, model, optimizer)
    # early stopping within the trial: the weights of its best epoch on validation are what it is scored and deployed
    # with (training goes on from the latest, so a resumed trial follows the same schedule); a cross-validation refit,
    # whose validation split is a token, keeps the folds' median best epoch instead: its snapshot is taken as training
    # passes that epoch, so a refit resumed past a later median keeps the snapshot it took
    keep_best = bool(spec.config.get("early_stop", False)) and spec.keep_epoch is None
    kept = _kept(state) if done and (keep_best or spec.keep_epoch) else None
    if done == 0 and hasattr(model, "fit_from_data"):  # a family fitted from data (rocket's thresholds), seeded
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(spec.seed)
            model.fit_from_data(data.x_train)
    n = len(data.y_train)
    plan = epoch_plan(spec, n, target_epochs)
    batch, steps_per_epoch, target_epochs = plan.batch, plan.steps_per_epoch, plan.target_epochs
    require_teacher(spec, data)
    loss_sum, steps = 0.0, 0
    weight = class_weights(data.y_train, spec.num_classes) if spec.config.get("class_weight") == "balanced" else None
    augmentation = spec.config.get("augment", "none")  # training batches only; evaluation sees the data as it is
    with torch.random.fork_rng(devices=[]):
        for epoch in range(done, target_epochs):
            torch.manual_seed(epoch_seed(spec, epoch))  # dropout and order depend on (seed, epoch) only
            model.train()
            order = torch.randperm(n, device=data.device)
            for first in range(0, n, batch):
                rate = learning_rate(spec.config, epoch * steps_per_epoch + first // batch, plan.total_steps)
                for group in optimizer.param_groups:
                    group["lr"] = rate
                index = order[first:first + batch]
                mixed = augment(data.x_train[index], augmentation)
                logits = model(mixed.x)

                def loss_of(partner, index=index, logits=logits):
                    rows = index if partner is None else index[partner]
                    if spec.distill is None:
                        return F.cross_entropy(logits, data.y_train[rows], weight=weight)
                    return distillation_loss(logits, data.y_train[rows], data.teacher_logits[rows], *spec.distill)

                loss = mixed_loss(loss_of, mixed)
                if not torch.isfinite(loss):
                    raise TrainingError(f"trial {spec.number}: loss became {loss.item()} at epoch {epoch + 1}")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                loss_sum += loss.item()
                steps += 1
            if keep_best:
                val_loss = predict(model, data.x_eval, data.y_eval)[1]
                if kept is None or val_loss < kept["loss"]:
                    kept = {"model": _copy_state(model), "epoch": epoch + 1, "loss": val_loss}
            elif spec.keep_epoch == epoch + 1:
                kept = {"model": _copy_state(model), "epoch": epoch + 1, "loss": math.nan}
    epochs = max(done, target_epochs)
    save_checkpoint(spec, model, optimizer, epochs, kept)
    if kept is not None:
        model.load_state_dict(kept["model"])  # scored as deployed; the checkpoint keeps the latest for training on
    probs, loss = predict(model, data.x_eval, data.y_eval)
    metrics = classification_metrics(data.y_eval.cpu().numpy(), probs, positive_class=spec.positive_class,
                                     loss=loss)
    return RungResult(epochs, metrics, loss_sum / steps if steps else math.nan, time.perf_counter() - start, probs,
                      kept_epoch=kept["epoch"] if kept is not None else None)


def _copy_state(model) -> dict:
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


def _kept(state: dict) -> dict | None:
    """The weights (with epoch and validation loss) a checkpoint keeps as its trial's best; None without."""
    kept = state.get("kept")
    return kept if isinstance(kept, dict) and "model" in kept else None


def deployed_state(state: dict) -> dict:
    """Of a loaded checkpoint, the weights a trial is scored and deployed with: its kept best epoch, else its latest."""
    kept = state.get("kept")
    return kept["model"] if isinstance(kept, dict) and isinstance(kept.get("model"), dict) else state["model"]


def read_checkpoint(spec: TrialSpec, device: str) -> dict | None:
    """The trial's checkpoint (weights-only), or None when there is none or it belongs to another study."""
    import torch

    checkpoint = Path(spec.checkpoint)
    state = torch.load(checkpoint, map_location=device, weights_only=True) if checkpoint.is_file() else None
    return state if state is not None and _same_study(state, spec) else None  # another study's: start anew


def restore(state: dict | None, model, optimizer) -> int:
    """Load a read checkpoint into `model` and `optimizer`; the epochs it holds (0 without one)."""
    if state is None:
        return 0
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    return int(state["epoch"])


def load_checkpoint(spec: TrialSpec, model, optimizer, device: str) -> int:
    """Load the trial's checkpoint into `model` and `optimizer`; the epochs it holds, 0 when there is none or it
    belongs to another study."""
    return restore(read_checkpoint(spec, device), model, optimizer)


def save_checkpoint(spec: TrialSpec, model, optimizer, epochs: int, kept: dict | None = None) -> None:
    """The trial's checkpoint: weights, optimizer state, epochs and the trial's description (written atomically);
    with `kept`, the weights of the epoch the trial keeps (early stopping) beside the latest."""
    state = {
        "model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epochs,
        "trial": {"space": spec.space, "config": spec.config, "sample_shape": list(spec.sample_shape),
                  "num_classes": spec.num_classes, "seed": spec.seed, "normalizer": spec.normalizer,
                  "study": spec.study, "number": spec.number}}
    if kept is not None:
        state["kept"] = kept
    _save(Path(spec.checkpoint), state)


def class_weights(y, num_classes: int):
    """n / (classes * count) per class (a class absent from `y` gets weight 0), as a tensor on y's device."""
    import torch

    counts = torch.bincount(y, minlength=num_classes).to(torch.get_default_dtype())
    return torch.where(counts > 0, len(y) / (num_classes * counts.clamp(min=1)), torch.zeros_like(counts))


def predict(model, x, y, batch: int = 1024) -> tuple[np.ndarray, float]:
    """(class probabilities, mean cross-entropy) of `model` on tensors x, y."""
    import torch
    import torch.nn.functional as F

    model.eval()
    probs, loss = [], 0.0
    with torch.no_grad():
        for first in range(0, len(y), batch):
            logits = model(x[first:first + batch])
            loss += float(F.cross_entropy(logits, y[first:first + batch], reduction="sum"))
            probs.append(torch.softmax(logits, dim=1).cpu().numpy())
    return np.concatenate(probs), loss / len(y)


def evaluate(model, x, y, positive_class: int = 1, batch: int = 1024) -> Metrics:
    """Metrics of `model` on tensors x, y."""
    probs, loss = predict(model, x, y, batch)
    return classification_metrics(y.cpu().numpy(), probs, positive_class=positive_class, loss=loss)


def load_trained(spec: TrialSpec, device: str = "cpu"):
    """The trial's model with its checkpointed weights (loaded weights-only), checked to be this trial's: its study,
    number and configuration; a truncated or foreign file, or another trial's, is one TrainingError naming it."""
    import torch

    model = build_model(spec).to(device)
    try:
        state = torch.load(spec.checkpoint, map_location=device, weights_only=True)
    except Exception as exc:  # truncated, foreign or pickled: one line, nothing run
        raise TrainingError(f"{spec.checkpoint}: cannot load trial {spec.number}'s checkpoint: "
                            f"{type(exc).__name__}: {str(exc).strip()[:160]}") from None
    mismatch = checkpoint_mismatch(state, spec)
    if mismatch:
        raise TrainingError(f"{spec.checkpoint}: {mismatch}")
    try:
        model.load_state_dict(deployed_state(state))
    except Exception as exc:
        raise TrainingError(f"{spec.checkpoint}: the weights do not fit trial {spec.number}'s model: "
                            f"{type(exc).__name__}: {str(exc).strip()[:160]}") from None
    return model.eval()


def checkpoint_mismatch(state, spec: TrialSpec) -> str | None:
    """Why `state` (a loaded checkpoint) is not trial `spec`'s, or None: another study's (its files outlived its
    study.db), another trial's (the number it was saved under, or another configuration: a file swapped)."""
    trial = state.get("trial") if isinstance(state, dict) else None
    if not isinstance(trial, dict) or "model" not in state:
        return "not an edgeopt trial checkpoint"
    if trial.get("study") != spec.study:
        return "trained by another study (its files outlived its study.db)"
    if trial.get("number", spec.number) != spec.number or trial.get("config") != spec.config:
        return (f"holds trial {trial.get('number', '?')}'s model, not trial {spec.number}'s (a file moved or "
                "swapped); train it again or restore the file")
    return None


def _same_study(state: dict, spec: TrialSpec) -> bool:
    """Whether a checkpoint was trained by the spec's study (both None for studies made before studies had uids)."""
    return state.get("trial", {}).get("study") == spec.study


def _save(path: Path, state: dict) -> None:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
