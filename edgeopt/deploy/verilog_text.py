"""The Verilog text of the integer engine (`deploy.verilog` computes what goes in: the layers' descriptors, the register
widths, the ROM depths, the lanes). Every register is as wide as the program needs; a descriptor field that is the
same in every layer is a constant, so synthesis removes what the program does not use (pooling, the divider, ...);
the others are registers loaded at the layer's start (S_LOAD).

The engine, per layer: per block of output channels (one a lane, all in one group), per pooled output position, per
pool-window position, the taps stream in one a clock, each lane multiplying the shared input by its own weight (a
ROM word holds the block's weights of one tap; the tap's address is a register stepped by the descriptor's jumps; the
operands are registered before the multipliers). Then a pass over the lanes the layer fills, a lane a clock: the
accumulators shift towards lane 0, whose value enters the lane pipeline (`LANE_DEPTH`: the bias, the clamps, the
pooling, a mean's rounding shift; pooled values and global sums wait between passes in small RAMs indexed by lane,
read a stage before they are used); at a position's last window each value goes on to the requantization pipeline
(or the channel's global sums). A mean over other than a power of two goes through the sequential divider, a lane at
a time. The requantization (the multiplier read and registered, the multiply, the sum of pieces with the rounding's
half chosen before it, the shift, the clamp compared before the zero point is added, the write) takes a value a clock,
`REQUANT_DEPTH` clocks deep; a layer's end waits for both pipelines to drain. Where layers take tanh or hardswish,
their units follow it (`NONLINEAR`), `NONLINEAR_DEPTH` clocks more. Loop ends are flags set a step ahead from
counts kept down to zero, and signs are sign bits, so no carry chain sits before the controller's next state: one
carry chain (or one multiplier) a clock is the aim.
"""
from __future__ import annotations

from dataclasses import dataclass

from edgeopt.cost.engine import LANE_DEPTH, NONLINEAR_DEPTH, REQUANT_DEPTH, NonlinearWidths, requant_dsps
from edgeopt.cost.fabric import MemoryPlan


@dataclass(frozen=True)
class Widths:
    """Bits of the engine's registers (each signed, one bit for the sign included)."""

    counter: int  # loop counters, rows, columns and activation addresses
    weight_addr: int
    channel_addr: int
    out_index: int
    acc: int  # a lane's accumulator: |sum of products| of any channel
    value: int  # a bias added, pooled sums and a channel's global sum
    requant: int  # a value the requantization takes (within the accumulators' range)
    divide: int  # the sequential divider's (0: none: every mean divides by a power of two)
    shift: int  # the requantization's shift amounts




def engine_text(name: str, fields: list[dict], depths: dict[str, int], act_words: int, in_size: int, out_size: int,
                ports: tuple[int, int], lanes: int, widths: Widths, shifts: tuple[int, int],
                plans: dict[str, MemoryPlan], images: dict[str, tuple[str, ...]],
                nonlinear: dict[str, NonlinearWidths]) -> str:
    """The engine module `name` (its header comment documents the interface); `plans` place the activation RAM
    (act), the weight and requantization ROMs (weights, requant) and tanh's table, whose bank images `images` name;
    `nonlinear` sizes the tanh and hardswish units (none: the engine has neither)."""
    reading = "!rst && state == S_MAC"  # the tap's two reads, at the address the loops are at
    memories = [Memory("acts", plans["act"], "tap_addr", reading,
                       write=("act_we", "act_wa", "act_wd")),
                Memory("wrom", plans["weights"], "w_addr", reading, images["weights"]),
                Memory("qrom", plans["requant"], "q0_c", "1'b1", images["requant"])]
    keys = list(fields[0])
    constant = {k for k in keys if len({f[k] for f in fields}) == 1}
    field_bits = {k: max(2, max(int(f[k]).bit_length() + 1 for f in fields)) for k in keys}
    decl = [f"    localparam signed [{field_bits[k]}-1:0] {k} = {_literal(fields[0][k], field_bits[k])};"
            for k in keys if k in constant]
    decl += [f"    reg signed [{field_bits[k]}-1:0] {k};" for k in keys if k not in constant]
    varying = [k for k in keys if k not in constant]
    case = []
    if varying:
        # registered: a layer's fields settle in S_LOAD, so no path starts at the layer's decode
        case = ["    always @(posedge clk) begin", "        case (layer)"]
        for index, f in enumerate(fields):
            case.append(f"            {index}: begin " + " ".join(f"{k} <= {_literal(f[k], field_bits[k])};"
                                                                  for k in varying) + " end")
        case.append("            default: begin " + " ".join(f"{k} <= 0;" for k in varying) + " end")
        case += ["        endcase", "    end"]
    w = widths
    per_lane = {
        "acc": "\n".join(f"    reg signed [{w.acc}-1:0] acc{j};" for j in range(lanes)),
        "products": "\n".join(f"    reg signed [23:0] product{j};" for j in range(lanes)),
        "multiply": "\n".join(f"        product{j} <= mac_x * $signed(mac_w[{8 * j + 7}:{8 * j}]);"
                              for j in range(lanes)),
        "clear": " ".join(f"acc{j} <= 0;" for j in range(lanes)),
        "mac": "\n".join(f"            acc{j} <= acc{j} + product{j};" for j in range(lanes)),
        "shift_acc": " ".join(f"acc{j} <= acc{j + 1};" for j in range(lanes - 1)),
    }
    low, high = shifts
    # without padding no tap falls outside the input: the test (and the rows it reads) is left out
    padded = any(f["PT"] or f["PL"] for f in fields)
    tap_in = "tap_row >= 0 && tap_row < IH && tap_col >= 0 && tap_col < IW" if padded else "1'b1"
    chunks = _pieces("qm_val", w.requant)
    pieces = len(chunks)
    product_bits = max(w.requant + 24, high + 1) + 1  # the rounding's half (2^(n-1)) and its carry fit
    product_bits = max(product_bits, low + 34)  # what is left after the common shift holds an int32 and its sign
    partial_decl = "\n".join(f"    reg signed [{min(product_bits, 18 + 24 + 1)}-1:0] q2_p{i};" for i in range(pieces))
    partial_mul = "\n".join(f"        q2_p{i} <= {c} * $signed({{1'b0, qm_m}});" for i, c in enumerate(chunks))
    partial_sum = _pieces_sum("q2_p", pieces)
    q4_bits = product_bits - low  # the requantized value's, before the zero point
    units, final, y_bits = "", FINAL.format(rw=q4_bits, ob=w.out_index), q4_bits
    if nonlinear:
        shifts_after = [int(f["N2"]) for f in fields if f["NL"]]
        units, unit_bits = nonlinear_text(nonlinear, w.out_index, plans, images, shifts_after)
        y_bits = max(q4_bits, unit_bits)
        final = FINAL_NONLINEAR.format(yb=y_bits, ob=w.out_index)
    return ENGINE.format(
        name=name, in_size=in_size, out_size=out_size, lanes=lanes, act_words=act_words,
        a_bits=ports[0], out_bits=ports[1],
        b_depth=depths["bias"], d_depth=depths["bound"], memories="\n".join(map(memory_text, memories)),
        word_bits=8 * lanes, layer_bits=max(1, (len(fields) - 1).bit_length()), decl="\n".join(decl),
        descriptor="\n".join(case), cb=w.counter, wb=w.weight_addr, chb=w.channel_addr, ob=w.out_index,
        vb=w.value, rb=w.requant, pb=product_bits, rw=q4_bits,
        partial_decl=partial_decl, partial_mul=partial_mul, partial_sum=partial_sum, db=max(2, w.divide),
        db_step=max(2, w.divide).bit_length() + 1,
        sb=w.shift, n_low=low, n_span_bits=max(1, (high - low).bit_length()),
        rq_depth=LANE_DEPTH + REQUANT_DEPTH + (NONLINEAR_DEPTH if nonlinear else 0), lane_depth=LANE_DEPTH,
        lane_bits=max(1, (lanes - 1).bit_length()), tap_in=tap_in, units=units, final=final,
        yb=y_bits, **per_lane)


def nonlinear_text(units: dict[str, NonlinearWidths], out_index_bits: int, plans: dict[str, MemoryPlan],
                   images: dict[str, tuple[str, ...]], shifts: list[int]) -> tuple[str, int]:
    """The tanh and hardswish units (`units`: the kinds the engine has, sized) after the requantization, and the
    bits of the value they hand on (before the output's zero point)."""
    x_bits = max(u.x_bits for u in units.values())
    value_bits = max(u.value_bits for u in units.values())
    hard = units.get("hardswish")
    factor_bits = hard.factor_bits if hard else 2
    chunks = _pieces("n4_val", value_bits)
    pieces = len(chunks)
    product_bits = max(value_bits + 25, max(shifts) + 1) + 1  # the rounding's half and its carry fit
    out_bits = product_bits - min(shifts)
    lines = {
        "xb": x_bits, "fb": factor_bits, "vb": value_bits, "pb": product_bits, "ob": out_index_bits,
        "ub": max(x_bits, 17) + 1, "yb": out_bits,
        # a piece's product is no wider than its operands (18 and 24 bits): one DSP slice
        "partial_decl": "\n".join(f"    reg signed [42-1:0] n5_p{i};" for i in range(pieces)),
        "partial_mul": "\n".join(f"        n5_p{i} <= {c} * $signed({{1'b0, M2[22:0]}});"
                                  for i, c in enumerate(chunks)),
        "partial_sum": _pieces_sum("n5_p", pieces),
        "tanh_decl": "", "tanh_step": "", "tanh_value": "0", "hard_decl": "", "hard_step": "", "hard_value": "0",
    }
    if "tanh" in units:
        from_table = Memory("trom", plans["tanh"], "n1_u[15:8]", "1'b1", images["tanh"])
        lines["tanh_decl"] = TANH_DECL.format(memory=memory_text(from_table))
        lines["tanh_step"] = ("        n2m_tq <= trom_q;\n"
                              "        n3_tp <= $signed(n2m_tq[15:0]) * $signed({1'b0, n2m_frac});"
                              " n3_t <= n2m_tq[31:16];")
        lines["tanh_value"] = "n3_t + ((n3_tp + 128 - (n3_tp[24] ? 1 : 0)) >>> 8)"
    if hard:
        a_chunks = _pieces("n2m_a", hard.x_bits)  # the widest x: tanh's is narrower
        lines["hard_decl"] = "\n".join(f"    reg signed [{18 + factor_bits}-1:0] n3_h{i};"
                                       for i in range(len(a_chunks)))
        lines["hard_step"] = "\n".join(f"        n3_h{i} <= {c} * n2m_b;" for i, c in enumerate(a_chunks))
        lines["hard_value"] = "n3_zero ? 0 : " + _pieces_sum("n3_h", len(a_chunks))
    return NONLINEAR.format(**lines), out_bits


def _pieces(signal: str, bits: int) -> list[str]:
    """`signal` (`bits` wide, signed) in pieces of 17 bits, each an operand of one DSP slice's multiplier: the low
    ones zero-extended, the top one signed with the rest of the bits."""
    count = requant_dsps(bits)
    low = [f"$signed({{1'b0, {signal}[{17 * i + 16}:{17 * i}]}})" for i in range(count - 1)]
    return [*low, f"$signed({signal}[{bits - 1}:{17 * (count - 1)}])"]


def _pieces_sum(products: str, count: int) -> str:
    """The sum of `count` products of 17-bit pieces (`products`0, 1, ...), each shifted to its piece's place."""
    return " + ".join(f"({products}{i} <<< {17 * i})" if i else f"{products}0" for i in range(count))


@dataclass(frozen=True)
class Memory:
    """One of the engine's memories as `memory_text` writes it: its registered read is the wire `<name>_q`."""

    name: str
    plan: MemoryPlan
    read_addr: str  # an expression of the engine's registers
    read_enable: str
    images: tuple[str, ...] = ()  # a ROM's $readmemh files, a bank each (row-major); none: a RAM
    write: tuple[str, str, str] | None = None  # a RAM's (enable, address, data)


def memory_text(memory: Memory) -> str:
    """The memory's banks (each one block RAM, `(* ram_style = "block" *)`, or one memory in logic or LUT-RAM), its
    registered read and the wire `<name>_q` choosing the bank the address fell in."""
    m, plan = memory.name, memory.plan
    kind = "rom_style" if memory.images else "ram_style"
    style = "block" if plan.block else "logic" if memory.images else "distributed"
    a_bits = max(1, (plan.depth - 1).bit_length())
    low = max(1, (plan.bank_depth - 1).bit_length()) if plan.rows > 1 else a_bits
    lines = [f"    wire [{a_bits}-1:0] {m}_ra = {memory.read_addr};"]
    if memory.write:
        lines.append(f"    wire [{a_bits}-1:0] {m}_wa = {memory.write[1]};")
    body, selects = [], []
    for r in range(plan.rows):
        words = min(plan.bank_depth, plan.depth - r * plan.bank_depth)
        parts = []
        for c in range(plan.columns):
            first, width = c * plan.bank_width, min(plan.bank_width, plan.width - c * plan.bank_width)
            bank = f"{m}_{r}_{c}"
            lines.append(f"    (* {kind} = \"{style}\" *) reg [{width}-1:0] {bank} [0:{words}-1];")
            lines.append(f"    reg [{width}-1:0] {bank}_q;")
            if memory.images:
                lines.append(f"    initial $readmemh(\"{memory.images[r * plan.columns + c]}\", {bank});")
            if memory.write:
                hit = f" && {m}_wa[{a_bits}-1:{low}] == {r}" if plan.rows > 1 else ""
                body.append(f"        if ({memory.write[0]}{hit}) {bank}[{m}_wa[{low}-1:0]] <= "
                            f"{memory.write[2]}[{first + width - 1}:{first}];")
            body.append(f"        if ({memory.read_enable}) {bank}_q <= {bank}[{m}_ra[{low}-1:0]];")
            parts.append(f"{bank}_q")
        selects.append("{" + ", ".join(reversed(parts)) + "}" if len(parts) > 1 else parts[0])
    if plan.rows > 1:
        lines.append(f"    reg [{a_bits - low}-1:0] {m}_row;")
        body.append(f"        if ({memory.read_enable}) {m}_row <= {m}_ra[{a_bits}-1:{low}];")
        choice = selects[-1]
        for r in range(plan.rows - 2, -1, -1):
            choice = f"{m}_row == {r} ? {selects[r]} : {choice}"
    else:
        choice = selects[0]
    return "\n".join([*lines, "    always @(posedge clk) begin", *body, "    end",
                      f"    assign {m}_q = {choice};"])


def _literal(value: int, bits: int) -> str:
    value = int(value)
    return f"-{bits}'sd{-value}" if value < 0 else f"{bits}'sd{value}"


ENGINE = """\
// {name}: edgeopt's integer engine (generated; do not edit). Verilog-2005, no vendor primitives.
// Interface: while idle (busy low), write the input (int8 or int16 values, sign-extended to 16 bits) with in_we,
// in_addr (0 .. {in_size} - 1) and in_data; pulse start for one clock; the {out_size} int32 logits come out one a clock
// with out_valid, out_index and out_data (in no fixed order: out_index says which); done is high for one clock after
// the last; busy is high from the clock after start until done.
// {lanes} lane(s): multiply-accumulates a clock, one per output channel of a block.
// ROMs ($readmemh): {name}_weights.hex (a word a tap: the block's int8 weights, lane 0 in the low byte; in more
// than one block RAM bank, {name}_weights_R_C.hex: bank row R of words, column C of bits), {name}_bias.hex (a
// channel's bias less the input zero point times its weights' sum: the multipliers take raw inputs),
// {name}_requant.hex (multiplier << 8 | shift; in banks as the weights), {name}_bound.hex (activation ceilings on the
// accumulators) and, where a layer takes tanh, {name}_tanh.hex (its Q15 table: entry i << 16 | the step to i + 1).
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
    // the activation RAM ({act_words} words), the weight and the requantization ROMs, each read a clock after its
    // address (their banks below); the bias and ceiling ROMs, read within a clock by the lane pass, are logic
    wire [15:0] acts_q;
    wire [{word_bits}-1:0] wrom_q;
    wire [31:0] qrom_q;
    (* rom_style = "logic" *) reg signed [{vb}-1:0] brom [0:{b_depth}-1];
    (* rom_style = "logic" *) reg signed [{vb}-1:0] drom [0:{d_depth}-1];
    initial begin
        $readmemh("{name}_bias.hex", brom);
        $readmemh("{name}_bound.hex", drom);
    end

    reg [{layer_bits}-1:0] layer;
{decl}
{descriptor}

    localparam S_IDLE = 0, S_LAYER = 1, S_BLOCK = 2, S_POS = 3, S_WIN = 4, S_MAC = 5, S_DRAIN = 6, S_LANE = 7,
               S_DIV = 8, S_LFIN = 9, S_NEXT = 10, S_GLANE = 11, S_GFIN = 12, S_FLUSH = 13, S_DRAIN2 = 14,
               S_LOAD = 15, S_DRAIN3 = 16, S_PWAIT = 17, S_DIVS = 18, S_GWAIT = 19;
    reg [4:0] state, after_div;
    // the block's first channel in its group, the lanes it fills, the lane the pass is at
    reg signed [{cb}-1:0] og, lv, lane;
    // the loops' counts left (down to 0): pooled column and row, window column and row, kernel column and row, input
    // channel, lanes of the block and lanes in use after this one; each loop's end is a flag set a step ahead from
    // its count (an equality, no carry chain before the state's next value)
    reg signed [{cb}-1:0] px_left, py_left, wx_left, wy_left, kx_left, ky_left, ci_left, lane_left, ok_left;
    reg signed [{cb}-1:0] rest, groups_left;  // the group's channels from og on (OCG - og), groups after this
    reg [4:0] flush;  // clocks left of a drain
    // where the loops are, kept by adding the descriptor's steps: rows and columns of the input (for the padding
    // test) and their addresses, at the pooled position, the window position and the tap; the tap's address is a
    // register, so no add sits before the activation RAM (a padding tap's address may be out of range: its read
    // is not used)
    reg signed [{cb}-1:0] py_row, py_row_addr, px_col, win_row, win_row_addr, win_col, tap_row, tap_col, tap_addr;
    reg signed [{cb}-1:0] group_addr;
    reg signed [{wb}-1:0] w_blk, w_addr;
    reg signed [{chb}-1:0] c_addr, lane_c;
    reg signed [{ob}-1:0] g_out, blk_out, pos_idx, lane_out;
{acc}
    // a lane's pooled value and its channel's global sum and max, between passes: small RAMs indexed by lane
    reg signed [{vb}-1:0] pacc [0:{lanes}-1];
    reg signed [{vb}-1:0] gsum [0:{lanes}-1];
    reg signed [{vb}-1:0] gmax [0:{lanes}-1];
    // the lane pipeline, a lane a clock: the pass over the lanes (S_LANE) adds lane 0's bias (p1), then come the
    // activation's clamps (p2), the pool window's max or sum (p3) and a mean's rounding shift (p4), then the
    // requantization or the channel's global sums; each stage carries its lane, channel, output index and where
    // in the pool window and the positions its pass was
    reg p1_v, p2_v, p3_v, p4_v;
    reg signed [{vb}-1:0] p1_s, p1_d, p2_t, p3_t, p4_t;
    // what the lane's pooled value and global sums were: read a stage early, so no lane-indexed read sits before
    // the add or compare (the lane's last write was a whole pass ago)
    reg signed [{vb}-1:0] p2_prev, p4_sum, p4_max;
    reg [{lane_bits}-1:0] p1_lane, p2_lane, p3_lane, p4_lane;
    reg p1_ok, p2_ok, p3_ok, p4_ok, p1_pos0, p2_pos0, p3_pos0, p4_pos0;
    reg p1_first, p2_first, p1_last, p2_last, p3_last, p1_div, p2_div, p3_div;
    reg signed [{chb}-1:0] p1_c, p2_c, p3_c, p4_c;
    reg signed [{ob}-1:0] p1_out, p2_out, p3_out, p4_out;
    reg signed [{vb}-1:0] clamped, pooled, g_sum, g_max;  // combinational temporaries within one clock
    // a channel's global output on its way to the requantization: the mean's rounding shift the clock after
    reg gh_v, gh_mean;
    reg signed [{vb}-1:0] gh_t;
    reg signed [{ob}-1:0] gh_idx;
    reg signed [{chb}-1:0] gh_c;
    reg div_more;  // whether a lane follows the one the divider takes
    wire DIVP = POOL == 2 && PK < 0;  // the layer's window means go through the divider
    reg gphase;  // a channel's avgmax outputs: 0 the mean, 1 the max
    // the tap pipeline: the address goes out one clock, the data comes back the next
    reg tap_valid, tap_inside;
    wire signed [15:0] tap_x = acts_q;
    wire [{word_bits}-1:0] tap_w = wrom_q;
    wire tap_in = {tap_in};
    // a tap outside the input is padding: the zero point, whose products the bias takes back (bias - IZP * sum w)
    wire signed [15:0] tap_xz = tap_inside ? tap_x : IZP;
    // a clock between the memories and the multipliers (the DSP slices' input registers), then the products
    reg mac_valid, product_valid;
    reg signed [15:0] mac_x;
    reg [{word_bits}-1:0] mac_w;
{products}
    // the pool window's first and last positions, kept beside its counts
    reg first_win, last_win;
    // whether the lane after this one is in the block, and this one is in use: kept beside `lane`
    reg lane_more, lane_ok;
    // whether another block follows in the group, another group, another pooled column, row: kept beside rest,
    // groups_left, px_left, py_left
    reg blk_more, group_more, col_more, row_more;
    // whether another tap follows in the kernel's row, column, the group's input channels, another position in
    // the pool window's row, column: kept beside their counts left
    reg kx_more, ky_more, ci_more, wx_more, wy_more;

    // round(v / 2^k), half away from zero (a mean over a power of two): `half` is 2^(k-1) (0 for k = 0) and `below`
    // one less (0 for k = 0), descriptor fields, so one add sits between the shifts
    function signed [{vb}-1:0] halve;
        input signed [{vb}-1:0] v;
        input [7:0] k;
        input signed [{vb}-1:0] half, below;
        begin
            halve = (v + (v[{vb}-1] ? below : half)) >>> k;
        end
    endfunction

    // sequential divider: round(|num| / den) half away from zero, a quotient bit a clock, the sign restored
    reg [{db}-1:0] div_num, div_rem, div_quo, div_den;
    reg div_neg;
    reg signed [{vb}-1:0] div_mag, div_in;
    reg [{db_step}-1:0] div_step;
    wire [{db}-1:0] div_try = {{div_rem[{db}-2:0], div_num[{db}-1]}};
    wire signed [{vb}-1:0] div_result = div_neg ? -$signed({{1'b0, div_quo}}) : $signed({{1'b0, div_quo}});

    // the requantization pipeline: value, channel, output index in; the channel's multiplier and shift read from
    // their ROM (q1) and registered (qm) before the multipliers
    reg q0_v, q1_v, qm_v, q2_v, q3_v, r_v, q4_v;
    reg signed [{rb}-1:0] q0_val, q1_val, qm_val;
    reg signed [{chb}-1:0] q0_c;
    reg signed [{ob}-1:0] q0_idx, q1_idx, qm_idx, q2_idx, q3_idx, r_idx, q4_idx;
    reg [22:0] qm_m;
    reg [{sb}-1:0] qm_n, q2_n;
    // the product in 17-bit pieces of the value (a DSP slice's multiplier each), summed the clock after
{partial_decl}
    reg [{sb}-1:0] q3_n;
    reg signed [{pb}-1:0] q3_p;
    reg signed [{rw}-1:0] r_low, q4_r;
    reg [{n_span_bits}-1:0] r_span;
    // the rounding's half, 2^(n-1) (less one for a negative value: half away from zero), ready with the product: the
    // product's sign is the value's (the multiplier is positive; a zero one rounds as positive), so the sum is one
    // carry chain, and the half is a shifted bit or mask
    reg q2_neg;
    reg signed [{pb}-1:0] q3_half;
    wire signed [{pb}-1:0] q3_rounded = q3_p + q3_half;
    wire signed [{rw}-1:0] q_shifted = r_low >>> r_span;
{units}
{final}
    // the output's clamps compared before the zero point is added (YLO = OMIN - OZP, YHI = OMAX - OZP), the
    // compares and the add side by side; the clamp the clock after
    wire signed [{yb}:0] q_zp = y_r + OZP;
    reg z_v, z_low, z_high;
    reg signed [{ob}-1:0] z_idx;
    reg signed [31:0] z_zp;
    wire signed [31:0] q_out = z_low ? OMIN : z_high ? OMAX : z_zp;
    // one write port on the activation RAM: the input while idle, a layer's outputs (a clock after the clamp)
    // while busy
    reg o_v;
    reg signed [{ob}-1:0] o_idx;
    reg signed [15:0] o_out;
    wire q_write = o_v && LAST == 0;
    wire act_we = q_write || (in_we && state == S_IDLE);
    wire [{cb}-1:0] act_wa = q_write ? DST + o_idx : in_addr;
    wire signed [15:0] act_wd = q_write ? o_out : in_data;

{memories}

    always @(posedge clk) begin
        q1_v <= q0_v && !rst; q1_val <= q0_val; q1_idx <= q0_idx;
        qm_v <= q1_v && !rst; qm_val <= q1_val; qm_idx <= q1_idx; qm_m <= qrom_q[30:8]; qm_n <= qrom_q[{sb}-1:0];
        q2_v <= qm_v && !rst; q2_idx <= qm_idx; q2_n <= qm_n; q2_neg <= qm_val[{rb}-1] && qm_m != 0;
{partial_mul}
        q3_v <= q2_v && !rst; q3_idx <= q2_idx; q3_n <= q2_n; q3_p <= {partial_sum};
        q3_half <= q2_neg ? (~(-{pb}'sd1 <<< q2_n)) >>> 1 : ({pb}'sd1 <<< q2_n) >>> 1;
        // rounded, and shifted by what every channel shifts (wiring); then the rest of each channel's shift
        r_v <= q3_v && !rst; r_idx <= q3_idx; r_low <= q3_rounded >>> {n_low}; r_span <= q3_n - {n_low};
        q4_v <= r_v && !rst; q4_idx <= r_idx; q4_r <= q_shifted;
        z_v <= y_v && !rst; z_idx <= y_idx; z_low <= y_r < YLO; z_high <= y_r > YHI; z_zp <= q_zp[31:0];
        out_valid <= z_v && LAST != 0; out_index <= z_idx; out_data <= q_out;
        o_v <= z_v && !rst; o_idx <= z_idx; o_out <= q_out[15:0];
    end

    task push(input signed [{vb}-1:0] value, input signed [{ob}-1:0] index, input signed [{chb}-1:0] channel);
        begin
            q0_v <= 1; q0_val <= value; q0_c <= channel; q0_idx <= index;
        end
    endtask

    task start_divide(input signed [{vb}-1:0] value, input [{db}-1:0] divisor, input [4:0] next);
        begin
            // the value and divisor are taken this clock, the numerator the next (S_DIVS)
            div_in <= value; div_den <= divisor; after_div <= next; state <= S_DIVS;
        end
    endtask

    // the block's first lane, the next lane: `lane` and the flags kept beside it
    task lane_first;
        begin
            lane <= 0; lane_left <= LE - 1; lane_more <= LE != 1; ok_left <= lv - 1; lane_ok <= 1;
        end
    endtask

    task lane_next;
        begin
            lane <= lane + 1; lane_left <= lane_left - 1; lane_more <= lane_left != 1;
            ok_left <= ok_left - 1; lane_ok <= lane_ok && ok_left != 0;
        end
    endtask

    // the next block of channels (in this group, else the next group), else the layer's end
    task end_block;
        begin
            if (blk_more) begin
                og <= og + LE; rest <= rest - LE; c_addr <= c_addr + LE; blk_out <= blk_out + LOPC;
                w_blk <= w_blk + TAPS;
                state <= S_BLOCK;
            end else if (group_more) begin
                og <= 0; rest <= OCG; groups_left <= groups_left - 1;
                c_addr <= c_addr + OCG - og; g_out <= g_out + GOUT;
                blk_out <= g_out + GOUT; group_addr <= group_addr + GSTEP; w_blk <= w_blk + TAPS; state <= S_BLOCK;
            end else begin flush <= {rq_depth} - 1; state <= S_FLUSH; end
        end
    endtask

    // the lanes' pass is issued: the next pool-window position, else the pooled position's end
    task pass_end;
        begin
            if (!last_win) begin
                first_win <= 0;
                if (wx_more) begin
                    wx_left <= wx_left - 1; wx_more <= wx_left != 1; win_col <= win_col + SW;
                    last_win <= wx_left == 1 && !wy_more;
                end
                else begin
                    wx_left <= PKW - 1; wx_more <= PKW != 1; wy_left <= wy_left - 1; wy_more <= wy_left != 1;
                    win_col <= px_col; win_row <= win_row + SH;
                    last_win <= PKW == 1 && wy_left == 1;
                    win_row_addr <= win_row_addr + SH_IW;
                end
                state <= S_WIN;
            end else state <= S_NEXT;
        end
    endtask

    task global_out(input signed [{vb}-1:0] value, input signed [{ob}-1:0] index, input mean);
        begin
            gh_v <= 1; gh_t <= value; gh_idx <= index; gh_c <= lane_c; gh_mean <= mean;
        end
    endtask

    task global_step;
        begin
            gphase <= 0; lane_c <= lane_c + 1; lane_out <= lane_out + OPC;
            if (lane_more) begin lane_next; state <= S_GLANE; end
            else end_block;
        end
    endtask

    always @(posedge clk) begin
        // the multiply-accumulate, three clocks behind the reads: the operands, the products, then the sums (never
        // in a clock that clears or shifts the accumulators below)
        mac_valid <= tap_valid; mac_x <= tap_xz; mac_w <= tap_w;
        product_valid <= mac_valid;
{multiply}
        if (product_valid) begin
{mac}
        end
        q0_v <= 0;
        // the lane pipeline (S_LANE feeds p1; S_LFIN hands p4 a mean the divider took)
        p1_v <= 0; p2_v <= p1_v && !rst; p3_v <= p2_v && !rst; p4_v <= p3_v && p3_last && !p3_div && !rst;
        if (p1_v) begin
            clamped = p1_s;
            if (RELU != 0 && clamped[{vb}-1]) clamped = 0;
            if (CEIL != 0 && clamped > p1_d) clamped = p1_d;
            p2_t <= clamped; p2_lane <= p1_lane; p2_ok <= p1_ok; p2_c <= p1_c; p2_out <= p1_out;
            p2_pos0 <= p1_pos0; p2_first <= p1_first; p2_last <= p1_last; p2_div <= p1_div;
            p2_prev <= pacc[p1_lane];
        end
        if (p2_v) begin
            pooled = p2_t;
            if (!p2_first) begin
                if (POOL == 1 && p2_prev > pooled) pooled = p2_prev;
                if (POOL == 2) pooled = p2_prev + pooled;
            end
            pacc[p2_lane] <= pooled;
            p3_t <= pooled; p3_lane <= p2_lane; p3_ok <= p2_ok; p3_c <= p2_c; p3_out <= p2_out;
            p3_pos0 <= p2_pos0; p3_last <= p2_last; p3_div <= p2_div;
        end
        if (p3_v) begin
            p4_t <= POOL == 2 && PK >= 0 ? halve(p3_t, PK, PK_HALF, PK_BELOW) : p3_t;
            p4_lane <= p3_lane; p4_ok <= p3_ok; p4_c <= p3_c; p4_out <= p3_out; p4_pos0 <= p3_pos0;
            p4_sum <= gsum[p3_lane]; p4_max <= gmax[p3_lane];
        end
        if (p4_v) begin
            // a value at its position's last window: requantized, or into its channel's global sums
            if (GP == 0) begin if (p4_ok) push(p4_t, p4_out, p4_c); end
            else begin
                g_sum = p4_pos0 ? p4_t : p4_sum + p4_t;
                g_max = (p4_pos0 || p4_t > p4_max) ? p4_t : p4_max;
                gsum[p4_lane] <= g_sum; gmax[p4_lane] <= g_max;
            end
        end
        gh_v <= 0;
        if (gh_v) push(gh_mean ? halve(gh_t, GK, GK_HALF, GK_BELOW) : gh_t, gh_idx, gh_c);
        if (rst) begin
            state <= S_IDLE; busy <= 0; done <= 0; layer <= 0;
        end else begin
            done <= 0;
            case (state)
            S_IDLE: if (start) begin layer <= 0; busy <= 1; state <= S_LOAD; end
            S_LOAD: state <= S_LAYER;  // the layer's descriptor is read into its registers
            S_LAYER: begin
                og <= 0; rest <= OCG; groups_left <= GROUPS - 1; group_addr <= SRC; w_blk <= WBASE;
                c_addr <= CBASE; g_out <= 0; blk_out <= 0;
                state <= S_BLOCK;
            end
            S_BLOCK: begin
                lv <= rest < LE ? rest : LE;
                blk_more <= rest > LE; group_more <= groups_left != 0;
                px_left <= PW - 1; col_more <= PW != 1; py_left <= PH - 1; row_more <= PH != 1;
                py_row <= -PT; py_row_addr <= -PT_IW; px_col <= -PL; pos_idx <= 0;
                state <= S_POS;
            end
            S_POS: begin
                wy_left <= PKH - 1; wx_left <= PKW - 1;
                win_row <= py_row; win_row_addr <= py_row_addr; win_col <= px_col;
                first_win <= 1; last_win <= PKW == 1 && PKH == 1;
                wx_more <= PKW != 1; wy_more <= PKH != 1;
                state <= S_WIN;
            end
            S_WIN: begin
                {clear}
                tap_row <= win_row; tap_col <= win_col; tap_addr <= group_addr + win_row_addr + win_col;
                ci_left <= ICG - 1; ky_left <= KH - 1; kx_left <= KW - 1;
                ci_more <= ICG != 1; ky_more <= KH != 1; kx_more <= KW != 1;
                w_addr <= w_blk; tap_valid <= 0;
                lane_first; lane_c <= c_addr; lane_out <= blk_out + pos_idx;
                state <= S_MAC;
            end
            S_MAC: begin
                // the tap's two reads (an input outside is padding: a 0 after the zero point, never added)
                tap_inside <= tap_in;
                tap_valid <= 1;
                w_addr <= w_addr + 1;
                if (kx_more) begin
                    kx_left <= kx_left - 1; kx_more <= kx_left != 1; tap_col <= tap_col + DW; tap_addr <= tap_addr + DW;
                end
                else begin
                    kx_left <= KW - 1; kx_more <= KW != 1; tap_col <= win_col;
                    if (ky_more) begin
                        ky_left <= ky_left - 1; ky_more <= ky_left != 1; tap_row <= tap_row + DH;
                        tap_addr <= tap_addr + ROW_JUMP;
                    end
                    else begin
                        ky_left <= KH - 1; ky_more <= KH != 1; tap_row <= win_row; tap_addr <= tap_addr + CHANNEL_JUMP;
                        if (ci_more) begin ci_left <= ci_left - 1; ci_more <= ci_left != 1; end
                        else state <= S_DRAIN;
                    end
                end
            end
            S_DRAIN: begin
                // the last tap's product, then its sum
                tap_valid <= 0;
                state <= S_DRAIN2;
            end
            S_DRAIN2: state <= S_DRAIN3;
            S_DRAIN3: state <= S_LANE;
            S_LANE: begin
                // lane 0's accumulator into the lane pipeline, the accumulators shifting towards lane 0; a mean
                // over other than a power of two waits for the divider, a lane at a time
                p1_v <= 1; p1_s <= acc0 + brom[lane_c]; p1_d <= drom[lane_c]; p1_lane <= lane[{lane_bits}-1:0];
                p1_ok <= lane_ok; p1_c <= lane_c; p1_out <= lane_out; p1_pos0 <= pos_idx == 0;
                p1_first <= first_win; p1_last <= last_win; p1_div <= last_win && lane_ok && DIVP;
                {shift_acc}
                lane_c <= lane_c + 1; lane_out <= lane_out + OPC; div_more <= lane_more;
                if (lane_more) lane_next;
                if (last_win && lane_ok && DIVP) state <= S_PWAIT;
                else if (!lane_more) pass_end;
            end
            S_PWAIT: if (p3_v) start_divide(p3_t, POOLN, S_LFIN);  // the lane's pooled sum, three clocks on
            S_DIVS: begin
                // the magnitude first, in a signed register: mixed with the unsigned divisor, a negative value
                // would not be sign-extended
                div_mag = div_in[{vb}-1] ? -div_in : div_in;
                div_step <= 0; div_neg <= div_in[{vb}-1]; div_rem <= 0; div_quo <= 0;
                div_num <= $unsigned(div_mag) + (div_den >> 1);
                state <= S_DIV;
            end
            S_DIV: begin
                // one quotient bit a clock, the most significant first
                if (div_step < {db}) begin
                    div_rem <= (div_try >= div_den) ? div_try - div_den : div_try;
                    div_quo <= {{div_quo[{db}-2:0], div_try >= div_den}};
                    div_num <= div_num << 1;
                    div_step <= div_step + 1;
                end else state <= after_div;
            end
            S_LFIN: begin
                // the mean goes on as the lane's p4 (which took the rest of the lane's p3 when the divider started)
                p4_v <= 1; p4_t <= div_result;
                if (div_more) state <= S_LANE; else pass_end;
            end
            S_NEXT: begin
                // the next pooled position, else the channel block's end (or its global outputs)
                if (col_more) begin
                    px_left <= px_left - 1; col_more <= px_left != 1; px_col <= px_col + CSTEP; pos_idx <= pos_idx + 1;
                    state <= S_POS;
                end
                else if (row_more) begin
                    px_left <= PW - 1; col_more <= PW != 1; py_left <= py_left - 1; row_more <= py_left != 1;
                    px_col <= -PL; py_row <= py_row + RSTEP;
                    py_row_addr <= py_row_addr + RSTEP_IW; pos_idx <= pos_idx + 1; state <= S_POS;
                end else if (GP == 0) end_block;
                else begin
                    // the channels' global outputs, once the lane pipeline has added the last values
                    lane_first; lane_c <= c_addr; lane_out <= blk_out; gphase <= 0; flush <= {lane_depth} - 1;
                    state <= S_GWAIT;
                end
            end
            S_GWAIT: begin
                if (flush != 0) flush <= flush - 1; else state <= S_GLANE;
            end
            S_GLANE: begin
                // a channel's global outputs, lane by lane: the mean (avg, avgmax), the max (max, avgmax)
                if (GP == 2 || gphase) begin
                    if (lane_ok) global_out(gmax[lane], lane_out + (GP == 3 ? 1 : 0), 0);
                    global_step;
                end else if (!lane_ok) begin
                    if (GP == 3) gphase <= 1; else global_step;
                end else if (GK >= 0) begin
                    global_out(gsum[lane], lane_out, 1);
                    if (GP == 3) gphase <= 1; else global_step;
                end else start_divide(gsum[lane], GN, S_GFIN);
            end
            S_GFIN: begin
                push(div_result, lane_out, lane_c);
                if (GP == 3) begin gphase <= 1; state <= S_GLANE; end else global_step;
            end
            S_FLUSH: begin
                // the requantization drains: then the next layer reads what this one wrote
                if (flush != 0) flush <= flush - 1;
                else if (LAST != 0) begin busy <= 0; done <= 1; state <= S_IDLE; end
                else begin layer <= layer + 1; state <= S_LOAD; end
            end
            endcase
        end
    end
endmodule
"""


FINAL = """\
    // what the output takes: the requantized value (before the zero point)
    wire y_v = q4_v;
    wire signed [{ob}-1:0] y_idx = q4_idx;
    wire signed [{rw}-1:0] y_r = q4_r;"""

FINAL_NONLINEAR = """\
    // what the output takes: a tanh or hardswish layer's value from its unit, any other layer's requantized value
    wire y_v = NL != 0 ? n8_v : q4_v;
    wire signed [{ob}-1:0] y_idx = NL != 0 ? n8_idx : q4_idx;
    wire signed [{yb}-1:0] y_r = NL != 0 ? n8_y : q4_r;"""

NONLINEAR = """\
    // tanh and hardswish (layers with NL != 0, never the last): the requantized value is on the layer's fine grid,
    // clamped to +-LIM; tanh reads its table (an entry and the step to the next, interpolated on the low 8 bits),
    // hardswish multiplies x (x + 3) in 17-bit pieces of x (0 below -3, 2 x 3 x above 3); then the value is
    // requantized to the output (M2, N2: the rounding's half chosen by the value's sign before the product, the
    // add, then the shift). Nine clocks, a value a clock.
    reg n1_v, n2_v, n2m_v, n3_v, n4_v, n5_v, n6_v, n7_v, n8_v;
    reg signed [{ob}-1:0] n1_idx, n2_idx, n2m_idx, n3_idx, n4_idx, n5_idx, n6_idx, n7_idx, n8_idx;
    reg signed [{xb}-1:0] n1_x, n2_a, n2m_a;
    reg signed [{fb}-1:0] n2_b, n2m_b;
    reg n2_zero, n2m_zero, n3_zero;
    reg [7:0] n2_frac, n2m_frac;
    wire signed [{ub}-1:0] n1_u = n1_x + 32768;
{tanh_decl}
{hard_decl}
    reg signed [{vb}-1:0] n4_val;
{partial_decl}
    reg n5_neg;
    reg signed [{pb}-1:0] n6_p, n6_half, n7_r;
    reg signed [{yb}-1:0] n8_y;
    always @(posedge clk) begin
        n1_v <= q4_v && NL != 0 && !rst; n1_idx <= q4_idx;
        n1_x <= q4_r < -LIM - 1 ? -LIM - 1 : q4_r > LIM ? LIM : q4_r;
        n2_v <= n1_v && !rst; n2_idx <= n1_idx; n2_a <= n1_x; n2_frac <= n1_u[7:0];
        n2_b <= n1_x >= THREE ? 2 * THREE : n1_x + THREE; n2_zero <= (n1_x <= -THREE);
        // the operands (and tanh's table entry) registered before the multipliers
        n2m_v <= n2_v && !rst; n2m_idx <= n2_idx; n2m_a <= n2_a; n2m_b <= n2_b; n2m_zero <= n2_zero;
        n2m_frac <= n2_frac;
        n3_v <= n2m_v && !rst; n3_idx <= n2m_idx; n3_zero <= n2m_zero;
{tanh_step}
{hard_step}
        n4_v <= n3_v && !rst; n4_idx <= n3_idx; n4_val <= NL == 1 ? {tanh_value} : {hard_value};
        n5_v <= n4_v && !rst; n5_idx <= n4_idx; n5_neg <= n4_val[{vb}-1] && M2 != 0;
{partial_mul}
        n6_v <= n5_v && !rst; n6_idx <= n5_idx; n6_p <= {partial_sum};
        n6_half <= n5_neg ? (~(-{pb}'sd1 <<< N2)) >>> 1 : ({pb}'sd1 <<< N2) >>> 1;
        n7_v <= n6_v && !rst; n7_idx <= n6_idx; n7_r <= n6_p + n6_half;
        n8_v <= n7_v && !rst; n8_idx <= n7_idx; n8_y <= n7_r >>> N2;
    end"""

TANH_DECL = """\
    wire [31:0] trom_q;
{memory}
    reg [31:0] n2m_tq;
    reg signed [24:0] n3_tp;
    reg signed [15:0] n3_t;"""
