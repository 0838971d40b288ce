"""`edgeopt profiles list | show | validate`."""

from __future__ import annotations

import sys

import click

from edgeopt.cli.common import EdgeoptGroup, console, emit_json
from edgeopt.profiles.loader import load_profile, unsourced_figures
from edgeopt.profiles.search_path import available_profiles
from edgeopt.report.tables import render_profile, render_profile_list


@click.group(cls=EdgeoptGroup)
def profiles() -> None:
    """List, show and validate hardware profiles."""


@profiles.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def profiles_list(as_json: bool) -> None:
    """The shipped profiles (and those on $EDGEOPT_PROFILE_PATH)."""
    loaded = [load_profile(path) for path in available_profiles().values()]
    if as_json:
        emit_json([{"name": p.name, "path": str(p.path), "description": p.description,
                    "weight_bytes": p.weight_memory.usable_bytes, "activation_bytes": p.activation_memory.usable_bytes,
                    "weight_formats": list(p.weight_formats), "macs_per_s": dict(p.compute.macs_per_s)}
                   for p in loaded])
        return
    render_profile_list(loaded, console())


@profiles.command("show")
@click.argument("profile")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def profiles_show(profile: str, as_json: bool) -> None:
    """Every figure of PROFILE (a shipped name or a YAML file) with its source."""
    loaded = load_profile(profile)
    if as_json:
        emit_json(loaded.to_dict())
        return
    render_profile(loaded, console())


@profiles.command("validate")
@click.argument("files", nargs=-1, required=True)
@click.option("--strict", is_flag=True, help="Also fail (exit 1) when a figure cites no source and is not an estimate.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def profiles_validate(files: tuple[str, ...], strict: bool, as_json: bool) -> None:
    """Check profile FILES: exit 0 when valid, 2 on the first invalid one (with file, line, field and value)."""
    results = []
    for file in files:
        loaded = load_profile(file)
        results.append({"file": file, "name": loaded.name, "valid": True, "unsourced": unsourced_figures(loaded)})
    failed = strict and any(r["unsourced"] for r in results)
    if as_json:
        emit_json(results)
    else:
        for r in results:
            click.echo(f"ok: {r['file']} ({r['name']})")
            for field in r["unsourced"]:
                click.echo(f"  {'error' if strict else 'warning'}: {field} cites no source and is not marked estimate")
    if failed:
        sys.exit(1)
