"""The `edgeopt` command: a thin layer over the library. Bad input: one line on stderr, exit code 2."""

from __future__ import annotations

import json
import sys

import click

from edgeopt.errors import EdgeoptError
from edgeopt.profiles.units import Dimension, parse_quantity


class _Group(click.Group):
    """Turns every EdgeoptError raised by a command into `error: ...` and exit code 2, never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except EdgeoptError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)


class Quantity(click.ParamType):
    """A command-line quantity with units ("64KB", "2ms", "2%")."""

    def __init__(self, dimension: Dimension):
        self.dimension = dimension
        self.name = dimension.value

    def convert(self, value, param, ctx):
        if isinstance(value, float):
            return value
        try:
            number = parse_quantity(value, self.dimension)
        except EdgeoptError as exc:
            self.fail(str(exc), param, ctx)
        if number < 0:
            self.fail(f"{value!r} is negative; it must be 0 or more", param, ctx)
        return number


def _console():
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False, width=None if sys.stdout.isatty() else 160)


def _emit_json(data) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="edgeopt")
def main() -> None:
    """Fit neural networks onto tiny hardware: device profiles, cost estimates and CI budget gates."""


# -- profiles -----------------------------------------------------------------------------------------------------


@main.group(cls=_Group)
def profiles() -> None:
    """List, show and validate hardware profiles."""


@profiles.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def profiles_list(as_json: bool) -> None:
    """The shipped profiles (and those on $EDGEOPT_PROFILE_PATH)."""
    from edgeopt.profiles.loader import available_profiles, load_profile

    loaded = [load_profile(path) for path in available_profiles().values()]
    if as_json:
        _emit_json([{"name": p.name, "path": str(p.path), "description": p.description,
                     "weight_bytes": p.weight_memory.usable_bytes, "activation_bytes": p.activation_memory.usable_bytes,
                     "weight_formats": list(p.weight_formats), "macs_per_s": dict(p.compute.macs_per_s)}
                    for p in loaded])
        return
    from edgeopt.report.tables import render_profile_list

    render_profile_list(loaded, _console())


@profiles.command("show")
@click.argument("profile")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def profiles_show(profile: str, as_json: bool) -> None:
    """Every figure of PROFILE (a shipped name or a YAML file) with its source."""
    from edgeopt.profiles.loader import load_profile

    loaded = load_profile(profile)
    if as_json:
        _emit_json(loaded.to_dict())
        return
    from edgeopt.report.tables import render_profile

    render_profile(loaded, _console())


@profiles.command("validate")
@click.argument("files", nargs=-1, required=True)
@click.option("--strict", is_flag=True, help="Also fail (exit 1) when a figure cites no source and is not an estimate.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def profiles_validate(files: tuple[str, ...], strict: bool, as_json: bool) -> None:
    """Check profile FILES: exit 0 when valid, 2 on the first invalid one (with file, line, field and value)."""
    from edgeopt.profiles.loader import load_profile, unsourced_figures

    results = []
    for file in files:
        loaded = load_profile(file)
        results.append({"file": file, "name": loaded.name, "valid": True, "unsourced": unsourced_figures(loaded)})
    failed = strict and any(r["unsourced"] for r in results)
    if as_json:
        _emit_json(results)
    else:
        for r in results:
            click.echo(f"ok: {r['file']} ({r['name']})")
            for field in r["unsourced"]:
                click.echo(f"  {'error' if strict else 'warning'}: {field} cites no source and is not marked estimate")
    if failed:
        sys.exit(1)


# -- profile and check --------------------------------------------------------------------------------------------

_model_argument = click.argument("model")
_profile_option = click.option("--profile", "-p", "profile", required=True,
                               help="A shipped profile name (see `edgeopt profiles list`) or a YAML file.")
_shape_option = click.option("--input-shape", default=None, metavar="DIMS",
                             help="Input shape, batch first: 1,3,224,224 (several inputs: 1,64;1,10). Required for "
                                  "torch factories; overrides an ONNX model's own shapes.")


def _load(model: str, input_shape: str | None):
    from edgeopt.graph.build import build_graph
    from edgeopt.graph.model_spec import load_model_spec, parse_input_shape

    shape = parse_input_shape(input_shape) if input_shape else None
    return build_graph(load_model_spec(model), shape)


@main.command("profile")
@_model_argument
@_profile_option
@_shape_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.option("--summary", is_flag=True, help="Totals and verdict only, no per-layer table.")
def profile_cmd(model: str, profile: str, input_shape: str | None, as_json: bool, summary: bool) -> None:
    """Estimate MODEL (an .onnx file or a torch factory `module:function`) on a device: per-layer costs, totals, and
    whether it fits, with reasons."""
    from edgeopt.cost.estimate import estimate_graph
    from edgeopt.profiles.loader import load_profile

    hardware = load_profile(profile)
    est = estimate_graph(_load(model, input_shape), hardware)
    if as_json:
        _emit_json(est.to_dict())
        return
    from edgeopt.report.tables import render_estimate

    render_estimate(est, _console(), layers=not summary)


@main.command("check")
@_model_argument
@_profile_option
@_shape_option
@click.option("--max-params", type=Quantity(Dimension.COUNT), help="Parameter budget, e.g. 4000 or 1.5M.")
@click.option("--max-weight-bytes", type=Quantity(Dimension.BYTES), help="Weight storage budget, e.g. 64KiB.")
@click.option("--max-activation-bytes", type=Quantity(Dimension.BYTES), help="Peak activation budget, e.g. 200KB.")
@click.option("--max-latency", type=Quantity(Dimension.TIME), help="Latency budget, e.g. 2ms.")
@click.option("--max-energy", type=Quantity(Dimension.ENERGY), help="Energy per inference budget, e.g. 50uJ.")
@click.option("--baseline", type=click.Path(dir_okay=False), help="Baseline JSON to compare against (or to write).")
@click.option("--tolerance", type=Quantity(Dimension.FRACTION), default="0%", show_default=True,
              help="Allowed growth over the baseline, e.g. 2%.")
@click.option("--update-baseline", is_flag=True, help="Write the current figures to --baseline instead of comparing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.option("--junit", type=click.Path(dir_okay=False), help="Also write JUnit XML (one testcase per check).")
def check_cmd(model, profile, input_shape, max_params, max_weight_bytes, max_activation_bytes, max_latency,
              max_energy, baseline, tolerance, update_baseline, as_json, junit) -> None:
    """Gate a build: exit 0 when every budget holds, 1 when a budget or a baseline regression fails, 2 for bad
    input. Budgets come from the profile; each --max-* replaces the profile's."""
    from edgeopt.check import check

    if update_baseline and not baseline:
        raise click.UsageError("--update-baseline needs --baseline FILE")
    result = check(_load(model, input_shape), profile, max_params=max_params, max_weight_bytes=max_weight_bytes,
                   max_activation_bytes=max_activation_bytes, max_latency_s=max_latency, max_energy_j=max_energy,
                   baseline=baseline, tolerance=tolerance, update_baseline=update_baseline)
    if junit:
        from edgeopt.atomic import write_text_atomic

        write_text_atomic(junit, result.to_junit_xml())
    if as_json:
        _emit_json(result.to_dict())
    else:
        from edgeopt.report.tables import render_check

        render_check(result, _console())
    sys.exit(0 if result.passed else 1)


if __name__ == "__main__":  # pragma: no cover
    main()
