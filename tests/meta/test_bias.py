import json

import numpy as np
import pytest
from conftest import fixed_policy

from keras_meta import cli
from keras_meta.meta.bias import format_bias
from keras_meta.meta.bias import measure_horizon_bias
from keras_meta.meta.lookahead import LookaheadConfig


@pytest.fixture(scope="module")
def measured_with_a_policy():
    """One measurement (a grid of four trainings, the expert's and the policy's) that two tests read.

    Every training costs seconds of fixed overhead. The policy's run is measured after the expert's and
    apart from it, so the expert's figures are those of a measurement without a policy; the path
    without one is run by `test_horizon_bias_command`.
    """
    lookahead = LookaheadConfig(horizon=2, cooldown=1)
    policy = fixed_policy(1.0, "always-double")
    return measure_horizon_bias([3], lookahead, grid=(1e-3, 1e-2), max_steps=40, policy=policy)


def test_biases_compare_the_expert_with_constant_and_cosine_grids(measured_with_a_policy):
    result = measured_with_a_policy
    (task,) = result["tasks"]
    assert task["best_constant_rate"] in (1e-3, 1e-2) and task["best_cosine_rate"] in (1e-3, 1e-2)
    assert task["expert_peak_rate"] >= task["expert_early_rate"] > 0
    assert result["bias_early"] == pytest.approx(np.log10(task["expert_early_rate"] / task["best_constant_rate"]))
    assert result["bias_peak"] == pytest.approx(np.log10(task["expert_peak_rate"] / task["best_cosine_rate"]))
    assert result["loss_ratio"] == pytest.approx(task["expert_val_loss"] / task["grid_val_loss"])
    assert result["lookahead"]["cooldown"] == 1


def test_horizon_bias_command(tmp_path, capsys):
    # One grid rate: the command's wiring is under test here, the grid's comparison above.
    output = tmp_path / "bias.json"
    argv = ["horizon-bias", "--tasks", "1", "--max-steps", "30", "--horizon", "2", "--cooldown", "0"]
    assert cli.main(argv + ["--grid", "1e-2", "--json", str(output)]) == 0
    assert "bias_peak" in capsys.readouterr().out
    assert "policy" not in json.loads(output.read_text())  # without --policy, nothing of one is measured


def test_a_policy_is_measured_from_each_task_start_like_the_expert(measured_with_a_policy):
    result = measured_with_a_policy
    (task,) = result["tasks"]
    assert result["policy"] == "always-double"
    assert task["policy_peak_rate"] == pytest.approx(1.0)  # it doubled up to MetaLRCallback's max_lr
    assert result["policy_bias_peak"] == pytest.approx(np.log10(task["policy_peak_rate"] / task["best_cosine_rate"]))
    assert result["policy_loss_ratio"] == pytest.approx(task["policy_val_loss"] / task["grid_val_loss"])
    assert "policy early" in format_bias(result)
