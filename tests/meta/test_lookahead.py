import numpy as np
import pytest

from keras_meta.meta.families import build_model
from keras_meta.meta.families import make_data
from keras_meta.meta.families import sample_task
from keras_meta.meta.lookahead import BranchScorer
from keras_meta.meta.lookahead import LookaheadConfig
from keras_meta.meta.lookahead import labels_toward_targets
from keras_meta.meta.lookahead import soft_labels


@pytest.fixture(scope="module")
def trained():
    spec = sample_task(5, optimizers=("adam",))
    spec = type(spec).from_dict({**spec.to_dict(), "family": "teacher_regression", "n_classes": 1, "dropout": 0.0})
    data = make_data(spec)
    model = build_model(spec)
    model.optimizer.learning_rate = 1e-5
    model.fit(data["x_train"], data["y_train"], batch_size=spec.batch_size, epochs=1, verbose=0)
    return spec, data, model


def test_branches_leave_the_model_untouched(trained):
    spec, data, model = trained
    weights = model.get_weights()
    slots = [v.numpy().copy() for v in model.optimizer.variables]
    BranchScorer(model, data, spec.batch_size, LookaheadConfig(horizon=3, cooldown=2)).branch_losses(
        model, 1e-5, [0.5, 2.0]
    )
    for got, want in zip(model.get_weights(), weights):
        np.testing.assert_array_equal(got, want)
    for variable, want in zip(model.optimizer.variables, slots):
        np.testing.assert_array_equal(variable.numpy(), want)


def test_a_zero_rate_branch_scores_the_current_model(trained):
    spec, data, model = trained
    config = LookaheadConfig(horizon=3, cooldown=2)
    scorer = BranchScorer(model, data, spec.batch_size, config=config)  # scores on all of val (< 1024 samples)
    (loss,) = scorer.branch_losses(model, 1e-3, [0.0])
    assert loss == pytest.approx(float(model.evaluate(data["x_val"], data["y_val"], verbose=0)), rel=1e-4)


def test_branches_can_be_scored_on_a_fresh_sample(trained):
    spec, _, model = trained
    data = make_data(spec, fresh_samples=300)
    fresh = BranchScorer(model, data, spec.batch_size, LookaheadConfig(horizon=1, cooldown=0, score_split="fresh"))
    (loss,) = fresh.branch_losses(model, 1e-3, [0.0])
    assert loss == pytest.approx(float(model.evaluate(data["x_fresh"], data["y_fresh"], verbose=0)), rel=1e-4)
    without_fresh = BranchScorer(model, make_data(spec), spec.batch_size, LookaheadConfig(score_split="fresh"))
    with pytest.raises(ValueError, match="'fresh' split"):
        without_fresh.branch_losses(model, 1e-3, [1.0])
    with pytest.raises(ValueError, match="score_split"):
        LookaheadConfig(score_split="test")


def test_from_a_far_too_small_rate_the_largest_multiplier_wins(trained):
    spec, data, model = trained
    scorer = BranchScorer(model, data, spec.batch_size, LookaheadConfig(horizon=10, cooldown=5), seed=1)
    losses = scorer.branch_losses(model, 1e-5, [0.5, 1.0, 2.0])
    assert losses[2] < losses[1] < losses[0]
    assert soft_labels(losses, 0.001).argmax() == 2


def test_soft_labels_edge_cases():
    np.testing.assert_allclose(soft_labels(np.array([1.0, 1.0]), 0.1), [0.5, 0.5])
    np.testing.assert_allclose(soft_labels(np.array([np.inf, np.inf]), 0.1), [1.0, 0.0])
    labels = soft_labels(np.array([0.0, 1.0, np.nan]), 0.1)
    assert labels[0] == pytest.approx(1.0) and labels[2] == 0.0


def test_a_cooldown_to_the_end_runs_each_branch_for_the_rest_of_the_run(trained):
    spec, data, model = trained
    config = LookaheadConfig(horizon=3, cooldown=2, cooldown_to_end=True)
    scorer = BranchScorer(model, data, spec.batch_size, config)
    start = int(model.optimizer.iterations.numpy())
    scorer.branch_losses(model, 1e-3, [1.0], remaining_steps=9)
    assert int(scorer.twin.optimizer.iterations.numpy()) == start + 9  # 3 at the rate, 6 annealed, not 3 + 2
    with pytest.raises(ValueError, match="remaining_steps"):
        scorer.branch_losses(model, 1e-3, [1.0])
    scorer.branch_losses(model, 1e-3, [1.0], remaining_steps=9, short=True)
    assert int(scorer.twin.optimizer.iterations.numpy()) == start + 5  # a short branch: 3 at the rate, 2 annealed
    with pytest.raises(ValueError, match="label_every"):
        LookaheadConfig(label_every=0)


@pytest.mark.parametrize("final_cooldown_steps, decay_steps", [(4, 4), (8, 6), (0, 6)])
def test_with_a_final_cooldown_a_branch_keeps_its_rate_until_the_cooldown_begins(
    trained, final_cooldown_steps, decay_steps
):
    spec, data, model = trained
    scorer = BranchScorer(model, data, spec.batch_size, LookaheadConfig(horizon=3, cooldown_to_end=True))
    scorer.branch_losses(model, 1e-3, [1.0], remaining_steps=9, final_cooldown_steps=final_cooldown_steps)
    # The last step runs at rate / (decay steps + 1); at least `horizon` steps keep the rate.
    assert float(scorer.twin.optimizer.learning_rate.numpy()) == pytest.approx(1e-3 / (decay_steps + 1))
    with pytest.raises(ValueError, match="final_cooldown"):
        LookaheadConfig(final_cooldown=1.0)


def test_labels_toward_targets_are_the_labels_themselves_when_targets_are_the_actions():
    actions = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
    probabilities = np.array([0.1, 0.2, 0.3, 0.15, 0.25])
    np.testing.assert_array_equal(labels_toward_targets(probabilities, actions, actions), probabilities)


def test_labels_toward_targets_move_toward_a_target_beyond_the_actions_over_several_decisions():
    actions = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
    targets = np.array([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0])
    x4 = np.eye(7)[6]  # the label: four times the rate
    moves = [actions[labels_toward_targets(x4, targets, actions, shift).argmax()] for shift in (0.0, 1.0, 2.0, 2.5)]
    assert moves == [1.0, 1.0, 0.0, -0.5]  # x2, x2, keep; back toward it once past it
    spread = labels_toward_targets(np.full(7, 1 / 7), targets, actions)
    np.testing.assert_allclose(spread, np.array([2, 1, 1, 1, 2]) / 7)  # x1/4 and x4 land on the end actions


def test_climb_labels_and_propagated_labels_exclude_each_other():
    with pytest.raises(ValueError, match="choose one"):
        LookaheadConfig(label_every=4, propagate_labels=True, climb_labels=True)


def test_branches_must_include_every_action():
    with pytest.raises(ValueError, match="branches"):
        LookaheadConfig(branches=(-2.0, 0.0, 2.0))
    config = LookaheadConfig(branches=(2.0, -1.0, -0.5, 0.0, 0.5, 1.0, -2.0))
    np.testing.assert_array_equal(config.branch_log2_multipliers([-1, 0, 1]), [-2, -1, -0.5, 0, 0.5, 1, 2])
    np.testing.assert_array_equal(LookaheadConfig().branch_log2_multipliers([-1, 0, 1]), [-1, 0, 1])
