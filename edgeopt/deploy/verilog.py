"""Verilog-2005 of an IntProgram: one time-multiplexed engine (a multiply-accumulate per clock, weights streamed from
ROMs that `$readmemh` fills, every activation buffer in one RAM) that computes the integer reference's integers.

The engine walks each fused layer as the reference does: per output channel, per (pooled) output position, per pool
window position, the accumulator starts at the bias and takes one product of weight and (input - zero point) a clock
(a pipelined read: the address of the next tap goes out while the last one's data comes back); then the activation
clamps it, the pool and global pool combine accumulators, a sequential divider rounds their means, and the
requantization (a product, then a rounding shift) puts the output on its grid. Same program -> byte-identical files.

Not yet covered (one error naming the op and node): residual adds, tanh / hardswish, generated kernels, PPV.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeopt.errors import ModelError
from edgeopt.intgrid.fixedpoint import NO_BOUND, ceiling_bound
from edgeopt.intgrid.program import IntProgram

ACT_BITS = 16  # every activation word: an int8 or int16 value, sign-extended
BOUND_CAP = 2 ** 46  # an activation ceiling no accumulator reaches (|acc| < 2^40) stored as this
GLOBAL_CODES = {None: 0, "avg": 1, "max": 2, "avgmax": 3}
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

    def write(self, folder, name: str) -> tuple[str, ...]:
        """The engine `name`.v, its testbench and ROM images into `folder`; the file names, engine first."""
        files = {f"{name}.v": self.engine, f"{name}_tb.v": self.testbench, **self.roms}
        for file, text in files.items():
            (folder / file).write_text(text)
        return tuple(files)


def unsupported(program: IntProgram) -> str | None:
    """Why the engine cannot run `program` (naming the op and node), or None."""
    for layer in program.layers:
        what = ("a residual add" if layer.residual is not None else f"{layer.nonlinear.kind}" if layer.nonlinear
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


def _fields(program: IntProgram) -> list[dict]:
    """Each layer's descriptor: the integers its loops and datapath read."""
    bases, _ = _layout(program)
    out, w_base, c_base = [], 0, 0
    for index, layer in enumerate(program.layers):
        c, h, w = layer.in_shape
        oc, ch, cw = layer.conv_shape
        pool = layer.pool
        pkh, pkw = pool.kernel if pool else (1, 1)
        psh, psw = pool.stride if pool else (1, 1)
        ph, pw = ((ch - pkh) // psh + 1, (cw - pkw) // psw + 1) if pool else (ch, cw)
        last = index == len(program.layers) - 1
        out.append({
            "IC": c, "IH": h, "IW": w, "OC": oc, "ICG": c // layer.groups, "OCG": oc // layer.groups,
            "KH": layer.kernel[0], "KW": layer.kernel[1], "SH": layer.stride[0], "SW": layer.stride[1],
            "DH": layer.dilation[0], "DW": layer.dilation[1], "PT": layer.padding[0], "PL": layer.padding[1],
            "IZP": layer.input_zero_point, "RELU": int(layer.relu), "CEIL": int(layer.act_ceiling is not None),
            "POOL": POOL_CODES[pool.kind if pool else None], "PKH": pkh, "PKW": pkw, "PSH": psh, "PSW": psw,
            "PH": ph, "PW": pw, "GP": GLOBAL_CODES[layer.global_pool], "OZP": layer.output_zero_point,
            "OMIN": layer.output_min, "OMAX": layer.output_max, "LAST": int(last), "WBASE": w_base,
            "CBASE": c_base, "SRC": bases[layer.source],
            "DST": 0 if last else bases[program.target_of(index)] + layer.target_offset,
        })
        f = out[-1]  # products the loops step by, so the engine adds where it would multiply
        f.update({"TAPS": f["ICG"] * f["KH"] * f["KW"], "IHW": h * w, "GSTEP": f["ICG"] * h * w,
                  "POOLN": pkh * pkw, "GN": ph * pw, "SH_IW": f["SH"] * w, "DH_IW": f["DH"] * w,
                  "PT_IW": f["PT"] * w, "RSTEP": psh * f["SH"], "RSTEP_IW": psh * f["SH"] * w,
                  "CSTEP": psw * f["SW"]})
        w_base += layer.weights.size
        c_base += oc
    return out


def _roms(program: IntProgram) -> dict[str, np.ndarray]:
    weights, bias, requant, bound = [], [], [], []
    for layer in program.layers:
        oc = layer.conv_shape[0]
        weights.append(layer.weights.reshape(-1).astype(np.int64))
        bias.append(np.zeros(oc, np.int64) if layer.bias is None else layer.bias.astype(np.int64))
        m = np.broadcast_to(np.asarray(layer.multiplier, np.int64), (oc,))
        n = np.broadcast_to(np.asarray(layer.shift, np.int64), (oc,))
        requant.append(m << 8 | n)
        if layer.act_ceiling is not None:
            b = np.broadcast_to(ceiling_bound(*layer.act_ceiling, m, n), (oc,))
            bound.append(np.where(b >= NO_BOUND, BOUND_CAP, np.minimum(b, BOUND_CAP)))
        else:
            bound.append(np.full(oc, BOUND_CAP, np.int64))
    return {name: np.concatenate(parts) if parts else np.zeros(1, np.int64)
            for name, parts in (("weights", weights), ("bias", bias), ("requant", requant), ("bound", bound))}


ROM_BITS = {"weights": 8, "bias": 32, "requant": 32, "bound": 48}


def verilog_files(program: IntProgram, name: str) -> VerilogFiles:
    """The engine `name` for `program` (a ModelError naming the op and node it cannot run)."""
    verilog_name(name)
    problem = unsupported(program)
    if problem is not None:
        raise ModelError(problem)
    fields = _fields(program)
    roms = _roms(program)
    _, act_words = _layout(program)
    images = {f"{name}_{rom}.hex": _hex(values, ROM_BITS[rom]) for rom, values in roms.items()}
    depths = {rom: max(1, len(values)) for rom, values in roms.items()}
    engine = _engine(name, fields, depths, act_words, program)
    rom_bytes = sum(len(values) * ROM_BITS[rom] // 8 for rom, values in roms.items())
    return VerilogFiles(engine, images, _testbench(name, program, act_words), act_words, program.output_size,
                        rom_bytes)


DIVIDE_CLOCKS = 65  # the sequential divider: a quotient bit a clock, and one to hand the result on


def engine_cycles(program: IntProgram) -> int:
    """Clocks the engine is busy for one inference, from its loop nest: per layer one, per output channel one, per
    pooled position one and per pool-window position its taps and three (address, drain, activation), a divide for
    each average pool, then the requantization (two), the position's step and the channel's global outputs."""
    total = 0
    for f in _fields(program):
        taps = f["ICG"] * f["KH"] * f["KW"]
        window = f["PKH"] * f["PKW"] * (1 + taps + 2) + (DIVIDE_CLOCKS if f["POOL"] == 2 else 0)
        position = 1 + window + 1 + (2 if f["GP"] == 0 else 0) + 1
        tail = {0: 0, 1: DIVIDE_CLOCKS + 1 + 2, 2: 2, 3: DIVIDE_CLOCKS + 1 + 4}[f["GP"]]
        total += 1 + f["OC"] * (1 + f["PH"] * f["PW"] * position + tail)
    return total


def _bits(value: int) -> int:
    return max(1, int(value).bit_length())


def _descriptor(fields: list[dict]) -> str:
    keys = list(fields[0])
    lines = ["    always @* begin", "        case (layer)"]
    for index, f in enumerate(fields):
        body = " ".join(f"{k} = {_literal(f[k])};" for k in keys)
        lines.append(f"            {index}: begin {body} end")
    lines.append("            default: begin " + " ".join(f"{k} = 0;" for k in keys) + " end")
    lines += ["        endcase", "    end"]
    return "\n".join(lines)


def _literal(value: int) -> str:
    return f"32'sh{int(value) & 0xFFFFFFFF:08x}"  # two's complement: -2^31 needs no negation


def _engine(name: str, fields: list[dict], depths: dict[str, int], act_words: int, program: IntProgram) -> str:
    keys = list(fields[0])
    decl = "\n".join(f"    reg signed [31:0] {k};" for k in keys)
    a_bits = _bits(act_words)
    return ENGINE.format(
        name=name, layers=len(fields), layer_bits=_bits(len(fields)), act_words=act_words, a_bits=a_bits,
        w_depth=depths["weights"], b_depth=depths["bias"], q_depth=depths["requant"], d_depth=depths["bound"],
        decl=decl, descriptor=_descriptor(fields), in_size=program.input_size, out_size=program.output_size,
        out_bits=_bits(program.output_size))


def _testbench(name: str, program: IntProgram, act_words: int) -> str:
    return TESTBENCH.format(name=name, in_size=program.input_size, out_size=program.output_size,
                            a_bits=_bits(act_words), out_bits=_bits(program.output_size))


ENGINE = """\
// {name}: edgeopt's integer engine (generated; do not edit). Verilog-2005, no vendor primitives.
// Interface: while idle, write the input (int8 or int16 values, sign-extended to 16 bits) with in_we / in_addr
// (0 .. {in_size} - 1) / in_data; pulse start for one clock; the {out_size} int32 logits come out one a clock with
// out_valid, out_index and out_data; done is high for one clock after the last; busy is high in between.
// ROMs: {name}_weights.hex (int8), {name}_bias.hex (int32), {name}_requant.hex (multiplier << 8 | shift),
// {name}_bound.hex (activation ceilings on the accumulators, 48 bits).
module {name} (
    input wire clk,
    input wire rst,
    input wire start,
    input wire in_we,
    input wire [{a_bits}-1:0] in_addr,
    input wire signed [15:0] in_data,
    output reg busy,
    output reg done,
    output reg out_valid,
    output reg [{out_bits}-1:0] out_index,
    output reg signed [31:0] out_data
);
    reg signed [15:0] act [0:{act_words}-1];
    reg signed [7:0] wrom [0:{w_depth}-1];
    reg signed [31:0] brom [0:{b_depth}-1];
    reg [31:0] qrom [0:{q_depth}-1];
    reg signed [47:0] drom [0:{d_depth}-1];
    initial begin
        $readmemh("{name}_weights.hex", wrom);
        $readmemh("{name}_bias.hex", brom);
        $readmemh("{name}_requant.hex", qrom);
        $readmemh("{name}_bound.hex", drom);
    end

    reg [{layer_bits}:0] layer;
{decl}
{descriptor}

    localparam S_IDLE = 0, S_LAYER = 1, S_OC = 2, S_POS = 3, S_WIN = 4, S_MAC = 5, S_DRAIN = 6, S_ACT = 7,
               S_DIV = 8, S_AFTER = 9, S_REQ1 = 10, S_REQ2 = 11, S_GLOBAL = 12, S_NEXT = 13;
    reg [3:0] state, after_div;
    // loop counters: output channel (its place in its group), pooled position, pool window position, taps
    reg [31:0] oc, og, py, px, wy, wx, ci, ky, kx;
    // where the loops are, kept by adding the descriptor's steps: rows and columns of the input (for the padding
    // test) and their addresses, at the pooled position, the window position and the tap
    reg signed [31:0] py_row, py_row_addr, px_col, win_row, win_row_addr, win_col, tap_row, tap_row_addr, tap_col;
    reg [31:0] group_addr, ci_addr, w_oc, w_addr, c_addr, out_idx;
    // |accumulator| < 2^40 (int16 inputs; 2^31 for int8), so 48 bits hold it, a pooled or global value, and the value
    // requantized; a channel's sum over positions and the requantization's product take 64
    reg signed [47:0] acc, rvalue;
    reg signed [63:0] pacc, gsum, gmax, product;
    reg signed [63:0] t;  // a combinational temporary within one clock
    reg [31:0] rq;
    reg [1:0] gphase;  // 0: a position's output; 1: a channel's global mean; 2: its global max
    // the tap pipeline: the address goes out one clock, the data comes back the next
    reg tap_valid, tap_inside;
    reg signed [15:0] tap_x;
    reg signed [7:0] tap_w;
    wire tap_in = tap_row >= 0 && tap_row < IH && tap_col >= 0 && tap_col < IW;
    // sequential divider: round(|num| / den) half away from zero, the sign restored
    reg [63:0] div_num, div_rem, div_quo, div_den;
    reg div_neg;
    reg [6:0] div_step;
    wire [63:0] div_try = {{div_rem[62:0], div_num[63 - div_step]}};

    wire signed [24:0] tap_product = (tap_x - IZP) * tap_w;  // 17-bit difference x int8 weight

    // a channel's last output is out: the next channel (and its group), else the next layer, else done
    task end_channel;
        begin
            if (oc + 1 < OC) begin
                oc <= oc + 1; c_addr <= c_addr + 1; w_oc <= w_oc + TAPS; state <= S_OC;
                if (og + 1 < OCG) og <= og + 1; else begin og <= 0; group_addr <= group_addr + GSTEP; end
            end else if (LAST != 0) begin busy <= 0; done <= 1; state <= S_IDLE; end
            else begin layer <= layer + 1; state <= S_LAYER; end
        end
    endtask

    task start_divide(input signed [63:0] value, input [31:0] divisor, input [3:0] next);
        begin
            div_step <= 0; div_den <= divisor; div_neg <= value < 0; div_rem <= 0; div_quo <= 0;
            div_num <= (value < 0 ? -value : value) + (divisor >> 1);
            after_div <= next; state <= S_DIV;
        end
    endtask

    always @(posedge clk) begin
        if (in_we && state == S_IDLE) act[in_addr] <= in_data;
        if (rst) begin
            state <= S_IDLE; busy <= 0; done <= 0; out_valid <= 0; layer <= 0;
        end else begin
            done <= 0;
            out_valid <= 0;
            case (state)
            S_IDLE: if (start) begin layer <= 0; busy <= 1; state <= S_LAYER; end
            S_LAYER: begin
                oc <= 0; og <= 0; group_addr <= SRC; w_oc <= WBASE; c_addr <= CBASE; out_idx <= 0;
                state <= S_OC;
            end
            S_OC: begin
                py <= 0; px <= 0; py_row <= -PT; py_row_addr <= -PT_IW; px_col <= -PL;
                gsum <= 0; gmax <= -(64'sd1 <<< 62); state <= S_POS;
            end
            S_POS: begin
                wy <= 0; wx <= 0; win_row <= py_row; win_row_addr <= py_row_addr; win_col <= px_col;
                pacc <= (POOL == 1) ? -(64'sd1 <<< 62) : 64'sd0; state <= S_WIN;
            end
            S_WIN: begin
                acc <= brom[c_addr];
                tap_row <= win_row; tap_row_addr <= win_row_addr; tap_col <= win_col;
                ci <= 0; ky <= 0; kx <= 0; ci_addr <= group_addr; w_addr <= w_oc; tap_valid <= 0;
                state <= S_MAC;
            end
            S_MAC: begin
                // the tap's two reads (an input outside is padding: a 0 after the zero point, never added)
                tap_inside <= tap_in;
                tap_x <= act[tap_in ? ci_addr + tap_row_addr + tap_col : 0];
                tap_w <= wrom[w_addr];
                tap_valid <= 1;
                if (tap_valid && tap_inside) acc <= acc + tap_product;
                w_addr <= w_addr + 1;
                if (kx + 1 < KW) begin kx <= kx + 1; tap_col <= tap_col + DW; end
                else begin
                    kx <= 0; tap_col <= win_col;
                    if (ky + 1 < KH) begin
                        ky <= ky + 1; tap_row <= tap_row + DH; tap_row_addr <= tap_row_addr + DH_IW;
                    end
                    else begin
                        ky <= 0; tap_row <= win_row; tap_row_addr <= win_row_addr;
                        if (ci + 1 < ICG) begin ci <= ci + 1; ci_addr <= ci_addr + IHW; end
                        else state <= S_DRAIN;
                    end
                end
            end
            S_DRAIN: begin
                if (tap_valid && tap_inside) acc <= acc + tap_product;
                tap_valid <= 0;
                state <= S_ACT;
            end
            S_ACT: begin
                // the activation's clamps, then the pool window's max or sum
                t = (RELU != 0 && acc < 0) ? 64'sd0 : acc;
                if (CEIL != 0 && t > drom[c_addr]) t = drom[c_addr];
                t = (POOL == 1) ? ((t > pacc) ? t : pacc) : pacc + t;
                pacc <= t;
                if (wx + 1 < PKW) begin wx <= wx + 1; win_col <= win_col + SW; state <= S_WIN; end
                else if (wy + 1 < PKH) begin
                    wx <= 0; wy <= wy + 1; win_col <= px_col; win_row <= win_row + SH;
                    win_row_addr <= win_row_addr + SH_IW; state <= S_WIN;
                end else if (POOL == 2) start_divide(t, POOLN, S_AFTER);
                else state <= S_AFTER;
            end
            S_DIV: begin
                // one quotient bit a clock, the most significant first
                if (div_step < 64) begin
                    div_rem <= (div_try >= div_den) ? div_try - div_den : div_try;
                    div_quo <= {{div_quo[62:0], div_try >= div_den}};
                    div_step <= div_step + 1;
                end else begin
                    pacc <= div_neg ? -$signed(div_quo) : $signed(div_quo);
                    state <= after_div;
                end
            end
            S_AFTER: begin
                if (GP != 0) begin
                    gsum <= gsum + pacc;
                    if (pacc > gmax) gmax <= pacc;
                    state <= S_NEXT;
                end else begin
                    rvalue <= pacc; gphase <= 0; state <= S_REQ1;
                end
            end
            S_NEXT: begin
                // the next pooled position, else the channel's end (or its global outputs)
                if (px + 1 < PW) begin px <= px + 1; px_col <= px_col + CSTEP; state <= S_POS; end
                else if (py + 1 < PH) begin
                    px <= 0; px_col <= -PL; py <= py + 1; py_row <= py_row + RSTEP;
                    py_row_addr <= py_row_addr + RSTEP_IW; state <= S_POS;
                end else if (GP == 0) end_channel;
                else if (GP == 2) begin rvalue <= gmax; gphase <= 2; state <= S_REQ1; end
                else start_divide(gsum, GN, S_GLOBAL);
            end
            S_GLOBAL: begin rvalue <= pacc; gphase <= 1; state <= S_REQ1; end
            S_REQ1: begin
                rq = qrom[c_addr];
                product <= rvalue * $signed({{1'b0, rq[31:8]}});  // 48 x 25 bits, < 2^63 by the grid's bounds
                state <= S_REQ2;
            end
            S_REQ2: begin
                // round(product / 2^n) half away from zero, the zero point, the output's range; outputs go out in
                // order: positions channel by channel, or a channel's global output(s) (avgmax: mean, then max)
                rq = qrom[c_addr];
                t = (product < 0) ? -((-product + (64'sd1 <<< (rq[7:0] - 1))) >>> rq[7:0])
                                  : ((product + (64'sd1 <<< (rq[7:0] - 1))) >>> rq[7:0]);
                t = t + OZP;
                if (t < OMIN) t = OMIN;
                if (t > OMAX) t = OMAX;
                if (LAST != 0) begin out_valid <= 1; out_index <= out_idx; out_data <= t[31:0]; end
                else act[DST + out_idx] <= t[15:0];
                out_idx <= out_idx + 1;
                if (gphase == 0) state <= S_NEXT;
                else if (gphase == 1 && GP == 3) begin rvalue <= gmax; gphase <= 2; state <= S_REQ1; end
                else end_channel;
            end
            endcase
        end
    end
endmodule
"""

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

__all__ = ["KEYWORDS", "VerilogFiles", "engine_cycles", "unsupported", "verilog_files", "verilog_name"]
