"""`edgeopt search --compress`: the pipeline applied to every profile's Pareto front, before and after side by side.

Each front member's outputs go to RUN_DIR/compressed/<profile>/trial-NNNNN/; a summary (compressed/summary.json) is
what the search report reads, so `edgeopt report RUN_DIR` shows it too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from edgeopt.atomic import write_text_atomic
from edgeopt.compression.pipeline import Pipeline
from edgeopt.workflow.compress import compress
from edgeopt.figures import QUALITY_METRICS, quality
from edgeopt.models.source import load_source
from edgeopt.numbers import short_repr
from edgeopt.profiles.search_path import PROFILE_NAME
from edgeopt.report.search_report import build_report
from edgeopt.search.run_record import SearchRun
from edgeopt.search.settings import SettingsError
from edgeopt.train.loop import TrialSpec, evaluate


SUMMARY = Path("compressed") / "summary.json"


@dataclass(frozen=True, kw_only=True)
class CompressedMember:
    """One front member before and after the pipeline: its cost figures and quality (val, test) each side, and the
    compression output folder (model.onnx, model.pt2, report.json)."""

    trial: int
    before: Mapping  # cost figures + {"val": quality, "test": quality or None}
    after: Mapping  # cost figures + weight_format, val, test, onnx_bytes, host_latency_s, status, reason
    output: str

    def score(self, metric: str) -> float:
        """Its validation `metric` after compression, measured on the deployed ONNX (-inf: not measured)."""
        value = (self.after.get("val") or {}).get(metric)
        return float(value) if isinstance(value, (int, float)) else float("-inf")

    def to_dict(self) -> dict:
        return {"trial": self.trial, "before": dict(self.before), "after": dict(self.after), "output": self.output}


@dataclass(frozen=True)
class FrontSummary:
    """What `search --compress` did to every profile's front (empty: the search was not compressed)."""

    pipeline: str = ""
    metric: str = "f1"  # the search's metric: what `best` ranks by
    profiles: Mapping[str, tuple[CompressedMember, ...]] = field(default_factory=dict)

    def best(self, profile: str) -> CompressedMember:
        """The member of `profile`'s compressed front that scores best on validation after compression."""
        members = self.profiles.get(profile)
        if not members:
            raise SettingsError(f"no compressed front for profile {short_repr(profile)}"
                                + (f" (compressed: {', '.join(self.profiles)})" if self.profiles else
                                   "; run the search with --compress PIPELINE"))
        return max(members, key=lambda m: m.score(self.metric))

    def as_report(self) -> dict[str, list[dict]]:
        """Profile -> rows, as the search report shows and writes them."""
        return {name: [m.to_dict() for m in members] for name, members in self.profiles.items()}


def compress_front(store, run_dir: str | Path, pipeline: Pipeline,
                   progress: Callable[[str], None] | None = None, *, teacher: str | None = None,
                   teacher_weights: str | None = None) -> FrontSummary:
    """Compress each profile's front members with `pipeline` (distilling from `teacher`, given by the caller: a
    teacher the study records is never loaded from it); returns and saves the summary."""
    say = progress or (lambda text: None)
    run_dir = Path(run_dir)
    run = SearchRun.from_store(store)
    report = build_report(store, evaluate_test=False, baselines=())
    teacher = load_source(teacher, teacher_weights) if teacher else None
    summary: dict[str, tuple[CompressedMember, ...]] = {}
    for profile, profile_report in zip(run.profiles, report.profiles):  # the report keeps the settings' order
        summary[profile.name] = tuple(_compress_member(run, profile, member, pipeline, run_dir, teacher, say)
                                      for member in profile_report.front)
    result = FrontSummary(pipeline.describe(), run.settings.metric, summary)
    write_text_atomic(run_dir / SUMMARY, json.dumps({"pipeline": result.pipeline, "metric": result.metric,
                                                     "profiles": result.as_report()}, indent=2) + "\n")
    return result


def _compress_member(run: SearchRun, profile, member, pipeline: Pipeline, run_dir: Path, teacher,
                     say) -> CompressedMember:
    import torch

    store, dataset, settings = run.store, run.dataset, run.settings
    trial = store.trial(member.trial)
    path = store.checkpoint_path(trial)
    spec = TrialSpec(trial.number, run.space.member(trial.config).to_json(), trial.config, dataset.sample_shape,
                     dataset.num_classes, 0, str(path), study=store.uid)
    source = load_source(str(path), trial=spec)
    say(f"{profile.name}: compressing trial {member.trial}")
    result = compress(source.module, profile, pipeline, dataset,
                      run_dir / "compressed" / profile.name / f"trial-{member.trial:05d}",
                      normalizer=source.normalizer, teacher=teacher.module if teacher else None,
                      teacher_normalizer=teacher.normalizer if teacher else None,
                      positive_class=settings.positive_class, seed=settings.seed, origin=f"trial {member.trial}")
    before_test = None
    if dataset.x_test is not None:
        before_test = evaluate(source.module, torch.from_numpy(source.normalizer.apply(dataset.x_test)),
                               torch.from_numpy(dataset.y_test), settings.positive_class).to_dict()
    last = result.steps[-1]
    return CompressedMember(
        trial=member.trial,
        before=member.cost.to_dict() | {"val": result.steps[0].metrics, "test": quality(before_test)},
        after=last.cost.to_dict() | {"weight_format": last.weight_format,
                                     "val": quality(result.deployed.val), "test": quality(result.deployed.test),
                                     "onnx_bytes": result.deployed.size_bytes,
                                     "host_latency_s": result.deployed.host_latency_s,
                                     "status": result.status, "reason": result.reason},
        output=str(Path(result.deployed.path).parent))


def read_front_summary(run_dir: str | Path) -> FrontSummary:
    """What `compress_front` saved for the run in `run_dir` (empty when the search was not compressed); a summary
    that is not what it wrote is one SettingsError naming the file."""
    path = Path(run_dir) / SUMMARY
    if not path.is_file():
        return FrontSummary()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        profiles = {_profile_name(name): tuple(_member(row, Path(run_dir) / "compressed" / name) for row in rows)
                    for name, rows in data["profiles"].items()}
        metric = data.get("metric", "f1")
        if metric not in QUALITY_METRICS:
            raise ValueError(f"metric {short_repr(metric)}")
        return FrontSummary(str(data.get("pipeline", "")), metric, profiles)
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path}: not a summary `edgeopt search --compress` wrote ({exc})") from None


def _profile_name(name: object) -> str:
    if not isinstance(name, str) or not PROFILE_NAME.fullmatch(name):
        raise ValueError(f"profile {short_repr(name)} is no profile name")
    return name


def _member(row: dict, folder: Path) -> CompressedMember:
    """A summary row; its output is where `compress_front` writes that trial's (under the run folder as it is now:
    the path recorded is not followed, the run folder may have moved)."""
    trial = row["trial"]
    if not isinstance(trial, int) or isinstance(trial, bool) or not 0 <= trial < 10**9:
        raise ValueError(f"trial {short_repr(trial)} is no trial number")
    if not isinstance(row["before"], dict) or not isinstance(row["after"], dict):
        raise ValueError("a row's before and after must be mappings")
    return CompressedMember(trial=trial, before=row["before"], after=row["after"],
                            output=str(folder / f"trial-{trial:05d}"))
