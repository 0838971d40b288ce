"""The training budget fits the data: enough optimizer steps on tiny sets, nothing added on big ones."""

import math

from hypothesis import given
from hypothesis import strategies as st

from edgeopt.train.budget import MIN_BATCH, plan_budget

BATCHES = st.lists(st.sampled_from([8, 16, 32, 64, 128, 256]), min_size=1, max_size=4, unique=True)


@given(st.integers(2, 200_000), BATCHES, st.integers(1, 81), st.integers(1, 2000), st.floats(0.05, 1.0))
def test_every_trial_gets_its_steps_and_no_batch_exceeds_its_share(n, batches, epochs, min_steps, share):
    plan = plan_budget(n, tuple(batches), epochs, min_steps=min_steps, max_batch_share=share)
    cap = max(MIN_BATCH, int(n * share))
    assert all(plan.batch_size(b) <= max(cap, 1) for b in batches)
    typical = sorted(plan.batch_size(b) for b in batches)[(len(batches) - 1) // 2]
    assert epochs * plan.epoch_scale * math.ceil(n / typical) >= min_steps
    if plan.epoch_scale > 1:  # stretched no more than needed
        assert epochs * (plan.epoch_scale - 1) * math.ceil(n / typical) < min_steps


def test_big_data_and_the_bundled_example_keep_their_budget():
    for n in (2_560, 100_000):
        plan = plan_budget(n, (32, 64, 128), 9)
        assert plan.epoch_scale == 1 and plan.batch_cap is None and plan.batch_size(128) == 128


def test_forty_samples_get_small_batches_and_more_passes():
    plan = plan_budget(40, (32, 64, 128), 9)
    assert plan.batch_size(128) == 10 and plan.epoch_scale == 7  # 4 steps a pass, 63 passes: 252 steps
