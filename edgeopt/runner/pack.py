"""Fused packing: many trials of one family trained as one program.

Trials whose architectures differ only in widths (channels, hidden units, expansion) and kernel sizes are embedded in
one padded network: each trial's own weights sit in the leading slice of every padded tensor (kernels centred), and a
0/1 mask multiplies every weight in the forward pass, so padded entries get exactly zero gradient, exactly zero
optimizer moments and contribute exact zeros to every sum. `torch.func.functional_call` under `vmap` runs the stack
as one batched program. Learning rate, weight decay, Adam or AdamW, schedule, dropout rate, class weighting and seed
are per trial. A trial whose loss stops being finite leaves the pack (its slice is frozen); the others go on.

A packed trial's result equals the same trial trained alone (same seed, same data order) up to float rounding when it
has no dropout (tests/runner/test_pack.py); dropout draws its masks from a different random stream.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from edgeopt.space.families import FAMILIES
from edgeopt.train.loop import (DeviceData, TrainingError, TrialSpec, build_model, load_checkpoint, optimizer_for)

T = TypeVar("T")

# Config keys a pack may hold different values of; every other key must be equal across a pack.
PADDED = {"mlp": ("width",), "cnn1d": ("channels", "channel_growth", "kernel_size"),
          "cnn2d": ("channels", "kernel_size", "expansion")}
PER_TRIAL = ("lr", "weight_decay", "lr_schedule", "dropout", "class_weight", "optimizer")
ADAM_BETAS, ADAM_EPS, SGD_MOMENTUM = (0.9, 0.999), 1e-8, 0.9
# A pack computes every trial at the largest member's size: members are chosen so that their own parameters are at
# least this share of what the pack computes (BENCHMARKS.md: runner; mixing widths 4 and 128 made a pack slower than
# training its trials one by one).
PACK_EFFICIENCY = 0.5


def pack_key(family: str, config: Mapping) -> tuple:
    """Trials with equal keys can share a pack. Structure stays in the key: depth and block counts, strides, pooling,
    separable blocks, activation, the batch size, whether dropout layers exist at all, whether an expansion conv
    exists (cnn2d, expansion 1 has none), and SGD against the Adam kind."""
    padded = PADDED.get(family, ())
    items = [(k, v) for k, v in sorted(config.items()) if k not in padded and k not in PER_TRIAL]
    items += [("dropout>0", float(config.get("dropout", 0.0)) > 0), ("sgd", config.get("optimizer") == "sgd")]
    if family == "cnn2d":
        items.append(("expands", int(config["expansion"]) != 1))
    if family == "cnn1d" and int(config["blocks"]) == 1:
        items = [(k, v) for k, v in items if k != "separable"]  # separable convs start at the second block
    return (family, *items)


def trains_alone(family: str, config: Mapping) -> bool:
    """Trials a pack cannot batch: augmented batches, early stopping (a validation pass a trial, its own kept
    weights), and families fitted from the data before their first epoch (rocket)."""
    return config.get("augment", "none") != "none" or bool(config.get("early_stop", False)) \
        or FAMILIES[family].data_fitted


def choose_members(first: T, candidates: Sequence[T], size: Callable[[T], int], max_pack: int,
                   efficiency: float = PACK_EFFICIENCY) -> list[T]:
    """`first` and the candidates (trials of its pack key) nearest to it in size, as many as keep the pack's useful
    share (own parameters / members x the largest member's) at `efficiency` or more, at most `max_pack`."""
    members = [first]
    total, largest = size(first), size(first)
    for candidate in sorted(candidates, key=lambda c: abs(math.log(max(size(c), 1) / max(size(first), 1)))):
        if len(members) >= max_pack:
            break
        new_largest = max(largest, size(candidate))
        if (total + size(candidate)) / ((len(members) + 1) * new_largest) < efficiency:
            continue
        members.append(candidate)
        total, largest = total + size(candidate), new_largest
    return members


@dataclass
class _Member:
    spec: TrialSpec
    model: object  # the trial's own nn.Module (its true shapes), used to read and write its checkpoint
    optimizer: object
    done: int
    loss_sum: float = 0.0
    steps: int = 0
    error: TrainingError | None = None


def _dropout_module():
    """Dropout whose rate is a per-trial buffer, so one module serves a pack of trials with different rates."""
    import torch
    from torch import nn

    class PackDropout(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("p", torch.zeros(()))

        def forward(self, x):
            if not self.training:
                return x
            keep = (torch.rand_like(x) >= self.p).to(x.dtype)
            return x * keep / (1.0 - self.p)

    return PackDropout


def _pool_module(kind: str):
    """Pooling by 2 along the last axis as reshape + max/mean: under vmap, max_pool1d's batching rule is 20x slower
    than this on CPU (same values; a trailing odd element is dropped as the pool drops it)."""
    from torch import nn

    class PackPool(nn.Module):
        def forward(self, x):
            pairs = x[..., :x.shape[-1] // 2 * 2].unflatten(-1, (-1, 2))
            return pairs.amax(-1) if kind == "max" else pairs.mean(-1)

    return PackPool()


def _padded_module(members: Sequence[_Member]):
    """A module with every trial's structure and the largest shape of every tensor: convolutions, linear layers and
    batch norms resized in place (groups follow channels for depthwise convolutions), dropout made per trial."""
    import copy

    import torch
    from torch import nn

    base = copy.deepcopy(members[0].model)
    states = [m.model.state_dict() for m in members]
    shapes = {name: tuple(max(s) for s in zip(*(state[name].shape for state in states))) for name in base.state_dict()}
    PackDropout = _dropout_module()
    for name, module in list(base.named_modules()):
        parent, _, child = name.rpartition(".")
        if isinstance(module, nn.Dropout):
            setattr(base.get_submodule(parent) if parent else base, child, PackDropout())
            continue
        if isinstance(module, (nn.MaxPool1d, nn.AvgPool1d)) and module.kernel_size in (2, (2,)) and \
                module.stride in (2, (2,)) and module.padding in (0, (0,)):
            kind = "max" if isinstance(module, nn.MaxPool1d) else "avg"
            setattr(base.get_submodule(parent) if parent else base, child, _pool_module(kind))
            continue
        weight = shapes.get(f"{name}.weight")
        if isinstance(module, (nn.Conv1d, nn.Conv2d)) and module.weight.requires_grad:  # frozen: equal in a pack
            depthwise = module.groups == module.in_channels and module.groups > 1
            out, per_group, *kernel = weight
            module.out_channels = out
            module.in_channels = out if depthwise else per_group * module.groups
            module.groups = out if depthwise else module.groups
            module.kernel_size = tuple(kernel)
            # "same" padding at the largest kernel: a smaller one centred in it computes what it computes alone
            module.padding = tuple(d * (k // 2) for k, d in zip(kernel, module.dilation))
        elif isinstance(module, nn.Linear):
            module.out_features, module.in_features = weight
        elif isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.num_features = weight[0]
    for name, tensor in list(base.named_parameters()) + list(base.named_buffers()):
        module_name, _, attr = name.rpartition(".")
        owner = base.get_submodule(module_name) if module_name else base
        if isinstance(tensor, nn.Parameter) and not tensor.requires_grad:  # fixed weights (FixedAverage): kept
            continue
        fresh = torch.zeros(shapes[name], dtype=tensor.dtype) if name in shapes else tensor.detach().clone()
        if isinstance(tensor, nn.Parameter):
            setattr(owner, attr, nn.Parameter(fresh))
        else:
            owner._buffers[attr] = fresh
    return base, shapes


def _embed(own, shape: tuple[int, ...], kernel_dims: int):
    """`own` placed in a zero tensor of `shape`: leading slice, kernel dims centred. Returns (tensor, 0/1 mask)."""
    import torch

    out = torch.zeros(shape, dtype=own.dtype)
    mask = torch.zeros(shape, dtype=own.dtype)
    index = []
    for dim, (size, full) in enumerate(zip(own.shape, shape)):
        start = (full - size) // 2 if dim >= len(shape) - kernel_dims else 0
        index.append(slice(start, start + size))
    out[tuple(index)] = own
    mask[tuple(index)] = 1
    return out, mask, tuple(index)


class Pack:
    """K trials stacked: parameters, masks, buffers and optimizer state as (K, ...) tensors on one device."""

    def __init__(self, specs: Sequence[TrialSpec], data: DeviceData):
        import torch
        from torch import nn

        self.device = data.device
        self.members = []
        for spec in specs:
            model = build_model(spec)
            optimizer = optimizer_for(model, spec.config)
            done = load_checkpoint(spec, model, optimizer, "cpu")
            self.members.append(_Member(spec, model, optimizer, done))
        self.base, shapes = _padded_module(self.members)
        kernel_dims = {f"{name}.weight": module.weight.dim() - 2 for name, module in self.base.named_modules()
                       if isinstance(module, (nn.Conv1d, nn.Conv2d))}
        # trained weights only: fixed ones are the same in every member and stay in the base module
        self.param_names = [n for n, p in self.base.named_parameters() if p.requires_grad]
        self.buffer_names = [n for n, _ in self.base.named_buffers()]
        self.index: dict[str, list[tuple]] = {}
        params, masks, buffers, moments = {}, {}, {}, {}
        own_params = [dict(m.model.named_parameters()) for m in self.members]
        own_buffers = [dict(m.model.named_buffers()) for m in self.members]
        for name in self.param_names:
            stacked, stacked_mask, slots = [], [], []
            for mine in own_params:
                tensor, mask, slot = _embed(mine[name].detach(), shapes[name], kernel_dims.get(name, 0))
                stacked.append(tensor)
                stacked_mask.append(mask)
                slots.append(slot)
            params[name] = torch.stack(stacked).to(self.device).requires_grad_(True)
            masks[name] = torch.stack(stacked_mask).to(self.device)
            self.index[name] = slots
            moments[name] = [self._own_moments(m, mine[name], shapes[name], kernel_dims.get(name, 0))
                             for m, mine in zip(self.members, own_params)]
        for name in self.buffer_names:
            if name.endswith(".p"):  # a PackDropout's rate
                buffers[name] = torch.tensor([float(m.spec.config.get("dropout", 0.0)) for m in self.members],
                                             device=self.device)
                continue
            own = [mine[name].detach() for mine in own_buffers]
            shape = own[0].shape if own[0].dim() == 0 else shapes[name]
            fill = 1.0 if name.endswith("running_var") else 0.0
            stacked = []
            for tensor in own:
                full = torch.full(shape, fill, dtype=tensor.dtype) if tensor.dim() else tensor.clone()
                if tensor.dim():
                    full[:len(tensor)] = tensor
                stacked.append(full)
            buffers[name] = torch.stack(stacked).to(self.device)
        # One flat (K, P) tensor for all weights, one for their masks and one per optimizer moment: the optimizer
        # step is a dozen element-wise ops whatever the number of layers.
        K = len(self.members)
        self.layout = []
        offset = 0
        for name in self.param_names:
            shape = tuple(params[name].shape[1:])
            self.layout.append((name, offset, shape))
            offset += math.prod(shape)
        self.flat = torch.cat([params[n].detach().reshape(K, -1) for n in self.param_names], 1).requires_grad_(True)
        self.flat_mask = torch.cat([masks[n].reshape(K, -1) for n in self.param_names], 1)
        self.buffers = buffers
        self.sgd = self.members[0].spec.config["optimizer"] == "sgd"
        self.state = tuple(torch.cat([torch.stack([mo[i] for mo in moments[n]]).reshape(K, -1)
                                      for n in self.param_names], 1).to(self.device)
                           for i in range(1 if self.sgd else 2))
        # Bias corrections as torch.optim computes them, in double precision (float32 powers drift by 1e-7).
        self.adam_steps = torch.tensor([self._own_step(m) for m in self.members], dtype=torch.float64,
                                       device=self.device)
        self.has_momentum = torch.tensor([any("momentum_buffer" in s for s in m.optimizer.state.values())
                                          for m in self.members], device=self.device)
        cfg = [m.spec.config for m in self.members]
        self.weight_decay = torch.tensor([float(c["weight_decay"]) for c in cfg], dtype=torch.float64,
                                         device=self.device)
        self.decoupled = torch.tensor([c["optimizer"] == "adamw" for c in cfg], device=self.device).view(K, 1)

    @staticmethod
    def _own_moments(member: _Member, param, shape, kernel_dims: int) -> tuple:
        """The trial's optimizer moments of `param`, embedded as its weights are (zeros before its first step)."""
        state = member.optimizer.state.get(param, {})
        keys = ("momentum_buffer",) if member.spec.config["optimizer"] == "sgd" else ("exp_avg", "exp_avg_sq")
        out = []
        for key in keys:
            value = state.get(key)
            out.append(_embed(value if value is not None else param.detach() * 0, shape, kernel_dims)[0])
        return tuple(out)

    @staticmethod
    def _own_step(member: _Member) -> float:
        for state in member.optimizer.state.values():
            if "step" in state:
                return float(state["step"])
        return 0.0

    # -- the batched program

    def views(self, flat) -> dict:
        """Each parameter's (K, ...) view of a flat (K, P) tensor. Split, not slices: the backward of a split is one
        concatenation, where each slice's would fill a whole (K, P) tensor."""
        parts = flat.split([math.prod(shape) for _, _, shape in self.layout], dim=1)
        return {name: part.view(-1, *shape) for (name, _, shape), part in zip(self.layout, parts)}

    def logits(self, x, batched_x: bool = True):
        """Every trial's logits: x is (K, B, ...) per trial, or (B, ...) shared by all."""
        from torch.func import functional_call, vmap

        def one(weights, buffers, xs):
            return functional_call(self.base, {**weights, **buffers}, (xs,))

        return vmap(one, in_dims=(0, 0, 0 if batched_x else None), randomness="different")(
            self.views(self.flat * self.flat_mask), self.buffers, x)

    def step(self, lr, active, every: bool | None = None) -> None:
        """One optimizer step of every active trial (torch.optim's Adam, AdamW or SGD-Nesterov, per trial). `lr` is a
        float64 vector: scalars are formed in double precision and cast, as torch.optim's python floats are. `every`:
        whether all trials are active, when the caller knows (else read from `active`, a device sync)."""
        import torch

        p, g = self.flat, self.flat.grad
        dtype = p.dtype
        keep = active.view(-1, 1)
        every = bool(active.all()) if every is None else every

        def update(target, value):  # only where the trial is active
            target.copy_(value if every else torch.where(keep, value, target))

        wd = self.weight_decay.to(dtype).view(-1, 1)
        with torch.no_grad():
            if self.sgd:
                (buf,) = self.state
                g = g + wd * p
                update(buf, torch.where(self.has_momentum.view(-1, 1), SGD_MOMENTUM * buf + g, g))
                update(p, p - lr.to(dtype).view(-1, 1) * (g + SGD_MOMENTUM * buf))
                self.has_momentum |= active
                return
            m, v = self.state
            b1, b2 = ADAM_BETAS
            steps = self.adam_steps + active.to(self.adam_steps.dtype)
            step_size = (lr / (1 - b1 ** steps)).to(dtype).view(-1, 1)
            decay = torch.where(self.decoupled, (1 - lr * self.weight_decay).to(dtype).view(-1, 1), 1.0)
            g = torch.where(self.decoupled, g, g + wd * p)
            update(m, m + (1 - b1) * (g - m))
            update(v, b2 * v + (1 - b2) * g * g)
            denom = v.sqrt() / (1 - b2 ** steps).sqrt().to(dtype).view(-1, 1) + ADAM_EPS
            update(p, p * decay - step_size * m / denom)
            self.adam_steps.copy_(steps)

    # -- back to each trial's own shapes

    def to_cpu(self) -> None:
        """Weights, moments and buffers off the device in one copy each (trials are then read back one by one)."""
        self.flat = self.flat.detach().cpu()
        self.state = tuple(t.cpu() for t in self.state)
        self.buffers = {name: t.cpu() for name, t in self.buffers.items()}
        self.adam_steps, self.has_momentum = self.adam_steps.cpu(), self.has_momentum.cpu()

    def write_back(self, k: int) -> None:
        """Trial k's slices into its own module and torch optimizer (whose state_dict is its checkpoint)."""
        import torch

        member = self.members[k]
        own_params = dict(member.model.named_parameters())
        weights = self.views(self.flat.detach())
        moments_of = [self.views(t) for t in self.state]
        with torch.no_grad():
            for name in self.param_names:
                slot = self.index[name][k]
                param = own_params[name]
                param.copy_(weights[name][k][slot])
                moments = [t[name][k][slot].clone() for t in moments_of]
                if self.sgd:
                    state = {"momentum_buffer": moments[0]} if bool(self.has_momentum[k]) else {}
                else:
                    state = {"step": torch.tensor(float(self.adam_steps[k])), "exp_avg": moments[0],
                             "exp_avg_sq": moments[1]}
                if state:
                    member.optimizer.state[param] = state
            own_buffers = dict(member.model.named_buffers())
            for name in self.buffer_names:
                if name in own_buffers:
                    own = own_buffers[name]
                    own.copy_(self.buffers[name][k][:len(own)] if own.dim() else self.buffers[name][k])


__all__ = ["PACK_EFFICIENCY", "PADDED", "PER_TRIAL", "Pack", "choose_members", "pack_key", "trains_alone"]
