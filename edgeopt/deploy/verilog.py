"""Verilog-2005 of an IntProgram: one engine computing the integer reference's integers, `lanes` multiply-accumulates
a clock (a block of output channels at a time), weights streamed from ROMs that `$readmemh` fills, every activation
buffer in one RAM, the requantization pipelined (`deploy.verilog_text` holds the text and its design notes). Same
program and lanes -> byte-identical files.

Not yet covered (one error naming the op and node): residual adds, generated kernels, PPV.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeopt.errors import ModelError
from edgeopt.intgrid.fixedpoint import NO_BOUND, ceiling_bound
from edgeopt.cost.engine import (MAX_LANES, EngineLayer, NonlinearWidths, divide_bits, divide_clocks, engine_clocks,
                                 max_divisor, nonlinear_widths, power_of_two)
from edgeopt.cost.fabric import REQUANT_BITS, TANH_WORD_BITS, TANH_WORDS, MemoryPlan, engine_memories, weight_words
from edgeopt.deploy.verilog_text import Widths, engine_text
from edgeopt.intgrid.program import IntLayer, IntProgram, tanh_table

GLOBAL_CODES = {None: 0, "avg": 1, "max": 2, "avgmax": 3}
NONLINEAR_CODES = {None: 0, "tanh": 1, "hardswish": 2}
POOL_CODES = {None: 0, "max": 1, "avg": 2}


# Verilog-2005's reserved words and SystemVerilog's (Verilator reads both): a module may not be named any of them
KEYWORDS = frozenset("""
always and assign automatic begin buf bufif0 bufif1 case casex casez cell cmos config deassign default defparam design
disable edge else end endcase endconfig endfunction endgenerate endmodule endprimitive endspecify endtable endtask
event for force forever fork function generate genvar highz0 highz1 if ifnone incdir include initial inout input
instance integer join large liblist library localparam macromodule medium module nand negedge nmos nor
noshowcancelled not notif0 notif1 or output parameter pmos posedge primitive pull0 pull1 pulldown pullup
pulsestyle_ondetect pulsestyle_onevent rcmos real realtime reg release repeat rnmos rpmos rtran rtranif0 rtranif1
scalared showcancelled signed small specify specparam strong0 strong1 supply0 supply1 table task time tran tranif0
tranif1 tri tri0 tri1 triand trior trireg unsigned use uwire vectored wait wand weak0 weak1 while wire wor xnor xor
alias always_comb always_ff always_latch assert assume before bind bins binsof bit break byte chandle checker class
clocking const constraint context continue cover covergroup coverpoint cross dist do endchecker endclass endclocking
endgroup endinterface endpackage endprogram endproperty endsequence enum eventually expect export extends extern final
first_match foreach forkjoin global iff ignore_bins illegal_bins implies import inside int interface intersect
join_any join_none let local logic longint matches modport new null package packed priority program property
protected pure rand randc randcase randsequence ref restrict return s_always s_eventually sequence shortint shortreal
solve static string strong struct super sync_accept_on sync_reject_on tagged this throughout timeprecision timeunit
type typedef union unique unique0 until var virtual void wait_order weak wildcard with within
""".split())


# the design of the engine the export writes: raised whenever what it writes for the same program changes (a test
# pins the text of fixed programs to it), so `check` tells an engine from an earlier edgeopt from an edited one
ENGINE_GENERATION = 2


def verilog_name(name: str) -> str:
    """`name` (already a C identifier) as a module name: not a Verilog or SystemVerilog reserved word."""
    if name in KEYWORDS or name.endswith("_tb") and name[:-3] in KEYWORDS:
        raise ModelError(f"{name!r} is a reserved word of Verilog or SystemVerilog; choose another --name")
    return name


@dataclass(frozen=True)
class VerilogFiles:
    """The generated text: the engine, its ROM images (hex, one word a line) and the testbench."""

    engine: str
    roms: dict[str, str]  # file name -> $readmemh image
    testbench: str
    act_words: int  # the activation RAM's depth (16-bit words: the input, then every buffer the layers write)
    output_size: int
    rom_bytes: int  # the ROMs' contents: int8 weights; per output channel a bias, a requantization, a ceiling
    lanes: int  # multiply-accumulates a clock

    def write(self, folder, name: str) -> tuple[str, ...]:
        """The engine `name`.v, its testbench and ROM images into `folder`; the file names, engine first."""
        files = {f"{name}.v": self.engine, f"{name}_tb.v": self.testbench, **self.roms}
        for file, text in files.items():
            (folder / file).write_text(text)
        return tuple(files)


def unsupported(program: IntProgram) -> str | None:
    """Why the engine cannot run `program` (naming the op and node), or None."""
    for layer in program.layers:
        what = ("a residual add" if layer.residual is not None
                else "generated kernels" if layer.generated is not None else "proportion-of-positive pooling"
                if layer.global_pool == "ppv" else "an int16 skip copy" if layer.skip16 else None)
        if what is not None:
            return f"node {layer.name}: {what} is not in the Verilog engine yet"
    return None


def _layout(program: IntProgram) -> tuple[dict[int, int], int]:
    """Base address of each buffer in the activation RAM (0: the input) and the RAM's depth."""
    sizes = {0: program.input_size, **program.buffer_sizes()}
    bases, top = {}, 0
    for k in sorted(sizes):
        bases[k] = top
        top += sizes[k]
    return bases, max(top, 1)


def _hex(values, bits: int) -> str:
    mask = (1 << bits) - 1
    digits = (bits + 3) // 4
    return "".join(f"{int(v) & mask:0{digits}x}\n" for v in values) or f"{0:0{digits}x}\n"


def _shift_or_divide(divisor: int) -> int:
    """log2(divisor) where it is a power of two (a mean is then a rounding shift), else -1 (the divider)."""
    return divisor.bit_length() - 1 if power_of_two(divisor) else -1


def _fields(program: IntProgram, lanes: int) -> list[dict]:
    """Each layer's descriptor: the integers its loops and datapath read."""
    bases, _ = _layout(program)
    out, w_base, c_base = [], 0, 0
    units = [layer.nonlinear for layer in program.layers if layer.nonlinear]
    for index, layer in enumerate(program.layers):
        c, h, w = layer.in_shape
        oc, ch, cw = layer.conv_shape
        pool = layer.pool
        pkh, pkw = pool.kernel if pool else (1, 1)
        psh, psw = pool.stride if pool else (1, 1)
        ph, pw = ((ch - pkh) // psh + 1, (cw - pkw) // psw + 1) if pool else (ch, cw)
        icg, ocg = c // layer.groups, oc // layer.groups
        le = min(lanes, ocg)  # a block's lanes share the input: its channels are in one group
        gp = GLOBAL_CODES[layer.global_pool]
        opc = ph * pw if gp == 0 else 2 if gp == 3 else 1  # outputs a channel writes
        last = index == len(program.layers) - 1
        sh, sw, dh, dw = *layer.stride, *layer.dilation
        taps = icg * layer.kernel[0] * layer.kernel[1]
        out.append({
            "IH": h, "IW": w, "IZP": layer.input_zero_point, "OC": oc, "OCG": ocg, "GROUPS": layer.groups, "ICG": icg,
            "LE": le, "LOPC": le * opc, "GOUT": ocg * opc, "GSTEP": icg * h * w, "TAPS": taps, "KH": layer.kernel[0],
            "KW": layer.kernel[1], "DH": dh, "DW": dw, "PT": layer.padding[0],
            # the tap address's steps from a kernel row's last tap to the next row's first, and from a channel's
            # last tap to the next channel's first
            "ROW_JUMP": dh * w - (layer.kernel[1] - 1) * dw,
            "CHANNEL_JUMP": h * w - (layer.kernel[0] - 1) * dh * w - (layer.kernel[1] - 1) * dw,
            "PL": layer.padding[1], "PT_IW": layer.padding[0] * w, "PKH": pkh, "PKW": pkw, "SH": sh, "SW": sw,
            "SH_IW": sh * w, "POOL": POOL_CODES[pool.kind if pool else None],
            "PK": _shift_or_divide(pkh * pkw) if pool and pool.kind == "avg" else 0, "POOLN": pkh * pkw,
            "RELU": int(layer.relu), "CEIL": int(layer.act_ceiling is not None), "PH": ph, "PW": pw,
            "CSTEP": psw * sw, "RSTEP": psh * sh, "RSTEP_IW": psh * sh * w, "GP": gp,
            "GK": _shift_or_divide(ph * pw) if layer.global_average else 0, "GN": ph * pw, "OPC": opc,
            "OZP": layer.output_zero_point, "OMIN": layer.output_min, "OMAX": layer.output_max,
            "YLO": layer.output_min - layer.output_zero_point, "YHI": layer.output_max - layer.output_zero_point,
            "LAST": int(last),
            "WBASE": w_base, "CBASE": c_base, "SRC": bases[layer.source],
            "DST": 0 if last else bases[program.target_of(index)] + layer.target_offset,
        })
        for k in ("PK", "GK"):  # a mean's rounding: 2^(k-1), one less for a negative sum (none for k <= 0)
            half = 2 ** (out[-1][k] - 1) if out[-1][k] > 0 else 0
            out[-1] |= {f"{k}_HALF": half, f"{k}_BELOW": max(half - 1, 0)}
        if units:  # tanh, hardswish: the fine grid's clamp and the output's requantization; other layers take
            f = layer.nonlinear or units[0]  # the first unit's: where those agree, each is a constant
            out[-1] |= {"NL": NONLINEAR_CODES[layer.nonlinear.kind if layer.nonlinear else None], "LIM": f.limit,
                        "THREE": f.three, "M2": f.to_output[0], "N2": f.to_output[1]}
        w_base += _block_words(out[-1])
        c_base += oc
    return out


def _magnitudes(layer: IntLayer) -> tuple[int, int]:
    """The largest |sum of products| of raw inputs of any channel of `layer` (what a lane accumulates), and of the
    value with its bias: the sum of products of inputs less the zero point, or the bias with the zero point folded in,
    whichever bound is larger."""
    low, high = -(2 ** (layer.input_bits - 1)), 2 ** (layer.input_bits - 1) - 1
    x = max(abs(low - layer.input_zero_point), abs(high - layer.input_zero_point))
    weights = np.abs(layer.weights.astype(np.int64)).reshape(layer.weights.shape[0], -1).sum(axis=1)
    bias = np.zeros_like(weights) if layer.bias is None else np.abs(layer.bias.astype(np.int64))
    folded = bias + abs(layer.input_zero_point) * weights
    return int((weights * -low).max(initial=0)), int(np.maximum(weights * x + bias, folded).max(initial=0))


def _widths(program: IntProgram, fields: list[dict], lanes: int) -> Widths:
    acc = value = biased = 0
    divides = False
    for layer, f in zip(program.layers, fields):
        products, with_bias = _magnitudes(layer)
        acc, biased = max(acc, products), max(biased, with_bias)
        factor = max(f["POOLN"] if f["POOL"] == 2 else 1, f["GN"] if layer.global_average else 1)
        value = max(value, with_bias * factor)
        divides |= (f["POOL"] == 2 and f["PK"] < 0) or (layer.global_average and f["GK"] < 0)
    geometry = max(abs(v) for f in fields for k, v in f.items() if k not in ("OMIN", "OMAX", "OZP", "YLO", "YHI", "IZP",
                                                                                "WBASE", "CBASE"))
    _, act_words = _layout(program)
    words = sum(layer.conv_shape[0] for layer in program.layers)
    outputs = max(f["OC"] * f["OPC"] + lanes * f["OPC"] + f["GN"] for f in fields)  # past idle lanes; positions
    value_bits = max(value, 1).bit_length() + 1
    shifts = [int(n) for layer in program.layers for n in np.atleast_1d(layer.shift)]
    # the divider as wide as the formats make it (what the estimate counts), or the values, if wider
    divisor = max_divisor(engine_layers_of(program, fields))
    divide = max(divide_bits(max(f["TAPS"] for f in fields), divisor), value_bits + 1) if divides else 0
    return Widths(
        counter=(2 * max(act_words, geometry, lanes)).bit_length() + 1,
        weight_addr=(fields[-1]["WBASE"] + _block_words(fields[-1])).bit_length() + 1,
        channel_addr=(words + lanes).bit_length() + 1, out_index=outputs.bit_length() + 1,
        acc=max(acc, 1).bit_length() + 1, value=value_bits, requant=max(biased, 1).bit_length() + 1,
        divide=divide, shift=max(shifts).bit_length())


def _block_words(f: dict) -> int:
    """A layer's weight ROM words (`cost.fabric.weight_words`: a word a tap, per block of lanes, per group)."""
    return weight_words([EngineLayer(f["OC"], f["OC"] // f["OCG"], f["TAPS"], 1)], f["LE"])


def _roms(program: IntProgram, lanes: int, value_bits: int) -> dict[str, np.ndarray]:
    """The ROMs' words: weights a tap a block (lane j in byte j), then per channel a bias, a requantization and an
    activation ceiling (past the last channel, one a lane of padding: a block's idle lanes read it)."""
    weights, bias, requant, bound = [], [], [], []
    cap = 2 ** (value_bits - 1) - 1  # no value reaches it: "no ceiling"
    for layer in program.layers:
        oc = layer.conv_shape[0]
        ocg = oc // layer.groups
        le = min(lanes, ocg)
        taps = (layer.weights.reshape(oc, -1).astype(np.int64) & 0xFF).astype(object)  # words past 64 bits
        for g in range(layer.groups):
            for first in range(0, ocg, le):
                block = taps[g * ocg + first: g * ocg + min(first + le, ocg)]
                weights.append(sum(block[j] << (8 * j) for j in range(len(block))))
        # the engine multiplies raw inputs (padding: the zero point) and the bias takes the zero point back
        folded = layer.input_zero_point * layer.weights.reshape(oc, -1).astype(np.int64).sum(axis=1)
        bias.append((np.zeros(oc, np.int64) if layer.bias is None else layer.bias.astype(np.int64)) - folded)
        m = np.broadcast_to(np.asarray(layer.multiplier, np.int64), (oc,))
        n = np.broadcast_to(np.asarray(layer.shift, np.int64), (oc,))
        requant.append(m << 8 | n)
        if layer.act_ceiling is not None:
            b = np.broadcast_to(ceiling_bound(*layer.act_ceiling, m, n), (oc,))
            bound.append(np.where(b >= NO_BOUND, cap, np.minimum(b, cap)))
        else:
            bound.append(np.full(oc, cap, np.int64))
    pad = np.zeros(lanes, np.int64)
    roms = {"weights": np.concatenate([np.asarray(w, object) for w in weights]),
            "bias": np.concatenate([*bias, pad]), "requant": np.concatenate([*requant, pad]),
            "bound": np.concatenate([*bound, pad])}
    if any(layer.nonlinear is not None and layer.nonlinear.kind == "tanh" for layer in program.layers):
        table = tanh_table().astype(np.int64)  # entry i and the step to entry i + 1, the interpolation's two terms
        roms["tanh"] = (table[:TANH_WORDS] & 0xFFFF) << 16 | (np.diff(table) & 0xFFFF)
    return roms


def verilog_files(program: IntProgram, name: str, lanes: int = 1) -> VerilogFiles:
    """The engine `name` for `program` with `lanes` multiply-accumulates a clock, or as many as its widest block of
    channels fills, if fewer (a ModelError naming the op and node it cannot run)."""
    verilog_name(name)
    if not 1 <= lanes <= MAX_LANES:
        raise ModelError(f"lanes: {lanes} is outside 1 .. {MAX_LANES}")
    problem = unsupported(program)
    if problem is not None:
        raise ModelError(problem)
    fields = _fields(program, lanes)
    lanes = max(f["LE"] for f in fields)  # lanes no block fills would multiply zeros: not built
    widths = _widths(program, fields, lanes)
    roms = _roms(program, lanes, widths.value)
    _, act_words = _layout(program)
    bits = {"weights": 8 * lanes, "bias": widths.value, "requant": REQUANT_BITS, "bound": widths.value,
            "tanh": TANH_WORD_BITS}
    depths = {rom: max(1, len(values)) for rom, values in roms.items()}
    # the cost model's rule for where each memory goes (a requantization word a channel, and a lane's of padding)
    memories = engine_memories(act_words, depths["weights"], depths["requant"] - lanes, lanes, "tanh" in roms)
    plans = {"act": memories.act, "weights": memories.weights, "requant": memories.requant}
    if memories.tanh is not None:
        plans["tanh"] = memories.tanh
    images, banks = {}, {}
    for rom, values in roms.items():
        split = _banks(values, bits[rom], plans.get(rom))
        banks[rom] = tuple(f"{name}_{rom}{suffix}.hex" for suffix in split)
        images |= {f"{name}_{rom}{suffix}.hex": text for suffix, text in split.items()}
    shifts = [int(n) for layer in program.layers for n in np.atleast_1d(layer.shift)]
    ports = _bits(act_words - 1), _bits(program.output_size - 1)  # in_addr, out_index: engine and testbench
    engine = engine_text(name, fields, depths, act_words, program.input_size, program.output_size, ports, lanes, widths,
                         (min(shifts), max(shifts)), plans, banks, program_nonlinear_widths(program))
    rom_bytes = sum(len(values) * bits[rom] // 8 for rom, values in roms.items())
    return VerilogFiles(engine, images, _testbench(name, program, ports), act_words, program.output_size,
                        rom_bytes, lanes)


def _banks(values, bits: int, plan: MemoryPlan | None) -> dict[str, str]:
    """A ROM's $readmemh images by file suffix: one, or with more than one block RAM bank, one a bank ("_R_C": row R
    of words, column C of bits)."""
    if plan is None or plan.rows * plan.columns == 1:
        return {"": _hex(values, bits)}
    out = {}
    for r in range(plan.rows):
        rows = values[r * plan.bank_depth:(r + 1) * plan.bank_depth]
        for c in range(plan.columns):
            width = min(plan.bank_width, bits - c * plan.bank_width)
            out[f"_{r}_{c}"] = _hex([(int(v) >> (c * plan.bank_width)) & ((1 << width) - 1) for v in rows], width)
    return out


def engine_layers(program: IntProgram, lanes: int = 1) -> list[EngineLayer]:
    """The shapes the engine walks for `program` (what `cost.engine` counts clocks from)."""
    return engine_layers_of(program, _fields(program, lanes))


def engine_layers_of(program: IntProgram, fields: list[dict]) -> list[EngineLayer]:
    return [EngineLayer(f["OC"], f["OC"] // f["OCG"], f["TAPS"], f["PH"] * f["PW"], f["PKH"] * f["PKW"],
                        f["POOL"] == 2 and f["PK"] < 0, {0: 0, 1: 1, 2: 1, 3: 2}[f["GP"]],
                        layer.global_average and f["GK"] < 0, padded=bool(f["PT"] or f["PL"]),
                        average=f["POOL"] == 2, ceiling=bool(f["CEIL"]),
                        nonlinear=layer.nonlinear.kind if layer.nonlinear else None)
            for layer, f in zip(program.layers, fields)]


def program_nonlinear_widths(program: IntProgram) -> dict[str, NonlinearWidths]:
    """The registers of each kind of tanh and hardswish unit the engine for `program` has."""
    units: dict[str, list] = {}
    for layer in program.layers:
        if layer.nonlinear:
            units.setdefault(layer.nonlinear.kind, []).append(layer.nonlinear)
    return {kind: nonlinear_widths(kind, max(f.limit for f in found), max(f.three for f in found))
            for kind, found in sorted(units.items())}



def engine_cycles(program: IntProgram, lanes: int = 1) -> int:
    """Clocks the engine with `lanes` lanes is busy for one inference, from its loop nest (`cost.engine`): exactly
    what simulation counts."""
    fields = _fields(program, lanes)
    divide = divide_clocks(_widths(program, fields, lanes).divide)
    return engine_clocks(engine_layers_of(program, fields), lanes, divide)


def activation_format(program: IntProgram) -> str:
    """The format the engine's multipliers take activations in: int16 where any layer reads int16."""
    return "int16" if any(layer.input_bits == 16 for layer in program.layers) else "int8"


def choose_lanes(program: IntProgram, most: int, clock_hz: float | None, budget_s: float | None,
                 lanes: int | None = None) -> int:
    """`lanes` checked against `most` (the device's MACs a clock), or by default the fewest lanes whose clocks meet
    `budget_s` at `clock_hz` (one lane without a budget or clock); a ModelError when none does, with the clocks the
    fastest engine needs."""
    most = max(1, min(most, MAX_LANES))
    if lanes is not None:
        if not 1 <= lanes <= most:
            raise ModelError(f"--lanes {lanes}: the engine takes 1 .. {most} multiply-accumulates a clock here")
        return lanes
    if not clock_hz or not budget_s:
        return 1
    best = None
    for count in range(1, most + 1):
        clocks = engine_cycles(program, count)
        if clocks / clock_hz <= budget_s:
            return count
        best = min(best or (clocks, count), (clocks, count))
    clocks, count = best
    raise ModelError(f"no lane count up to {most} meets the latency budget of {budget_s * 1e6:.6g} us at "
                     f"{clock_hz / 1e6:.6g} MHz ({int(budget_s * clock_hz):,} clocks): the fastest engine "
                     f"({count} lanes) needs {clocks:,} clocks, {clocks / clock_hz * 1e6:.6g} us; give --lanes N to "
                     "export it anyway")


def _testbench(name: str, program: IntProgram, ports: tuple[int, int]) -> str:
    return TESTBENCH.format(name=name, in_size=program.input_size, out_size=program.output_size,
                            a_bits=ports[0], out_bits=ports[1])


def _bits(value: int) -> int:
    return max(1, int(value).bit_length())


TESTBENCH = """\
// Testbench of {name} (generated): reads {name}_inputs.hex ({in_size} 16-bit words a sample), runs each sample,
// writes its {out_size} logits to {name}_outputs.hex and the clocks it was busy to {name}_cycles.txt.
`timescale 1ns/1ps
module {name}_tb;
    reg clk = 0, rst = 1, start = 0, in_we = 0;
    reg [{a_bits}-1:0] in_addr = 0;
    reg signed [15:0] in_data = 0;
    wire busy, done, out_valid;
    wire [{out_bits}-1:0] out_index;
    wire signed [31:0] out_data;
    reg [15:0] inputs [0:{in_size} * `SAMPLES - 1];
    reg signed [31:0] logits [0:{out_size}-1];
    integer s, i, f, c, clocks;
    {name} dut(.clk(clk), .rst(rst), .start(start), .in_we(in_we), .in_addr(in_addr), .in_data(in_data),
               .busy(busy), .done(done), .out_valid(out_valid), .out_index(out_index), .out_data(out_data));
    always #2 clk = ~clk;
    // clocks with busy high, counted where every simulator samples alike (at the clock edge, not after it)
    always @(posedge clk) begin
        if (out_valid) logits[out_index] <= out_data;
        if (start) clocks <= 0; else if (busy) clocks <= clocks + 1;
    end
    initial begin
        $readmemh("{name}_inputs.hex", inputs);
        f = $fopen("{name}_outputs.hex", "w");
        c = $fopen("{name}_cycles.txt", "w");
        @(posedge clk); @(posedge clk); rst <= 0;
        for (s = 0; s < `SAMPLES; s = s + 1) begin
            for (i = 0; i < {in_size}; i = i + 1) begin
                @(posedge clk); in_we <= 1; in_addr <= i; in_data <= inputs[s * {in_size} + i];
            end
            @(posedge clk); in_we <= 0; start <= 1;
            @(posedge clk); start <= 0;
            @(posedge clk);
            while (busy) @(posedge clk);
            @(posedge clk);
            for (i = 0; i < {out_size}; i = i + 1) $fwrite(f, "%08x\\n", logits[i]);
            $fwrite(c, "%0d\\n", clocks);
        end
        $fclose(f); $fclose(c);
        $finish;
    end
endmodule
"""

__all__ = ["ENGINE_GENERATION", "KEYWORDS", "MAX_LANES", "VerilogFiles", "activation_format", "choose_lanes",
           "engine_cycles", "unsupported", "verilog_files", "verilog_name"]
