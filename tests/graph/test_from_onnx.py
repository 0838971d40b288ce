import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from edgeopt import estimate
from edgeopt.errors import ModelError
from edgeopt.graph.build import build_graph
from edgeopt.graph.from_onnx import graph_from_onnx
from edgeopt.graph.ops import Op
from models import as_if_trained, kws_dscnn, read_classifier

ROOT_EXAMPLES = __import__("pathlib").Path(__file__).resolve().parents[2] / "examples"


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU6())
        self.branch = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.ReLU(), nn.Conv2d(8, 8, 1))
        self.head = nn.Linear(8, 5)

    def forward(self, x):
        x = self.stem(x)
        x = torch.relu(x + self.branch(x))
        x = torch.nn.functional.max_pool2d(x, 2)
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


AGREE = ["weight_bytes", "macs", "latency_s", "energy_j"]


@pytest.mark.parametrize("profile", ["stm32f746", "mythic-m1076", "sequencer-fpga"])
def test_onnx_and_torch_paths_agree(onnx_export, profile):
    torch.manual_seed(1)
    model = as_if_trained(Residual())
    path = onnx_export("residual", model, (1, 3, 16, 16))
    from_torch = estimate(model, profile, (1, 3, 16, 16))
    from_onnx = estimate(path, profile)
    for field in AGREE:
        assert getattr(from_onnx.total, field) == pytest.approx(getattr(from_torch.total, field)), field
    assert from_onnx.peak_activation_bytes == from_torch.peak_activation_bytes
    assert from_onnx.total.crossbar_tiles == pytest.approx(from_torch.total.crossbar_tiles)
    assert [v.what for v in from_onnx.violations] == [v.what for v in from_torch.violations]


def test_parameters_agree_without_batchnorm(onnx_export):
    model = nn.Sequential(nn.Conv1d(2, 6, 5), nn.GELU(), nn.ReflectionPad1d(1), nn.Conv1d(6, 6, 3, groups=6),
                          nn.PReLU(6), nn.Hardswish(), nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(6, 4),
                          nn.Sigmoid())
    path = onnx_export("no_bn", model, (1, 2, 40))
    a, b = build_graph(model, (1, 2, 40)), graph_from_onnx(path)
    assert a.params == b.params == sum(p.numel() for p in model.parameters())
    assert a.macs == b.macs
    assert [layer.op for layer in b.layers if layer.macs] == [Op.CONV1D, Op.DEPTHWISE_CONV1D, Op.DENSE]
    assert {Op.GELU, Op.PAD, Op.LEAKY_RELU, Op.HARDSWISH, Op.SIGMOID} <= {layer.op for layer in b.layers}
    assert {layer.op for layer in a.layers} == {layer.op for layer in b.layers if layer.op is not Op.RESHAPE} | {
        Op.FLATTEN}


@pytest.mark.parametrize("factory, shape, name", [(read_classifier, (1, 1, 256), "read_classifier"),
                                                  (kws_dscnn, (1, 1, 49, 10), "kws_dscnn")])
def test_bundled_examples_match_their_factories(factory, shape, name):
    from_torch = estimate(factory(), "stm32f746", shape)
    from_onnx = estimate(ROOT_EXAMPLES / f"{name}.onnx", "stm32f746")
    assert from_onnx.total.weight_bytes == from_torch.total.weight_bytes
    assert from_onnx.total.macs == from_torch.total.macs
    assert from_onnx.peak_activation_bytes == from_torch.peak_activation_bytes


def _save(model_proto, path):
    onnx.save(model_proto, str(path))
    return path


def _graph(nodes, inputs, outputs, initializers=(), opset=17, domains=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    imports = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, 1) for d in domains]
    return helper.make_model(graph, opset_imports=imports)


def _conv_weights(cout=4, cin=3, k=3):
    rng = np.random.default_rng(0)
    return numpy_helper.from_array(rng.standard_normal((cout, cin, k, k)).astype(np.float32), "w")


def test_unknown_ops_are_reported_counted_and_do_not_crash(tmp_path):
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Erf", ["c"], ["e"]),  # standard op outside the IR: shapes still infer
        helper.make_node("Frobnicate", ["e"], ["f"], domain="acme"),  # foreign op: nothing infers its shape
        helper.make_node("Relu", ["f"], ["y"]),
    ]
    model = _graph(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [_conv_weights()],
                   domains=["acme"])
    path = _save(model, tmp_path / "odd.onnx")
    est = estimate(path, "stm32f746")
    assert est.unknown_ops == ("Erf", "acme.Frobnicate")
    assert est.total.params == 4 * 3 * 9
    assert est.layers[-1].output_shape == (1, 4, 8, 8)
    assert any("Frobnicate" in note and "assumed" in note for note in est.notes)
    assert sum(v.what == "op" for v in est.violations) == 2


def test_dynamic_batch_is_taken_as_one_with_a_note(tmp_path):
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"])]
    model = _graph(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [_conv_weights()])
    graph = graph_from_onnx(_save(model, tmp_path / "batch.onnx"))
    assert graph.shape("y") == (1, 4, 6, 6)
    assert graph.notes == ("input 'x': dynamic batch dimension 'N' taken as 1",)


def test_dynamic_spatial_shape_needs_input_shape(tmp_path):
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"])]
    model = _graph(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [_conv_weights()])
    path = _save(model, tmp_path / "dyn.onnx")
    with pytest.raises(ModelError, match=r"dynamic shape \[\?, 3, \?, \?\]; give the shape .* --input-shape"):
        graph_from_onnx(path)
    graph = graph_from_onnx(path, (2, 3, 10, 12))
    assert graph.shape("y") == (2, 4, 8, 10)
    assert graph.layers[0].macs == 2 * 4 * 8 * 10 * 27
    with pytest.raises(ModelError, match="rank 4"):
        graph_from_onnx(path, (1, 3, 10))


def test_missing_truncated_and_foreign_files(tmp_path):
    with pytest.raises(ModelError, match="no such model file"):
        graph_from_onnx(tmp_path / "absent.onnx")
    whole = (ROOT_EXAMPLES / "kws_dscnn.onnx").read_bytes()
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(whole[: len(whole) // 3])
    with pytest.raises(ModelError, match="truncated.onnx: not a valid ONNX"):
        graph_from_onnx(truncated)
    text = tmp_path / "notes.onnx"
    text.write_text("these are my meeting notes, not a model\n" * 20)
    with pytest.raises(ModelError, match="notes.onnx: not a valid ONNX"):
        graph_from_onnx(text)
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(ModelError, match="empty.onnx: not a valid ONNX"):
        graph_from_onnx(empty)


def test_qdq_model_keeps_its_int8_weights(tmp_path, onnx_export):
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    torch.manual_seed(0)
    model = as_if_trained(Residual())
    fp32 = onnx_export("residual", model, (1, 3, 16, 16))
    input_name = onnx.load(str(fp32)).graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{input_name: np.random.default_rng(i).standard_normal((1, 3, 16, 16))
                                  .astype(np.float32)} for i in range(4)])

        def get_next(self):
            return next(self.batches, None)

    qdq = tmp_path / "residual_int8.onnx"
    quantize_static(str(fp32), str(qdq), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    weight_type=QuantType.QInt8, activation_type=QuantType.QInt8)
    before, after = graph_from_onnx(fp32), graph_from_onnx(qdq)
    assert after.macs == before.macs
    mac_layers = [layer for layer in after.layers if layer.macs]
    assert mac_layers and all(layer.weight_format == "int8" for layer in mac_layers if layer.op is not Op.DENSE
                              or layer.weight_params)
    assert {Op.QUANTIZE, Op.DEQUANTIZE} <= {layer.op for layer in after.layers}
    est_before, est_after = estimate(fp32, "stm32f746"), estimate(qdq, "stm32f746")
    assert est_after.peak_activation_bytes == est_before.peak_activation_bytes  # Q/DQ are views, not buffers
    assert est_after.fits
    # A device that stores only fp32 cannot take the int8 weights.
    fp32_only = tmp_path / "fp32-only.yaml"
    fp32_only.write_text("extends: host-cpu\nname: fp32-only\nformats: {weights: [fp32], activations: [fp32]}\n")
    violations = estimate(qdq, fp32_only).violations
    assert {v.what for v in violations} == {"format"}
    assert all(v.actual == "int8" and v.limit == "fp32" for v in violations)


def test_external_data_is_loaded_and_its_absence_is_clear(tmp_path):
    model = onnx.load(str(ROOT_EXAMPLES / "read_classifier.onnx"))
    path = tmp_path / "ext.onnx"
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="ext.onnx.data", size_threshold=0)
    assert graph_from_onnx(path).params == graph_from_onnx(ROOT_EXAMPLES / "read_classifier.onnx").params
    (tmp_path / "ext.onnx.data").unlink()
    with pytest.raises(ModelError, match="ext.onnx"):
        graph_from_onnx(path)
