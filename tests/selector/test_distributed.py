"""keras-tuner's own distributed mode: one chief and two workers on loopback finish a search."""

import json
import os
import pathlib
import socket
import subprocess
import sys

import pytest

from selector.search_script import MAX_TRIALS  # tests/ is on the path, as for `from conftest import ...`

SCRIPT = pathlib.Path(__file__).with_name("search_script.py")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_chief_and_two_workers_finish_a_search(tmp_path):
    port = str(free_port())
    processes = {}
    for tuner_id in ("chief", "tuner0", "tuner1"):
        env = {
            **os.environ,
            "KERASTUNER_TUNER_ID": tuner_id,
            "KERASTUNER_ORACLE_IP": "127.0.0.1",
            "KERASTUNER_ORACLE_PORT": port,
        }
        processes[tuner_id] = subprocess.Popen(
            [sys.executable, str(SCRIPT), str(tmp_path), "0.2"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    outputs = {}
    try:
        for tuner_id, process in processes.items():
            outputs[tuner_id] = process.communicate(timeout=300)
    finally:
        for process in processes.values():
            process.kill()

    for tuner_id, process in processes.items():
        assert process.returncode == 0, f"{tuner_id}: {outputs[tuner_id][1][-3000:]}"
    project = tmp_path / "search"
    trials = [json.loads(p.read_text()) for p in project.glob("trial_*/trial.json")]
    assert len(trials) == MAX_TRIALS
    assert all(t["status"] == "COMPLETED" and t["score"] is not None for t in trials)
    runs = (tmp_path / "runs.txt").read_text().split()
    assert sorted(set(runs)) == ["tuner0", "tuner1"]  # both workers trained, the chief only served
    state = json.loads((project / "oracle.json").read_text())["keras_meta"]
    epochs = sum(len(t["metrics"]["metrics"]["val_loss"]["observations"]) for t in trials)
    assert state["epochs_spent"] == epochs  # every epoch's report reached the chief's oracle
