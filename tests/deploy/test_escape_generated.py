"""Generated text is escaped: hostile node names, profile names and `--name` values go through every generator (C,
CMake, Make, CSV) and what comes out compiles, runs bit-exact, and carries none of the input's code."""

from __future__ import annotations

import shutil
import subprocess

import onnx
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeopt.cli import main
from edgeopt.deploy.export import ExportError, export
from edgeopt.deploy.verify import verify_c
from edgeopt.errors import EdgeoptError
from edgeopt.escape import c_comment, c_name, c_string, csv_cell, csv_text

HOSTILE = ["*/ __attribute__((constructor)) static void p(void) { system(\"touch pwned\"); } /*",
           "a\\\nb", "??/", "\"); system(\"x", "=HYPERLINK(\"http://x\")", "+1", "-2+3", "@SUM(A1)", "\tx", "\r\n",
           "\x00nul", "é中文", "*/", "/*", "//", "#include <stdlib.h>", "a" * 500]


def test_hostile_text_in_comments_and_strings_compiles_to_exactly_itself(tmp_path):
    """One C file: each hostile text as a comment and as a string literal; it compiles warning-free and prints each
    string back byte for byte."""
    if shutil.which("cc") is None:
        pytest.skip("needs a C compiler")
    texts = [t for t in HOSTILE if "\x00" not in t]
    body = "\n".join(f'/* {c_comment(t)} */\nputs("{c_string(t)}");' for t in texts)
    (tmp_path / "t.c").write_text(f"#include <stdio.h>\nint main(void) {{\n{body}\nreturn 0;\n}}\n")
    subprocess.run(["cc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-trigraphs", str(tmp_path / "t.c"), "-o",
                    str(tmp_path / "t")], check=True)
    out = subprocess.run([str(tmp_path / "t")], capture_output=True, check=True).stdout
    assert out == b"".join(t.encode() + b"\n" for t in texts)
    assert not (tmp_path / "pwned").exists()


@given(st.text(max_size=300))
def test_a_comment_never_closes_and_a_string_never_ends_early(text):
    comment, literal = c_comment(text), c_string(text)
    assert "*/" not in comment and "/*" not in comment and comment.isascii() and comment.isprintable()
    assert literal.isascii() and literal.isprintable() and "??" not in literal
    assert all(ch not in literal.replace("\\\\", "").replace('\\"', "") for ch in '"')


@given(st.text(max_size=50))
def test_csv_cells_start_no_formula_and_read_back(text):
    cell = csv_cell(text)
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert csv_text(cell) == text or text.startswith("'")


@given(st.text(max_size=40))
@settings(max_examples=300)
def test_c_names_are_safe_identifiers_or_one_error(text):
    try:
        name = c_name(text)
    except EdgeoptError as exc:
        assert "\n" not in str(exc)
        return
    assert name.isidentifier() and name.islower() and name not in ("int", "stdint", "all", "main")


@pytest.mark.parametrize("name", ["stdint", "string", "math", "all", "clean", "help", "test", "int", "Model",
                                  "MODEL", "LAYERS", "_x", "edgeopt_suite", "2bad", "a-b", "x" * 40])
def test_names_that_would_break_a_build_are_refused(qdq_models, tmp_path, name):
    path, _ = qdq_models["mlp"]
    with pytest.raises(ExportError, match="--name"):
        export(path, "stm32f746", tmp_path / "c", name=name)
    assert not (tmp_path / "c").exists()


def test_hostile_node_names_export_compile_and_run_bit_exact(qdq_models, tmp_path):
    """Every node renamed to hostile text: model.c carries none of it raw, compiles and equals the reference."""
    path, x = qdq_models["cnn1d"]
    model = onnx.load(str(path))
    for index, node in enumerate(model.graph.node):
        node.name = HOSTILE[0] + HOSTILE[1 + index % 2] + str(index)
    hostile = tmp_path / "hostile.onnx"
    onnx.save(model, str(hostile))
    for name in ("layers", "rename", "upper_name"):  # names holding the harness's own placeholder words
        record = export(hostile, "stm32f746", tmp_path / name, name=name)
        source = (tmp_path / name / f"{name}.c").read_text()
        comments = [line for line in source.splitlines() if line.startswith("/* layer ")]
        assert comments and all(line.count("*/") == 1 and line.endswith("*/") for line in comments)
        agreement = verify_c(tmp_path / name, hostile, x[:64])
        assert agreement.bit_exact_share == 1.0, (name, agreement)
        assert record.layer_names and any("*/" in n for n in record.layer_names)  # the manifest keeps the names
    assert not (tmp_path / "pwned").exists()


def test_a_hostile_profile_name_never_reaches_a_file(tmp_path):
    profile = tmp_path / "p.yaml"
    profile.write_text('name: "x */ int evil; /*"\nextends: stm32f746\n')
    result = CliRunner().invoke(main, ["calibrate", "-p", str(profile), "--write-suite", str(tmp_path / "s")])
    assert result.exit_code == 2 and "not a profile name" in result.output
    assert not (tmp_path / "s").exists()
