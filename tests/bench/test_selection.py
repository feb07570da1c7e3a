"""`keras-meta bench select`: one tiny run through the command."""

import json

import numpy as np
import pytest

from keras_meta import cli


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")  # keras-tuner's tracing and checkpoint-loading notices
def test_tiny_selection_benchmark_through_the_command(tmp_path):
    # Full trials of one epoch make a budget of one (Hyperband's for max_epochs=1): every search, and
    # the pool, trains one trial, since each fit costs seconds of tracing whatever its length. The
    # budget check below still fails for a MetaModelSelector that ignored it: its only limit is the budget.
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
        "1",
        "--pool",
        "1",
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
        assert record["epochs"] == budget  # equal budgets: each search trains its one trial, no more
    for record in records:  # every search's ledger: its trial trained, and its best model was tested
        (trial,) = record["trials"]
        assert trial["status"] == "COMPLETED" and trial["epochs"] == 1 and np.isfinite(trial["test_loss"])
    # A rerun computes nothing: every search comes from the cache.
    assert cli.main(argv) == 0
    assert len((tmp_path / "select_records.jsonl").read_text().splitlines()) == len(records)
