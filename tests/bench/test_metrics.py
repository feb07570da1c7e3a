import math

import pytest

from keras_meta.bench import metrics


def record(task, method, seed, test_loss, *, curve=None, val=None, initial=10.0, epochs=4, wall=1.0):
    return {
        "task": task,
        "method": method,
        "seed": seed,
        "test_loss": test_loss,
        "initial_test_loss": initial,
        "test_curve": curve if curve is not None else [test_loss] * epochs,
        "val_curve": val if val is not None else [test_loss],
        "epochs": epochs,
        "wall_seconds": wall,
    }


@pytest.fixture
def records():
    return [
        # task a: the grid's best is constant@0.01 (mean 1.0); cosine@0.001 has the best val loss
        record("a", "constant@0.01", 0, 0.8, val=[3.0]),
        record("a", "constant@0.01", 1, 1.2, val=[3.0]),
        record("a", "cosine@0.001", 0, 2.0, val=[0.5]),
        record("a", "cosine@0.001", 1, 2.0, val=[0.5]),
        record("a", "constant@0.1", 0, math.nan),  # diverged: counts as the untrained model
        record("a", "meta@0.001", 0, 1.5, curve=[4.0, 1.0, 0.9, 1.5]),
        record("a", "meta@0.001", 1, 1.5, curve=[4.0, 3.0, 1.0, 1.5]),
        record("a", "plateau", 0, 3.0),
        # task b: oracle 2.0
        record("b", "constant@0.001", 0, 2.0, val=[1.0]),
        record("b", "meta@0.001", 0, 1.0),
        record("b", "plateau", 0, 1.0),
    ]


def test_effective_loss_replaces_divergence_with_the_untrained_loss(records):
    assert metrics.effective_test_loss(records[4]) == 10.0
    assert metrics.mean_losses(records)["a"]["constant@0.1"] == 10.0


def test_oracle_is_the_best_mean_grid_loss(records):
    assert metrics.oracle_losses(records) == {"a": pytest.approx(1.0), "b": 2.0}


def test_hand_tuned_picks_by_validation_and_scores_on_test(records):
    assert metrics.hand_tuned_losses(records) == {"a": ("cosine@0.001", 2.0), "b": ("constant@0.001", 2.0)}


def test_scores_and_their_geometric_mean(records):
    scores = metrics.scores(records)
    assert scores["a"]["meta@0.001"] == pytest.approx(1.5)
    assert scores["b"]["meta@0.001"] == pytest.approx(0.5)
    aggregate = metrics.aggregate_scores(scores)
    assert aggregate["meta@0.001"] == pytest.approx(math.sqrt(1.5 * 0.5))
    assert aggregate["plateau"] == pytest.approx(math.sqrt(3.0 * 0.5))


def test_geometric_mean_rejects_nonpositive_and_empty():
    assert metrics.geometric_mean([2.0, 8.0]) == pytest.approx(4.0)
    with pytest.raises(ValueError, match="positive"):
        metrics.geometric_mean([1.0, 0.0])
    with pytest.raises(ValueError, match="nothing"):
        metrics.geometric_mean([])


def test_win_rate_counts_ties_half(records):
    losses = metrics.mean_losses(records)
    assert metrics.win_rate(losses, "meta@0.001", "plateau") == pytest.approx(0.75)  # a: win, b: tie
    assert metrics.win_rate(losses, "meta@0.001", "constant@0.001") == 1.0  # only task b has both
    assert metrics.win_rate(losses, "meta@0.001", "absent") is None


def test_time_to_target_is_the_first_epoch_at_the_oracle(records):
    reached = metrics.time_to_target(records)
    assert reached["a"]["meta@0.001"] == pytest.approx((2 / 4 + 3 / 4) / 2)
    assert reached["a"]["plateau"] is None  # never reaches 1.0
    assert reached["a"]["constant@0.01"] == pytest.approx(1 / 4)  # the seed with 0.8 reaches it at once


def test_mean_wall_seconds(records):
    assert metrics.mean_wall_seconds(records)["a"]["constant@0.01"] == 1.0


def test_ratio_interval_is_the_score_ratio_with_a_paired_seed_bootstrap(records):
    by_seed = metrics.losses_by_seed(records)
    meta = {task: methods["meta@0.001"] for task, methods in by_seed.items()}
    plateau = {task: methods["plateau"] for task, methods in by_seed.items()}
    ratio, low, high = metrics.ratio_interval(meta, plateau)
    aggregate = metrics.aggregate_scores(metrics.scores(records))
    # Only seed 0 is shared on task a, so the ratio there is 1.5 / 3.0; on task b it is 1.0.
    assert ratio == pytest.approx(math.sqrt(0.5))
    assert ratio == pytest.approx(aggregate["meta@0.001"] / aggregate["plateau"])
    assert low == pytest.approx(ratio) and high == pytest.approx(ratio)  # one shared seed a task: no spread


def test_ratio_interval_spreads_with_seed_noise_and_not_with_a_steady_gap():
    steady = metrics.ratio_interval({"t": {0: 2.0, 1: 4.0, 2: 6.0}}, {"t": {0: 1.0, 1: 2.0, 2: 3.0}})
    assert steady == pytest.approx((2.0, 2.0, 2.0))  # twice as bad on every seed: certain

    # Better on two seeds, one bad seed: worse on average, but the seeds could make it either.
    a = {"t": {0: 0.5, 1: 0.5, 2: 5.0}, "u": {0: 1.0, 1: 1.0, 2: 1.0}}
    b = {"t": {0: 1.0, 1: 1.0, 2: 1.0}, "u": {0: 1.0, 1: 1.0, 2: 1.0}}
    ratio, low, high = metrics.ratio_interval(a, b)
    assert ratio == pytest.approx(math.sqrt(2.0))
    assert low < 1.0 < high
    assert metrics.ratio_interval(a, b) == (ratio, low, high)  # seeded: the same report every time
    assert metrics.ratio_interval(a, {"v": {0: 1.0}}) is None
