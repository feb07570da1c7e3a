"""`keras-meta bench select`: its metrics on hand-built records, and one tiny run through the command."""

import json

import numpy as np
import pytest

from keras_meta import cli
from keras_meta.bench.selection import anytime_curve
from keras_meta.bench.selection import epochs_to_reach
from keras_meta.bench.selection import reference_losses
from keras_meta.bench.selection import summarise


def trial(epochs, spent, val, test):
    return {
        "epochs": epochs,
        "length": epochs,
        "epochs_spent": spent,
        "val_loss": val,
        "test_loss": test,
        "status": "COMPLETED",
    }


def search(method, trials, seed=0):
    return {
        "task": "t",
        "method": method,
        "seed": seed,
        "max_epochs": 4,
        "epochs": trials[-1]["epochs_spent"],
        "seconds": 1.0,
        "trials": trials,
    }


RECORDS = [
    search("pool", [trial(4, 4, 0.5, 0.40), trial(4, 8, 0.3, 0.25)]),
    search("hyperband", [trial(1, 1, 0.9, 1.0), trial(4, 5, 0.4, 0.5), trial(4, 9, 0.35, 0.45)]),
    search("meta", [trial(4, 4, 0.35, 0.30), trial(1, 5, 0.9, None), trial(4, 9, 0.32, 0.20)]),
]


def test_reference_is_the_best_full_length_test_loss():
    assert reference_losses(RECORDS) == {("t", 0): 0.20}  # the meta search's last trial beat the pool


def test_anytime_curve_and_epochs_to_reach():
    epochs, losses = anytime_curve(RECORDS[2])
    np.testing.assert_array_equal(epochs, [4, 9])  # the trial without a test loss is skipped
    np.testing.assert_allclose(losses, [0.30, 0.20])
    assert epochs_to_reach(RECORDS[2], 0.45) == 4
    assert epochs_to_reach(RECORDS[1], 0.1) == float("inf")


def test_summary_regret_wins_and_fraction_of_hyperband():
    summary = summarise(RECORDS)
    meta, hyperband = summary["tasks"]["t"]["meta"], summary["tasks"]["t"]["hyperband"]
    assert meta["regret"] == pytest.approx(1.0)
    assert hyperband["regret"] == pytest.approx(0.45 / 0.20)
    assert meta["fraction_of_hyperband"] == pytest.approx(4 / 9)
    assert summary["aggregate"] == {"tasks": 1, "meta_beats_hyperband": 1, "median_fraction_of_hyperband_epochs": 4 / 9}


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")  # keras-tuner's tracing and checkpoint-loading notices
def test_tiny_selection_benchmark_through_the_command(tmp_path):
    argv = [
        "bench",
        "select",
        "--output",
        str(tmp_path),
        "--task",
        "breast_cancer",
        "--seeds",
        "1",
        "--max-epochs",
        "2",
        "--pool",
        "2",
        "--workers",
        "0",
    ]
    assert cli.main(argv) == 0
    report = (tmp_path / "select_report.md").read_text()
    for label in ("MetaModelSelector", "Hyperband", "RandomSearch", "BayesianOptimization"):
        assert label in report
    assert (tmp_path / "select_anytime.png").stat().st_size > 0
    records = [json.loads(line) for line in (tmp_path / "select_records.jsonl").read_text().splitlines()]
    assert {r["method"] for r in records} == {"pool", "meta", "hyperband", "random", "bayesian"}
    budget = records[0]["budget"]
    for record in records[1:]:
        assert record["epochs"] <= budget  # equal budgets: nobody trains more than Hyperband would
    # A rerun computes nothing: every search comes from the cache.
    assert cli.main(argv) == 0
    assert len((tmp_path / "select_records.jsonl").read_text().splitlines()) == len(records)
