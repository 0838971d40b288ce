"""The `edgeopt` command: a thin layer over the library. Bad input: one line on stderr, exit code 2."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import click

from edgeopt.atomic import claim_file, claim_folder, require_writable, write_text_atomic
from edgeopt.errors import EdgeoptError, EdgeoptWarning
from edgeopt.figures import OBJECTIVES, QUALITY_METRICS
from edgeopt.profiles.units import Dimension, parse_duration, parse_quantity


class _Group(click.Group):
    """Turns every EdgeoptError raised by a command into `error: ...` and exit code 2, never a traceback."""

    def invoke(self, ctx: click.Context):
        import warnings

        def show(message, category, *args, **kwargs):
            if issubclass(category, EdgeoptWarning):
                click.echo(f"warning: {message}", err=True)
            else:
                default(message, category, *args, **kwargs)

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("always", EdgeoptWarning)
                default, warnings.showwarning = warnings.showwarning, show  # restored when the block ends
                return super().invoke(ctx)
        except EdgeoptError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:  # every command as `search` does: 130, the shell's code for SIGINT, not 1
            click.echo("interrupted", err=True)
            ctx.exit(130)


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


class Duration(click.ParamType):
    """A wall-clock budget ("90s", "30m", "2h", "1h30m")."""

    name = "duration"

    def convert(self, value, param, ctx):
        if isinstance(value, float):
            return value
        try:
            seconds = parse_duration(value)
        except EdgeoptError as exc:
            self.fail(str(exc), param, ctx)
        if seconds <= 0:
            self.fail(f"{value!r}: a time budget must be more than 0", param, ctx)
        return seconds


def _console():
    from rich.console import Console

    # markup=False: names from profiles, models and data are printed as the text they are; styles come from Text
    return Console(highlight=False, soft_wrap=False, markup=False, width=None if sys.stdout.isatty() else 160)


def _emit_json(data) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="edgeopt")
def main() -> None:
    """Fit neural networks onto tiny hardware: device profiles, cost estimates, hardware-aware search, compression
    measured on the exported model, and CI budget gates."""


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
@click.option("--measure", is_flag=True,
              help="Also time an .onnx MODEL on this machine (onnxruntime, one thread, each node by its profiler) and "
                   "print measured latency beside the estimate, per layer and in total.")
def profile_cmd(model: str, profile: str, input_shape: str | None, as_json: bool, summary: bool,
                measure: bool) -> None:
    """Estimate MODEL (an .onnx file or a torch factory `module:function`) on a device: per-layer costs, totals, and
    whether it fits, with reasons."""
    from edgeopt.cost.estimate import estimate_graph
    from edgeopt.profiles.loader import load_profile

    if measure and Path(model).suffix.lower() != ".onnx":
        raise click.UsageError("--measure times ONNX files; export the model to .onnx first")
    hardware = load_profile(profile)
    est = estimate_graph(_load(model, input_shape), hardware)
    measured = None
    if measure:
        from edgeopt.calibration.node_profile import node_latencies_s

        measured = node_latencies_s(model)
    if as_json:
        data = est.to_dict()
        if measured is not None:
            data["measured"] = measured.to_dict() | {"source": "measured"}
            for layer in data["layers"]:
                layer["measured_latency_s"] = measured.node_s.get(layer["name"])
        _emit_json(data)
        return
    from edgeopt.report.tables import render_estimate

    render_estimate(est, _console(), layers=not summary, measured=measured)


@main.command("calibrate")
@_profile_option
@click.option("--runtime", default="onnxruntime", show_default=True,
              type=click.Choice(["onnxruntime", "cortex-m4", "cortex-m7"]),
              help="What is timed: onnxruntime on this machine (fp32 microbenchmarks of the shipped spaces' ops), "
                   "or the C export on QEMU's Cortex-M (int8 microbenchmarks; instructions at the profile's clock, "
                   "an estimate), each with --models.")
@click.option("--models", "models", multiple=True, type=click.Path(dir_okay=False),
              help="ONNX files timed and fitted beside the microbenchmarks (repeat the option; int8 QDQ files for "
                   "a Cortex-M runtime).")
@click.option("--measurements", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Fit to a board's measurements instead of timing here: a CSV with columns model (an ONNX file, "
                   "relative to the CSV), latency (850us, 1.2ms) or latency_s / latency_ms / latency_us, optionally "
                   "layer (a row timing one layer inside the model) and energy (12uJ; fits the energy figures).")
@click.option("-o", "--out", "out", default=None, type=click.Path(dir_okay=False),
              help="The calibrated profile (YAML) to write; it extends PROFILE.")
@click.option("--write-suite", "suite_dir", default=None, type=click.Path(file_okay=False),
              help="Instead of calibrating, write the int8 board microbenchmarks as C for a board edgeopt cannot "
                   "reach: DIR/edgeopt_suite.c times them all with the board's cycle counter and prints a "
                   "measurements CSV for --measurements.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def calibrate_cmd(profile, runtime, models, measurements, out, suite_dir, as_json) -> None:
    """Fit a profile's latency figures (per-op efficiency, its fall on short loops, a cost per output and overhead,
    per-call overhead, peak rates, bandwidths) to measured latencies, and its energy figures to measured energies
    where a measurements file gives them; write a profile that extends it with every fitted figure marked
    `source: measured`."""
    from edgeopt.calibration.calibrate import calibrate

    if suite_dir is not None:
        if measurements or models or out or runtime != "onnxruntime":
            raise click.UsageError("--write-suite writes the microbenchmarks for a board and calibrates nothing: "
                                   "give it with --profile only, then --measurements with what the board printed")
        _write_suite(profile, suite_dir, as_json)
        return
    if out is None:
        raise click.UsageError("Missing option '-o' / '--out' (the calibrated profile to write).")
    if measurements and models:
        raise click.UsageError("--models are timed here; a measurements file lists its own models: give one")
    if measurements and runtime != "onnxruntime":
        raise click.UsageError(f"--runtime {runtime} times here; --measurements reads a board's: give one")
    console = _console()
    result = _with_steps(console, lambda say: calibrate(profile, out, runtime=runtime, models=models,
                                                        measurements=measurements, progress=say),
                         quiet=as_json, label="calibrating")
    if as_json:
        _emit_json(result.to_dict())
        return
    from edgeopt.report.tables import render_calibration

    render_calibration(result, console)


def _write_suite(profile, suite_dir, as_json) -> None:
    from edgeopt.calibration.board_suite import MEASUREMENTS, write_suite
    from edgeopt.profiles.loader import load_profile

    loaded = load_profile(profile)
    console = _console()
    path = _with_steps(console, lambda say: write_suite(loaded, suite_dir, progress=say), quiet=as_json,
                       label="writing the board suite")
    measurements = Path(suite_dir) / MEASUREMENTS
    if as_json:
        _emit_json({"profile": loaded.name, "suite": str(path), "measurements": str(measurements)})
        return
    console.print(f"wrote {path} and the microbenchmarks' exports beside it: compile it into a firmware image, call "
                  f"edgeopt_suite_run() and save what it prints as {measurements}; then\n  edgeopt calibrate -p "
                  f"{profile} --measurements {measurements} -o board.yaml")


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
    input. Budgets come from the profile; each --max-* replaces the profile's.

    MODEL is a model (as for `edgeopt profile`), a C export folder (its flash and RAM measured with the Cortex-M
    toolchain) or a linked firmware image (ELF: its flash and RAM gated, nothing else)."""
    from edgeopt.check import check, is_elf, is_export_folder

    if update_baseline and not baseline:
        raise click.UsageError("--update-baseline needs --baseline FILE")
    for output in (junit, baseline if update_baseline else None):  # found now, not after the work
        if output:
            claim_file(output, (model, Path(profile)))
    # an export folder or a linked image (ELF): its flash and RAM are measured
    target = model if is_export_folder(model) or is_elf(model) else _load(model, input_shape)
    result = check(target, profile, max_params=max_params, max_weight_bytes=max_weight_bytes,
                   max_activation_bytes=max_activation_bytes, max_latency_s=max_latency, max_energy_j=max_energy,
                   baseline=baseline, tolerance=tolerance, update_baseline=update_baseline)
    if junit:
        write_text_atomic(junit, result.to_junit_xml())
    if as_json:
        _emit_json(result.to_dict())
    else:
        from edgeopt.report.tables import render_check

        render_check(result, _console())
    sys.exit(0 if result.passed else 1)


# -- search, report, space --------------------------------------------------------------------------------------------


@main.command("search")
@click.option("--profile", "-p", "profiles", multiple=True,
              help="Target device (repeatable: one search, a front per profile). Required unless --resume.")
@click.option("--space", "-s", default="cnn1d", show_default=True, help="Search space YAML (or a shipped name).")
@click.option("--data", "-d", default=None, help="Dataset (.npz, .csv, x .npy); default: the bundled example.")
@click.option("--label", "label_column", default=None, help="Label column of a CSV dataset (default: label).")
@click.option("--name", default=None, help="Run name: results go to RUNS_DIR/NAME (default: SPACE-PROFILE).")
@click.option("--trials", type=click.IntRange(min=1), default=None, help="Trials to train (default 20 without --time).")
@click.option("--time", "time_budget", type=Duration(), default=None,
              help="Wall-clock budget: 90s, 30m, 2h, 1h30m.")
@click.option("--sampler", type=click.Choice(["tpe", "random", "nsga2"]), default="tpe", show_default=True)
@click.option("--early-stopping/--no-early-stopping", default=True, show_default=True, help="MO-ASHA over rungs.")
@click.option("--min-epochs", type=click.IntRange(min=1), default=1, show_default=True, help="Epochs of rung 0.")
@click.option("--eta", type=click.IntRange(min=2), default=3, show_default=True, help="ASHA reduction factor.")
@click.option("--metric", type=click.Choice(QUALITY_METRICS), default="f1",
              show_default=True, help="Quality objective (binary: of the positive class).")
@click.option("--objective", type=click.Choice(OBJECTIVES), default="weight_bytes", show_default=True,
              help="Hardware objective (on the first profile).")
@click.option("--positive-class", type=click.IntRange(0, 1_000_000), default=1, show_default=True)
@click.option("--seed", type=click.IntRange(0, 2 ** 32 - 1), default=0, show_default=True)
@click.option("--runs-dir", default="runs", show_default=True)
@click.option("--storage", default=None, help="Optuna storage URL (default: sqlite file in the run folder).")
@click.option("--resume", "resume", default=None, type=click.Path(file_okay=False),
              help="Continue the search in this run folder with its recorded settings.")
@click.option("--teacher", default=None,
              help="Train every trial against this model's soft targets (.pt checkpoint, .pt2, module:factory).")
@click.option("--teacher-weights", default=None, type=click.Path(dir_okay=False),
              help="State dict for a module:factory teacher.")
@click.option("--compress", "compress_pipeline", default=None, type=click.Path(dir_okay=False),
              help="Pipeline YAML applied to each profile's Pareto front when the search ends.")
@click.option("--device", default="auto", show_default=True,
              help="Where trials train: auto (the GPUs of --gpus when there are any, else cpu), cpu, cuda, cuda:N.")
@click.option("--workers", default="auto", show_default=True,
              help="Worker slots: auto (one per CPU core; on GPUs, 4 per GPU) or a count (1: in this process).")
@click.option("--gpus", default="all", show_default=True,
              help="GPUs to use: all (as CUDA_VISIBLE_DEVICES shows them), none, or indices such as 0,2.")
@click.option("--pack", type=click.IntRange(min=1), default=None,
              help="Most trials fused into one program (default: 16 on CPU; on a GPU, what its memory holds); "
                   "1: no fusing.")
@click.option("--backend", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: worker processes on this machine; ray: Ray actors (pip install 'edgeopt[ray]').")
@click.option("--address", default=None,
              help="Ray cluster to join: auto or ray://HOST:10001 (default: a local Ray instance).")
@click.option("--report/--no-report", default=True, show_default=True, help="Write the report when done.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def search_cmd(profiles, space, data, label_column, name, trials, time_budget, sampler, early_stopping, min_epochs,
               eta, metric, objective, positive_class, seed, runs_dir, storage, resume, teacher, teacher_weights,
               compress_pipeline, device, workers, gpus, pack, backend, address, report, as_json) -> None:
    """Find the models that fit the device(s) and what fitting costs in precision and recall.

    Every sampled architecture is costed on each profile first; those that fit none are never trained. Ctrl-C stops
    cleanly; the same command (or --resume RUN_DIR) continues where it stopped.
    """

    from edgeopt.runner.coordinator import run_search
    from edgeopt.runner.slots import parse_gpus, parse_workers
    from edgeopt.search.settings import SearchSettings

    spread = {"device": device, "workers": parse_workers(workers), "gpus": parse_gpus(gpus), "pack": pack,
              "backend": backend, "address": address}
    if resume:
        # resolved: `--resume .` from inside the run folder names it by its real name
        settings = _resumed_settings(Path(resume).resolve(), trials, time_budget, storage, spread,
                                     _absolute_model(teacher), _absolute_model(teacher_weights))
    else:
        if not profiles:
            raise click.UsageError("give at least one --profile (or --resume RUN_DIR)")
        if trials is None and time_budget is None:
            trials = 20
        run_name = name or f"{Path(space).stem}-{Path(profiles[0]).stem}"
        require_writable(runs_dir, folder=True)
        # Files are recorded by absolute path: the report and --resume may run from another folder.
        if data is not None and Path(data).is_file():
            data = str(Path(data).resolve())
        profiles = tuple(str(Path(p).resolve()) if Path(p).is_file() else p for p in profiles)
        teacher, teacher_weights = _absolute_model(teacher), _absolute_model(teacher_weights)
        settings = SearchSettings(name=run_name, space=space, profiles=tuple(profiles), data=data,
                                  label_column=label_column, sampler=sampler, early_stopping=early_stopping,
                                  trials=trials, time_s=time_budget, min_epochs=min_epochs, eta=eta, metric=metric,
                                  hardware_objective=objective, positive_class=positive_class, seed=seed,
                                  runs_dir=runs_dir, storage=storage, teacher=teacher,
                                  teacher_weights=teacher_weights, **spread)
    pipeline = None
    if compress_pipeline:
        from edgeopt.compression.pipeline import load_pipeline

        pipeline = load_pipeline(compress_pipeline)  # a bad pipeline fails now, not after the search
    console = _console()
    try:
        store = _with_progress(console, lambda progress: run_search(settings, progress), quiet=as_json)
    except KeyboardInterrupt:
        click.echo(f"interrupted; continue with: edgeopt search --resume {settings.run_dir}", err=True)
        sys.exit(130)
    if pipeline is not None:
        from edgeopt.workflow.search_compress import compress_front

        _with_steps(console, lambda say: compress_front(store, settings.run_dir, pipeline, progress=say,
                                                        teacher=settings.teacher,
                                                        teacher_weights=settings.teacher_weights), quiet=as_json)
    _finish_report(store, settings.run_dir / "report" if report else None, as_json, console, settings.run_dir)


def _resumed_settings(run_dir, trials, time_budget, storage, spread: dict, teacher, teacher_weights):
    from edgeopt.search.store import open_store
    from edgeopt.search.settings import SearchSettings

    store = open_store(run_dir, storage)
    return SearchSettings.from_stored(store.settings, run_dir, store.study.study_name, resume=True, teacher=teacher,
                                      teacher_weights=teacher_weights,
                                      trials=trials if trials or time_budget else 20, time_s=time_budget,
                                      storage=storage, **spread)


def _with_progress(console, work, quiet: bool):
    if quiet:
        return work(None)
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}", markup=False), TimeElapsedColumn(), console=console,
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


def _absolute_model(spec: str | None) -> str | None:
    """Files named on the command line are recorded by absolute path, so --resume works from any folder."""

    if spec is None:
        return None
    head, sep, tail = spec.rpartition(":")
    if sep and head.endswith(".py") and Path(head).is_file():
        return f"{Path(head).resolve()}:{tail}"
    return str(Path(spec).resolve()) if Path(spec).is_file() else spec


def _finish_report(store, out_dir, as_json: bool, console, run_dir=None) -> None:
    from edgeopt.workflow.search_compress import load_front_summary
    from edgeopt.report.search_report import build_report

    result = build_report(store)
    if run_dir is not None:
        result = dataclasses.replace(result, compressed=load_front_summary(run_dir))
    if out_dir is not None:
        from edgeopt.report.files import write_report

        html_path = write_report(result, out_dir, (run_dir / "study.db",) if run_dir is not None else ())
    if as_json:
        _emit_json(result.to_dict())
        return
    from edgeopt.report.tables import render_search_report

    render_search_report(result, console)
    if out_dir is not None:
        console.print(f"report: {html_path}")


@main.command("dashboard")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--storage", default=None, help="Optuna storage URL, if not the run folder's SQLite file.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to serve on (0.0.0.0: every interface).")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
def dashboard_cmd(run_dir, storage, host, port) -> None:
    """Watch a search (running or finished) in optuna-dashboard: objectives, trials, their edgeopt attributes.

    Needs the optional extra: pip install 'edgeopt[dashboard]'. Ctrl-C stops the server.
    """
    from edgeopt.report.dashboard import serve_dashboard

    serve_dashboard(run_dir, storage, host, port, announce=lambda: click.echo(
        f"serving {run_dir} at http://{host}:{port}/ (Ctrl-C stops)", err=True))


@main.command("report")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--out", default=None, help="Folder for the report files (default: RUN_DIR/report).")
@click.option("--storage", default=None, help="Optuna storage URL, if not the run folder's SQLite file.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def report_cmd(run_dir: str, out: str | None, storage: str | None, as_json: bool) -> None:
    """Tables, plots and an HTML page of a search: the Pareto front per profile, the best precision and recall under
    size budgets, a linear baseline, and every trial as JSON and CSV."""

    from edgeopt.search.store import open_store

    out_dir = Path(out) if out else Path(run_dir) / "report"
    claim_folder(out_dir, "report", (Path(run_dir) / "study.db",))
    store = open_store(Path(run_dir), storage)
    _finish_report(store, out_dir, as_json, _console(), Path(run_dir))


@main.command("compress")
@click.argument("model")
@click.option("--profile", "-p", required=True, help="Target device profile (YAML path or shipped name).")
@click.option("--pipeline", "pipeline_file", default=None, type=click.Path(dir_okay=False),
              help="Pipeline YAML (steps: prune, magnitude_prune, distill, quantize).")
@click.option("--auto", is_flag=True, help="Choose the steps from the profile: prune with distillation toward its "
                                           "budgets, then quantize to its format.")
@click.option("--data", "-d", default=None, help="Dataset (.npz, .csv, x .npy); default: the bundled example.")
@click.option("--label", "label_column", default=None, help="Label column of a CSV dataset.")
@click.option("--weights", default=None, type=click.Path(dir_okay=False),
              help="State dict for a module:factory MODEL (loaded weights-only).")
@click.option("--teacher", default=None, help="Teacher for distillation (default: MODEL itself).")
@click.option("--teacher-weights", default=None, type=click.Path(dir_okay=False),
              help="State dict for a module:factory teacher.")
@click.option("--max-drop", type=click.FloatRange(0, 1, max_open=True), default=None,
              help="Largest allowed loss in the metric, e.g. 0.01 (default: the pipeline's, else 0.01).")
@click.option("--metric", type=click.Choice(QUALITY_METRICS), default=None,
              help="Metric the tolerance is measured in (default: the pipeline's, else f1).")
@click.option("--positive-class", type=click.IntRange(0, 1_000_000), default=1, show_default=True)
@click.option("--seed", type=click.IntRange(0, 2 ** 32 - 1), default=0, show_default=True)
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output folder (written whole at the end; an earlier output there is replaced).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def compress_cmd(model, profile, pipeline_file, auto, data, label_column, weights, teacher, teacher_weights, max_drop,
                 metric, positive_class, seed, out_dir, as_json) -> None:
    """Shrink MODEL for a device: prune, distil and quantize, each step checked against --max-drop; export ONNX (int8
    as QDQ) and measure it in onnxruntime.

    MODEL is a search checkpoint (.pt), a torch.export program (.pt2), or package.module:factory with --weights.
    """
    import dataclasses

    import torch

    from edgeopt.compression.pipeline import auto_pipeline, load_pipeline
    from edgeopt.compression.run import check_model
    from edgeopt.workflow.compress import compress
    from edgeopt.models.source import load_source
    from edgeopt.data.loading import load_dataset
    from edgeopt.errors import ModelError
    from edgeopt.profiles.loader import load_profile

    if auto == (pipeline_file is not None):
        raise click.UsageError("give exactly one of --pipeline FILE and --auto")
    inputs = tuple(item for item in (model, pipeline_file, data, weights, teacher, teacher_weights) if item)
    claim_folder(out_dir, "compression", inputs)  # before minutes of pruning, not after
    torch.set_num_threads(1)  # tiny models: one thread is fastest and keeps results reproducible
    target = load_profile(profile)
    pipeline = load_pipeline(pipeline_file) if pipeline_file else None
    if pipeline is not None and (max_drop is not None or metric is not None):
        pipeline = dataclasses.replace(pipeline, max_drop=pipeline.max_drop if max_drop is None else max_drop,
                                       metric=metric or pipeline.metric)
    source = load_source(model, weights)
    dataset = load_dataset(data, label_column=label_column, example=_example_for(source.sample_shape))
    if source.sample_shape is not None and tuple(source.sample_shape) != dataset.sample_shape:
        raise ModelError(f"{model} takes samples of shape {tuple(source.sample_shape)}, but the data's are "
                         f"{dataset.sample_shape}")
    teacher_source = load_source(teacher, teacher_weights) if teacher else None
    if pipeline is None:
        check_model(source.module, dataset, source.normalizer)  # before --auto costs it on the data's shape
        pipeline = auto_pipeline(source.module, target, dataset.sample_shape,
                                 max_drop=0.01 if max_drop is None else max_drop, metric=metric or "f1")
    console = _console()
    result = _with_steps(console, lambda say: compress(
        source.module, target, pipeline, dataset, out_dir, normalizer=source.normalizer,
        teacher=teacher_source.module if teacher_source else None,
        teacher_normalizer=teacher_source.normalizer if teacher_source else None, positive_class=positive_class,
        seed=seed, origin=str(model), progress=say, inputs=inputs), quiet=as_json)
    if as_json:
        _emit_json(result.to_dict())
        return
    from edgeopt.report.tables import render_compression

    render_compression(result, console)
    console.print(f"output: {out_dir}")


@main.command("export")
@click.argument("model", type=click.Path(exists=True))
@click.option("--profile", "-p", required=True, help="Target profile: a name or a YAML file.")
@click.option("--format", "fmt", type=click.Choice(["c", "tvm"]), default="c", show_default=True,
              help="c: C99 source (model.h / model.c), integer-only, for a firmware build; tvm: Apache TVM builds "
                   "for the host and a Cortex-M4 (extra edgeopt[tvm]).")
@click.option("--name", default="model", show_default=True,
              help="C prefix of every symbol and of the file names (two models in one image need two names): "
                   "lower-case letters, digits and underscores, not a C keyword or standard header's name.")
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output folder (written whole; an earlier export there is replaced).")
@click.option("--data", "-d", default=None,
              help="Run the C on this dataset's test split (host build; with --emulate, the emulated device) and "
                   "print the deployed precision/recall. Default: no run.")
@click.option("--label", "label_column", default=None, help="Label column of a CSV dataset.")
@click.option("--emulate", type=click.Choice(["cortex-m4", "cortex-m7"]), default=None,
              help="With --data: run on QEMU's Cortex-M board; the metrics come from its outputs.")
@click.option("--measurements-out", "measurements_out", default=None, type=click.Path(dir_okay=False),
              help="With --emulate: append the emulated latency (the whole call and each layer, instructions at the "
                   "profile's clock) to this CSV, for `edgeopt calibrate --measurements`.")
@click.option("--positive-class", type=click.IntRange(0, 1_000_000), default=1, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def export_cmd(model, profile, fmt, name, out_dir, data, label_column, emulate, measurements_out, positive_class,
               as_json) -> None:
    """Write MODEL as source for a device build, with manifest.json and CMake/Make fragments.

    MODEL is a quantized QDQ model.onnx, or the output folder of `edgeopt compress` holding one (its input
    normalisation is then applied to --data), or a float model (a search trial's checkpoint.pt, a .pt2 program):
    that is quantized first in the profile's formats, calibrated on --data, as `edgeopt compress` would.
    """
    from edgeopt.profiles.loader import load_profile
    from edgeopt.workflow.export import export_model

    target = load_profile(profile)
    dataset = _dataset(data, label_column) if data else None
    run = _with_steps(_console(), lambda say: export_model(
        model, target, out_dir, format=fmt, name=name, dataset=dataset, data_path=data, emulate=emulate,
        measurements_out=measurements_out, positive_class=positive_class, progress=say), quiet=as_json,
        label="exporting")
    if as_json:
        _emit_json(run.to_dict())
        return
    from edgeopt.report.tables import render_deployment, render_export

    console = _console()
    if run.quantized is not None:
        val, quantized = run.quantized.deployed.val, run.quantized
        console.print(f"quantized post-training ({quantized.steps[-1].weight_format}, {quantized.status}): the QDQ "
                      f"model measured in onnxruntime on validation: precision {val['precision']:.3f} recall "
                      f"{val['recall']:.3f} F1 {val['f1']:.3f}")
    render_export(run.record, console)
    if run.deployment is not None:
        render_deployment(run.deployment, console)


def _dataset(data: str, label_column: str | None):
    from edgeopt.data.loading import load_dataset

    return load_dataset(data, label_column=label_column)


def _example_for(sample_shape) -> str:
    return "shapes" if sample_shape is not None and len(sample_shape) == 3 else "reads"


def _with_steps(console, work, quiet: bool, label: str = "compressing"):
    if quiet:
        return work(None)
    import time

    from rich.text import Text

    start = time.perf_counter()
    with console.status(label) as status:
        def say(text: str) -> None:
            console.print(Text.assemble((f"{time.perf_counter() - start:6.1f} s", "dim"), f"  {text}"))
            status.update(text)

        return work(say)


@main.group(cls=_Group)
def space() -> None:
    """Inspect search spaces."""


@space.command("show")
@click.argument("space_file")
@click.option("--profile", "-p", "profiles", multiple=True, help="Profile(s) to cost the samples on.")
@click.option("--data", "-d", default=None, help="Dataset fixing the input shape (default: the bundled example).")
@click.option("--label", "label_column", default=None, help="Label column of a CSV dataset (default: label).")
@click.option("--samples", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--seed", type=click.IntRange(0, 2 ** 32 - 1), default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def space_show(space_file: str, profiles, data, label_column, samples: int, seed: int, as_json: bool) -> None:
    """Size of SPACE_FILE, the share of its configurations that apply to the data's samples, a few sampled
    configurations with their cost, and the share that fits each profile."""
    from edgeopt.data.loading import load_dataset
    from edgeopt.profiles.loader import load_profile
    from edgeopt.search.settings import DEFAULT_EXAMPLE
    from edgeopt.space.spec import load_space
    from edgeopt.space.survey import survey

    loaded = load_space(space_file)
    dataset = load_dataset(data, label_column=label_column, example=DEFAULT_EXAMPLE[loaded.family])
    result = survey(loaded, dataset.sample_shape, dataset.num_classes, [load_profile(p) for p in profiles],
                    samples=samples, seed=seed)
    if as_json:
        _emit_json(result.to_dict())
        return
    from edgeopt.report.tables import render_space_survey

    render_space_survey(result, _console())


if __name__ == "__main__":  # pragma: no cover
    main()
