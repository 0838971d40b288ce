from hypothesis import given
from hypothesis import strategies as st

from edgeopt.cost.record import Cost, total

costs = st.builds(Cost, params=st.integers(0, 10**9), weight_bytes=st.integers(0, 10**9).map(float),
                  macs=st.integers(0, 10**12), vector_ops=st.integers(0, 10**9),
                  activation_bytes=st.integers(0, 10**9).map(float), crossbar_tiles=st.integers(0, 100).map(float))


@given(costs, costs, costs)
def test_cost_addition_is_associative_and_commutative(a, b, c):
    assert (a + b) + c == a + (b + c)
    assert a + b == b + a
    assert a + Cost() == a


@given(st.lists(costs, max_size=8))
def test_total_sums_every_field(items):
    summed = total(items)
    assert summed.params == sum(c.params for c in items)
    assert summed.macs == sum(c.macs for c in items)
    assert summed.weight_bytes == sum(c.weight_bytes for c in items)
