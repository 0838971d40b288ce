"""edgeopt dashboard RUN serves optuna-dashboard on the run's study, objectives named."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request

from edgeopt.runner.coordinator import run_search
from edgeopt.search.settings import SearchSettings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_dashboard_serves_the_study_with_named_objectives(tmp_path, tiny_space):
    settings = SearchSettings(name="live", space=tiny_space, profiles=("sequencer-fpga",), data="reads", trials=2,
                              runs_dir=str(tmp_path))
    run_search(settings)
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "edgeopt.cli", "dashboard", str(tmp_path / "live"), "--port",
                               str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        studies = None
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=2) as response:
                    studies = json.loads(response.read())
                break
            except OSError:
                time.sleep(0.2)
        assert studies is not None, server.stderr.read().decode() if server.poll() is not None else "no answer"
        (study,) = studies["study_summaries"]
        assert study["study_name"] == "live"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies/{study['study_id']}?after=0",
                                    timeout=5) as r:
            detail = json.loads(r.read())
        assert detail["objective_names"] == ["1 - f1", "weight_bytes"]
        attrs = {a["key"] for t in detail["trials"] for a in t["user_attrs"]}
        assert {"edgeopt.state", "edgeopt.trial", "edgeopt.rung.0"} <= attrs
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_the_dashboard_of_a_folder_without_a_search_is_one_error(tmp_path):
    result = subprocess.run([sys.executable, "-m", "edgeopt.cli", "dashboard", str(tmp_path)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2 and "no search here" in result.stderr and "Traceback" not in result.stderr
