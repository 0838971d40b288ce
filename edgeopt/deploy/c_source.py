"""C99 source of an IntProgram: `<name>.h` and `<name>.c`, no dynamic allocation, no floating point, weights as
const arrays, one caller-owned arena planned here. Same program -> byte-identical files."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgeopt.escape import c_comment, c_name
from edgeopt.intgrid.fixedpoint import pack
from edgeopt.graph.kernels import masks
from edgeopt.intgrid.program import SKIP_BITS, IntLayer, IntProgram, tanh_table

ALIGN = 4


@dataclass(frozen=True)
class ArenaPlan:
    """Where each buffer lives in the arena: ("out", k) the output of layer k - 1 (the model's input, k = 0, and the
    logits are the caller's), ("copy", j) the int16 copy layer j keeps for a residual add."""

    offsets: dict[tuple[str, int], int]
    arena_bytes: int
    sizes: dict[tuple[str, int], int] = field(default_factory=dict)  # bytes of each buffer

    def describe(self, program: IntProgram) -> tuple[dict, ...]:
        """Each buffer's offset and size, named by the layer that writes it (what manifest.json lists)."""
        def writer(key) -> str:
            kind, k = key
            if kind == "copy":
                return f"int16 copy of {program.layers[k].name}'s output (for a residual add)"
            names = [layer.name for i, layer in enumerate(program.layers[:-1]) if program.target_of(i) == k]
            return "output of " + " + ".join(names) + (" (a concatenation)" if len(names) > 1 else "")

        return tuple({"buffer": writer(key), "offset": offset, "bytes": self.sizes[key]}
                     for key, offset in sorted(self.offsets.items(), key=lambda item: (item[1], item[0])))


def plan_arena(program: IntProgram) -> ArenaPlan:
    """Each buffer lives from the first layer that writes it to the last layer that reads it; buffers are placed in
    the order they are written, each at the lowest aligned offset clear of every buffer alive at the same time. A
    chain alternates between two places; a residual's skip copy stays put until its add; a concatenation's parts
    write one buffer."""
    reads: dict[tuple[str, int], int] = {}
    for index, layer in enumerate(program.layers):
        reads[("out", layer.source)] = index
        if layer.residual is not None:
            reads[("copy", layer.residual.layer)] = index
    sizes = program.buffer_sizes()
    spans: dict[tuple[str, int], list[int]] = {}  # key -> [bytes, first writer, last use]
    for index, layer in enumerate(program.layers[:-1]):
        key = ("out", program.target_of(index))
        span = spans.setdefault(key, [sizes[key[1]] * layer.output_bits // 8, index, index])
        span[2] = max(span[2], index, reads.get(key, index))
        if layer.skip16:
            spans[("copy", index)] = [2 * layer.output_size, index, reads.get(("copy", index), index)]
    placed: list[tuple[int, int, int, int]] = []  # (offset, bytes, written by, last read by)
    offsets = {}
    for key, (size, born, dies) in sorted(spans.items(), key=lambda item: item[1][1]):  # stable: as written
        offset = 0
        for other, other_bytes in sorted((o, b) for o, b, w, r in placed if w <= dies and born <= r):
            if offset + size <= other:
                break
            offset = max(offset, _align(other + other_bytes))
        placed.append((offset, size, born, dies))
        offsets[key] = offset
    return ArenaPlan(offsets, _align(max((o + b for o, b, _, _ in placed), default=0)),
                     {key: size for key, (size, _, _) in spans.items()})


def _align(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


RUNTIME = r"""
typedef struct {
    int16_t in_c, in_h, in_w, out_c, conv_h, conv_w, k_h, k_w, s_h, s_w, d_h, d_w, pad_t, pad_l, groups;
    int16_t pool, p_h, p_w, ps_h, ps_w, out_h, out_w, in_bits, out_bits;
    int16_t global_pool;  /* 0 none, 1 mean, 2 max, 3 mean and max (outputs 2 oc and 2 oc + 1), 4 count of v > 0 */
    int32_t in_zp, out_zp, out_min, out_max;
    int16_t relu;  /* clamp the accumulators at 0 (ReLU, ReLU6) */
    int32_t ceiling;  /* an upper activation bound in output steps (a packed multiplier) before averaging; 0: none */
    int16_t nonlinear;  /* 0 none, 1 tanh, 2 hardswish: on a fine grid (+-limit), then to the output by `post` */
    int32_t post, limit, three;
    const int16_t *table;  /* tanh's, shared */
    int16_t shared_requant;  /* one requantization word for every channel (per-tensor weight scales) */
    int16_t skip16;  /* also keep an int16 copy of the output, 2^SKIP_BITS finer, for a residual add */
    const int32_t *res_requant;  /* a residual's int16 copy to the accumulators' scale; NULL: no residual */
    const int8_t *weights;
    const int32_t *bias, *requant;  /* bias: NULL when the layer has none */
    const uint8_t *gen;  /* generated kernels: per output channel its input channel and kernel index; NULL: stored */
    int16_t gen_high, gen_low;  /* a generated kernel's weight at its three taps, and at the other six */
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

/* the accumulator bound of channel oc: floor(ceiling / requant), as intgrid.fixedpoint.ceiling_bound */
static int64_t PREFIX_bound(int32_t ceiling, int32_t word) {
    int e = (word & 0xFF) - (ceiling & 0xFF);
    if (e < 0) return 0;
    if (e > 40) return INT64_MAX;
    return ((int64_t)(ceiling >> 8) << e) / (word >> 8);
}

static int64_t PREFIX_clamp(int64_t v, int64_t low, int64_t high) {
    return v < low ? low : v > high ? high : v;
}

/* what the output requantization scales: the accumulator (after pooling), or the activation of it */
static int64_t PREFIX_activated(const PREFIX_layer *l, int64_t v, int32_t requant) {
    int64_t x, y;
    if (!l->nonlinear) return v;
    x = PREFIX_scale(v, requant);
    x = PREFIX_clamp(x, -(int64_t)l->limit - 1, l->limit);
    if (l->nonlinear == 1) {
        int32_t u = (int32_t)x + 32768, i = u >> 8;
        y = l->table[i] + PREFIX_round_shift((int64_t)(l->table[i + 1] - l->table[i]) * (u & 255), 8);
    } else {
        y = x <= -l->three ? 0 : x >= l->three ? 2 * (int64_t)l->three * x : x * (x + l->three);
    }
    return y;
}

/* The dot product of output (oc, y, x) with its input window, on int8 inputs with an int32 accumulator or on int16
 * inputs with an int64 one (the export checks that neither can overflow). */
#define PREFIX_DOT(NAME, T, ACC) \
static ACC NAME(const PREFIX_layer *l, const T *in, int oc, int y, int x) { \
    int cin_g = l->in_c / l->groups, g = oc / (l->out_c / l->groups); \
    const int8_t *w = l->weights + (int32_t)oc * cin_g * l->k_h * l->k_w; \
    ACC acc = 0; \
    int ic, i, j; \
    if (l->k_h == 1 && l->k_w == 1 && l->pad_t == 0 && l->pad_l == 0) {  /* dense, pointwise: one tap a channel */ \
        int32_t hw = (int32_t)l->in_h * l->in_w; \
        const T *p = in + (int32_t)g * cin_g * hw + (int32_t)y * l->s_h * l->in_w + (int32_t)x * l->s_w; \
        for (ic = 0; ic < cin_g; ic++, p += hw) acc += (ACC)w[ic] * ((int32_t)*p - l->in_zp); \
    } else { \
        int x0 = x * l->s_w - l->pad_l;  /* taps j0 <= j < j1 fall inside the row: no test per tap */ \
        int j0 = x0 < 0 ? (-x0 + l->d_w - 1) / l->d_w : 0, j1 = (l->in_w - x0 + l->d_w - 1) / l->d_w; \
        if (j1 > l->k_w) j1 = l->k_w; \
        for (ic = 0; ic < cin_g; ic++) { \
            const T *plane = in + (int32_t)(g * cin_g + ic) * l->in_h * l->in_w; \
            for (i = 0; i < l->k_h; i++, w += l->k_w) { \
                int iy = y * l->s_h - l->pad_t + i * l->d_h; \
                const T *row; \
                if (iy < 0 || iy >= l->in_h) continue; \
                row = plane + (int32_t)iy * l->in_w + x0 + j0 * l->d_w;  /* in bounds: x0 + j0 d_w >= 0 */ \
                for (j = j0; j < j1; j++, row += l->d_w) acc += (ACC)w[j] * ((int32_t)*row - l->in_zp); \
            } \
        } \
    } \
    return acc; \
}
PREFIX_DOT(PREFIX_dot8, int8_t, int32_t)
PREFIX_DOT(PREFIX_dot16, int16_t, int64_t)

#ifdef PREFIX_GENERATED
/* A generated kernel's dot product (1-D): the weights are gen_high at the kernel's three taps (PREFIX_masks) and
 * gen_low at the other six, on the one input channel the output reads. */
#define PREFIX_GEN(NAME, T, ACC) \
static ACC NAME(const PREFIX_layer *l, const T *in, int oc, int x) { \
    unsigned mask = PREFIX_masks[l->gen[2 * oc + 1]]; \
    const T *row = in + (int32_t)l->gen[2 * oc] * l->in_w; \
    int x0 = x * l->s_w - l->pad_l, j; \
    int j0 = x0 < 0 ? (-x0 + l->d_w - 1) / l->d_w : 0, j1 = (l->in_w - x0 + l->d_w - 1) / l->d_w; \
    ACC acc = 0; \
    if (j1 > l->k_w) j1 = l->k_w; \
    row += x0 + j0 * l->d_w;  /* in bounds: x0 + j0 d_w >= 0 */ \
    for (j = j0; j < j1; j++, row += l->d_w) \
        acc += (ACC)((mask >> j) & 1u ? l->gen_high : l->gen_low) * ((int32_t)*row - l->in_zp); \
    return acc; \
}
PREFIX_GEN(PREFIX_gen8, int8_t, int32_t)
PREFIX_GEN(PREFIX_gen16, int16_t, int64_t)
#endif

/* the accumulator of output (oc, y, x) with bias and residual, clamped as the activation says (0 and high) */
static int64_t PREFIX_acc(const PREFIX_layer *l, const void *in, const int16_t *res, int oc, int y, int x,
                          int64_t high) {
    int64_t acc;
#ifdef PREFIX_GENERATED
    if (l->gen)
        acc = l->in_bits == 8 ? PREFIX_gen8(l, (const int8_t *)in, oc, x) : PREFIX_gen16(l, (const int16_t *)in, oc, x);
    else
#endif
    acc = l->in_bits == 8 ? PREFIX_dot8(l, (const int8_t *)in, oc, y, x)
                          : PREFIX_dot16(l, (const int16_t *)in, oc, y, x);
    if (l->bias) acc += l->bias[oc];
    if (l->res_requant) acc += PREFIX_scale(res[((int32_t)oc * l->conv_h + y) * l->conv_w + x], l->res_requant[oc]);
    return l->relu && acc < 0 ? 0 : acc > high ? high : acc;
}

/* one output before requantization: the accumulator, or its max or rounded mean over a pooling window */
static int64_t PREFIX_pooled(const PREFIX_layer *l, const void *in, const int16_t *res, int oc, int y, int x,
                             int64_t high) {
    int64_t sum = 0, best = 0;
    int i, j;
    if (!l->pool) return PREFIX_acc(l, in, res, oc, y, x, high);
    for (i = 0; i < l->p_h; i++) {
        for (j = 0; j < l->p_w; j++) {
            int64_t v = PREFIX_acc(l, in, res, oc, y * l->ps_h + i, x * l->ps_w + j, high);
            if ((i == 0 && j == 0) || v > best) best = v;
            sum += v;
        }
    }
    return l->pool == 1 ? best : PREFIX_round_div(sum, (int64_t)l->p_h * l->p_w);
}

/* output element idx from value v (an accumulator after pooling and averaging) */
static void PREFIX_store(const PREFIX_layer *l, int64_t v, int32_t requant, int32_t idx, void *out,
                         int16_t *copy) {
    int64_t a = PREFIX_activated(l, v, requant), r;
    int32_t word = l->nonlinear ? l->post : requant;
    if (l->skip16)  /* the same multiplier, SKIP_BITS less shift: each output rounded once */
        copy[idx] = (int16_t)PREFIX_clamp(PREFIX_scale(a, word - SKIP_BITS), -32768, 32767);
    r = PREFIX_clamp(PREFIX_scale(a, word) + l->out_zp, l->out_min, l->out_max);
    if (l->out_bits == 8) ((int8_t *)out)[idx] = (int8_t)r;
    else if (l->out_bits == 16) ((int16_t *)out)[idx] = (int16_t)r;
    else ((int32_t *)out)[idx] = (int32_t)r;
}

static void PREFIX_layer_run(const PREFIX_layer *l, const void *in, const int16_t *res, void *out, int16_t *copy) {
    int oc, y, x;
    for (oc = 0; oc < l->out_c; oc++) {
        int32_t requant = l->requant[l->shared_requant ? 0 : oc];
        int64_t high = l->ceiling ? PREFIX_bound(l->ceiling, requant) : INT64_MAX;
        int64_t sum = 0, best = 0, mean;
        for (y = 0; y < l->out_h; y++) {
            for (x = 0; x < l->out_w; x++) {
                int64_t v = PREFIX_pooled(l, in, res, oc, y, x, high);
                if (!l->global_pool) {
                    PREFIX_store(l, v, requant, ((int32_t)oc * l->out_h + y) * l->out_w + x, out, copy);
                    continue;
                }
                sum += l->global_pool == 4 ? v > 0 : v;
                if ((y == 0 && x == 0) || v > best) best = v;
            }
        }
        if (!l->global_pool) continue;
        mean = PREFIX_round_div(sum, (int64_t)l->out_h * l->out_w);
        if (l->global_pool == 4) PREFIX_store(l, sum, requant, oc, out, copy);
        else if (l->global_pool == 1) PREFIX_store(l, mean, requant, oc, out, copy);
        else if (l->global_pool == 2) PREFIX_store(l, best, requant, oc, out, copy);
        else {
            PREFIX_store(l, mean, requant, 2 * oc, out, copy);
            PREFIX_store(l, best, requant, 2 * oc + 1, out, copy);
        }
    }
}
"""


def c_sources(program: IntProgram, name: str = "model", digest: str = "") -> tuple[str, str, ArenaPlan]:
    """(header, source, arena plan) for `program`; `name` prefixes every public symbol."""
    name = c_name(name)
    upper = name.upper()
    arena = plan_arena(program)
    header = f"""/* {name}.h: generated by edgeopt; do not edit. {digest}
 * int {name}_run(const {name}_input_t *input, int32_t *logits, uint8_t *arena):
 *   input   {program.input_size} int{program.input_bits} values,
 *           real = (q - {upper}_INPUT_ZERO_POINT) * {upper}_INPUT_SCALE
 *   logits  {program.output_size} int32 values, real = q * {upper}_OUTPUT_SCALE (the argmax needs no scale)
 *   arena   {upper}_ARENA_BYTES bytes, 4-byte aligned, owned by the caller: one per concurrent call (reentrant)
 * Returns 0. Integer arithmetic only; weights are const (place them with EDGEOPT_WEIGHTS_SECTION). */
#ifndef {upper}_H
#define {upper}_H
#include <stdint.h>

typedef int{program.input_bits}_t {name}_input_t;
#define {upper}_INPUT_BITS {program.input_bits}
#define {upper}_INPUT_SIZE {program.input_size}
#define {upper}_OUTPUT_SIZE {program.output_size}
#define {upper}_ARENA_BYTES {max(arena.arena_bytes, ALIGN)}
#define {upper}_INPUT_ZERO_POINT {program.input_zero_point}
#define {upper}_INPUT_SCALE {_float(program.input_scale)}
#define {upper}_OUTPUT_SCALE {_float(program.output_scale)}

#ifdef __cplusplus
extern "C" {{
#endif
int {name}_run(const {name}_input_t *input, int32_t *logits, uint8_t *arena);
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
             *_generated_table(program, name),
             RUNTIME.replace("PREFIX", name).replace("SKIP_BITS", str(SKIP_BITS))]
    if any(layer.nonlinear is not None and layer.nonlinear.kind == "tanh" for layer in program.layers):
        parts.append(_array("int16_t", f"{name}_tanh", tanh_table()))
    for index, layer in enumerate(program.layers):
        parts.append(_layer_arrays(name, index, layer))
    parts.append(f"static const {name}_layer {name}_layers[{len(program.layers)}] = {{")
    parts += [_layer_struct(name, index, layer) for index, layer in enumerate(program.layers)]
    parts.append("};\n")
    def buffer(k: int) -> str:
        return "input" if k == 0 else f"(const void *)(arena + {arena.offsets[('out', k)]})"

    def copy(j: int, const: bool) -> str:
        return f"({'const ' if const else ''}int16_t *)(void *)(arena + {arena.offsets[('copy', j)]})"

    steps = []
    for index, layer in enumerate(program.layers):
        if index == len(program.layers) - 1:
            target = "logits"
        else:
            k = program.target_of(index)
            target = f"arena + {arena.offsets[('out', k)] + layer.target_offset * layer.output_bits // 8}"
        skip = copy(layer.residual.layer, True) if layer.residual is not None else "0"
        keep = copy(index, False) if layer.skip16 else "0"
        steps.append(f"    {name}_layer_run(&{name}_layers[{index}], {buffer(layer.source)}, {skip}, {target}, "
                     f"{keep});\n    {upper}_LAYER_DONE({index});")
    parts.append(f"#ifndef {upper}_LAYER_DONE  /* define it to time each layer, e.g. reading DWT->CYCCNT */\n"
                 f"#define {upper}_LAYER_DONE(index) ((void)0)\n#endif\n")
    parts.append(f"int {name}_run(const {name}_input_t *input, int32_t *logits, uint8_t *arena) {{\n"
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


def _generated_table(program: IntProgram, name: str) -> list[str]:
    """The generated kernels' masks (the runtime's, like its code), where a layer generates its kernels."""
    if not any(layer.generated is not None for layer in program.layers):
        return []
    return [f"#define {name}_GENERATED 1", "/* bit j: tap j of the kernel weighs gen_high, else gen_low */",
            _array("uint16_t", f"{name}_masks", masks(), section=False)]


def _layer_arrays(name: str, index: int, layer: IntLayer) -> str:
    p = f"{name}_l{index}"
    optional = [_array("int32_t", f"{p}_bias", layer.bias)] if layer.bias is not None else []
    if layer.generated is not None:
        optional.append(_array("uint8_t", f"{p}_gen", layer.generated))
    if layer.residual is not None:
        optional.append(_array("int32_t", f"{p}_res_requant", pack(layer.residual.multiplier, layer.residual.shift)))
    return "\n".join([f"/* layer {index}: {c_comment(layer.name)} ({layer.kind}) */",
                      *([_array("int8_t", f"{p}_weights", layer.weights)] if layer.generated is None else []),
                      *optional,
                      _array("int32_t", f"{p}_requant", pack(layer.multiplier, layer.shift)[:layer.requant_words]),
                      ""])


GLOBAL_CODES = {None: 0, "avg": 1, "max": 2, "avgmax": 3, "ppv": 4}


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
              *layer.dilation, *layer.padding, layer.groups, pool_kind, p_h, p_w, ps_h, ps_w, out_h, out_w,
              layer.input_bits, layer.output_bits, GLOBAL_CODES[layer.global_pool], layer.input_zero_point,
              layer.output_zero_point]
    fields += [int32(layer.output_min), layer.output_max, int(layer.relu),
               int(pack(*layer.act_ceiling)) if layer.act_ceiling is not None else 0]
    f = layer.nonlinear
    fields += [0, 0, 0, 0, "0"] if f is None else [1 if f.kind == "tanh" else 2, int(pack(*f.to_output)), f.limit,
                                                    f.three, f"{name}_tanh" if f.kind == "tanh" else "0"]
    fields += [int(layer.requant_words == 1), int(layer.skip16),
               f"{p}_res_requant" if layer.residual is not None else "0"]
    bias = f"{p}_bias" if layer.bias is not None else "0"
    weights = f"{p}_weights" if layer.generated is None else "0"
    gen = f"{p}_gen, {layer.generated_levels[0]}, {layer.generated_levels[1]}" if layer.generated is not None \
        else "0, 0, 0"
    return (f"    {{{', '.join(map(str, fields))},\n"
            f"     {weights}, {bias}, {p}_requant, {gen}}},")
