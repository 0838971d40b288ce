"""Augmentation of training batches, a search choice (`augment:` under `training:`) for the small data labs have.

Batches arrive normalised (padding after a series' end is exactly 0, and stays 0: noise, scaling and shifts act on a
series' real steps only). Every draw comes from torch's global generator, which the training loop seeds per (trial,
epoch), so a trial's augmented batches are the same however it is scheduled. Only training batches are augmented;
validation and test data never are.

- jitter: Gaussian noise of 0.05 (in units of the normalised data) on every real value;
- scale: each sample's channels multiplied by a factor drawn from N(1, 0.1);
- shift: each sample moved along its last axis by up to a tenth of its length, the edge filled with 0;
- mixup: pairs of samples mixed, x = l x_a + (1 - l) x_b with l ~ Beta(0.4, 0.4), and the loss mixed likewise.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeopt.space.families import AUGMENTATIONS
JITTER_STD = 0.05
SCALE_STD = 0.1
SHIFT_SHARE = 0.1
MIXUP_ALPHA = 0.4


@dataclass(frozen=True)
class Mixed:
    """A batch to train on: its inputs, and for mixup the partner of each sample and the mixing weight."""

    x: object  # torch tensor
    partner: object | None = None  # batch positions of each sample's partner (mixup); None: no mixing
    weight: float = 1.0  # the share of the sample itself in the mix


def augment(x, kind: str) -> Mixed:
    """The training batch `x` augmented as `kind` says (one of AUGMENTATIONS)."""
    import torch

    if kind == "none":
        return Mixed(x)
    real = x != 0  # normalised padding is exactly 0; a real value that is exactly 0 stays put, harmlessly
    if kind == "jitter":
        return Mixed(torch.where(real, x + JITTER_STD * torch.randn_like(x), x))
    if kind == "scale":
        shape = (x.shape[0], x.shape[1], *([1] * (x.dim() - 2))) if x.dim() > 2 else (x.shape[0], 1)
        return Mixed(x * (1.0 + SCALE_STD * torch.randn(shape, device=x.device, dtype=x.dtype)))
    if kind == "shift":
        length = x.shape[-1]
        reach = max(1, int(length * SHIFT_SHARE))
        moves = torch.randint(-reach, reach + 1, (x.shape[0],), device=x.device)
        steps = torch.arange(length, device=x.device)
        source = steps[None, :] - moves[:, None]  # (batch, length): which step each one reads
        inside = (source >= 0) & (source < length)
        index = source.clamp(0, length - 1).view(x.shape[0], *([1] * (x.dim() - 2)), length).expand_as(x)
        view = inside.view(x.shape[0], *([1] * (x.dim() - 2)), length)
        return Mixed(torch.where(view, torch.gather(x, -1, index), torch.zeros_like(x)))
    if kind == "mixup":
        weight = float(torch.distributions.Beta(MIXUP_ALPHA, MIXUP_ALPHA).sample())
        weight = max(weight, 1.0 - weight)  # the sample itself dominates, so its label is the nearer one
        partner = torch.randperm(x.shape[0], device=x.device)
        return Mixed(weight * x + (1.0 - weight) * x[partner], partner, weight)
    raise ValueError(f"unknown augmentation {kind!r}; choose from {', '.join(AUGMENTATIONS)}")


def mixed_loss(loss_of, mixed: Mixed):
    """`loss_of(positions)` (the loss against the labels, or teacher, of those batch positions) as mixup mixes it."""
    if mixed.partner is None:
        return loss_of(None)
    return mixed.weight * loss_of(None) + (1.0 - mixed.weight) * loss_of(mixed.partner)


__all__ = ["AUGMENTATIONS", "Mixed", "augment", "mixed_loss"]
