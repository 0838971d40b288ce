import math

import pytest
import torch
from torch import nn

from edgeopt.errors import ModelError
from edgeopt.graph.build import build_graph
from edgeopt.graph.ops import Op
from reference_models import MobileNetV2, ResNet18


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize(
    "model, shape, params, macs",
    [
        (MobileNetV2(), (1, 3, 224, 224), 3.50e6, 300e6),
        (ResNet18(), (1, 3, 224, 224), 11.69e6, 1.82e9),
    ],
    ids=["mobilenet_v2", "resnet18"],
)
def test_published_architectures_within_one_percent(model, shape, params, macs):
    graph = build_graph(model, shape)
    assert graph.params == n_params(model)
    assert graph.params == pytest.approx(params, rel=0.01)
    assert graph.macs == pytest.approx(macs, rel=0.01)


def test_mac_formulas_by_hand():
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, stride=2, padding=1),  # out 16x16x16
        nn.Conv2d(16, 16, 3, padding=2, dilation=2, groups=16),  # depthwise, out 16x16x16
        nn.Conv2d(16, 32, 1, groups=4),  # grouped pointwise
        nn.Flatten(),
        nn.Linear(32 * 16 * 16, 10),
    )
    graph = build_graph(model, (1, 3, 32, 32))
    convs = [layer for layer in graph.layers if layer.macs]
    assert [layer.op for layer in convs] == [Op.CONV2D, Op.DEPTHWISE_CONV2D, Op.CONV2D, Op.DENSE]
    assert convs[0].macs == 16 * 16 * 16 * (3 * 3 * 3)
    assert convs[1].macs == 16 * 16 * 16 * 9
    assert convs[2].macs == 32 * 16 * 16 * (16 // 4)
    assert convs[3].macs == 32 * 16 * 16 * 10
    assert graph.params == n_params(model)
    # the innermost loop: a kernel's taps; a pointwise convolution's and a dense layer's fan-in (a dense layer per
    # position), which the latency model's short-loop term reads
    assert [layer.loop_length for layer in convs] == [9, 9, 16 // 4, 32 * 16 * 16]


def test_conv1d_and_batch_dimension():
    model = nn.Sequential(nn.Conv1d(2, 4, 5, stride=1, padding=0), nn.ReLU())
    graph = build_graph(model, (3, 2, 20))
    assert graph.layers[0].op is Op.CONV1D
    assert graph.layers[0].macs == 3 * 4 * 16 * 2 * 5
    assert graph.shape(graph.layers[-1].output) == (3, 4, 16)


def test_functional_ops_residuals_and_shared_modules_are_mapped():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(4, 4, 3, padding=1)
            self.act = nn.ReLU()
            self.weight = nn.Parameter(torch.randn(3, 8))

        def forward(self, x):
            y = self.act(self.conv(x))
            y = self.act(y + x)  # the same ReLU module called twice
            z = torch.cat([y, x], dim=1)
            z = torch.nn.functional.hardswish(z).mean(dim=(2, 3))
            return torch.softmax(torch.nn.functional.linear(z, self.weight), dim=-1)

    model = Net()
    graph = build_graph(model, (1, 4, 8, 8))
    ops = [layer.op for layer in graph.layers]
    assert ops == [Op.CONV2D, Op.RELU, Op.ADD, Op.RELU, Op.CONCAT, Op.HARDSWISH, Op.GLOBAL_AVGPOOL, Op.DENSE,
                   Op.SOFTMAX]
    names = [layer.name for layer in graph.layers]
    assert len(set(names)) == len(names)
    assert "act#2" in names
    assert graph.params == n_params(model)
    assert graph.layers[7].macs == 8 * 3


def test_unknown_modules_keep_their_parameters():
    model = nn.Sequential(nn.Conv1d(1, 4, 3), nn.InstanceNorm1d(4, affine=True), nn.Flatten())
    graph = build_graph(model, (1, 1, 16))
    unknown = graph.unknown_layers
    assert [layer.source_op for layer in unknown] == ["InstanceNorm1d"]
    assert graph.params == n_params(model)


def test_unused_parameters_are_counted_and_noted():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.used = nn.Linear(4, 2)
            self.spare_head = nn.Linear(4, 100)

        def forward(self, x):
            return self.used(x)

    model = Net()
    graph = build_graph(model, (1, 4))
    assert graph.params == n_params(model)
    assert graph.unused_params == 500
    assert any("never used" in note for note in graph.notes)


def test_training_mode_is_restored():
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Dropout()).train()
    build_graph(model, (1, 4))
    assert all(m.training for m in model.modules())


def test_untraceable_module_is_a_clear_error():
    class Branchy(nn.Module):
        def forward(self, x):
            if x.sum() > 0:  # data-dependent Python control flow
                return x
            return -x

    with pytest.raises(ModelError, match="cannot trace Branchy with torch.fx.*Export it to ONNX"):
        build_graph(Branchy(), (1, 4))


@pytest.mark.parametrize("shape", [None, (), (1, 0, 4), (1, -3)])
def test_bad_input_shapes(shape):
    with pytest.raises(ModelError, match="input shape"):
        build_graph(nn.Linear(4, 2), shape)


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(ModelError, match=r"running Linear on input shape\(s\) \[\(1, 5\)\] failed"):
        build_graph(nn.Linear(4, 2), (1, 5))


def test_parameters_match_on_random_stacks():
    torch.manual_seed(0)
    for depth in range(1, 5):
        layers = []
        channels = 1
        for i in range(depth):
            out = 2 ** (i + 2)
            layers += [nn.Conv1d(channels, out, 3, padding=1, bias=i % 2 == 0), nn.BatchNorm1d(out), nn.ReLU()]
            channels = out
        model = nn.Sequential(*layers, nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(channels, 3))
        graph = build_graph(model, (1, 1, 32))
        assert graph.params == n_params(model)
        expected = sum(32 * layer.out_channels * layer.in_channels * 3 for layer in model
                       if isinstance(layer, nn.Conv1d)) + channels * 3
        assert graph.macs == expected
        assert math.prod(graph.shape(graph.outputs[0])) == 3
