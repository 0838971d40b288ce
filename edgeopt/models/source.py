"""Models to compress: a search trial's checkpoint, a torch.export program (.pt2), or `module:factory` + weights.

Nothing here unpickles arbitrary code: checkpoints and weights load with `weights_only=True`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from edgeopt.data.normalize import Normalizer
from edgeopt.errors import ModelError
from edgeopt.models.reference import CHECKPOINT, COMPRESSION, ELF, EXPORT, ONNX, PROGRAM, resolve_model
from edgeopt.train.loop import TrialSpec, build_model, checkpoint_mismatch, deployed_state


@dataclass(frozen=True)
class SourceModel:
    module: object  # nn.Module in eval mode
    origin: str  # what was loaded, for reports
    normalizer: Normalizer | None = None  # a search trial's input normalisation; None: inputs used as they are
    sample_shape: tuple[int, ...] | None = None


def load_source(spec: str | os.PathLike, weights: str | os.PathLike | None = None, *,
                trial: TrialSpec | None = None) -> SourceModel:
    """Load MODEL as `edgeopt compress` understands it (see the module docstring). A trial checkpoint must be
    `trial`'s where given (its study, number and configuration), and the trial its folder names (trials/NNNNN/)."""
    text = os.fspath(spec)
    ref = resolve_model(spec)
    if ref.kind in (ONNX, COMPRESSION, EXPORT, ELF):
        raise ModelError(f"{text}: compression needs the torch model (an ONNX file cannot be fine-tuned); give a "
                         "search checkpoint (.pt), a torch.export program (.pt2) or module:factory --weights FILE")
    if ref.kind == PROGRAM:
        if weights is not None:
            raise ModelError(f"{text}: a .pt2 program carries its weights; drop --weights")
        module, sample_shape = _exported(Path(text))
        return SourceModel(module, text, None, sample_shape)
    if ref.kind == CHECKPOINT:
        if weights is not None:
            raise ModelError(f"{text}: a checkpoint carries its weights; drop --weights")
        return _checkpoint(Path(text), trial)
    from edgeopt.graph.model_spec import load_model_spec

    model = load_model_spec(text)
    if isinstance(model, Path):
        raise ModelError(f"{text}: unsupported model; give a .pt checkpoint, a .pt2 program or module:factory")
    if weights is None:
        raise ModelError(f"{text}: a factory builds untrained weights; give --weights FILE (a state_dict saved with "
                         "torch.save)")
    state = _load_weights_only(Path(weights))
    state = state.get("model", state) if isinstance(state, dict) else state
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{weights}: these weights do not fit {text}: {first}") from None
    return SourceModel(model.eval(), f"{text} + {weights}")


def _load_weights_only(path: Path):
    import pickle
    import warnings

    import torch

    if not path.is_file():
        raise ModelError(f"{path}: no such file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about pickle protocols before refusing
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"WeightsUnpickler error:\s*(.*?)(?:\s{2,}|$)", str(exc))
        reason = found.group(1).strip() if found else "refused"
        raise ModelError(f"{path}: not a weights-only torch file (the safe loader says: {reason[:120]}); edgeopt "
                         "never unpickles code. Save a state_dict: torch.save(model.state_dict(), path)") from None
    except Exception as exc:  # truncated or foreign files: one line, no traceback
        raise ModelError(f"{path}: cannot load: {type(exc).__name__}: {str(exc).strip()[:200]}") from None


def _checkpoint(path: Path, expected: TrialSpec | None) -> SourceModel:
    state = _load_weights_only(path)
    if not isinstance(state, dict) or not isinstance(state.get("trial"), dict) or "model" not in state:
        raise ModelError(f"{path}: not an edgeopt trial checkpoint (no 'trial' and 'model' entries); for your own "
                         "model give module:factory --weights FILE")
    trial = state["trial"]
    if expected is not None:
        mismatch = checkpoint_mismatch(state, expected)
        if mismatch:
            raise ModelError(f"{path}: {mismatch}")
    folder = path.parent.name
    if path.parent.parent.name == "trials" and folder.isdigit() and trial.get("number", int(folder)) != int(folder):
        raise ModelError(f"{path}: holds trial {trial['number']}'s model, not trial {int(folder)}'s as its folder "
                         "says (a file moved or swapped); give the trial's own checkpoint")
    try:
        spec = TrialSpec(-1, trial["space"], trial["config"], tuple(trial["sample_shape"]),
                         int(trial["num_classes"]), int(trial["seed"]), str(path), normalizer=trial.get("normalizer"))
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{path}: not an edgeopt trial checkpoint ({type(exc).__name__}: {exc})") from None
    try:
        model = build_model(spec)
        model.load_state_dict(deployed_state(state))
    except Exception as exc:  # a checkpoint from another edgeopt version or edited by hand
        raise ModelError(f"{path}: the checkpoint's weights do not rebuild its model: {type(exc).__name__}: "
                         f"{str(exc).strip()[:200]}") from None
    normalizer = Normalizer.from_dict(trial["normalizer"]) if trial.get("normalizer") else None
    return SourceModel(model.eval(), str(path), normalizer, tuple(trial["sample_shape"]))


# The members a torch.export archive (archive_format "pt2") may hold, below its one top folder. Anything else, and
# every archive in the legacy layout (no archive_format: torch.export.load then retries torch.load with
# weights_only=False on members such as serialized_state_dict.json), is refused before torch sees the file.
_PROGRAM_MEMBERS = (
    re.compile(r"(archive_format|archive_version|byteorder|\.data/version|\.data/serialization_id)"),
    re.compile(r"models/[\w.-]+\.json"),
    re.compile(r"data/weights/model_weights_config\.json"), re.compile(r"data/weights/weight_\d+"),
    re.compile(r"data/constants/model_constants_config\.json"), re.compile(r"data/constants/tensor_\d+"),
    re.compile(r"data/sample_inputs/[\w.-]+\.pt"),
)


def _refuse_pickles_in_program(path: Path) -> None:
    """torch.export.load unpickles some members without the safe loader (a legacy archive's state dict and constants,
    pickled weights, custom objects, sample inputs): admit only an allow-list of members, each checked to be what
    its name says (JSON, raw tensor bytes, a weights-only tensor file), before loading the archive."""
    import io
    import json
    import warnings
    import zipfile

    import torch

    def refuse(member: str, why: str) -> ModelError:
        return ModelError(f"{path}: {member} {why}; loading it could run code from a pickle, which edgeopt never "
                          "does. Export the program with plain tensors (torch.export.save of an nn.Module)")

    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelError(f"{path}: not a torch.export archive ({exc})") from None
    with archive:
        names = [n for n in archive.namelist() if not n.endswith("/")]
        if any(n == "version" or n.startswith("serialized_") for n in names):
            raise refuse("the archive", "is in torch.export's legacy layout (serialized_* members)")
        tops = {n.split("/", 1)[0] for n in names}
        if len(tops) != 1 or any("/" not in n for n in names):
            raise ModelError(f"{path}: not a torch.export archive (members outside one top folder)")
        top = tops.pop() + "/"
        members = {n[len(top):]: n for n in names}
        if "archive_format" not in members or archive.read(members["archive_format"]).strip() != b"pt2":
            raise refuse("the archive", "is in torch.export's legacy layout (no archive_format pt2)")
        for member, name in members.items():
            if not any(pattern.fullmatch(member) for pattern in _PROGRAM_MEMBERS):
                raise refuse(name, "is not a member edgeopt reads in a torch.export archive")
            if member.endswith(".json"):
                try:
                    data = json.loads(archive.read(name))
                except (ValueError, UnicodeDecodeError):
                    raise refuse(name, "is not JSON") from None
                if member.endswith("_config.json"):
                    config = data.get("config", {}) if isinstance(data, dict) else None
                    if not isinstance(config, dict):
                        raise refuse(name, "is not a tensor table")
                    for key, meta in config.items():
                        if not isinstance(meta, dict) or meta.get("use_pickle") or not str(
                                meta.get("path_name", "")).startswith(("weight_", "tensor_")):
                            raise refuse(name, f"stores {key!r} as a pickled or custom object")
            elif member.endswith(".pt"):
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        torch.load(io.BytesIO(archive.read(name)), weights_only=True)
                except Exception:  # random bytes fail in many ways (struct, index, key errors): all are refusals
                    raise refuse(name, "is not a weights-only tensor file") from None


def _exported(path: Path):
    import torch

    if not path.is_file():
        raise ModelError(f"{path}: no such file")
    _refuse_pickles_in_program(path)
    try:
        program = torch.export.load(str(path))
    except Exception as exc:  # not a torch.export archive
        raise ModelError(f"{path}: cannot load as a torch.export program: {type(exc).__name__}: "
                         f"{str(exc).strip()[:200]}") from None
    from edgeopt.models.exported import check_batch_free, modules_from_program

    placeholders = [s for s in program.graph_signature.input_specs if s.kind.name == "USER_INPUT"]
    if len(placeholders) != 1:
        raise ModelError(f"{path}: the program takes {len(placeholders)} inputs; compression handles one")
    nodes = {n.name: n for n in program.graph.nodes}
    sample_shape = tuple(int(d) for d in nodes[placeholders[0].arg.name].meta["val"].shape[1:])
    model = modules_from_program(program).eval()
    check_batch_free(model, sample_shape, str(path))
    return model, sample_shape
