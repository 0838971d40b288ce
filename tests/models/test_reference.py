"""One resolver says what a MODEL argument is, for every command: by what the file or folder holds, never by
loading it; paths come back absolute, so a run folder records them for any working folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edgeopt.errors import ModelError
from edgeopt.models.reference import (
    CHECKPOINT,
    COMPRESSION,
    ELF,
    EXPORT,
    FACTORY,
    ONNX,
    PROGRAM,
    RUN,
    absolute_spec,
    resolve_model,
)


@pytest.fixture
def things(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.onnx").write_bytes(b"onnx")
    (tmp_path / "t.pt").write_bytes(b"pt")
    (tmp_path / "p.pt2").write_bytes(b"pt2")
    (tmp_path / "app.elf.bin").write_bytes(b"\x7fELF" + b"\0" * 12)
    (tmp_path / "nets.py").write_text("def make():\n    pass\n")
    for folder, file in (("exp", "manifest.json"), ("comp", "model.onnx"), ("run", "study.db")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / file).write_text("{}")
    return tmp_path


@pytest.mark.parametrize("spec, kind", [
    ("m.onnx", ONNX), ("t.pt", CHECKPOINT), ("p.pt2", PROGRAM), ("app.elf.bin", ELF), ("exp", EXPORT),
    ("comp", COMPRESSION), ("run", RUN), ("nets.py:make", FACTORY), ("some.package:make_net", FACTORY),
])
def test_each_kind_by_what_it_holds(things, spec, kind):
    ref = resolve_model(spec)
    assert ref.kind == kind
    if kind == FACTORY:
        module = ref.spec.rpartition(":")[0]
        assert module == (str(things / "nets.py") if spec.startswith("nets.py") else "some.package")
    else:
        assert Path(ref.spec) == things / spec and Path(ref.spec).is_absolute()
    assert ref.is_float == (kind in (CHECKPOINT, PROGRAM, FACTORY))


def test_the_onnx_a_compression_folder_holds(things):
    assert resolve_model("comp").onnx_file == things / "comp" / "model.onnx"
    with pytest.raises(ModelError, match="not an ONNX model"):
        _ = resolve_model("exp").onnx_file


@pytest.mark.parametrize("spec, problem", [
    ("missing.bin", "no such model file"),
    ("nets.py", "unsupported model"),  # a file, but no model edgeopt reads
    (".", "a folder holding neither"),
])
def test_what_is_no_model_is_one_error(things, spec, problem):
    with pytest.raises(ModelError, match=problem):
        resolve_model(spec)


def test_absolute_spec_keeps_what_it_cannot_resolve(things):
    assert absolute_spec(None) is None
    assert absolute_spec("weights.bin") == "weights.bin"  # missing: left for the loader to refuse
    (things / "weights.bin").write_bytes(b"w")
    assert absolute_spec("weights.bin") == str(things / "weights.bin")
    assert absolute_spec("nets.py:make") == f"{things / 'nets.py'}:make"
    assert absolute_spec(os.fspath("pkg.mod:f")) == "pkg.mod:f"
