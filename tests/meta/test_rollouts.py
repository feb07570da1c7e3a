"""Rollouts: a real (tiny) training run under the labelling callback."""

import dataclasses

import numpy as np

from keras_meta.meta.families import sample_task
from keras_meta.meta.lookahead import BranchScorer
from keras_meta.meta.lookahead import LookaheadConfig
from keras_meta.meta.rollouts import RolloutConfig
from keras_meta.meta.rollouts import run_rollout


def tiny_spec():
    spec = sample_task(3, optimizers=("adam",), sample_sizes=(128,), max_epochs=20, max_steps=60)
    return dataclasses.replace(spec, epochs=8, batch_size=32)  # 4 steps an epoch, 32 in all


def test_every_decision_is_labelled_by_default():
    rollout = run_rollout(tiny_spec(), "handwritten", RolloutConfig(lookahead=LookaheadConfig(horizon=2, cooldown=1)))
    assert len(rollout["features"]) == len(rollout["labels"]) == len(rollout["values"]) > 10
    np.testing.assert_allclose(rollout["labels"].sum(axis=1), 1.0)


def test_label_every_labels_only_some_decisions_and_a_cooldown_can_run_to_the_end():
    every = run_rollout(tiny_spec(), "handwritten", RolloutConfig(lookahead=LookaheadConfig(horizon=2, cooldown=1)))
    lookahead = LookaheadConfig(horizon=2, cooldown_to_end=True, label_every=4)
    sparse = run_rollout(tiny_spec(), "handwritten", RolloutConfig(lookahead=lookahead))
    assert len(sparse["labels"]) == -(-len(every["labels"]) // 4)  # decisions 0, 4, 8, ...
    assert np.isfinite(sparse["branch_losses"]).all() and np.isfinite(sparse["values"]).all()


def test_a_final_cooldown_has_no_decisions_and_branches_hold_their_rate_until_it(monkeypatch):
    calls = []
    original = BranchScorer.branch_losses

    def recording(self, model, lr, multipliers, remaining_steps=None, final_cooldown_steps=0):
        calls.append((remaining_steps, final_cooldown_steps))
        return original(self, model, lr, multipliers, remaining_steps, final_cooldown_steps)

    monkeypatch.setattr(BranchScorer, "branch_losses", recording)
    lookahead = LookaheadConfig(horizon=2, cooldown_to_end=True, final_cooldown=0.25)
    cooled = run_rollout(tiny_spec(), "handwritten", RolloutConfig(lookahead=lookahead))
    # One decision a step; none in the cool-down, steps 24-32, which every branch ends with.
    assert len(cooled["labels"]) == 23 and np.isfinite(cooled["branch_losses"]).all()
    assert calls == [(32 - step, 8) for step in range(1, 24)]
