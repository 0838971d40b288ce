"""`edgeopt search` and `edgeopt report` as library verbs: settings from what the command line takes (files made
absolute, so the run folder works from anywhere), the search run or resumed, its fronts compressed, its report built
and written."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgeopt.atomic import claim_folder, require_writable
from edgeopt.compression.pipeline import Pipeline, load_pipeline
from edgeopt.models.reference import absolute_spec
from edgeopt.report.files import write_report
from edgeopt.report.search_report import SearchReport, build_report
from edgeopt.report.tool_names import LAB_TOOLS
from edgeopt.runner.coordinator import run_search
from edgeopt.runner.slots import parse_gpus, parse_workers
from edgeopt.search.settings import SearchProgress, SearchSettings, SettingsError
from edgeopt.search.store import Store, open_store
from edgeopt.workflow.search_compress import compress_front, read_front_summary

DEFAULT_TRIALS = 20  # without a trial count or a time budget


@dataclass(frozen=True, kw_only=True)
class SearchOutcome:
    """A finished (or resumed and finished) search, or a run reported: its store, report, the HTML report's path,
    and the settings it ran with (None for a run only reported)."""

    settings: SearchSettings | None
    store: Store
    report: SearchReport
    html_path: Path | None  # None: no report folder written


def search_settings(profiles=(), *, space: str = "cnn1d", data: str | os.PathLike | None = None,
                    label_column: str | None = None, name: str | None = None, trials: int | None = None,
                    time_s: float | None = None, resume: str | os.PathLike | None = None,
                    teacher: str | None = None, teacher_weights: str | os.PathLike | None = None,
                    storage: str | None = None, workers="auto", gpus="all", **settings) -> SearchSettings:
    """The settings `edgeopt search` builds from its options (`settings`: the rest of `SearchSettings`' fields, as
    the command line names them). `resume`: the run folder's own settings, with the budget and the machine's
    spread given here. Files are recorded by absolute path: the report and a resume may run from another folder."""
    spread = {"workers": parse_workers(workers), "gpus": parse_gpus(gpus)} | {
        key: settings.pop(key) for key in ("device", "pack", "backend", "address") if key in settings}
    teacher, teacher_weights = absolute_spec(teacher), absolute_spec(teacher_weights)
    if resume is not None:
        # resolved: `--resume .` from inside the run folder names it by its real name
        run_dir = Path(resume).resolve()
        store = open_store(run_dir, storage)
        return SearchSettings.from_stored(store.settings, run_dir, store.study.study_name, resume=True,
                                          teacher=teacher, teacher_weights=teacher_weights,
                                          trials=trials if trials or time_s else DEFAULT_TRIALS, time_s=time_s,
                                          storage=storage, **spread)
    if not profiles:
        raise SettingsError("give at least one profile (--profile), or a run folder to resume (--resume)")
    if data is not None and Path(data).is_file():
        data = str(Path(data).resolve())
    runs_dir = settings.pop("runs_dir", "runs")
    require_writable(runs_dir, folder=True)
    profiles = tuple(str(Path(p).resolve()) if Path(p).is_file() else p for p in profiles)
    return SearchSettings(name=name or f"{Path(space).stem}-{Path(profiles[0]).stem}", space=space,
                          profiles=profiles, data=data, label_column=label_column,
                          trials=DEFAULT_TRIALS if trials is None and time_s is None else trials, time_s=time_s,
                          runs_dir=runs_dir, storage=storage, teacher=teacher, teacher_weights=teacher_weights,
                          **spread, **settings)


def search_models(settings: SearchSettings, *, compress: Pipeline | str | os.PathLike | None = None,
                  report: bool = True, progress: Callable[[SearchProgress], None] | None = None,
                  steps: Callable[[str], None] | None = None, baselines: tuple[str, ...] = LAB_TOOLS) -> SearchOutcome:
    """Run (or resume) the search `settings` describe; with `compress` (a pipeline or its YAML, read before the
    search so a bad one fails first), compress every profile's front; build the report with the lab's tools in
    `baselines` beside the models, and with `report` write it to RUN_DIR/report. `progress` gets the search's
    snapshots, `steps` the compression's steps."""
    pipeline = load_pipeline(compress) if isinstance(compress, (str, os.PathLike)) else compress
    store = run_search(settings, progress)
    if pipeline is not None:
        compress_front(store, settings.run_dir, pipeline, progress=steps, teacher=settings.teacher,
                       teacher_weights=settings.teacher_weights)
    return report_outcome(settings, store, settings.run_dir / "report" if report else None, settings.run_dir,
                          baselines)


def report_run(run_dir: str | os.PathLike, out: str | os.PathLike | None = None,
               storage: str | None = None, baselines: tuple[str, ...] = LAB_TOOLS) -> SearchOutcome:
    """The report of the search in `run_dir` (wherever it is now), written to `out` (default RUN_DIR/report), with
    the lab's tools in `baselines` fitted beside its models."""
    run_dir = Path(run_dir)
    out_dir = Path(out) if out else run_dir / "report"
    claim_folder(out_dir, "report", (run_dir / "study.db",))
    return report_outcome(None, open_store(run_dir, storage), out_dir, run_dir, baselines)


def report_outcome(settings: SearchSettings | None, store: Store, out_dir: Path | None,
                   run_dir: Path, baselines: tuple[str, ...] = LAB_TOOLS) -> SearchOutcome:
    """The report of `store` with the run's compressed fronts (in `run_dir`), written to `out_dir` when given."""
    result = dataclasses.replace(build_report(store, baselines=baselines),
                                 compressed=read_front_summary(run_dir).as_report())
    html_path = write_report(result, out_dir, (run_dir / "study.db",)) if out_dir is not None else None
    return SearchOutcome(settings=settings, store=store, report=result, html_path=html_path)
