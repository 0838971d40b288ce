"""The ops of a QDQ graph that shape a layer rather than compute it: pooling and global pooling on a layer's
accumulators, and views (the data stays in row-major order). A mixin of `deploy.lower`'s lowering, which supplies
`fail`, `arg`, `acc`, `attrs` and `consts`."""

from __future__ import annotations

import numpy as np

from edgeopt.deploy.lower_values import Acc, Input, Joined
from edgeopt.intgrid.program import Pool


class ShapeOps:
    def _MaxPool(self, node):
        return self._pool(node, "max")

    def _AveragePool(self, node):
        return self._pool(node, "avg")

    def _pool(self, node, kind: str):
        value = self.acc(node)
        a = self.attrs(node)
        if value.parts["nonlinear"]:
            raise self.fail(node, f"pooling after {value.parts['nonlinear']} is not supported by the C export")
        if value.parts["pool"] is not None or value.parts["global_pool"] or value.parts["step"]:
            raise self.fail(node, "a second pooling, or pooling after a compare, is not supported by the C export")
        if any(a.get("pads", [0])) or a.get("ceil_mode", 0) or any(d != 1 for d in a.get("dilations", [1])) \
                or a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise self.fail(node, "padded, dilated or ceil-mode pooling is not supported by the C export")
        kernel, stride = list(a["kernel_shape"]), list(a.get("strides", a["kernel_shape"]))
        if len(kernel) == 1:
            kernel, stride = [1, *kernel], [1, *stride]
        h, w = value.parts["spatial"]
        oh, ow = (h - kernel[0]) // stride[0] + 1, (w - kernel[1]) // stride[1] + 1
        value.parts["pool"] = Pool(kind, (int(kernel[0]), int(kernel[1])), (int(stride[0]), int(stride[1])))
        value.parts["spatial"] = (oh, ow)
        value.shape = (value.shape[0], ow) if len(value.shape) == 2 else (value.shape[0], oh, ow)
        return value

    def _GlobalAveragePool(self, node):
        value = self.acc(node)
        kind = "ppv" if value.parts["step"] else "avg"
        return self._global(node, value, tuple(value.shape[:1]) + (1,) * (len(value.shape) - 1), kind)

    def _GlobalMaxPool(self, node):
        value = self.acc(node)
        return self._global(node, value, tuple(value.shape[:1]) + (1,) * (len(value.shape) - 1), "max")

    def _ReduceMean(self, node):
        return self._reduce(node, "ppv" if self.acc(node).parts["step"] else "avg")

    def _ReduceMax(self, node):
        return self._reduce(node, "max")

    def _reduce(self, node, kind: str):
        value = self.acc(node)
        a = self.attrs(node)
        rank = len(value.shape) + 1  # with the batch
        reduced = {ax % rank for ax in self._axis_list(node)}
        spatial = {ax for ax in range(2, rank) if value.shape[ax - 1] != 1}
        if not reduced or 0 in reduced or 1 in reduced or not spatial <= reduced:
            what = "mean" if kind == "avg" else "max"
            raise self.fail(node, f"only a {what} over every spatial axis (global {what} pooling) is supported")
        keep = a.get("keepdims", 1)
        shape = tuple(1 if ax + 1 in reduced else d for ax, d in enumerate(value.shape)) if keep else \
            tuple(d for ax, d in enumerate(value.shape) if ax + 1 not in reduced)
        return self._global(node, value, shape, kind)

    def _global(self, node, value: Acc, shape, kind: str) -> Acc:
        """The layer's accumulators pooled over every position, as a new value: a mean and a max of one layer's
        accumulators, concatenated channel by channel, become one layer (`_Concat`)."""
        if value.parts["nonlinear"]:
            raise self.fail(node, f"global pooling after {value.parts['nonlinear']} is not supported by the C "
                                  "export")
        if value.parts["global_pool"]:
            raise self.fail(node, "a second global pooling in one layer")
        if value.parts["step"] and kind != "ppv":
            raise self.fail(node, "the C export averages a compare (x > 0) over positions, nothing else")
        if "quantized_as" in value.parts:
            raise self.fail(node, "global pooling of a layer's requantized output; the C export pools accumulators")
        parts = dict(value.parts, global_pool=kind, spatial=(1, 1), pooled_from=id(value.parts))
        return Acc(shape, parts)

    def _avg_max(self, node, members: list[Acc], axis: int) -> Acc | None:
        """The one concatenation of global poolings the C export runs as one layer: the mean and the max of the same
        layer's accumulators, kept dims, side by side on the last axis (channel by channel, as `GlobalAvgMax`);
        None for any other concatenation."""
        if len(members) != 2 or any(not isinstance(m, Acc) or "pooled_from" not in m.parts for m in members):
            return None
        mean, peak = members
        rank = len(mean.shape) + 1
        if (mean.parts["global_pool"], peak.parts["global_pool"]) != ("avg", "max") or \
                mean.parts["pooled_from"] != peak.parts["pooled_from"] or axis % rank != rank - 1 or \
                mean.shape != peak.shape or any(d != 1 for d in mean.shape[1:]):
            return None
        return Acc((mean.shape[0], *mean.shape[1:-1], 2), dict(mean.parts, global_pool="avgmax"))

    def _view(self, node, shape: tuple[int, ...]):
        value = self.arg(node, 0)
        size = int(np.prod(value.shape))
        if int(np.prod(shape)) != size:
            raise self.fail(node, f"reshapes {value.shape} to {shape}")
        if isinstance(value, (Input, Acc, Joined)):
            value.shape = shape
            return value
        raise self.fail(node, "reshapes a tensor the C export does not keep (only the input and layer outputs)")

    def _Reshape(self, node):
        value = self.arg(node, 0)
        target = [int(v) for v in np.asarray(self.consts[node.input[1]]).reshape(-1)]
        if len(target) < 1:
            raise self.fail(node, "an empty target shape")
        rest = target[1:]  # the first is the batch (0, -1 or the batch size)
        size = int(np.prod(value.shape))
        if rest.count(-1) == 1:
            known = int(np.prod([d for d in rest if d != -1]))
            rest = [size // known if d == -1 else d for d in rest]
        return self._view(node, tuple(rest) or (size,))

    def _Flatten(self, node):
        axis = self.attrs(node).get("axis", 1)
        if axis != 1:
            raise self.fail(node, "only Flatten(axis=1) is supported")
        return self._view(node, (int(np.prod(self.arg(node, 0).shape)),))

    def _Squeeze(self, node):
        value = self.arg(node, 0)
        axes = self._axes(node, len(value.shape) + 1)
        return self._view(node, tuple(d for ax, d in enumerate(value.shape) if ax + 1 not in axes or d != 1))

    def _Unsqueeze(self, node):
        value = self.arg(node, 0)
        count = len(self._axis_list(node))
        shape = list(value.shape)
        for ax in sorted(self._axes(node, len(value.shape) + 1 + count)):
            shape.insert(ax - 1, 1)
        return self._view(node, tuple(shape))

    def _axis_list(self, node) -> list[int]:
        axes = self.attrs(node).get("axes")
        if axes is None and len(node.input) > 1:
            axes = [int(v) for v in np.asarray(self.consts[node.input[1]]).reshape(-1)]
        return list(axes or [])

    def _axes(self, node, rank: int) -> set[int]:
        axes = {int(a) % rank for a in self._axis_list(node)}
        if 0 in axes:
            raise self.fail(node, "changes the batch axis")
        return axes

    def _Identity(self, node):
        return self.arg(node, 0)

    def _Dropout(self, node):
        return self.arg(node, 0)

    # -- closing a layer
