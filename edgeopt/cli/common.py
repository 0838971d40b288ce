"""What every command shares: errors as one line and exit code 2, quantities with units, the console, JSON, progress."""

from __future__ import annotations

import importlib
import json
import sys
import time
import warnings

import click
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from edgeopt.errors import EdgeoptError, EdgeoptWarning
from edgeopt.profiles.units import Dimension, parse_duration, parse_quantity
from edgeopt.report.tool_names import LAB_TOOLS, parse_baselines


def one_line(text: str) -> str:
    """`text` with its control characters escaped (`\\n`, `\\x1b`, ...): a path or value from the input cannot split
    an error into lines or send the terminal escape codes."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class EdgeoptGroup(click.Group):
    """Turns every EdgeoptError raised by a command into `error: ...` and exit code 2, never a traceback; commands
    named in `lazy` (name -> (module, attribute, one-line help)) are imported only when run, so `edgeopt --help` and
    a fast command load nothing they do not use (click's documented lazy loading)."""

    def __init__(self, *args, lazy: dict[str, tuple[str, str, str]] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy = lazy or {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.lazy])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.lazy:
            return super().get_command(ctx, name)
        module, attribute, _ = self.lazy[name]
        return getattr(importlib.import_module(module), attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from the one-line helps in `lazy`, without importing a command."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        own = super().get_command
        # a stand-in command carrying the table's help shortens it as click shortens the command's own
        rows = [(name, (click.Command(name, help=self.lazy[name][2]) if name in self.lazy
                        else own(ctx, name)).get_short_help_str(limit)) for name in names]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context):
        def show(message, category, *args, **kwargs):
            if issubclass(category, EdgeoptWarning):
                click.echo(f"warning: {one_line(str(message))}", err=True)
            else:
                default(message, category, *args, **kwargs)

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("always", EdgeoptWarning)
                default, warnings.showwarning = warnings.showwarning, show  # restored when the block ends
                return super().invoke(ctx)
        except EdgeoptError as exc:
            click.echo(f"error: {one_line(str(exc))}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:  # every command as `search` does: 130, the shell's code for SIGINT, not 1
            click.echo("interrupted", err=True)
            ctx.exit(130)


class _Parsed(click.ParamType):
    """An option read by one of edgeopt's parsers: its EdgeoptError becomes click's own bad-parameter error (exit 2,
    one line); a value already converted (a default given as one) passes as it is."""

    converted: type = float

    def parse(self, value):
        raise NotImplementedError

    def convert(self, value, param, ctx):
        if isinstance(value, self.converted):
            return value
        try:
            return self.parse(value)
        except EdgeoptError as exc:
            self.fail(str(exc), param, ctx)


class Quantity(_Parsed):
    """A command-line quantity with units ("64KB", "2ms", "2%")."""

    def __init__(self, dimension: Dimension):
        self.dimension = dimension
        self.name = dimension.value

    def parse(self, value):
        number = parse_quantity(value, self.dimension)
        if number < 0:
            raise EdgeoptError(f"{value!r} is negative; it must be 0 or more")
        return number


class Duration(_Parsed):
    """A wall-clock budget ("90s", "30m", "2h", "1h30m")."""

    name = "duration"

    def parse(self, value):
        seconds = parse_duration(value)
        if seconds <= 0:
            raise EdgeoptError(f"{value!r}: a time budget must be more than 0")
        return seconds


class Baselines(_Parsed):
    """Which of the lab's tools a report fits beside the searched models: all, none, or a comma list."""

    name = "tools"
    converted = tuple

    def parse(self, value):
        return parse_baselines(value)


baselines_option = click.option(
    "--baselines", type=Baselines(), default="all", show_default=True,
    help=f"The lab's tools fitted beside the searched models in the report: all, none, or a comma list of "
         f"{', '.join(LAB_TOOLS)} (a decision tree sized to fit each profile comes with tree).")
model_argument = click.argument("model")
profile_option = click.option("--profile", "-p", "profile", required=True,
                              help="A shipped profile name (see `edgeopt profiles list`) or a YAML file.")
shape_option = click.option("--input-shape", default=None, metavar="DIMS",
                            help="Input shape, batch first: 1,3,224,224 (several inputs: 1,64;1,10). Required for "
                                 "torch factories; overrides an ONNX model's own shapes.")
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")


def console() -> Console:
    # markup=False: names from profiles, models and data are printed as the text they are; styles come from Text
    return Console(highlight=False, soft_wrap=False, markup=False, width=None if sys.stdout.isatty() else 160)


def emit_json(data) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def with_steps(out: Console, work, quiet: bool, label: str = "compressing"):
    """Run `work(say)`, each step it says printed with the seconds since the start under a spinner."""
    if quiet:
        return work(None)
    printed = step_printer(out)
    with out.status(label) as status:
        def say(text: str) -> None:
            printed(text)
            status.update(text)

        return work(say)


def with_progress(out: Console, work, quiet: bool):
    """Run `work(update)` under a live line of a search's progress (`SearchProgress` snapshots)."""
    if quiet:
        return work(None)
    with Progress(SpinnerColumn(), TextColumn("{task.description}", markup=False), TimeElapsedColumn(), console=out,
                  transient=False) as bar:
        task = bar.add_task("starting", total=None)

        def update(p):
            c = p.counts
            best = "; ".join(f"{k}: {v}" for k, v in p.best.items()) or "no result yet"
            slots = "".join(f"\n  {slot.text}" for slot in p.slots) if len(p.slots) > 1 else ""
            bar.update(task, description=(
                f"[{p.budget}] done {c['completed']} stopped {c['stopped']} paused {c['paused']} running "
                f"{c['running']} infeasible {c['infeasible']} failed {c['failed']} | {p.rungs_per_min:.0f} rungs/min "
                f"| best {best} | {p.event}{slots}"))

        return work(update)


def step_printer(out: Console):
    """A `progress` callback printing each step with the seconds since it was made (beside a live display)."""
    start = time.perf_counter()
    return lambda text: out.print(Text.assemble((f"{time.perf_counter() - start:6.1f} s", "dim"), f"  {text}"))
