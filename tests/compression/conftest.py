"""Compression contexts and derived profiles; the trained trial and its data are in tests/conftest.py."""

from __future__ import annotations

import textwrap

import pytest


@pytest.fixture()
def make_ctx(reads_small, trained):
    """CompressContext factory: make_ctx(profile, max_drop=..., teacher=...)."""
    from edgeopt.compression.context import CompressContext
    from edgeopt.profiles.loader import load_profile
    from edgeopt.train.loop import DeviceData

    data = DeviceData(reads_small, trained.normalizer)

    def make(profile="stm32f746", max_drop=None, teacher=None, metric="f1"):
        profile = load_profile(profile) if isinstance(profile, str) else profile
        ctx = CompressContext(profile, data, reads_small.sample_shape, 2, metric=metric, teacher=teacher)
        if max_drop is not None:
            from dataclasses import replace

            ctx = replace(ctx, max_drop=max_drop, reference_score=ctx.score(trained.module))
        return ctx

    return make


@pytest.fixture()
def profile_file(tmp_path):
    """Write a derived profile: profile_file('name', base, 'yaml body')."""

    def write(name: str, base: str, body: str) -> str:
        path = tmp_path / f"{name}.yaml"
        path.write_text(f"extends: {base}\nname: {name}\n" + textwrap.dedent(body))
        return str(path)

    return write
