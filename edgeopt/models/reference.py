"""What a MODEL argument names, worked out once for every command and verb: an ONNX file, the output folder of
`edgeopt compress` (its QDQ model.onnx), the output folder of `edgeopt export`, a linked firmware image (ELF), a
search checkpoint (.pt), a torch.export program (.pt2), a torch factory (`package.module:factory`,
`path/to/file.py:factory`), or a search's run folder. Nothing is loaded here: a `ModelRef` says what the argument is
and where it lies.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from edgeopt.errors import ModelError
from edgeopt.graph.model_spec import FACTORY_SPEC

ONNX = "onnx"
COMPRESSION = "compression"  # an `edgeopt compress` output folder: model.onnx (QDQ), model.pt2, report.json
EXPORT = "export"  # an `edgeopt export` output folder: manifest.json beside the generated files
ELF = "elf"  # a linked firmware image
CHECKPOINT = "checkpoint"  # a search trial's checkpoint.pt (weights-only)
PROGRAM = "program"  # a torch.export program (.pt2)
FACTORY = "factory"  # module:factory, with weights given beside it
RUN = "run"  # an `edgeopt search` run folder (its study.db; with --compress, its compressed fronts)
FLOAT_KINDS = frozenset({CHECKPOINT, PROGRAM, FACTORY})  # torch models: trained further, quantized before export

EXPORT_MANIFEST = "manifest.json"
RUN_STUDY = "study.db"
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt")


@dataclass(frozen=True)
class ModelRef:
    """A resolved MODEL argument: its kind and its spec with any file made absolute (it then names the same model
    from any working folder: run folders record it)."""

    kind: str
    spec: str

    @property
    def path(self) -> Path | None:
        """The file or folder (a factory's .py file; None for a factory in an installed package)."""
        if self.kind != FACTORY:
            return Path(self.spec)
        module = self.spec.rpartition(":")[0]
        return Path(module) if module.endswith(".py") else None

    @property
    def is_float(self) -> bool:
        """A torch model (trained further, quantized before export), not a quantized or exported artifact."""
        return self.kind in FLOAT_KINDS

    @property
    def onnx_file(self) -> Path:
        """The ONNX file it is or holds (an ONNX file, a compression folder's model.onnx)."""
        if self.kind == ONNX:
            return Path(self.spec)
        if self.kind == COMPRESSION:
            return Path(self.spec) / "model.onnx"
        raise ModelError(f"{self.spec}: a {self.kind}, not an ONNX model or an `edgeopt compress` output folder")


def resolve_model(spec: str | os.PathLike) -> ModelRef:
    """What `spec` names (see the module docstring); one ModelError naming what is accepted otherwise."""
    text = os.fspath(spec)
    path = Path(text)
    if path.is_dir():
        if (path / EXPORT_MANIFEST).is_file():
            return ModelRef(EXPORT, str(path.resolve()))
        if (path / "model.onnx").is_file():
            return ModelRef(COMPRESSION, str(path.resolve()))
        if (path / RUN_STUDY).is_file():
            return ModelRef(RUN, str(path.resolve()))
        raise ModelError(f"{text}: a folder holding neither an export (manifest.json), a compressed model "
                         "(model.onnx) nor a search (study.db); give a model file, or an output folder of edgeopt")
    suffix = path.suffix.lower()
    kind = {".onnx": ONNX, ".pt2": PROGRAM}.get(suffix) or (CHECKPOINT if suffix in CHECKPOINT_SUFFIXES else None)
    if kind is None and _is_elf(path):
        kind = ELF
    if kind is not None:
        return ModelRef(kind, str(path.resolve()) if path.exists() else text)
    match = FACTORY_SPEC.match(text)
    if match and not path.exists():
        module = match["module"]
        if module.endswith(".py") and Path(module).is_file():
            module = str(Path(module).resolve())
        return ModelRef(FACTORY, f"{module}:{match['attr']}")
    if path.exists():
        raise ModelError(f"{text}: unsupported model; give an .onnx file, a checkpoint (.pt), a program (.pt2), a "
                         "torch factory (package.module:factory or path/to/file.py:factory) or an edgeopt output "
                         "folder")
    raise ModelError(f"{text}: no such model file")


def absolute_spec(spec: str | os.PathLike | None) -> str | None:
    """`spec` with any file in it made absolute, so it names the same thing from any working folder (None stays
    None; anything else is left as given, for the verb that reads it to refuse)."""
    if spec is None:
        return None
    text = os.fspath(spec)
    if Path(text).exists():
        return str(Path(text).resolve())
    match = FACTORY_SPEC.match(text)
    if match and match["module"].endswith(".py") and Path(match["module"]).is_file():
        return f"{Path(match['module']).resolve()}:{match['attr']}"
    return text


def _is_elf(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(4) == b"\x7fELF"
    except OSError:  # not a file, or unreadable
        return False
