"""train_pack: a pack of trials (runner.pack) trained rung by rung as one program, each trial's checkpoint and
result written as `train_trial` would."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

from edgeopt.metrics import classification_metrics
from edgeopt.runner.pack import Pack, pack_key
from edgeopt.train.loop import (DeviceData, RungResult, TrainingError, TrialSpec, class_weights, epoch_plan,
                                epoch_seed, learning_rate, require_teacher, save_checkpoint)
from edgeopt.train.losses import distillation_loss


def train_pack(specs: Sequence[TrialSpec], data: DeviceData, target_epochs: int) -> list[RungResult | TrainingError]:
    """Train every trial of `specs` (one pack key, one batch size) from its checkpoint to `target_epochs`, as one
    program; save each trial's checkpoint as `train_trial` would; each trial's result, or the error that stopped it."""
    import torch

    if len({pack_key(s.space["family"], s.config) for s in specs}) != 1:
        raise ValueError("a pack holds trials of one pack key")
    start = time.perf_counter()
    pack = Pack(specs, data)
    members = pack.members
    spec0 = members[0].spec
    n = len(data.y_train)
    plan = epoch_plan(spec0, n, target_epochs)  # one pack key: one batch size, one schedule length
    batch, steps_per_epoch = plan.batch, plan.steps_per_epoch
    total_steps, target = plan.total_steps, plan.target_epochs
    K = len(members)
    weights = torch.stack([class_weights(data.y_train, s.num_classes) if s.config.get("class_weight") == "balanced"
                           else torch.ones(s.num_classes, device=data.device) for s in specs])
    distill = spec0.distill
    require_teacher(spec0, data)
    alive = torch.ones(K, dtype=torch.bool, device=data.device)
    loss_sum = torch.zeros(K, dtype=torch.float64, device=data.device)
    steps = torch.zeros(K, dtype=torch.int64, device=data.device)
    # A finiteness check costs a device sync: every step on a CPU, every few on a GPU (a trial that went NaN in
    # between only spoils its own slice: trials share no arithmetic).
    check_every = 1 if data.device == "cpu" else 8
    first_epoch = min(m.done for m in members)
    pack.base.train()
    generator = torch.Generator(device=data.device)
    configs = [m.spec.config for m in members]
    alive_k = [True] * K  # `alive` as Python flags: whether every trial is active is known without a device sync
    for epoch in range(first_epoch, target):
        started_k = [m.done <= epoch for m in members]
        started = torch.tensor(started_k, device=data.device)
        active = alive & started
        every = all(a and b for a, b in zip(alive_k, started_k))
        orders = []
        for m in members:
            generator.manual_seed(epoch_seed(m.spec, epoch))
            orders.append(torch.randperm(n, device=data.device, generator=generator))
        orders = torch.stack(orders)
        rates = torch.tensor([[learning_rate(c, epoch * steps_per_epoch + j, total_steps) for c in configs]
                              for j in range(steps_per_epoch)], dtype=torch.float64, device=data.device)
        for j, first in enumerate(range(0, n, batch)):
            index = orders[:, first:first + batch]
            losses = _losses(pack.logits(data.x_train[index]), data.y_train[index], weights, distill,
                             data.teacher_logits[index] if distill is not None else None)
            if (j % check_every == 0 or first + batch >= n) and not bool((torch.isfinite(losses) | ~active).all()):
                values = losses.detach().cpu().tolist()
                for k, value in enumerate(values):
                    if bool(active[k]) and not math.isfinite(value):
                        members[k].error = TrainingError(f"trial {members[k].spec.number}: loss became {value} "
                                                         f"at epoch {epoch + 1}")
                        alive[k], alive_k[k] = False, False
                active = alive & started
                every = False
                if not any(a and b for a, b in zip(alive_k, started_k)):
                    break
            loss_sum += torch.where(active, losses.detach(), 0.0)
            steps += active
            pack.flat.grad = None
            if every:
                losses.sum().backward()
            else:  # a frozen trial's NaN must not reach the optimizer's arithmetic
                torch.where(active, losses, torch.zeros_like(losses)).sum().backward()
                pack.flat.grad = torch.where(active.view(K, 1), pack.flat.grad, torch.zeros_like(pack.flat.grad))
            pack.step(rates[j], active, every)
        if not any(alive_k):
            break
    for k, member in enumerate(members):
        member.loss_sum, member.steps = float(loss_sum[k]), int(steps[k])
    seconds = (time.perf_counter() - start) / K
    return _finish(pack, data, alive, target, seconds)


def _losses(logits, labels, weights, distill, teacher_logits):
    """Each trial's loss on its batch: class-weighted cross-entropy, or the distillation loss against the teacher."""
    if distill is None:
        return _weighted_cross_entropy(logits, labels, weights)
    from torch.func import vmap

    return vmap(lambda lo, la, te: distillation_loss(lo, la, te, *distill))(logits, labels, teacher_logits)


def _weighted_cross_entropy(logits, labels, weights):
    """Per trial: sum(w[y] * nll) / sum(w[y]), which is F.cross_entropy(weight=w) (the mean when w is all ones)."""
    import torch

    logp = torch.log_softmax(logits, dim=-1)
    nll = -logp.gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    w = torch.gather(weights, 1, labels)
    return (w * nll).sum(1) / w.sum(1)


def _finish(pack: Pack, data: DeviceData, alive, target: int, seconds: float) -> list[RungResult | TrainingError]:
    import torch
    import torch.nn.functional as F

    pack.base.eval()
    with torch.no_grad():
        chunks = [pack.logits(data.x_eval[i:i + 1024], batched_x=False) for i in range(0, len(data.y_eval), 1024)]
        logits = torch.cat(chunks, dim=1)
        K, n = logits.shape[:2]
        losses = F.cross_entropy(logits.flatten(0, 1), data.y_eval.repeat(K), reduction="none").view(K, n).mean(1)
        probs = torch.softmax(logits, dim=-1).cpu().numpy()  # one copy off the device for the whole pack
        losses = losses.cpu().tolist()
    pack.to_cpu()
    out: list[RungResult | TrainingError] = []
    y_eval = data.y_eval.cpu().numpy()
    for k, member in enumerate(pack.members):
        if not bool(alive[k]):
            out.append(member.error)
            continue
        pack.write_back(k)
        epochs = max(member.done, target)
        save_checkpoint(member.spec, member.model, member.optimizer, epochs)
        metrics = classification_metrics(y_eval, probs[k], positive_class=member.spec.positive_class,
                                         loss=losses[k])
        train_loss = member.loss_sum / member.steps if member.steps else math.nan
        out.append(RungResult(epochs, metrics, train_loss, seconds, probs[k]))
    return out


__all__ = ["train_pack"]
