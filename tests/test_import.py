"""Importing edgeopt is cheap and silent: no torch, no logging set-up, no files written."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import json, logging, sys
before = set(sys.modules)
{action}
print(json.dumps({{"torch": "torch" in sys.modules, "handlers": len(logging.getLogger().handlers),
                  "level": logging.getLogger().level}}))
"""


def probe(action: str, tmp_path) -> dict:
    result = subprocess.run([sys.executable, "-c", PROBE.format(action=action)], capture_output=True, text=True,
                            cwd=tmp_path, env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_import_does_not_load_torch_or_configure_logging(tmp_path):
    seen = probe("import edgeopt; edgeopt.load_profile('stm32f746')", tmp_path)
    assert seen == {"torch": False, "handlers": 0, "level": 30}
    assert list(tmp_path.iterdir()) == []


def test_checking_an_onnx_model_does_not_load_torch(tmp_path):
    model = ROOT / "examples" / "kws_dscnn.onnx"
    seen = probe(f"import edgeopt; assert edgeopt.check({str(model)!r}, 'stm32f746').passed", tmp_path)
    assert seen["torch"] is False


def test_cli_help_does_not_load_torch(tmp_path):
    action = "from click.testing import CliRunner; from edgeopt.cli import main; CliRunner().invoke(main, ['--help'])"
    assert probe(action, tmp_path)["torch"] is False
