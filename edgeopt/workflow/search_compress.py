"""`edgeopt search --compress`: the pipeline applied to every profile's Pareto front, before and after side by side.

Each front member's outputs go to RUN_DIR/compressed/<profile>/trial-NNNNN/; a summary (compressed/summary.json) is
what the search report reads, so `edgeopt report RUN_DIR` shows it too.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from edgeopt.atomic import write_text_atomic
from edgeopt.compression.pipeline import Pipeline
from edgeopt.workflow.compress import compress
from edgeopt.data.loading import load_dataset
from edgeopt.figures import quality
from edgeopt.models.source import load_source
from edgeopt.profiles.loader import load_profile
from edgeopt.report.search_report import build_report
from edgeopt.search.settings import DEFAULT_EXAMPLE
from edgeopt.space.spec import SearchSpace
from edgeopt.train.loop import TrialSpec, evaluate


def compress_front(store, run_dir: str | Path, pipeline: Pipeline,
                   progress: Callable[[str], None] | None = None, *, teacher: str | None = None,
                   teacher_weights: str | None = None) -> dict[str, list[dict]]:
    """Compress each profile's front members with `pipeline` (distilling from `teacher`, given by the caller: a
    teacher the study records is never loaded from it); returns and saves {profile: [row per member]}."""
    import torch

    say = progress or (lambda text: None)
    run_dir = Path(run_dir)
    settings = store.settings
    space = SearchSpace.from_json(settings["space"])
    dataset = load_dataset(settings["data"], label_column=settings["label_column"], seed=settings["seed"],
                           example=DEFAULT_EXAMPLE[space.family])
    report = build_report(store, evaluate_test=False)
    teacher = load_source(teacher, teacher_weights) if teacher else None
    summary: dict[str, list[dict]] = {}
    for name, profile_report in zip(settings["profiles"], report.profiles):  # the report keeps the settings' order
        profile = load_profile(name)
        rows = []
        for member in profile_report.front:
            trial = store.trial(member.trial)
            path = store.checkpoint_path(trial)
            source = load_source(str(path), trial=TrialSpec(trial.number, settings["space"], trial.config,
                                                             dataset.sample_shape, dataset.num_classes, 0, str(path),
                                                             study=store.uid))
            say(f"{profile.name}: compressing trial {member.trial}")
            result = compress(source.module, profile, pipeline, dataset,
                              run_dir / "compressed" / profile.name / f"trial-{member.trial:05d}",
                              normalizer=source.normalizer, teacher=teacher.module if teacher else None,
                              teacher_normalizer=teacher.normalizer if teacher else None,
                              positive_class=settings["positive_class"], seed=settings["seed"],
                              origin=f"trial {member.trial}")
            before_test = None
            if dataset.x_test is not None:
                before_test = evaluate(source.module, torch.from_numpy(source.normalizer.apply(dataset.x_test)),
                                       torch.from_numpy(dataset.y_test), settings["positive_class"]).to_dict()
            last = result.steps[-1]
            rows.append({
                "trial": member.trial,
                "before": member.cost.to_dict() | {"val": result.steps[0].metrics, "test": quality(before_test)},
                "after": last.cost.to_dict() | {"weight_format": last.weight_format,
                          "val": quality(result.deployed.val), "test": quality(result.deployed.test),
                          "onnx_bytes": result.deployed.size_bytes, "host_latency_s": result.deployed.host_latency_s,
                          "status": result.status, "reason": result.reason},
                "output": str(Path(result.deployed.path).parent),
            })
        summary[profile.name] = rows
    write_text_atomic(run_dir / "compressed" / "summary.json",
                      json.dumps({"pipeline": pipeline.describe(), "profiles": summary}, indent=2) + "\n")
    return summary


def load_front_summary(run_dir: str | Path) -> dict[str, list[dict]]:
    """What `compress_front` saved for this run ({} when the search was not compressed)."""
    path = Path(run_dir) / "compressed" / "summary.json"
    if not path.is_file():
        return {}
    return json.loads(path.read_text())["profiles"]

