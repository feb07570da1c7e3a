import numpy as np
import pytest

from keras_meta.features import FEATURE_NAMES
from keras_meta.meta.training import fit_policy
from keras_meta.policy import load_policy


def synthetic_decisions(n=1000, seed=0):
    """Labels that follow the slope: rising loss -> halve, falling -> double."""
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((n, len(FEATURE_NAMES)))
    slope = features[:, FEATURE_NAMES.index("slope")]
    labels = np.zeros((n, 5))
    labels[slope > 0, 0] = 1.0
    labels[slope <= 0, 4] = 1.0
    values = 0.5 * slope
    return features, labels, values


# Each epoch of `fit_policy` costs steps (batches of 64), and the fits below are most of this module's time,
# so they run the fewest epochs that pass with a clear margin (measured on 2 cores: accuracy and correlation
# 0.93-0.96 against thresholds of 0.8-0.9) while a broken fit stays far from passing (a fit that ignores
# `has_label` picks the wrong action 91% of the time; one that ignores `has_value` correlates at -0.9).


def test_the_fitted_policy_learns_the_rule_and_round_trips(tmp_path):
    features, labels, values = synthetic_decisions()
    policy, final = fit_policy(features, labels, values, hidden=(16,), epochs=30, card={"name": "slope-rule"})
    test_features, test_labels, test_values = synthetic_decisions(seed=1)
    probabilities, predicted = policy.evaluate_batch(test_features)
    accuracy = (probabilities.argmax(axis=1) == test_labels.argmax(axis=1)).mean()
    assert accuracy > 0.9
    assert np.corrcoef(predicted, test_values)[0, 1] > 0.9
    assert final["loss"] < 1.0
    policy.save(tmp_path / "p")
    assert load_policy(tmp_path / "p").name == "slope-rule"


def test_shapes_are_checked():
    features, labels, values = synthetic_decisions(10)
    with pytest.raises(ValueError, match="features"):
        fit_policy(features[:, :3], labels, values)
    with pytest.raises(ValueError, match="rows"):
        fit_policy(features, labels[:5], values)


def test_rows_without_a_label_train_only_the_value_head():
    features, labels, values = synthetic_decisions(2000)
    has_label = np.arange(len(features)) % 4 == 0  # one decision in four labelled
    misleading = labels.copy()
    misleading[~has_label] = labels[~has_label][:, ::-1]  # the opposite rule on the rows without a label
    values[has_label] = 0.0  # the value rule only on the rows without a label
    policy, _ = fit_policy(features, misleading, values, has_label=has_label, hidden=(16,), epochs=30)
    test_features, test_labels, test_values = synthetic_decisions(seed=1)
    probabilities, predicted = policy.evaluate_batch(test_features)
    assert (probabilities.argmax(axis=1) == test_labels.argmax(axis=1)).mean() > 0.9
    assert np.corrcoef(predicted, test_values)[0, 1] > 0.8
    with pytest.raises(ValueError, match="action head"):
        fit_policy(features, labels, values, has_label=np.zeros(len(features), bool))


def test_rows_without_a_value_target_train_only_the_action_head():
    """Runs a forced climb steered carry value targets that are not the policy's: they must not shape the value head."""
    features, labels, values = synthetic_decisions(2000)
    has_value = np.arange(len(features)) % 4 != 0  # one decision in four from a forced run
    corrupted = values.copy()
    corrupted[~has_value] = -10.0 * values[~has_value] + 5.0  # far off, and against the rule
    test_features, test_labels, test_values = synthetic_decisions(seed=1)
    policy, _ = fit_policy(features, labels, corrupted, has_value=has_value, hidden=(16,), epochs=15)
    probabilities, predicted = policy.evaluate_batch(test_features)
    assert (probabilities.argmax(axis=1) == test_labels.argmax(axis=1)).mean() > 0.9  # the action head saw every row
    assert np.corrcoef(predicted, test_values)[0, 1] > 0.8
    fooled, _ = fit_policy(features, labels, corrupted, hidden=(16,), epochs=15)
    assert np.corrcoef(fooled.evaluate_batch(test_features)[1], test_values)[0, 1] < 0.5  # what the weights prevent
    with pytest.raises(ValueError, match="value head"):
        fit_policy(features, labels, values, has_value=np.zeros(len(features), bool))


def test_value_targets_can_be_clipped_so_that_a_diverged_run_does_not_dominate_the_fit():
    features, labels, values = synthetic_decisions(400)
    values[:8] = 60.0  # runs that blew up
    _, unclipped = fit_policy(features, labels, values, hidden=(8,), epochs=3)
    _, clipped = fit_policy(features, labels, values, hidden=(8,), epochs=3, value_clip=1.0)
    assert clipped["value_loss"] < 2.0 and unclipped["value_loss"] > 20.0  # 8 of 400 rows at 60: 8 * 3600 / 400
