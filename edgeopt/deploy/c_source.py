"""C99 source of an IntProgram: `<name>.h` and `<name>.c`, no dynamic allocation, no floating point, weights as
const arrays, one caller-owned arena planned here. Same program -> byte-identical files."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from edgeopt.intgrid.fixedpoint import pack
from edgeopt.intgrid.program import IntLayer, IntProgram, tanh_table

ALIGN = 4


@dataclass(frozen=True)
class ArenaPlan:
    """Where each layer's int8 output lives in the arena (the model's input and logits are the caller's buffers)."""

    offsets: tuple[int | None, ...]  # per layer; None: the caller's output buffer
    arena_bytes: int


def plan_arena(program: IntProgram) -> ArenaPlan:
    """A chain reads one buffer and writes the next, so two are live at a time: each layer's output goes below its
    input when it fits there, else above it."""
    offsets: list[int | None] = []
    current: tuple[int, int] | None = None  # (offset, bytes) of the live input, None: the caller's input
    top = 0
    for index, layer in enumerate(program.layers):
        if index == len(program.layers) - 1:
            offsets.append(None)
            break
        size = layer.output_bytes
        if current is None or current[0] >= size:
            offset = 0
        else:
            offset = _align(current[0] + current[1])
        offsets.append(offset)
        current = (offset, size)
        top = max(top, offset + size)
    return ArenaPlan(tuple(offsets), _align(top))


def _align(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def c_identifier(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", name):
        raise ValueError(f"{name!r} is not a C identifier (letters, digits, underscores; not starting with a digit)")
    return name


RUNTIME = r"""
typedef struct {
    int16_t in_c, in_h, in_w, out_c, conv_h, conv_w, k_h, k_w, s_h, s_w, pad_t, pad_l, groups;
    int16_t pool, p_h, p_w, ps_h, ps_w, out_h, out_w, global_average, out_bits;
    int32_t in_zp, out_zp, out_min, out_max, act_floor;
    int16_t nonlinear;  /* 0 none, 1 tanh, 2 hardswish: on an int16 grid, then to the output by `post` */
    int32_t post, three;
    const int16_t *table;  /* tanh's, shared */
    const int8_t *weights;
    const int32_t *bias, *act_max, *requant;  /* bias, act_max: NULL when the layer has none */
} PREFIX_layer;

/* round(v / 2^n), half away from zero; shifts only non-negative values (no implementation-defined behaviour) */
static int64_t PREFIX_round_shift(int64_t v, int n) {
    int64_t half = (int64_t)1 << (n - 1);
    return v < 0 ? -((-v + half) >> n) : (v + half) >> n;
}

/* round(v / d), half away from zero */
static int64_t PREFIX_round_div(int64_t v, int64_t d) {
    return v < 0 ? -((-v + d / 2) / d) : (v + d / 2) / d;
}

/* v * M, M = mantissa / 2^shift packed in one positive word as mantissa << 8 | shift */
static int64_t PREFIX_scale(int64_t v, int32_t word) {
    return PREFIX_round_shift(v * (word >> 8), word & 0xFF);
}

/* an accumulator (after pooling) on the output grid, with the output zero point */
static int64_t PREFIX_requant(const PREFIX_layer *l, int32_t v, int oc) {
    int64_t x = PREFIX_scale(v, l->requant[oc]), y;
    if (!l->nonlinear) return x + l->out_zp;
    if (x < -32768) x = -32768;
    if (x > 32767) x = 32767;
    if (l->nonlinear == 1) {
        int32_t u = (int32_t)x + 32768, i = u >> 8;
        y = l->table[i] + PREFIX_round_shift((int64_t)(l->table[i + 1] - l->table[i]) * (u & 255), 8);
    } else {
        y = x <= -l->three ? 0 : x >= l->three ? 2 * (int64_t)l->three * x : x * (x + l->three);
    }
    return PREFIX_scale(y, l->post) + l->out_zp;
}

/* the accumulator of output (oc, y, x) of the convolution, with bias, clamped as the activation says */
static int32_t PREFIX_acc(const PREFIX_layer *l, const int8_t *in, int oc, int y, int x) {
    int cin_g = l->in_c / l->groups, g = oc / (l->out_c / l->groups);
    const int8_t *w = l->weights + (int32_t)oc * cin_g * l->k_h * l->k_w;
    int32_t acc = l->bias ? l->bias[oc] : 0;
    int ic, i, j;
    for (ic = 0; ic < cin_g; ic++) {
        const int8_t *plane = in + (int32_t)(g * cin_g + ic) * l->in_h * l->in_w;
        for (i = 0; i < l->k_h; i++) {
            int iy = y * l->s_h - l->pad_t + i;
            if (iy < 0 || iy >= l->in_h) { w += l->k_w; continue; }
            for (j = 0; j < l->k_w; j++, w++) {
                int ix = x * l->s_w - l->pad_l + j;
                if (ix >= 0 && ix < l->in_w) acc += (int32_t)(*w) * ((int32_t)plane[iy * l->in_w + ix] - l->in_zp);
            }
        }
    }
    if (acc < l->act_floor) acc = l->act_floor;
    if (l->act_max && acc > l->act_max[oc]) acc = l->act_max[oc];
    return acc;
}

/* one output before requantization: the accumulator, or its max or rounded mean over a pooling window */
static int32_t PREFIX_pooled(const PREFIX_layer *l, const int8_t *in, int oc, int y, int x) {
    int64_t sum = 0;
    int32_t best = 0;
    int i, j;
    if (!l->pool) return PREFIX_acc(l, in, oc, y, x);
    for (i = 0; i < l->p_h; i++) {
        for (j = 0; j < l->p_w; j++) {
            int32_t v = PREFIX_acc(l, in, oc, y * l->ps_h + i, x * l->ps_w + j);
            if ((i == 0 && j == 0) || v > best) best = v;
            sum += v;
        }
    }
    return l->pool == 1 ? best : (int32_t)PREFIX_round_div(sum, (int64_t)l->p_h * l->p_w);
}

static void PREFIX_layer_run(const PREFIX_layer *l, const int8_t *in, void *out) {
    int oc, y, x;
    for (oc = 0; oc < l->out_c; oc++) {
        int64_t sum = 0;
        for (y = 0; y < l->out_h; y++) {
            for (x = 0; x < l->out_w; x++) {
                int32_t v = PREFIX_pooled(l, in, oc, y, x);
                if (l->global_average) { sum += v; continue; }
                {
                    int64_t r = PREFIX_requant(l, v, oc);
                    int32_t idx = ((int32_t)oc * l->out_h + y) * l->out_w + x;
                    if (r < l->out_min) r = l->out_min;
                    if (r > l->out_max) r = l->out_max;
                    if (l->out_bits == 8) ((int8_t *)out)[idx] = (int8_t)r; else ((int32_t *)out)[idx] = (int32_t)r;
                }
            }
        }
        if (l->global_average) {
            int32_t v = (int32_t)PREFIX_round_div(sum, (int64_t)l->out_h * l->out_w);
            int64_t r = PREFIX_requant(l, v, oc);
            if (r < l->out_min) r = l->out_min;
            if (r > l->out_max) r = l->out_max;
            if (l->out_bits == 8) ((int8_t *)out)[oc] = (int8_t)r; else ((int32_t *)out)[oc] = (int32_t)r;
        }
    }
}
"""


def c_sources(program: IntProgram, name: str = "model", digest: str = "") -> tuple[str, str, ArenaPlan]:
    """(header, source, arena plan) for `program`; `name` prefixes every public symbol."""
    name = c_identifier(name)
    upper = name.upper()
    arena = plan_arena(program)
    header = f"""/* {name}.h: generated by edgeopt; do not edit. {digest}
 * int {name}_run(const int8_t *input, int32_t *logits, uint8_t *arena):
 *   input   {program.input_size} int8 values, real = (q - {upper}_INPUT_ZERO_POINT) * {upper}_INPUT_SCALE
 *   logits  {program.output_size} int32 values, real = q * {upper}_OUTPUT_SCALE (the argmax needs no scale)
 *   arena   {upper}_ARENA_BYTES bytes, 4-byte aligned, owned by the caller: one per concurrent call (reentrant)
 * Returns 0. Integer arithmetic only; weights are const (place them with EDGEOPT_WEIGHTS_SECTION). */
#ifndef {upper}_H
#define {upper}_H
#include <stdint.h>

#define {upper}_INPUT_SIZE {program.input_size}
#define {upper}_OUTPUT_SIZE {program.output_size}
#define {upper}_ARENA_BYTES {max(arena.arena_bytes, ALIGN)}
#define {upper}_INPUT_ZERO_POINT {program.input_zero_point}
#define {upper}_INPUT_SCALE {_float(program.input_scale)}
#define {upper}_OUTPUT_SCALE {_float(program.output_scale)}

#ifdef __cplusplus
extern "C" {{
#endif
int {name}_run(const int8_t *input, int32_t *logits, uint8_t *arena);
#ifdef __cplusplus
}}
#endif
#endif
"""
    parts = [f"/* {name}.c: generated by edgeopt; do not edit. {digest} */",
             f'#include "{name}.h"', "",
             "#ifndef EDGEOPT_WEIGHTS_SECTION",
             "#define EDGEOPT_WEIGHTS_SECTION /* e.g. __attribute__((section(\".rodata.model\"))) */",
             "#endif",
             RUNTIME.replace("PREFIX", name)]
    if any(layer.nonlinear is not None and layer.nonlinear.kind == "tanh" for layer in program.layers):
        parts.append(_array("int16_t", f"{name}_tanh", tanh_table()))
    for index, layer in enumerate(program.layers):
        parts.append(_layer_arrays(name, index, layer))
    parts.append(f"static const {name}_layer {name}_layers[{len(program.layers)}] = {{")
    parts += [_layer_struct(name, index, layer) for index, layer in enumerate(program.layers)]
    parts.append("};\n")
    steps = []
    for index, offset in enumerate(arena.offsets):
        source = "input" if index == 0 else f"arena + {arena.offsets[index - 1]}"
        target = "logits" if offset is None else f"arena + {offset}"
        steps.append(f"    {name}_layer_run(&{name}_layers[{index}], {'(const int8_t *)' if index else ''}"
                     f"{source}, {target});")
    parts.append(f"int {name}_run(const int8_t *input, int32_t *logits, uint8_t *arena) {{\n"
                 + ("    (void)arena;\n" if len(program.layers) == 1 else "")
                 + "\n".join(steps) + "\n    return 0;\n}\n")
    return header, "\n".join(parts), arena


def _float(value: float) -> str:
    return f"{np.float32(value)!r}".replace("np.float32(", "").rstrip(")") + "f"


def _array(ctype: str, symbol: str, values, section: bool = True) -> str:
    flat = ["INT32_MIN" if int(v) == -(2 ** 31) else str(int(v)) for v in np.asarray(values).reshape(-1)]
    lines = [", ".join(flat[i:i + 24]) for i in range(0, len(flat), 24)]
    return (f"static const {ctype} {symbol}[{len(flat)}]{' EDGEOPT_WEIGHTS_SECTION' if section else ''} = {{\n    "
            + ",\n    ".join(lines) + "\n};")


def _layer_arrays(name: str, index: int, layer: IntLayer) -> str:
    p = f"{name}_l{index}"
    optional = [_array("int32_t", f"{p}_{what}", values) for what, values in (("bias", layer.bias),
                                                                              ("act_max", layer.act_max))
                if values is not None]
    return "\n".join([f"/* layer {index}: {layer.name} ({layer.kind}) */",
                      _array("int8_t", f"{p}_weights", layer.weights),
                      *optional,
                      _array("int32_t", f"{p}_requant", pack(layer.multiplier, layer.shift)), ""])


def _layer_struct(name: str, index: int, layer: IntLayer) -> str:
    p = f"{name}_l{index}"
    pool = layer.pool
    pool_kind = 0 if pool is None else (1 if pool.kind == "max" else 2)
    p_h, p_w = pool.kernel if pool else (1, 1)
    ps_h, ps_w = pool.stride if pool else (1, 1)
    out_h, out_w = layer.conv_shape[1:]
    if pool is not None:
        out_h, out_w = (out_h - p_h) // ps_h + 1, (out_w - p_w) // ps_w + 1
    def int32(value: int) -> str:
        return "INT32_MIN" if value == -(2 ** 31) else str(value)

    fields = [*layer.in_shape, layer.conv_shape[0], *layer.conv_shape[1:], *layer.kernel, *layer.stride,
              *layer.padding, layer.groups, pool_kind, p_h, p_w, ps_h, ps_w, out_h, out_w,
              int(layer.global_average), layer.output_bits, layer.input_zero_point, layer.output_zero_point]
    fields += [int32(layer.output_min), layer.output_max, int32(layer.act_floor)]
    f = layer.nonlinear
    fields += [0, 0, 0, "0"] if f is None else [1 if f.kind == "tanh" else 2, int(pack(*f.to_output)), f.three,
                                                 f"{name}_tanh" if f.kind == "tanh" else "0"]
    bias = f"{p}_bias" if layer.bias is not None else "0"
    act_max = f"{p}_act_max" if layer.act_max is not None else "0"
    return (f"    {{{', '.join(map(str, fields))},\n"
            f"     {p}_weights, {bias}, {act_max}, {p}_requant}},")
