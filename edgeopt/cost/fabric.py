"""What the Verilog engine takes on an FPGA, before training: its memories (each in block RAM or in logic, by one
rule the export follows too, so block RAMs and DSP slices are counted, not guessed) and its LUTs and flip-flops (a
linear model over the engine's shape: lanes, register widths, layers, the pooling and divider it needs), fitted to
yosys's synthesis by `edgeopt calibrate --runtime yosys`.

A memory of at least BLOCK_MIN_BITS goes into block RAM, split into banks that are each one block (the family's
block in the shape that needs the fewest), so yosys maps each bank to exactly one block; smaller ones stay in logic
(ROMs) or LUT-RAM (the activation RAM)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from edgeopt.cost.engine import EngineEstimate, EngineLayer, format_value_bits
from edgeopt.figures import CALIBRATED, Provenance
from edgeopt.graph.ir import Graph
from edgeopt.profiles.schema import FABRIC_TERMS, HardwareProfile

BLOCK_MIN_BITS = 2048  # in logic a ROM this size takes ~50 LUTs: a block RAM is cheaper in the budgets
# the shapes (depth, width) one block RAM takes: the engine's banks are RAMB18E1 (xc7) and DP16KD (ECP5) shaped; an
# iCE40 maps each bank onto its SB_RAM40_4K shapes
BANK_SHAPES = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))
BLOCK_SHAPES = {"xc7": BANK_SHAPES, "ecp5": BANK_SHAPES, "ice40": ((2048, 2), (1024, 4), (512, 8), (256, 16))}
ACT_BITS = 16  # the activation RAM's words: int8 and int16 values alike
REQUANT_BITS = 32  # a channel's requantization word: multiplier << 8 | shift
TANH_WORDS, TANH_WORD_BITS = 256, 32  # tanh's table: an entry and the step to the next (Q15) in each word


@dataclass(frozen=True)
class MemoryPlan:
    """One memory of the engine and where it goes: block RAM banks of `bank_depth` x `bank_width` (each one block),
    or logic."""

    depth: int
    width: int
    block: bool
    bank_depth: int
    bank_width: int

    @property
    def rows(self) -> int:
        return -(-self.depth // self.bank_depth)

    @property
    def columns(self) -> int:
        return -(-self.width // self.bank_width)

    def blocks(self, family: str = "xc7") -> int:
        """Block RAMs on `family`: a bank each (on iCE40, each bank in its fewest SB_RAM40_4K)."""
        if not self.block:
            return 0
        per_bank = min(-(-self.bank_depth // d) * -(-self.bank_width // w) for d, w in BLOCK_SHAPES[family])
        return self.rows * self.columns * per_bank

    @property
    def logic_bits(self) -> int:
        return 0 if self.block else self.depth * self.width


def plan_memory(depth: int, width: int) -> MemoryPlan:
    """Where a `depth` x `width` memory goes: block RAM banks of the shape needing fewest blocks (the deeper on a
    tie: fewer banks to choose between), or logic below BLOCK_MIN_BITS."""
    depth, width = max(1, depth), max(1, width)
    if depth * width < BLOCK_MIN_BITS:
        return MemoryPlan(depth, width, False, depth, width)
    _, _, bank_depth, bank_width = min((-(-depth // d) * -(-width // w), -d, d, w) for d, w in BANK_SHAPES)
    return MemoryPlan(depth, width, True, min(bank_depth, 1 << (depth - 1).bit_length()), bank_width)


@dataclass(frozen=True)
class EngineMemories:
    """The engine's memories that may go into block RAM (the bias and ceiling ROMs are read within a clock: logic)."""

    act: MemoryPlan  # every activation buffer: the input, then each layer's output
    weights: MemoryPlan  # a word a tap a block: the block's int8 weights
    requant: MemoryPlan  # a word a channel
    tanh: MemoryPlan | None = None  # tanh's table, where a layer takes tanh

    def blocks(self, family: str) -> int:
        plans = (self.act, self.weights, self.requant, self.tanh)
        return sum(plan.blocks(family) for plan in plans if plan is not None)


def engine_memories(act_words: int, weight_words: int, channels: int, lanes: int,
                    tanh: bool = False) -> EngineMemories:
    """The plans of an engine with `act_words` activation words, `weight_words` weight words of `lanes` bytes and
    `channels` output channels in all (a lane's word of padding past the last), and tanh's table if `tanh`."""
    return EngineMemories(plan_memory(act_words, ACT_BITS), plan_memory(weight_words, 8 * lanes),
                          plan_memory(channels + lanes, REQUANT_BITS),
                          plan_memory(TANH_WORDS, TANH_WORD_BITS) if tanh else None)


TERMS = FABRIC_TERMS  # the terms the LUT and flip-flop counts are linear in, a coefficient each
# fitted to yosys 0.23 `synth_xilinx -family xc7` of 114 engines: the calibration suite (`fabric_suite`, less one model
# whose requantization is out of range) at 1, 4 and 16 lanes (2026-12-08): LUTs within 4.6% on average (93% within
# +-10%), flip-flops 2.1% (100%); `calibrate --runtime yosys` fits a profile's own coefficients the same way
DEFAULT_LUTS = {"base": 0.0, "lane": 0.0, "lane_acc_bit": 1.067, "lane_value_bit": 0.1094, "layer_bit": 0.0,
                "value_bit": 30.09, "padding_bit": 0.0, "group_bit": 17.03, "max_pool_bit": 6.501,
                "avg_pool_bit": 8.928, "global_bit": 5.369, "divide_bit": 10.88, "logic_rom_bit": 0.02469,
                "tanh": 642.9, "hardswish": 800}
DEFAULT_FFS = {"base": 0.0, "lane": 13.19, "lane_acc_bit": 0.5207, "lane_value_bit": 0.0, "layer_bit": 1.932,
               "value_bit": 24.05, "padding_bit": 5.679, "group_bit": 6.752, "max_pool_bit": 2.407,
               "avg_pool_bit": 3.113, "global_bit": 0.6199, "divide_bit": 3.337, "logic_rom_bit": 0.002524,
               "tanh": 314.6, "hardswish": 481.5}


@dataclass(frozen=True)
class FabricModel:
    """Coefficients of the LUT and flip-flop counts over TERMS, and where they come from."""

    luts: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_LUTS))
    ffs: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_FFS))
    luts_from: Provenance = Provenance()
    ffs_from: Provenance = Provenance()


def fabric_model(profile: HardwareProfile) -> FabricModel:
    """The profile's fitted coefficients (calibrated, with the fit's error), else edgeopt's defaults (estimated)."""
    fabric = profile.fabric
    if fabric is None or fabric.luts is None or fabric.ffs is None or fabric.fit is None:
        return FabricModel()
    return FabricModel(dict(fabric.luts), dict(fabric.ffs), Provenance(CALIBRATED, fabric.fit.luts_fit_error),
                       Provenance(CALIBRATED, fabric.fit.ffs_fit_error))


@dataclass(frozen=True)
class FabricShape:
    """What the LUT and flip-flop counts depend on, from the engine's layers and the formats."""

    lanes: int
    layers: int
    acc_bits: int
    value_bits: int
    counter_bits: int
    divide_bits: int
    padded: bool
    grouped: bool
    max_pools: bool
    avg_pools: bool
    global_pools: bool
    logic_rom_bits: int
    nonlinear: frozenset[str] = frozenset()  # the kinds of tanh and hardswish units

    def terms(self) -> dict[str, float]:
        """Each of TERMS' values for this engine."""
        lane_values = self.max_pools or self.avg_pools or self.global_pools
        return {"base": 1.0, "lane": self.lanes, "lane_acc_bit": self.lanes * self.acc_bits,
                "lane_value_bit": self.lanes * self.value_bits * lane_values,
                "layer_bit": (self.layers - 1) * self.counter_bits, "value_bit": self.value_bits,
                "padding_bit": self.counter_bits * self.padded, "group_bit": self.counter_bits * self.grouped,
                "max_pool_bit": self.value_bits * self.max_pools, "avg_pool_bit": self.value_bits * self.avg_pools,
                "global_bit": self.value_bits * self.global_pools, "divide_bit": self.divide_bits,
                "logic_rom_bit": self.logic_rom_bits, "tanh": float("tanh" in self.nonlinear),
                "hardswish": float("hardswish" in self.nonlinear)}


@dataclass(frozen=True)
class FabricEstimate:
    """The engine's cells on the profile's family before training: block RAMs and DSP slices counted from its
    memories and lanes, LUTs and flip-flops from the model (estimated, or calibrated with the fit's error)."""

    family: str
    lanes: int
    luts: float
    ffs: float
    dsps: int
    brams: int
    luts_from: Provenance
    ffs_from: Provenance

    def to_dict(self) -> dict:
        return {"family": self.family, "lanes": self.lanes, "luts": self.luts, "ffs": self.ffs, "dsps": self.dsps,
                "brams": self.brams, "provenance": {"luts": self.luts_from.to_dict(), "ffs": self.ffs_from.to_dict(),
                                                    "dsps": Provenance().to_dict(), "brams": Provenance().to_dict()}}


def act_words(input_elements: int, layers: Sequence[EngineLayer]) -> int:
    """The activation RAM's words: the input, then every layer's output but the last's (the logits go out)."""
    return max(1, input_elements + sum(layer.output_elements for layer in layers[:-1]))


def weight_words(layers: Sequence[EngineLayer], lanes: int) -> int:
    """Weight ROM words: per layer, per group, per block of lanes, a word a tap."""
    return sum(layer.groups * -(-max(1, layer.out_channels // layer.groups) // layer.lanes_used(lanes)) * layer.taps
               for layer in layers)


def fabric_shape(layers: Sequence[EngineLayer], lanes: int, input_elements: int, input_bits: int,
                 memories: EngineMemories, divide_bits: int) -> FabricShape:
    """The shape of the engine for `layers` at `lanes` lanes, its widths bounded from the formats."""
    taps = max((layer.taps for layer in layers), default=1)
    acc_bits = (taps * 127 * 2 ** (input_bits - 1)).bit_length() + 1
    factor = max([layer.window for layer in layers] + [layer.positions for layer in layers if layer.global_outputs])
    value_bits = format_value_bits(taps * factor, input_bits)  # a pooled sum or a global sum, bias included
    geometry = max([input_elements, lanes] + [layer.out_channels * layer.positions for layer in layers])
    counter_bits = (2 * max(memories.act.depth, geometry)).bit_length() + 1
    channels = sum(layer.out_channels for layer in layers)
    ceilings = any(layer.ceiling for layer in layers)
    rom_bits = (channels + lanes) * value_bits * (1 + ceilings)
    rom_bits += memories.weights.logic_bits + memories.requant.logic_bits
    return FabricShape(lanes, len(layers), acc_bits, value_bits, counter_bits, divide_bits,
                       any(layer.padded for layer in layers), any(layer.groups > 1 for layer in layers),
                       any(layer.window > 1 and not layer.average for layer in layers),
                       any(layer.window > 1 and layer.average for layer in layers),
                       any(layer.global_outputs for layer in layers), rom_bits,
                       frozenset(layer.nonlinear for layer in layers if layer.nonlinear))


def fabric_inputs(graph: Graph, profile: HardwareProfile) -> tuple[int, int]:
    """(the model's input elements, the bits of the activations the engine reads) for the fabric model."""
    source = graph.tensors.get(graph.inputs[0]) if graph.inputs else None
    return (source.numel if source is not None and source.shape else 1,
            16 if profile.activation_format == "int16" else 8)


def chosen_memories(engine: EngineEstimate, input_elements: int) -> EngineMemories:
    """The memories of the engine the cost model chose (its layers at its lanes)."""
    return engine_memories(act_words(input_elements, engine.layers), weight_words(engine.layers, engine.lanes),
                           sum(layer.out_channels for layer in engine.layers), engine.lanes,
                           any(layer.nonlinear == "tanh" for layer in engine.layers))


def engine_terms(engine: EngineEstimate, input_elements: int, input_bits: int) -> tuple[dict[str, float],
                                                                                         EngineMemories]:
    """TERMS' values for the engine the cost model chose, and its memories."""
    memories = chosen_memories(engine, input_elements)
    shape = fabric_shape(engine.layers, engine.lanes, input_elements, input_bits, memories, engine.divide_bits)
    return shape.terms(), memories


def estimate_fabric(engine: EngineEstimate, input_elements: int, input_bits: int, family: str,
                    model: FabricModel) -> FabricEstimate:
    """The cells on `family` of the engine the cost model chose: DSP slices and block RAMs counted, LUTs and
    flip-flops from `model`."""
    terms, memories = engine_terms(engine, input_elements, input_bits)
    luts = sum(model.luts.get(name, 0.0) * value for name, value in terms.items())
    ffs = sum(model.ffs.get(name, 0.0) * value for name, value in terms.items())
    return FabricEstimate(family, engine.lanes, round(max(luts, 0.0)), round(max(ffs, 0.0)), engine.dsps,
                          memories.blocks(family), model.luts_from, model.ffs_from)


__all__ = ["BANK_SHAPES", "BLOCK_MIN_BITS", "BLOCK_SHAPES", "DEFAULT_FFS", "DEFAULT_LUTS", "EngineMemories",
           "FabricEstimate", "FabricModel", "FabricShape", "MemoryPlan", "TANH_WORDS", "TANH_WORD_BITS", "TERMS",
           "act_words", "chosen_memories", "engine_memories", "engine_terms", "estimate_fabric", "fabric_inputs",
           "fabric_model", "fabric_shape", "plan_memory", "weight_words"]
