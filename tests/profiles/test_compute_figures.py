"""The compute figures are defined once (profiles/compute_figures.py): whatever the table holds, the calibrated
profile writer writes it and the loader reads it back as the same figure, and `profiles show` names it."""

from __future__ import annotations

import math
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from edgeopt.calibration.profile_yaml import calibrated_yaml
from edgeopt.graph.ops import Op
from edgeopt.profiles.compute_figures import OP_FIGURES, SCALAR_FIGURES, ComputeFigure
from edgeopt.profiles.loader import load_profile
from edgeopt.profiles.schema import Calibration
from edgeopt.report.tables import profile_figures

PARENT = Path(__file__).resolve().parents[2] / "hwprofiles" / "host-cpu.yaml"
CALIBRATION = Calibration("a runtime", "a machine", "2026-12-07", 10, 0.05, 0.9)
LAYOUT_OPS = frozenset({Op.MAXPOOL, Op.AVGPOOL})  # host-cpu's: the ops a blocked efficiency may be given for


def _value(spec: ComputeFigure):
    if spec.whole:
        return st.integers(int(spec.low), 64)
    high = spec.high if spec.high is not None else 1e4
    low = max(spec.low, 1e-6)
    return st.floats(low, high, allow_nan=False).map(lambda v: float(f"{v:.4g}"))


@st.composite
def figures(draw):
    per_op = {}
    for spec in OP_FIGURES:
        ops = sorted(op.value for op in spec.allowed_ops(LAYOUT_OPS))
        chosen = draw(st.lists(st.sampled_from(ops), max_size=3, unique=True))
        per_op[spec.name] = {op: draw(_value(spec)) for op in chosen}
    scalars = {spec.name: draw(st.one_of(st.none(), _value(spec))) for spec in SCALAR_FIGURES}
    scalars = {name: v if name == "layout_conversion_cost" else (v or 1e-6) for name, v in scalars.items()}
    return per_op, scalars


@settings(max_examples=25, deadline=None)
@given(figures())
def test_every_figure_written_reads_back_as_itself(tmp_path_factory, drawn):
    per_op, scalars = drawn
    folder = tmp_path_factory.mktemp("cal")
    path = folder / "cal.yaml"
    path.write_text(calibrated_yaml(str(PARENT), "cal", per_op=per_op, scalars=scalars, calibration=CALIBRATION))
    profile, parent = load_profile(path), load_profile(PARENT)
    for spec in OP_FIGURES:
        for op, value in per_op[spec.name].items():
            read = profile.compute.figure(Op(op), spec.name)
            assert math.isclose(read, value, rel_tol=1e-3, abs_tol=1e-12), (spec.name, op, read, value)
            assert profile.figure_sources[f"compute.{spec.yaml_key}.{op}"] == "measured"
        for op, value in parent.compute.given(spec.name).items():  # what the calibration does not give: the parent's
            if op.value not in per_op[spec.name]:
                assert profile.compute.figure(op, spec.name) == value
    for spec in SCALAR_FIGURES:
        value = scalars[spec.name]
        expected = getattr(parent.compute, spec.name) if value is None else value
        assert math.isclose(getattr(profile.compute, spec.name), expected, rel_tol=1e-3, abs_tol=1e-12)
    shown = profile_figures(profile)
    for spec in OP_FIGURES:
        assert all(f"compute.{spec.yaml_key}.{op}" in shown for op in per_op[spec.name])


def test_the_table_names_each_figure_and_key_once():
    names = [spec.name for spec in (*OP_FIGURES, *SCALAR_FIGURES)]
    keys = [spec.yaml_key for spec in (*OP_FIGURES, *SCALAR_FIGURES)]
    assert len(set(names)) == len(names) and len(set(keys)) == len(keys)
    assert all(spec.fit is None or spec.fit.low < spec.fit.high for spec in (*OP_FIGURES, *SCALAR_FIGURES))
