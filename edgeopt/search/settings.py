"""The settings of a search, as a frozen record, and the choices they are checked against.

The runner (edgeopt/runner), the CLI and the report read settings from here; nothing here trains.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from edgeopt.data.examples import example_for_shape
from edgeopt.errors import EdgeoptError
from edgeopt.figures import OBJECTIVES, QUALITY_METRICS
from edgeopt.numbers import NumberError, check_fields, short_repr

SAMPLERS = ("random", "tpe", "nsga2")
# the bundled example a family's models take when no data is given (by the rank of their samples)
DEFAULT_EXAMPLE = {family: example_for_shape((1,) * rank)
                   for family, rank in (("mlp", 2), ("cnn1d", 2), ("cnn2d", 3), ("rocket", 2))}
BACKENDS = ("local", "ray")
# What makes a run the run it is: stored with the study; a resume takes them from there and may not change them.
IDENTITY = ("profiles", "data", "label_column", "sampler", "early_stopping", "min_epochs", "eta", "metric",
            "hardware_objective", "positive_class", "seed", "teacher", "teacher_weights", "distill_temperature",
            "distill_alpha")


@dataclass(frozen=True)
class SearchSettings:
    name: str = "search"
    space: str = "cnn1d"  # a YAML path or a shipped space's name
    space_json: dict | None = None  # the space itself (as stored by a run), instead of loading `space`
    profiles: tuple[str, ...] = ("sequencer-fpga",)
    data: str | None = None  # None: the bundled example that suits the family
    label_column: str | None = None
    sampler: str = "tpe"
    early_stopping: bool = True  # MO-ASHA; off: every trial trains to the full budget
    trials: int | None = 20  # trials trained (infeasible ones cost nothing and are not counted)
    time_s: float | None = None
    min_epochs: int = 1
    eta: int = 3
    metric: str = "f1"
    hardware_objective: str = "weight_bytes"
    positive_class: int = 1
    seed: int = 0
    runs_dir: str = "runs"
    storage: str | None = None
    study_name: str | None = None  # the study in the run folder's storage (resuming: the one it holds); None: name
    device: str | None = None  # None or "auto": cuda when available, else cpu; "cpu", "cuda", "cuda:N"
    threads: int = 1  # CPU threads for torch; tiny models train fastest on one
    teacher: str | None = None  # every trial trains against this model's soft targets (a compress MODEL spec)
    teacher_weights: str | None = None
    distill_temperature: float = 4.0
    distill_alpha: float = 0.7
    # How the work is spread: these may change between a run and its resume.
    workers: int | None = 1  # trial processes (slots); None: auto (one per CPU core, or several per GPU)
    gpus: tuple[int, ...] | None = None  # None: every visible GPU (CUDA_VISIBLE_DEVICES respected); (): none
    pack: int | None = None  # most trials fused into one program; None: auto (runner.slots: on CPU 32 for mlp, 1
    # otherwise; on a GPU, from its memory)
    backend: str = "local"  # local: worker processes on this machine; ray: Ray actors (a cluster with `address`)
    address: str | None = None  # the Ray cluster: None starts a local instance, "auto" or "ray://host:10001"
    retries: int = 2  # a trial whose worker died or ran out of memory is retried this many times, then failed

    def __post_init__(self) -> None:
        """Every field checked as strictly from a study's stored settings as from the command line: one error
        naming the field."""
        for name in ("profiles", "gpus"):  # a list from a library caller or JSON is the tuple it means
            if isinstance(getattr(self, name), list):
                object.__setattr__(self, name, tuple(getattr(self, name)))
        check_run_name(self.name)
        if not isinstance(self.early_stopping, bool):
            raise SettingsError(f"early_stopping: expected true or false, got {short_repr(self.early_stopping)}")
        for name in _NUMBERS.keys() - _OPTIONAL:
            if getattr(self, name) is None:
                raise SettingsError(f"{name}: missing; expected a number")
        try:
            check_fields("", self, _NUMBERS, above=_ABOVE_LOW)
        except NumberError as exc:
            raise SettingsError(str(exc)) from None
        for name, allowed in (("sampler", SAMPLERS), ("metric", QUALITY_METRICS),
                              ("hardware_objective", OBJECTIVES), ("backend", BACKENDS)):
            if getattr(self, name) not in allowed:
                raise SettingsError(f"{name}: {short_repr(getattr(self, name))} is not one of {', '.join(allowed)}")
        for name in ("space", "runs_dir"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise SettingsError(f"{name}: expected non-empty text, got {short_repr(getattr(self, name))}")
        for name in ("data", "label_column", "storage", "study_name", "device", "teacher", "teacher_weights",
                     "address"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), str):
                raise SettingsError(f"{name}: expected text, got {short_repr(getattr(self, name))}")
        if not isinstance(self.profiles, tuple) or not self.profiles or \
                not all(isinstance(p, str) and p for p in self.profiles):
            raise SettingsError(f"profiles: expected at least one profile name or file, got "
                                f"{short_repr(self.profiles)}")
        if self.space_json is not None and not isinstance(self.space_json, dict):
            raise SettingsError(f"space: expected a stored space, got {short_repr(self.space_json)}")
        if self.gpus is not None and (not isinstance(self.gpus, tuple) or not all(
                isinstance(g, int) and not isinstance(g, bool) and 0 <= g < 1024 for g in self.gpus)):
            raise SettingsError(f"gpus: expected GPU indices, got {short_repr(self.gpus)}")
        if self.address is not None and self.backend != "ray":
            raise SettingsError("address: a Ray cluster's address goes with --backend ray; with --backend local "
                                "it would be ignored")
        if self.teacher_weights is not None and self.teacher is None:
            raise SettingsError("teacher_weights: weights for a teacher, but no teacher is given")

    @property
    def run_dir(self) -> Path:
        return Path(self.runs_dir) / self.name

    @property
    def storage_url(self) -> str:
        return self.storage or f"sqlite:///{self.run_dir / 'study.db'}"

    def identity(self, space_json: dict) -> dict:
        """What must not change when a search is resumed (budgets and the spread of work may)."""
        return {"space": space_json} | {name: _stored(getattr(self, name)) for name in IDENTITY}

    @classmethod
    def from_stored(cls, stored: dict, run_dir: Path, study_name: str, *, resume: bool = False,
                    teacher: str | None = None, teacher_weights: str | None = None, **changes) -> SearchSettings:
        """The settings of the run in `run_dir` as its store recorded them, with `changes` (budgets, workers...),
        checked as the command line's are. A run folder is data: to `resume` training, a recorded teacher (code:
        `module:factory`) is never taken from it but must be given again as `teacher` (and `teacher_weights`),
        equal to what the run recorded; otherwise (a report) the teacher stays a recorded name nothing loads."""
        where = f"{run_dir}: the study's stored settings"
        if not isinstance(stored, dict) or not isinstance(stored.get("space"), dict) or \
                not isinstance(stored["space"].get("name"), str):
            raise SettingsError(f"{where}: no search space recorded; not a study `edgeopt search` wrote")
        known = {f.name for f in fields(cls)}
        values = {name: stored[name] for name in IDENTITY if name in stored and name in known}
        if isinstance(values.get("profiles"), list):
            values["profiles"] = tuple(values["profiles"])
        recorded = values.pop("teacher", None), values.pop("teacher_weights", None)
        if not resume:
            teacher, teacher_weights = recorded
        elif recorded[0] is not None and teacher is None:
            raise SettingsError(f"{where}: every trial trains against the teacher {short_repr(recorded[0])}, which is "
                                "code edgeopt does not run from a run folder; to resume, give it again: --teacher "
                                f"{recorded[0]}" + (f" --teacher-weights {recorded[1]}" if recorded[1] else ""))
        if teacher is not None and (teacher, teacher_weights) != recorded:
            raise SettingsError(f"{where}: the run trained against teacher {short_repr(recorded[0])} (weights "
                                f"{short_repr(recorded[1])}), not {short_repr(teacher)} (weights "
                                f"{short_repr(teacher_weights)}); a resumed search keeps its teacher")
        try:
            base = cls(name=run_dir.name, runs_dir=str(run_dir.parent), study_name=study_name,
                       space=stored["space"]["name"], space_json=stored["space"], teacher=teacher,
                       teacher_weights=teacher_weights, **values)
        except SettingsError as exc:
            raise SettingsError(f"{where}: {exc}") from None
        except TypeError as exc:
            raise SettingsError(f"{where}: {exc}") from None
        return replace(base, **changes)


class SettingsError(EdgeoptError):
    """A search setting out of its range or of the wrong kind (given, or read from a study)."""


# field -> (lowest, highest, whole number?)
_NUMBERS: dict[str, tuple[float, float, bool]] = {
    "trials": (1, 10_000_000, True), "time_s": (0, 3.2e7, False), "min_epochs": (1, 100_000, True),
    "eta": (2, 100, True), "positive_class": (0, 1_000_000, True), "seed": (0, 2 ** 32 - 1, True),
    "threads": (1, 4096, True), "distill_temperature": (0, 1000.0, False), "distill_alpha": (0.0, 1.0, False),
    "workers": (1, 4096, True), "pack": (1, 4096, True), "retries": (0, 100, True),
}
_OPTIONAL = {"trials", "time_s", "workers", "pack"}  # None: no trial budget, no time budget, auto
_ABOVE_LOW = ("time_s", "distill_temperature")  # these must be more than their lowest, not equal to it


def _stored(value):
    return list(value) if isinstance(value, tuple) else value


@dataclass(frozen=True)
class SlotStatus:
    """What one worker slot is doing: its device and the trials of the pack it trains (none: idle)."""

    slot: int
    device: str
    trials: tuple[int, ...] = ()
    rung: int | None = None

    @property
    def text(self) -> str:
        if not self.trials:
            return f"slot {self.slot} {self.device}: idle"
        shown = ",".join(str(t) for t in self.trials[:4]) + ("..." if len(self.trials) > 4 else "")
        return f"slot {self.slot} {self.device}: rung {self.rung} trials {shown} (pack {len(self.trials)})"


@dataclass(frozen=True)
class SearchProgress:
    counts: dict[str, int]
    trained: int
    elapsed_s: float
    budget: str
    best: dict[str, str] = field(default_factory=dict)  # profile -> best quality so far (text)
    event: str = ""
    slots: tuple[SlotStatus, ...] = ()
    rungs_per_min: float = 0.0  # trial-rungs finished per minute of this session


def make_sampler(name: str, seed: int):
    import optuna

    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=8, multivariate=True)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=12)
    raise EdgeoptError(f"unknown sampler {name!r}; choose from {', '.join(SAMPLERS)}")


def resolve_device(name: str | None) -> str:
    """The torch device a search trains on: None or "auto" picks cuda when a GPU is visible, else cpu."""
    import torch

    if name in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    kind, _, index = name.partition(":")
    if kind == "cpu" and not index:
        return "cpu"
    if kind != "cuda" or (index and not index.isdigit()):
        raise EdgeoptError(f"device {name!r}: choose from auto, cpu, cuda, cuda:N")
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        raise EdgeoptError(f"device {name!r}: no CUDA GPU is visible to torch; use --device cpu (or auto)")
    if index and int(index) >= count:
        raise EdgeoptError(f"device {name!r}: only {count} CUDA GPU(s) visible (cuda:0..cuda:{count - 1})")
    return name


def check_run_name(name: str) -> None:
    """A run's name is one folder inside the runs folder: no separators, not `.` or `..`, nothing hidden."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or name.startswith(".") or "\0" in name:
        raise EdgeoptError(f"--name {name!r}: a run name is one folder name inside --runs-dir (letters, digits, "
                           "'-', '_', '.'; no '/', not '.' or '..', not starting with '.')")


__all__ = ["BACKENDS", "DEFAULT_EXAMPLE", "IDENTITY", "SAMPLERS", "SearchProgress",
           "SearchSettings", "SettingsError", "SlotStatus", "check_run_name", "make_sampler", "resolve_device"]
