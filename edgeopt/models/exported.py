"""A torch.export program (.pt2) turned back into ordinary modules, so it can be pruned, fine-tuned and quantized.

`ExportedProgram.module()` calls convolutions as functions on lifted weights and refuses train()/eval(); here each
aten conv / linear / batch_norm call on a weight becomes a real nn.Conv / nn.Linear / nn.BatchNorm module named as in
the original model, in a plain fx GraphModule without the program's input guards.
"""

from __future__ import annotations

from edgeopt.errors import ModelError


def modules_from_program(program):
    """An nn.Module (fx GraphModule) computing as `program` does, with real layer modules."""
    import torch
    from torch import fx, nn

    exported = program.module()
    attrs = dict(exported.named_parameters()) | dict(exported.named_buffers())
    aten = torch.ops.aten
    graph = fx.Graph()
    env: dict = {}
    root: dict = {}
    modules: dict[str, nn.Module] = {}

    def weight_of(node) -> str | None:
        return node.target if isinstance(node, fx.Node) and node.op == "get_attr" else None

    for node in exported.graph.nodes:
        if node.op == "call_module" and node.target.startswith("_guards"):
            continue
        if node.op == "get_attr":
            root[node.target] = attrs[node.target]
            env[node.name] = graph.get_attr(node.target)
            continue
        made = _module(node, aten, attrs, weight_of) if node.op == "call_function" else None
        if made is not None:
            name, module = made
            modules[name] = module
            env[node.name] = graph.call_module(name, (env[node.args[0].name],))
            continue
        if node.op == "output" and isinstance(node.args[0], (tuple, list)) and len(node.args[0]) == 1:
            graph.output(env[node.args[0][0].name])  # programs return tuples; a classifier returns its logits
            continue
        env[node.name] = graph.node_copy(node, lambda n: env[n.name])
    for name, module in modules.items():
        root[name] = module
    for name in list(root):  # weights now owned by modules are no longer graph attributes
        if name not in modules and name.rsplit(".", 1)[0] in modules:
            del root[name]
    for node in list(graph.nodes):
        if node.op == "get_attr" and not node.users:
            graph.erase_node(node)
    graph.lint()
    return fx.GraphModule(root, graph, class_name=type(exported).__name__)


def _module(node, aten, attrs, weight_of):
    from torch import nn

    target, args = node.target, node.args
    if target in (aten.conv1d.default, aten.conv2d.default):
        weight = weight_of(args[1])
        if weight is None:
            return None
        bias = weight_of(args[2]) if len(args) > 2 else None
        stride, padding, dilation, groups = (list(args[3]) if len(args) > 3 else [1], list(args[4]) if len(args) > 4
                                             else [0], list(args[5]) if len(args) > 5 else [1],
                                             int(args[6]) if len(args) > 6 else 1)
        w = attrs[weight]
        cls = nn.Conv1d if target is aten.conv1d.default else nn.Conv2d
        module = cls(w.shape[1] * groups, w.shape[0], tuple(w.shape[2:]), stride=stride, padding=padding,
                     dilation=dilation, groups=groups, bias=bias is not None)
        _take(module, w, attrs[bias] if bias else None)
        return weight.rsplit(".", 1)[0], module
    if target is aten.linear.default:
        weight = weight_of(args[1])
        if weight is None:
            return None
        bias = weight_of(args[2]) if len(args) > 2 else None
        w = attrs[weight]
        module = nn.Linear(w.shape[1], w.shape[0], bias=bias is not None)
        _take(module, w, attrs[bias] if bias else None)
        return weight.rsplit(".", 1)[0], module
    if target is aten.batch_norm.default:
        names = [weight_of(a) for a in args[1:5]]
        if any(n is None for n in names):
            return None
        rank = len(node.meta["val"].shape) if "val" in node.meta else 3
        cls = {2: nn.BatchNorm1d, 3: nn.BatchNorm1d, 4: nn.BatchNorm2d}.get(rank)
        if cls is None:
            return None
        w = attrs[names[0]]
        module = cls(w.shape[0], eps=float(args[7]), momentum=float(args[6]))
        _take(module, w, attrs[names[1]])
        module.running_mean.copy_(attrs[names[2]])
        module.running_var.copy_(attrs[names[3]])
        return names[0].rsplit(".", 1)[0], module
    return None


def _take(module, weight, bias) -> None:
    import torch

    with torch.no_grad():
        module.weight.copy_(weight)
        if bias is not None:
            module.bias.copy_(bias)


def check_batch_free(model, sample_shape: tuple[int, ...], path: str) -> None:
    """A program exported for one batch size breaks on others: say so at load time."""
    import torch

    try:
        with torch.no_grad():
            model(torch.zeros((3, *sample_shape)))
    except Exception as exc:  # shapes baked into view/reshape calls
        raise ModelError(f"{path}: the program does not run on a batch of 3 ({type(exc).__name__}: "
                         f"{str(exc).strip()[:160]}); export it with a dynamic batch dimension, e.g. "
                         "dynamic_shapes=({0: torch.export.Dim('batch')},)") from None


def save_program(model, sample_shape: tuple[int, ...], path) -> None:
    """`model` as a torch.export program with a dynamic batch (what `modules_from_program` reads back), at `path`."""
    import contextlib
    import io

    import torch

    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        program = torch.export.export(model.eval(), (torch.zeros((2, *sample_shape)),),
                                      dynamic_shapes=({0: torch.export.Dim("batch")},))
        torch.export.save(program, str(path))
