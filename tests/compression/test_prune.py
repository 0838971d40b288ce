"""prune() removes channels for real toward a ratio or a target; magnitude_prune() zeroes weights honestly costed."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from edgeopt.compression import (  # noqa: E402
    ChannelPruneConfig,
    CompressError,
    MagnitudePruneConfig,
    magnitude_prune,
    prune,
)
from edgeopt.cost.estimate import estimate  # noqa: E402


def _channels(model) -> dict[str, int]:
    return {name: m.out_channels for name, m in model.named_modules() if isinstance(m, torch.nn.Conv1d)}


def test_half_the_channels_go_and_the_classes_stay(trained, make_ctx):
    before = _channels(trained.module)
    pruned = prune(trained.module, ChannelPruneConfig(ratio=0.5, steps=2, finetune_epochs=1), make_ctx())
    after = _channels(pruned.model)
    assert all(after[name] == before[name] // 2 for name in before)
    assert pruned.model(torch.zeros(3, 1, 256)).shape == (3, 2)
    assert sum(p.numel() for p in pruned.model.parameters()) < 0.4 * sum(p.numel() for p in
                                                                         trained.module.parameters())
    assert [round(h.ratio, 3) for h in pruned.history] == [round(1 - 0.5 ** 0.5, 3), 0.5]
    assert _channels(trained.module) == before  # the input model is untouched


def test_a_params_target_is_met_in_the_profile_terms(trained, make_ctx):
    ctx = make_ctx()
    pruned = prune(trained.module, ChannelPruneConfig(target={"params": 900}, steps=2, finetune_epochs=1), ctx)
    assert pruned.target_met
    assert estimate(pruned.model, ctx.profile, ctx.input_shape).total.params <= 900
    # not more than needed: one channel fewer per layer would also have met it, one more would not
    assert estimate(pruned.model, ctx.profile, ctx.input_shape).total.params > 500


def test_the_profile_budgets_are_the_default_target(trained, make_ctx, profile_file):
    path = profile_file("stm-tiny", "stm32f746", "budgets: {max_params: 1000}\n")
    ctx = make_ctx(path)
    pruned = prune(trained.module, ChannelPruneConfig(steps=2, finetune_epochs=1), ctx)
    assert pruned.target_met and estimate(pruned.model, ctx.profile, ctx.input_shape).total.params <= 1000


def test_a_step_past_the_tolerance_is_undone(trained, make_ctx):
    ctx = make_ctx(max_drop=0.0)
    pruned = prune(trained.module, ChannelPruneConfig(ratio=0.85, steps=2, finetune_epochs=0), ctx)
    assert not pruned.history[-1].within_tolerance and pruned.reverted
    assert pruned.ratio < 0.85 and "past the tolerance" in pruned.note
    kept = [h for h in pruned.history if h.within_tolerance]
    assert pruned.ratio == (kept[-1].ratio if kept else 0.0)
    assert ctx.score(pruned.model) >= ctx.reference_score


def test_unstructured_zeros_save_nothing_on_a_dense_device(trained, make_ctx, profile_file):
    ctx = make_ctx()
    sparse = magnitude_prune(trained.module, MagnitudePruneConfig(sparsity=0.6, finetune_epochs=1), ctx)
    weights = [m.weight for m in sparse.model.modules() if isinstance(m, (torch.nn.Conv1d, torch.nn.Linear))]
    zeros = sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights)
    assert zeros >= 0.59 and sparse.ratio == pytest.approx(zeros)
    dense_before = estimate(trained.module, ctx.profile, ctx.input_shape).total.weight_bytes
    assert estimate(sparse.model, ctx.profile, ctx.input_shape).total.weight_bytes == dense_before
    assert "no memory or time" in sparse.note
    sparse_profile = profile_file("stm-sparse", "stm32f746", "sparse_weights: true\n")
    on_sparse = estimate(sparse.model, sparse_profile, ctx.input_shape)
    assert on_sparse.total.weight_bytes < 0.6 * dense_before
    assert on_sparse.total.macs == estimate(sparse.model, ctx.profile, ctx.input_shape).total.macs


@pytest.mark.parametrize("options, message", [
    ({"ratio": 1.5}, "ratio"),
    ({"ratio": 0.5, "target": {"params": 10}}, "either ratio or target"),
    ({"target": {"flops": 10}}, "unknown target 'flops'"),
    ({"importance": "random"}, "importance"),
])
def test_bad_prune_configs(options, message):
    with pytest.raises(CompressError, match=message):
        ChannelPruneConfig(**options)
