"""A search killed with SIGKILL resumes with overwrite=False and loses no completed trial."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from selector import search_script  # tests/ is on the path, as for `from conftest import ...`
from selector.search_script import MAX_TRIALS

SCRIPT = pathlib.Path(__file__).with_name("search_script.py")


def read_trials(project):
    trials = {}
    for path in project.glob("trial_*/trial.json"):
        state = json.loads(path.read_text())  # written atomically: never half a file
        trials[state["trial_id"]] = state
    return trials


def epochs_reported(state):
    observations = state["metrics"]["metrics"].get("val_loss", {}).get("observations", [])
    return len(observations)


def wait_until_mid_trial(project, process, timeout=180):
    """Returns once a trial is complete and a second has reported an epoch."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the search ended before it could be killed"
        trials = read_trials(project)
        completed = [t for t in trials.values() if t["status"] == "COMPLETED"]
        running = [t for t in trials.values() if t["status"] in ("RUNNING", "STOPPED") and epochs_reported(t)]
        if completed and running:
            return
        time.sleep(0.05)
    pytest.fail("the search never reached a second trial")


@pytest.mark.slow
def test_sigkilled_search_resumes_without_losing_completed_trials(tmp_path, capsys):
    project = tmp_path / "search"
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), str(tmp_path), "0.5"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        wait_until_mid_trial(project, process)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.communicate()
    before = read_trials(project)
    completed_before = {i: t["score"] for i, t in before.items() if t["status"] == "COMPLETED"}
    epochs_before = json.loads((project / "oracle.json").read_text())["keras_meta"]["epochs_spent"]

    # The search resumes in this process: nothing of the killed one's memory survives here either, and a
    # fresh process would add only TensorFlow's import (about 10 s).
    search_script.main(str(tmp_path))

    assert "done" in capsys.readouterr().out
    after = read_trials(project)
    assert len(after) == MAX_TRIALS and all(t["status"] == "COMPLETED" for t in after.values())
    for trial_id, score in completed_before.items():
        assert after[trial_id]["score"] == score  # not rerun, not lost
    state = json.loads((project / "oracle.json").read_text())["keras_meta"]
    # The killed attempt's epochs were spent too: the budget counts them.
    assert state["epochs_spent"] >= epochs_before + sum(
        epochs_reported(t) for i, t in after.items() if i not in completed_before
    )
    runs = (tmp_path / "runs.txt").read_text().split()
    assert len(runs) == MAX_TRIALS + 1  # every trial, one of them started twice
