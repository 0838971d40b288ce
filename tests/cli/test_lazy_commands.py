"""`edgeopt --help` lists every command from the group's table without importing one; the table's one-line help is
each command's own, and every command module imports at its top."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import click
from click.testing import CliRunner

from edgeopt.cli import COMMANDS, main


def test_the_table_says_what_each_command_says_of_itself():
    for name, (module, attribute, summary) in COMMANDS.items():
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command) and command.name == name
        assert command.get_short_help_str(1000) == click.Command(name, help=summary).get_short_help_str(1000), name


def test_help_lists_every_command_and_each_runs_its_own_help():
    listed = CliRunner().invoke(main, ["--help"])
    assert listed.exit_code == 0
    for name in COMMANDS:
        assert f"\n  {name} " in listed.output
        own = CliRunner().invoke(main, [name, "--help"])
        assert own.exit_code == 0 and own.output.startswith("Usage: main " + name), own.output


def test_an_unknown_command_is_a_usage_error():
    result = CliRunner().invoke(main, ["serch"])
    assert result.exit_code == 2 and "No such command 'serch'" in result.output


def test_command_modules_import_at_their_top():
    """A command parses, calls a library verb and renders: the verbs it needs are imported where a reader sees them
    (edgeopt.cli loads a command's module only when it runs)."""
    folder = Path(importlib.import_module("edgeopt.cli").__file__).parent
    hidden = []
    for path in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                hidden += [f"{path.name}:{inner.lineno}" for inner in ast.walk(node)
                           if isinstance(inner, (ast.Import, ast.ImportFrom))]
    assert hidden == []
