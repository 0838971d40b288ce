"""How a runtime runs a graph's layers: which it fuses into the MAC layer before them (`compute.fused_ops`), and,
where it computes some ops in a blocked channel layout (onnxruntime's NCHWc), which tensors it converts between
that layout and the plain one and which layer pays for each conversion."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from edgeopt.graph.ir import Graph
from edgeopt.graph.ops import DEPTHWISE_OPS, MAC_OPS, Op
from edgeopt.profiles.schema import Compute


@dataclass(frozen=True)
class Schedule:
    """What a runtime does with a graph beyond running its layers one by one."""

    fused: Mapping[int, int]  # a layer run inside a MAC layer's epilogue -> that MAC layer
    converted: Mapping[int, int]  # a layer -> the elements it converts between channel layouts
    blocked_runs: frozenset[int] = frozenset()  # layers of `compute.layout_ops` run in the blocked layout


def schedule(graph: Graph, compute: Compute, folded: Mapping[int, int]) -> Schedule:
    """The fusions and layout conversions of `graph` on `compute` (`folded`: batchnorms folded into the MAC layer
    before them, each with that layer).

    A layer fuses into a MAC layer when its op is one `compute` fuses into that MAC op and it reads the MAC layer's
    output (through folded batchnorms and layers fused before it) that nothing else reads, the caller included; into
    a blocked layer only where its other inputs are blocked too (a residual add summed into the accumulators).
    A blocked layer converts the plain tensors it reads, except a convolution's input of fewer channels than a
    block (a first layer's), which it reads plain (converting a blocked one); ops of `compute.layout_ops` run
    blocked where all they read is blocked; any other layer converts the blocked tensors it reads, and the model's
    blocked outputs are converted for the caller. Channel counts decide as onnxruntime's NCHWc transformer does: a
    convolution whose input has a block or more channels but not whole blocks, a depthwise one of channels that
    are not whole blocks, and a pool over channels that are not whole blocks run plain. Each tensor is converted
    once, however many layers read it; a fused or folded layer's conversions are its MAC layer's."""
    producer = {layer.output: i for i, layer in enumerate(graph.layers)}
    runs_in: dict[int, int] = {i: i for i, layer in enumerate(graph.layers) if layer.op in MAC_OPS} | dict(folded)
    fused: dict[int, int] = {}
    blocked: set[str] = set()
    converted: set[str] = set()
    paid: dict[int, int] = {}
    blocked_runs: set[int] = set()

    def convert(name: str, payer: int) -> None:
        if name not in converted:
            converted.add(name)
            payer = runs_in.get(payer, payer)
            paid[payer] = paid.get(payer, 0) + graph.tensors[name].numel

    for i, layer in enumerate(graph.layers):
        inputs = [name for name in layer.inputs if name in graph.tensors]
        if i not in runs_in:
            mac = _fusing_mac(graph, compute, producer, runs_in, blocked, i)
            if mac is not None:
                fused[i] = runs_in[i] = mac
        if runs_in.get(i, i) != i:  # folded or fused: computed where its MAC layer computes, in its layout
            if graph.layers[runs_in[i]].output in blocked:
                blocked.add(layer.output)
        elif layer.op in MAC_OPS and compute.blocked(layer.op) and _whole_blocks(graph, layer, compute):
            block = compute.channel_block(layer.op)
            for name in inputs:
                shape = graph.tensors[name].shape
                plain_read = layer.op not in DEPTHWISE_OPS and shape is not None and len(shape) > 1 and \
                    shape[1] < block  # a few channels, read as they are (a first layer's)
                if (name in blocked) == plain_read:
                    convert(name, i)
            blocked.add(layer.output)
        elif layer.op in compute.layout_ops and inputs and all(name in blocked for name in inputs) and \
                (layer.op not in POOL_OPS or _whole_blocks(graph, layer, compute)):
            blocked.add(layer.output)
            blocked_runs.add(i)
        else:
            for name in inputs:
                if name in blocked:
                    convert(name, i)
    for name in graph.outputs:
        if name in blocked and name in producer and name in graph.tensors:
            convert(name, producer[name])
    return Schedule(fused, paid, frozenset(blocked_runs))


POOL_OPS = frozenset({Op.MAXPOOL, Op.AVGPOOL, Op.GLOBAL_AVGPOOL, Op.GLOBAL_MAXPOOL})


def _whole_blocks(graph: Graph, layer, compute: Compute) -> bool:
    """Whether the runtime can run `layer` blocked by its channel counts: MLAS's NCHWc kernels take a convolution's
    input as a few plain channels or whole blocks, a depthwise convolution's and a pool's channels as whole blocks."""
    shape = graph.tensors[layer.inputs[0]].shape if layer.inputs and layer.inputs[0] in graph.tensors else None
    if shape is None or len(shape) < 2:
        return True
    channels = shape[1]
    if layer.op in MAC_OPS:
        block = compute.channel_block(layer.op)
        if layer.op in DEPTHWISE_OPS:
            return channels % block == 0
        return channels < block or channels % block == 0
    block = max((compute.channel_block(op) for op in MAC_OPS), default=1)
    return channels % block == 0


def _fusing_mac(graph: Graph, compute: Compute, producer: Mapping[str, int], runs_in: Mapping[int, int],
                blocked: set[str], i: int) -> int | None:
    """The MAC layer layer `i` runs inside, or None."""
    layer = graph.layers[i]
    for name in layer.inputs:
        mac = runs_in.get(producer.get(name, -1))
        if mac is None or graph.consumers.get(name) != (i,) or name in graph.outputs or \
                not compute.fuses(graph.layers[mac].op, layer.op):
            continue
        others = [other for other in layer.inputs if other != name and other in graph.tensors]
        if graph.layers[mac].output in blocked and any(other not in blocked for other in others):
            continue
        return mac
    return None
