import json
import pathlib
import subprocess
import sys

import pytest

from keras_meta import cli


def test_demo_prints_the_comparison_and_writes_the_plot(tmp_path, capsys):
    assert cli.main(["demo", "--epochs", "2", "--output", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "constant Adam" in out and "MetaLRCallback" in out
    assert "meta-v21" in out and "meta-trained" in out
    assert (tmp_path / "demo.png").read_bytes()[:4] == b"\x89PNG"


def test_inspect_shows_the_card(capsys):
    assert cli.main(["inspect", "default"]) == 0
    out = capsys.readouterr().out
    assert "meta-v21" in out and "decisions_per_run" in out


def test_inspect_reports_a_bad_policy(tmp_path, capsys):
    assert cli.main(["inspect", str(tmp_path)]) == 1
    assert "card.json is missing" in capsys.readouterr().err


def test_ensemble_writes_a_policy_that_loads_and_averages_its_members(tmp_path, capsys):
    from keras_meta.policy import load_policy

    output = tmp_path / "pair"
    assert (
        cli.main(
            [
                "ensemble",
                "meta-v1",
                "meta-v2",
                "--name",
                "pair",
                "--act-every",
                "4",
                "--fit-guard",
                "4",
                "--lr-floor",
                "1",
                "--climb-ramp",
                "0.05",
                "--climb-ramp-steps",
                "50",
                "--output",
                str(output),
            ]
        )
        == 0
    )
    assert "members=2" in capsys.readouterr().out
    pair = load_policy(output)
    assert pair.card["members"] == 2 and pair.card["act_every"] == 4 and pair.card["fit_guard"] == 4.0
    assert pair.card["lr_floor"] == 1.0 and pair.card["climb_ramp"] == 0.05 and pair.card["climb_ramp_steps"] == 50.0
    assert cli.main(["ensemble", "meta-v2", "--name", "one", "--output", str(tmp_path / "one")]) == 1
    assert "at least two" in capsys.readouterr().err


def test_overhead_runs_in_fresh_processes(tmp_path, capsys):
    report = tmp_path / "overhead.json"
    assert cli.main(["overhead", "--repeats", "1", "--epochs", "1", "--json", str(report)]) == 0
    result = json.loads(report.read_text())
    assert len(result["seconds_with"]) == len(result["seconds_without"]) == 1
    assert result["ratio"] == pytest.approx(result["seconds_with"][0] / result["seconds_without"][0])
    assert 0 < result["self_time_fraction"] < 1
    assert "overhead ratio" in capsys.readouterr().out


def test_console_entry_point_is_installed():
    entry_point = pathlib.Path(sys.executable).parent / "keras-meta"
    completed = subprocess.run([str(entry_point), "--help"], capture_output=True, text=True, check=True)
    assert "demo" in completed.stdout and "overhead" in completed.stdout
