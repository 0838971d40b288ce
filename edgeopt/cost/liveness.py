"""Peak activation memory: buffers, their aliases, and their lifetimes over the layers' topological order."""

from __future__ import annotations

from dataclasses import dataclass

from edgeopt.graph.ir import Graph
from edgeopt.graph.ops import UNARY_ELEMENTWISE, VIEW_OPS, Op


@dataclass(frozen=True)
class Liveness:
    peak_bytes: float
    peak_step: int  # index of the layer during which the peak occurs (-1: before the first layer)
    live_bytes: tuple[float, ...]  # bytes live while each layer runs
    in_place: frozenset[int]  # layers that write over their input buffer (fused into the producer)


def liveness(graph: Graph, bytes_per_element: float) -> Liveness:
    """Walk the layers in order; a buffer lives from its producer to its last reader (graph outputs to the end)."""
    base = _buffers(graph)
    in_place = frozenset(
        i for i, layer in enumerate(graph.layers)
        if layer.op not in VIEW_OPS and layer.inputs and base[layer.output] == base.get(layer.inputs[0])
    )

    # A compare whose result is counted (the rocket family's proportion of positive values) is computed position by
    # position: the layer it compares is never stored, only the counts (as the C export runs it).
    counted = _counted(graph, base)
    size: dict[str, float] = {}
    birth: dict[str, int] = {}
    death: dict[str, int] = {}
    for name in graph.inputs:
        size[name] = graph.tensors[name].numel * bytes_per_element
        birth[name] = -1
        death[name] = -1
    for i, layer in enumerate(graph.layers):
        buffer = base[layer.output]
        numel = graph.tensors[layer.output].numel if layer.output in graph.tensors else 0
        size[buffer] = 0.0 if buffer in counted else max(size.get(buffer, 0.0), numel * bytes_per_element)
        birth.setdefault(buffer, i)
        death[buffer] = max(death.get(buffer, i), i)
        for name in layer.inputs:
            b = base.get(name, name)
            death[b] = max(death.get(b, i), i)
    end = len(graph.layers)
    for name in graph.outputs:
        death[base.get(name, name)] = end

    steps = range(-1, max(end, 1))
    live = tuple(sum(size[b] for b in size if birth[b] <= step <= death[b]) for step in steps)
    peak_index = max(range(len(live)), key=live.__getitem__)
    return Liveness(live[peak_index], peak_index - 1, live[1:], in_place)


def _counted(graph: Graph, base: dict[str, str]) -> set[str]:
    """Buffers holding a compare (STEP) that only global average pools read: counted as computed, never stored."""
    consumers = graph.consumers
    out = set()
    for layer in graph.layers:
        if layer.op is not Op.STEP:
            continue
        buffer = base[layer.output]
        members = [t for t, b in base.items() if b == buffer]
        readers = [graph.layers[i] for t in members for i in consumers.get(t, ())
                   if base.get(graph.layers[i].output) != buffer]
        if readers and all(r.op is Op.GLOBAL_AVGPOOL for r in readers) and not set(members) & set(graph.outputs):
            out.add(buffer)
    return out


def _buffers(graph: Graph) -> dict[str, str]:
    """Tensor -> the buffer it lives in. Views alias their input; a unary elementwise layer (activation, batchnorm)
    writes over its input when nothing reads that buffer after it, which is how runtimes fuse conv + bn + relu."""
    consumers = graph.consumers
    outputs = set(graph.outputs)
    base: dict[str, str] = {name: name for name in graph.inputs}
    members: dict[str, list[str]] = {name: [name] for name in graph.inputs}
    for i, layer in enumerate(graph.layers):
        source = base.get(layer.inputs[0]) if layer.inputs else None
        aliases = source is not None and (
            layer.op in VIEW_OPS
            or (
                layer.op in UNARY_ELEMENTWISE
                and len(layer.inputs) == 1
                and not any(t in outputs for t in members[source])
                and all(reader <= i for t in members[source] for reader in consumers.get(t, ()))
            )
        )
        if aliases:
            base[layer.output] = source
            members[source].append(layer.output)
        else:
            base[layer.output] = layer.output
            members[layer.output] = [layer.output]
    return base
