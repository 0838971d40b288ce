"""Quantized (QDQ) models to export: the bundled example's trained cnn1d (ReLU, max pooling), an MLP, and a separable
cnn1d with ReLU6 and average pooling; the MLP also with int16 activations; two branches concatenated; a cnn1d for long
series (a fixed downsampling front end, dilated separable blocks, global mean and max side by side); a rocket model
(generated kernels, thresholds, proportions of positive values)."""

from __future__ import annotations

import pytest
from qdq_helpers import CNN_LONG, CNN_RELU6_AVG, ROCKET, MLP, branchy, fit_plain, quantized_onnx, train


@pytest.fixture(scope="session")
def qdq_models(tmp_path_factory, trained, reads_small):
    """name -> (QDQ path, float test inputs normalised as the model expects)."""
    folder = tmp_path_factory.mktemp("qdq")
    x_test = trained.normalizer.apply(reads_small.x_test)
    models = {"cnn1d": (quantized_onnx(trained.module, reads_small, trained.normalizer, folder / "cnn1d.onnx"),
                        x_test)}
    for name, space, config in (("mlp", "mlp", MLP), ("cnn1d_relu6_avg", "cnn1d", CNN_RELU6_AVG),
                                ("cnn1d_long", "cnn1d", CNN_LONG), ("rocket", "rocket", ROCKET)):
        module, normalizer = train(space, config, reads_small, 4, tmp_path_factory.mktemp(name))
        models[name] = (quantized_onnx(module, reads_small, normalizer, folder / f"{name}.onnx"),
                        normalizer.apply(reads_small.x_test))
        if name == "mlp":  # the sequencer FPGA's default: int16 activations
            models["mlp_int16"] = (quantized_onnx(module, reads_small, normalizer, folder / "mlp_int16.onnx",
                                                  profile="sequencer-fpga"), models[name][1])
    from edgeopt.data.normalize import Normalizer

    normalizer = Normalizer.fit(reads_small.x_train)
    module = fit_plain(branchy(reads_small.sample_shape[0], reads_small.num_classes), reads_small, normalizer)
    models["branchy"] = (quantized_onnx(module, reads_small, normalizer, folder / "branchy.onnx"),
                         normalizer.apply(reads_small.x_test))
    return models

