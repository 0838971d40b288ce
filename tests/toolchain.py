"""Tools the C and board tests need: skipped on a developer's machine without them, a failure in CI."""

from __future__ import annotations

import os

import pytest


def require_tools(missing: list[str], packages: str = "gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm"
                  ) -> None:
    """Skip without the tools on a developer's machine; in CI (.ci/run installs them) their absence is a failure."""
    if missing:
        message = f"needs {', '.join(missing)} (Debian: {packages})"
        if os.environ.get("EDGEOPT_CI"):
            pytest.fail(message)
        pytest.skip(message)
