"""Running a hardware tool (an HDL simulator, yosys, nextpnr) in a scratch folder: its failure as one line."""

from __future__ import annotations

import subprocess
from pathlib import Path

from edgeopt.errors import EdgeoptError


def run_tool(command: list[str], folder: Path, timeout_s: float, name: str | None = None) -> None:
    """Run `command` in `folder`; an EdgeoptError naming the tool (`name`, else the program's file name) with the
    last lines it printed when it fails or runs past `timeout_s`."""
    name = name or Path(command[0]).name
    try:
        done = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise EdgeoptError(f"{name}: no result in {timeout_s:g} s") from None
    if done.returncode != 0:
        raise EdgeoptError(f"{name} failed (exit {done.returncode}): " + output_tail(done.stderr or done.stdout))


def output_tail(text: str, lines: int = 5) -> str:
    """A tool's last `lines` lines of output, joined on one line (an error stays one line)."""
    return " | ".join(text.strip().splitlines()[-lines:])


__all__ = ["output_tail", "run_tool"]
