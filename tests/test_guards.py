"""The rules bounding `MetaLRCallback`'s policy, tested alone (the callback's tests run them in `fit`)."""

import math

import numpy as np
import pytest

from keras_meta import _guards as guards


def test_recent_loss_averages_the_last_three_recorded_losses():
    assert guards.recent_loss([100.0, 1.0, 2.0, 3.0]) == pytest.approx(2.0)
    assert guards.recent_loss([4.0]) == pytest.approx(4.0)


@pytest.mark.parametrize(
    ("loss", "explosion_factor", "relapse_armed", "cause"),
    [
        (10.5, 10.0, False, "exploded"),
        (9.5, 10.0, False, None),
        (10.5, None, False, None),  # explosions off
        (1.2, 10.0, True, "relapsed"),  # back above the untrained loss after a far fall
        (1.2, 10.0, False, None),  # ... which is no divergence before it
        (0.9, 10.0, True, None),
    ],
)
def test_divergence_cause(loss, explosion_factor, relapse_armed, cause):
    assert guards.divergence_cause(loss, 1.0, explosion_factor, relapse_armed) == cause


def test_started_too_high_needs_three_losses_whose_mean_exceeds_the_guard():
    assert not guards.started_too_high([1.0, 9.0], untrained_loss=1.0, start_guard=3.0)  # too few recorded
    assert guards.started_too_high([1.0, 2.0, 4.0, 4.0], untrained_loss=1.0, start_guard=3.0)  # mean 10/3
    assert not guards.started_too_high([1.0, 2.0, 3.0, 4.0], untrained_loss=1.0, start_guard=3.0)  # mean 3


def test_fallen_below_compares_the_recent_mean_with_exp_minus_g_of_the_untrained_loss():
    threshold = math.exp(-4.0)
    assert guards.fallen_below([1.0] + [threshold * 0.9] * 3, untrained_loss=1.0, guard=4.0)
    assert not guards.fallen_below(
        [1.0, threshold * 0.9, threshold * 0.9, threshold * 1.3], untrained_loss=1.0, guard=4.0
    )
    assert not guards.fallen_below([1.0, 0.0], untrained_loss=1.0, guard=4.0)  # too few recorded


def test_rate_ceiling_stops_a_climb_past_the_fitted_rate_only():
    assert guards.rate_ceiling(1e-3, max_lr=1.0, fitted_lr=None) == 1.0
    assert guards.rate_ceiling(1e-3, max_lr=1.0, fitted_lr=4e-3) == 4e-3
    assert guards.rate_ceiling(8e-3, max_lr=1.0, fitted_lr=4e-3) == 8e-3  # a rate above it may stay
    assert guards.rate_ceiling(1e-3, max_lr=2e-3, fitted_lr=4e-3) == 2e-3


def test_rate_floor_decays_linearly_while_the_validation_loss_improves():
    improving = [0.9, 0.8, 0.7]
    assert guards.rate_floor(1.0, 1e-3, improving, progress=0.0) == pytest.approx(1e-3)
    assert guards.rate_floor(1.0, 1e-3, improving, progress=0.75) == pytest.approx(2.5e-4)
    assert guards.rate_floor(0.5, 1e-3, improving, progress=0.5) == pytest.approx(2.5e-4)
    assert guards.rate_floor(1.0, 1e-3, improving, progress=1.2) == 0.0


def test_rate_floor_holds_while_the_best_validation_loss_is_at_most_five_epochs_old():
    five_old = [0.5] + [0.9] * 5
    six_old = [0.5] + [0.9] * 6
    assert guards.rate_floor(1.0, 1e-3, five_old, progress=0.5) == pytest.approx(5e-4)
    assert guards.rate_floor(1.0, 1e-3, six_old, progress=0.5) == 0.0


def test_rate_floor_is_off_without_validation_losses_or_with_a_zero_factor():
    assert guards.rate_floor(1.0, 1e-3, [], progress=0.1) == 0.0
    assert guards.rate_floor(0.0, 1e-3, [0.9, 0.8], progress=0.1) == 0.0


def test_climb_limit_is_a_ramp_from_the_default_rate_for_starts_at_or_below_it():
    assert guards.climb_limit(0.05, 1e-5, 1e-3, progress=0.0) == pytest.approx(1e-3)  # free below the default
    assert guards.climb_limit(0.05, 1e-3, 1e-3, progress=0.2) == pytest.approx(16e-3)  # one doubling per 5%
    assert guards.climb_limit(0.05, 0.1, 1e-3, progress=0.0) == math.inf  # a start above the default: no ramp
    assert guards.climb_limit(0.1, 0.02, None, progress=0.1) == pytest.approx(0.04)  # no default rate: the start
    assert guards.climb_limit(0.0, 1e-3, 1e-3, progress=0.2) == math.inf


def test_climb_limit_takes_the_faster_of_the_run_fraction_and_step_ramps():
    # 200 steps are 4 doublings at 50 steps each; 10% of the run, 2 at 5%.
    assert guards.climb_limit(0.05, 1e-3, 1e-3, progress=0.1, climb_ramp_steps=50, step=200) == pytest.approx(16e-3)
    assert guards.climb_limit(0.05, 1e-3, 1e-3, progress=0.4, climb_ramp_steps=50, step=200) == pytest.approx(0.256)
    assert guards.climb_limit(0.0, 1e-3, 1e-3, progress=0.4, climb_ramp_steps=50, step=100) == pytest.approx(4e-3)
    assert guards.climb_limit(0.0, 0.1, 1e-3, progress=0.0, climb_ramp_steps=50, step=0) == math.inf  # above
    assert guards.climb_limit(0.0, 1e-3, 1e-3, progress=0.4, climb_ramp_steps=0.0, step=100) == math.inf


def test_clamp_moves_a_rate_into_its_bounds_as_a_python_float():
    assert guards.clamp(5.0, 1e-6, 1.0) == 1.0
    assert guards.clamp(1e-9, 1e-6, 1.0) == 1e-6
    rate = guards.clamp(np.float32(1e-3), 1e-6, 1.0)
    assert type(rate) is float and rate == pytest.approx(1e-3)
