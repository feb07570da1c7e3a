"""Rollouts: a real (tiny) training run under the labelling callback."""

import dataclasses

import numpy as np
import pytest

from keras_meta.features import FEATURE_NAMES
from keras_meta.meta.families import sample_task
from keras_meta.meta.lookahead import BranchScorer
from keras_meta.meta.lookahead import LookaheadConfig
from keras_meta.meta.rollouts import LabellingCallback
from keras_meta.meta.rollouts import RolloutConfig
from keras_meta.meta.rollouts import run_rollout


def tiny_spec():
    spec = sample_task(3, optimizers=("adam",), sample_sizes=(128,), max_epochs=20, max_steps=60)
    return dataclasses.replace(spec, epochs=8, batch_size=32)  # 4 steps an epoch, 32 in all


# Every rollout costs seconds of fixed overhead (a model, its twin and their traced functions), so the
# rollouts that several tests only read are run once for the module: the expert's from a fixed rate,
# without and with a forced climb. They are not modified by the tests that read them.
EXPERT = RolloutConfig(expert_probability=1.0, exploration=0.0, lookahead=LookaheadConfig(horizon=2, cooldown=1))


def climb_spec():
    """`tiny_spec` from 3e-3: a rate the expert does not double at once, and room to double it."""
    return dataclasses.replace(tiny_spec(), initial_lr=3e-3)


@pytest.fixture(scope="module")
def unforced():
    """The expert's rollout, every decision labelled (the default `label_every`), and no forced climb."""
    return run_rollout(climb_spec(), "handwritten", EXPERT)


@pytest.fixture(scope="module")
def forced():
    """The same rollout with a forced climb in every rollout (`climb_exploration=1.0`)."""
    return run_rollout(climb_spec(), "handwritten", dataclasses.replace(EXPERT, climb_exploration=1.0))


def test_every_decision_is_labelled_by_default():
    # The default config: the expert acts at half the decisions and some are random, so decisions that
    # the expert did not take are labelled too.
    rollout = run_rollout(climb_spec(), "handwritten", RolloutConfig(lookahead=LookaheadConfig(horizon=2, cooldown=1)))
    assert len(rollout["features"]) == len(rollout["labels"]) == len(rollout["values"]) > 10
    np.testing.assert_allclose(rollout["labels"].sum(axis=1), 1.0)


def test_label_every_labels_only_some_decisions_and_a_cooldown_can_run_to_the_end(unforced):
    lookahead = LookaheadConfig(horizon=2, cooldown_to_end=True, label_every=4)
    # The default config (not only the expert's decisions), on the spec of `unforced`: the same steps.
    sparse = run_rollout(climb_spec(), "handwritten", RolloutConfig(lookahead=lookahead))
    assert len(sparse["features"]) == len(sparse["values"]) == len(unforced["features"])  # every decision recorded
    labelled = sparse["label_kind"] == LabellingCallback.LOOKAHEAD
    np.testing.assert_array_equal(np.flatnonzero(labelled), np.arange(0, len(labelled), 4))  # decisions 0, 4, 8, ...
    assert (sparse["label_kind"][~labelled] == LabellingCallback.UNLABELLED).all()
    np.testing.assert_allclose(sparse["labels"][labelled].sum(axis=1), 1.0)
    assert not sparse["labels"][~labelled].any() and np.isnan(sparse["branch_losses"][~labelled]).all()
    assert np.isfinite(sparse["branch_losses"][labelled]).all() and np.isfinite(sparse["values"]).all()


def test_a_final_cooldown_has_no_decisions_and_branches_hold_their_rate_until_it(monkeypatch):
    calls = []
    original = BranchScorer.branch_losses

    def recording(self, model, lr, multipliers, remaining_steps=None, final_cooldown_steps=0):
        calls.append((remaining_steps, final_cooldown_steps))
        return original(self, model, lr, multipliers, remaining_steps, final_cooldown_steps)

    monkeypatch.setattr(BranchScorer, "branch_losses", recording)
    lookahead = LookaheadConfig(horizon=2, cooldown_to_end=True, final_cooldown=0.25)
    # 16 steps, not 32: branches to the end of the run cost steps, and the schedule checked is the same.
    spec = dataclasses.replace(tiny_spec(), epochs=4)
    cooled = run_rollout(spec, "handwritten", RolloutConfig(lookahead=lookahead))
    # One decision a step; none in the cool-down, steps 13-16, which every branch ends with.
    assert len(cooled["labels"]) == 11 and np.isfinite(cooled["branch_losses"]).all()
    assert calls == [(16 - step, 4) for step in range(1, 12)]


def test_propagated_labels_let_the_expert_climb_toward_a_target_beyond_the_actions():
    """From a rate far too small the look-ahead's target is x4: the expert doubles twice, then keeps it."""
    # 8 steps (7 decisions, look-aheads at 0 and 4) are enough for decisions 0-2, which the climb is read at.
    spec = dataclasses.replace(tiny_spec(), initial_lr=1e-4, epochs=2)
    wide = (-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0)
    lookahead = LookaheadConfig(
        horizon=8, cooldown=2, temperature=0.001, label_every=4, branches=wide, propagate_labels=True
    )
    expert = RolloutConfig(expert_probability=1.0, exploration=0.0, lookahead=lookahead)
    rollout = run_rollout(spec, "handwritten", expert)
    kinds = rollout["label_kind"]
    assert (kinds[::4] == LabellingCallback.LOOKAHEAD).all() and (kinds[1::4] == LabellingCallback.PROPAGATED).all()
    assert rollout["labels"][0].argmax() == 4  # x2 now: the target (x4) is out of a single action's reach
    assert rollout["labels"][1].argmax() == 4  # and x2 again at the next decision, which no look-ahead labels
    climbed = rollout["features"][:, FEATURE_NAMES.index("log_lr_vs_initial")]
    assert climbed[2] == pytest.approx(2.0)  # two doublings before the next look-ahead
    without = dataclasses.replace(expert, lookahead=dataclasses.replace(lookahead, propagate_labels=False))
    kept = run_rollout(spec, "handwritten", without)["features"][:, FEATURE_NAMES.index("log_lr_vs_initial")]
    assert kept[2] == pytest.approx(1.0)  # without propagation the expert keeps the rate after one doubling


def test_climb_labels_let_the_expert_climb_between_look_aheads_from_a_rate_far_too_small():
    """Short branches label the decisions between look-aheads only when the largest action wins them."""
    # 16 steps, not 32: look-aheads to the end of the run cost steps. At 16 the first look-ahead still has
    # its 8 steps at the candidate rate and a cool-down after them, as on a longer run.
    spec = dataclasses.replace(tiny_spec(), initial_lr=1e-4, epochs=4)
    lookahead = LookaheadConfig(
        horizon=8, cooldown=2, temperature=0.001, cooldown_to_end=True, label_every=4, climb_labels=True
    )
    expert = RolloutConfig(expert_probability=1.0, exploration=0.0, lookahead=lookahead)
    rollout = run_rollout(spec, "handwritten", expert)
    kinds = rollout["label_kind"]
    assert (kinds[::4] == LabellingCallback.LOOKAHEAD).all()
    assert set(kinds[1::4]) | set(kinds[2::4]) | set(kinds[3::4]) <= {
        LabellingCallback.CLIMB,
        LabellingCallback.UNLABELLED,
    }
    climbed = kinds == LabellingCallback.CLIMB
    assert climbed[1]  # at 2x a rate far too small, even a short look-ahead says raise it
    assert (rollout["labels"][climbed].argmax(axis=1) == 4).all()  # a climb label is always x2
    assert np.isfinite(rollout["branch_losses"][climbed]).all()
    assert np.isnan(rollout["branch_losses"][kinds == LabellingCallback.UNLABELLED]).all()
    log_lr = rollout["features"][:, FEATURE_NAMES.index("log_lr_vs_initial")]
    assert log_lr[2] == pytest.approx(2.0)  # the look-ahead's x2, then the climb label's x2
    without = dataclasses.replace(expert, lookahead=dataclasses.replace(lookahead, climb_labels=False))
    kept = run_rollout(spec, "handwritten", without)["features"][:, FEATURE_NAMES.index("log_lr_vs_initial")]
    assert kept[2] == pytest.approx(1.0)  # without climb labels the expert keeps the rate after one doubling


def test_a_forced_climb_doubles_the_rate_at_consecutive_decisions_and_labels_the_states_it_reaches(forced, unforced):
    """Whatever the expert says, a forced climb takes x2 (up to `max_lr`) at 3-10 consecutive decisions."""
    log2_lr = forced["features"][:, FEATURE_NAMES.index("log_lr_vs_initial")]
    plain = unforced["features"][:, FEATURE_NAMES.index("log_lr_vs_initial")]
    start = int(np.flatnonzero(log2_lr != plain)[0]) - 1  # the climb's first decision
    assert 0 <= start < 40 // 2  # in the first half of the handwritten policy's 40 decisions a run
    np.testing.assert_array_equal(forced["features"][: start + 1], unforced["features"][: start + 1])
    ceiling = np.log2(1.0 / 3e-3)  # MetaLRCallback's max_lr is 1.0
    for k in range(start + 1, start + 1 + RolloutConfig.CLIMB_LENGTHS[0]):
        assert log2_lr[k] == pytest.approx(min(log2_lr[k - 1] + 1.0, ceiling), abs=1e-6)
    assert plain[start + 1] != pytest.approx(plain[start] + 1.0)  # the expert itself would not have doubled
    np.testing.assert_allclose(forced["labels"].sum(axis=1), 1.0)  # every state, the climb's too, is labelled


def test_climb_exploration_outside_zero_to_one_is_refused():
    with pytest.raises(ValueError, match="climb_exploration"):
        RolloutConfig(climb_exploration=1.5)


def test_a_rollout_says_whether_a_forced_climb_steered_it(forced, unforced):
    assert forced["forced_climb"]
    assert not unforced["forced_climb"]


def test_a_forced_climb_can_wait_until_the_loss_has_fallen(unforced):
    """With `climb_after_loss_drop` the climb starts at the first decision where the loss is e^-d below its start."""
    fallen = unforced["features"][:, FEATURE_NAMES.index("log_loss_vs_start")]
    drop = 0.5 * -fallen.min()  # a drop the run reaches part way through
    first = int(np.argmax(fallen <= -drop))
    assert first > 0
    waited = run_rollout(
        climb_spec(), "handwritten", dataclasses.replace(EXPERT, climb_exploration=1.0, climb_after_loss_drop=drop)
    )
    assert waited["forced_climb"]
    np.testing.assert_array_equal(waited["features"][: first + 1], unforced["features"][: first + 1])
    log2_lr = waited["features"][:, FEATURE_NAMES.index("log_lr_vs_initial")]
    assert log2_lr[first + 1] == pytest.approx(min(log2_lr[first] + 1.0, np.log2(1.0 / 3e-3)), abs=1e-6)
    never = run_rollout(
        climb_spec(), "handwritten", dataclasses.replace(EXPERT, climb_exploration=1.0, climb_after_loss_drop=50.0)
    )
    assert not never["forced_climb"] and never["features"].tolist() == unforced["features"].tolist()
    with pytest.raises(ValueError, match="climb_after_loss_drop"):
        RolloutConfig(climb_after_loss_drop=0.0)


def test_rollouts_run_without_the_callbacks_guards():
    # The shipped policies were meta-trained on runs recorded as they went: a
    # guard in a rollout would change what a config reproduces.
    callback = LabellingCallback("handwritten", scorer=None, config=RolloutConfig(), seed=0)
    assert callback.explosion_factor is None and callback.start_guard is None
    assert callback.relapse_guard is None and callback.fit_guard == 0.0
