import math

import pytest

from keras_meta.selector.pruning import decide
from keras_meta.selector.pruning import from_loss_like
from keras_meta.selector.pruning import hyperband_budget
from keras_meta.selector.pruning import to_loss_like

INCUMBENT = [1.0, 0.5, 0.3, 0.25, 0.2, 0.2, 0.2, 0.2]  # 8 epochs, final 0.2


def test_loss_like_forms():
    assert to_loss_like([0.5, 0.25], "min") == [0.5, 0.25]
    assert to_loss_like([0.75, 1.0], "max") == [0.25, pytest.approx(0.0, abs=1e-9)]
    assert to_loss_like([-1.0], "min") is None  # no ratio for a negative objective
    assert to_loss_like([0.0], "min") == [1e-12]  # a perfect loss is floored
    assert to_loss_like([2.0], "max") is None  # not an accuracy-like number
    assert to_loss_like([math.nan, 0.5], "min") == [math.inf, 0.5]  # a diverged epoch is the worst
    assert from_loss_like(0.25, "max") == 0.75


def test_no_stop_without_incumbent_before_min_epochs_or_at_the_end():
    hopeless = [9.0, 9.0, 9.0, 9.0]
    assert not decide(hopeless, None, 0.0, 8, 2, 0.5).stop
    assert not decide(hopeless[:1], INCUMBENT, 0.0, 8, 2, 0.5).stop
    assert not decide(hopeless * 2, INCUMBENT, 0.0, 8, 2, 0.5).stop  # trained to the end
    assert decide(hopeless, INCUMBENT, 0.0, 8, 2, 0.5).stop


def test_a_trial_ahead_of_the_incumbent_is_never_stopped():
    # Even with a forecast of no improvement at all.
    assert not decide([0.9, 0.45, 0.29], INCUMBENT, 0.0, 8, 2, 0.5).stop


def test_the_value_head_forecast_can_save_a_trial_that_is_behind():
    behind = [1.2, 0.8, 0.5]
    assert decide(behind, INCUMBENT, -0.1, 8, 2, 0.5).stop
    saved = decide(behind, INCUMBENT, -1.2, 8, 2, 0.5)  # forecast 0.5 * e^-1.2 = 0.15 < 0.2
    assert not saved.stop
    assert saved.forecast == pytest.approx(0.5 * math.exp(-1.2))


def test_the_allowance_narrows_as_the_run_goes_on():
    curve = [1.0, 0.6, 0.4, 0.4, 0.4, 0.4]  # the same best at epochs 3 and 6
    early = decide(curve[:3], INCUMBENT, -0.3, 8, 2, 0.5)
    late = decide(curve, INCUMBENT, -0.3, 8, 2, 0.5)
    assert early.optimistic / early.forecast < late.optimistic / late.forecast
    assert not early.stop and late.stop
    # A larger margin is more cautious.
    assert not decide(curve, INCUMBENT, -0.3, 8, 2, 5.0).stop


def test_positive_predictions_never_raise_the_forecast_above_the_best_so_far():
    assert decide([1.0, 0.7, 0.6], INCUMBENT, +2.0, 8, 2, 0.0).forecast == pytest.approx(0.6)


def test_without_a_prediction_the_incumbents_own_improvement_is_assumed():
    # The incumbent improved 0.3 -> 0.2 after epoch 3, so 0.28 forecasts 0.28 * 2/3.
    decision = decide([0.9, 0.6, 0.28], INCUMBENT, None, 8, 2, 0.0)
    assert decision.forecast == pytest.approx(0.28 * 0.2 / 0.3)


def test_hyperband_budget_formula():
    assert hyperband_budget(1, 3) == 1
    assert hyperband_budget(9, 3, hyperband_iterations=2) == 2 * hyperband_budget(9, 3)
