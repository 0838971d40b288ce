"""The integer reference: an IntProgram run in numpy integers. The C export computes the same integers (tested bit
for bit); the QDQ ONNX file and the PyTorch simulation compute the same reals up to rounding."""

from __future__ import annotations

import numpy as np

from edgeopt.intgrid.fixedpoint import (INT32_MAX, WIDE_ACC_LIMIT, ceiling_bound, requantize, rounding_divide,
                                        rounding_shift)
from edgeopt.intgrid.program import SKIP_BITS, IntLayer, IntProgram, Nonlinear, tanh_table


def run_program(program: IntProgram, x: np.ndarray) -> np.ndarray:
    """int32 logits (N, classes) of integer inputs `x` (N, *input_shape) of the program's input type."""
    x = np.asarray(x)
    if x.dtype != program.input_dtype or tuple(x.shape[1:]) != tuple(program.input_shape):
        shape = ", ".join(map(str, program.input_shape))
        raise ValueError(f"expected {np.dtype(program.input_dtype)} inputs of shape (N, {shape}), got {x.dtype} "
                         f"{tuple(x.shape)}")
    buffers = {0: x.reshape(len(x), -1)}  # buffer k: written by layer k - 1 (and a concatenation's other parts)
    sizes = program.buffer_sizes()
    skips: dict[int, np.ndarray] = {}  # layer -> its int16 copy
    for index, layer in enumerate(program.layers):
        skip = skips[layer.residual.layer] if layer.residual is not None else None
        out, skips[index] = run_layer(layer, buffers[layer.source], skip)
        if index == len(program.layers) - 1:
            return out.astype(np.int32)
        k = program.target_of(index)
        if k not in buffers:
            buffers[k] = np.zeros((len(x), sizes[k]), out.dtype)
        buffers[k][:, layer.target_offset:layer.target_offset + out.shape[1]] = out
    raise ValueError("a program without layers")


def accumulators(layer: IntLayer, x: np.ndarray) -> np.ndarray:
    """int64 (N, C, H, W) accumulators of the convolution with bias, before the activation."""
    n = len(x)
    c, h, w = layer.in_shape
    xz = x.reshape(n, c, h, w).astype(np.int64) - layer.input_zero_point
    oc, oh, ow = layer.conv_shape
    kh, kw = layer.kernel
    sh, sw = layer.stride
    dh, dw = layer.dilation
    pt, pl = layer.padding
    span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    pad_b = max(0, (oh - 1) * sh + span_h - h - pt)
    pad_r = max(0, (ow - 1) * sw + span_w - w - pl)
    xz = np.pad(xz, ((0, 0), (0, 0), (pt, pad_b), (pl, pad_r)))  # zero in (x - zero point): a real 0
    windows = np.lib.stride_tricks.sliding_window_view(xz, (span_h, span_w), axis=(2, 3))[:, :, ::sh, ::sw]
    windows = windows[:, :, :oh, :ow, ::dh, ::dw]
    per_group_in, per_group_out = c // layer.groups, oc // layer.groups
    weights = layer.weights.astype(np.int64)
    acc = np.empty((n, oc, oh, ow), np.int64)
    for g in range(layer.groups):
        win = windows[:, g * per_group_in:(g + 1) * per_group_in]  # (n, cin_g, oh, ow, kh, kw)
        wg = weights[g * per_group_out:(g + 1) * per_group_out]  # (oc_g, cin_g, kh, kw)
        acc[:, g * per_group_out:(g + 1) * per_group_out] = np.einsum("nchwij,ocij->nohw", win, wg)
    if layer.bias is not None:
        acc += layer.bias.astype(np.int64)[None, :, None, None]
    return acc


def run_layer(layer: IntLayer, x: np.ndarray, skip: np.ndarray | None = None):
    """One fused layer on int8 or int16 inputs (N, in size) (and its residual's int16 copy): (int8, int16 or int32
    outputs (N, out size), the int16 copy of them when `layer.skip16`, else None)."""
    acc = accumulators(layer, x)
    if layer.residual is not None:
        r = layer.residual
        view = (1, -1, 1, 1)
        acc += requantize(skip.reshape(acc.shape).astype(np.int64), r.multiplier.reshape(view), r.shift.reshape(view))
    limit = INT32_MAX if layer.input_bits == 8 else WIDE_ACC_LIMIT - 1
    if acc.min(initial=0) < -limit - 1 or acc.max(initial=0) > limit:
        raise OverflowError(f"{layer.name}: an accumulator left the range of its register ({limit + 1:#x})")
    if layer.relu:
        acc = np.maximum(acc, 0)
    if layer.act_ceiling is not None:
        acc = np.minimum(acc, ceiling_bound(*layer.act_ceiling, layer.multiplier, layer.shift)[None, :, None, None])
    if layer.pool is not None:
        kh, kw = layer.pool.kernel
        sh, sw = layer.pool.stride
        ph, pw = (acc.shape[2] - kh) // sh + 1, (acc.shape[3] - kw) // sw + 1
        windows = np.lib.stride_tricks.sliding_window_view(acc, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw][:, :, :ph,
                                                                                                         :pw]
        if layer.pool.kind == "max":
            acc = windows.max(axis=(4, 5))
        else:
            acc = rounding_divide(windows.sum(axis=(4, 5)), kh * kw)
    view = (1, -1, 1, 1)
    m, n = layer.multiplier.reshape(view), layer.shift.reshape(view)
    if layer.global_pool == "ppv":
        acc = (acc > 0).sum(axis=(2, 3), keepdims=True).astype(np.int64)
    elif layer.global_pool is not None:
        mean = rounding_divide(acc.sum(axis=(2, 3), keepdims=True), acc.shape[2] * acc.shape[3])
        peak = acc.max(axis=(2, 3), keepdims=True)
        acc = mean if layer.global_pool == "avg" else peak if layer.global_pool == "max" else \
            np.stack([mean, peak], axis=2).reshape(len(acc), -1, 1, 1)  # channel by channel: mean c, max c
        if layer.global_pool == "avgmax":  # each channel's requantization serves both of its outputs
            m, n = np.repeat(m, 2, axis=1), np.repeat(n, 2, axis=1)
    if layer.nonlinear is not None:
        f = layer.nonlinear
        acc = nonlinear(f, np.clip(requantize(acc, m, n), -f.limit - 1, f.limit))
        m, n = f.to_output
    copy = None
    if layer.skip16:  # the same multiplier, SKIP_BITS less shift: each output rounded once
        copy = np.clip(requantize(acc, m, np.asarray(n) - SKIP_BITS), -32768, 32767)
        copy = copy.reshape(len(x), -1).astype(np.int16)
    out = np.clip(requantize(acc, m, n) + layer.output_zero_point, layer.output_min, layer.output_max)
    return out.reshape(len(x), -1).astype({8: np.int8, 16: np.int16, 32: np.int32}[layer.output_bits]), copy


def nonlinear(f: Nonlinear, x: np.ndarray) -> np.ndarray:
    """tanh or hardswish of fine-grid values `x`, before the requantization to the output (`f.to_output`)."""
    if f.kind == "tanh":
        table = tanh_table().astype(np.int64)
        u = x + 32768
        i, frac = u >> 8, u & 255
        v = table[i] + rounding_shift((table[i + 1] - table[i]) * frac, 8)
    else:
        v = np.where(x <= -f.three, 0, np.where(x >= f.three, 2 * f.three * x, x * (x + f.three)))
    return v
