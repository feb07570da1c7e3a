import copy
import json
import math
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
from conftest import fit
from conftest import fixed_policy
from conftest import linear_model
from conftest import lr_of
from conftest import regression_data
from conftest import tiny_model
from conftest import uniform_policy

from keras_meta import MetaLRCallback
from keras_meta.callbacks import Decision

# ---------------------------------------------------------------- the LR path


def test_always_halve_policy_halves_the_rate_at_every_decision(halving_policy):
    model = tiny_model(lr=1e-2)
    callback = MetaLRCallback(policy=halving_policy, interval=2, min_lr=1e-5)
    history = fit(model, callback, epochs=2)  # 8 batches an epoch: decisions at 2, 4, ..., 16

    assert [d.step for d in callback.decisions] == [2, 4, 6, 8, 10, 12, 14, 16]
    expected = [max(1e-2 * 0.5**k, 1e-5) for k in range(1, 9)]
    np.testing.assert_allclose([d.new_lr for d in callback.decisions], expected, rtol=1e-6)
    assert all(d.log2_multiplier == -1.0 for d in callback.decisions)
    assert all(d.value == -0.25 for d in callback.decisions)
    assert lr_of(model) == pytest.approx(expected[-1], rel=1e-6)
    np.testing.assert_allclose(history.history["learning_rate"], [expected[3], expected[7]], rtol=1e-6)


def test_always_double_policy_is_clamped_at_max_lr(doubling_policy):
    model = tiny_model(lr=1e-3)
    callback = MetaLRCallback(policy=doubling_policy, interval=1, max_lr=1e-2)
    fit(model, callback)
    rates = [d.new_lr for d in callback.decisions]
    np.testing.assert_allclose(rates[:3], [2e-3, 4e-3, 8e-3], rtol=1e-6)
    assert rates[3:] == [pytest.approx(1e-2)] * 5
    assert lr_of(model) == pytest.approx(1e-2)


def test_the_optimizer_trains_with_the_rate_the_policy_sets(halving_policy):
    # With the rate halved after every batch, the weights move only in the
    # first few steps; with a constant rate they keep moving.
    x, y = regression_data()
    steered, constant = tiny_model(lr=0.1), tiny_model(lr=0.1)
    start = steered.get_weights()
    fit(steered, MetaLRCallback(halving_policy, interval=1, min_lr=1e-7, max_lr=1.0), epochs=6, x=x, y=y)
    fit(constant, MetaLRCallback(fixed_policy(0.0), interval=1), epochs=6, x=x, y=y)
    moved = lambda m: sum(np.abs(w - s).sum() for w, s in zip(m.get_weights(), start))  # noqa: E731
    assert moved(steered) < 0.5 * moved(constant)


class RateRecorder(keras.callbacks.Callback):
    """Records the rate each batch trained with (it runs before the batch)."""

    def on_train_begin(self, logs=None):
        self.rates = []

    def on_train_batch_begin(self, batch, logs=None):
        self.rates.append(lr_of(self.model))


def test_final_cooldown_anneals_linearly_to_zero_from_where_the_policy_left_the_rate(halving_policy):
    model, recorder = tiny_model(lr=1e-2), RateRecorder()
    callback = MetaLRCallback(halving_policy, interval=4, final_cooldown=0.25)
    x, y = regression_data()
    model.fit(x, y, batch_size=8, epochs=4, verbose=0, callbacks=[callback, recorder])  # 32 steps
    assert [d.step for d in callback.decisions] == [4, 8, 12, 16, 20]  # none in the last quarter
    # Steps 21-24 train at 1e-2 / 32; the cool-down's 8 steps at 8/9, 7/9, ..., 1/9 of that.
    expected = np.repeat([1e-2 / 2**k for k in range(6)], 4).tolist() + [1e-2 / 32 * k / 9 for k in range(8, 0, -1)]
    np.testing.assert_allclose(recorder.rates, expected, rtol=1e-6)
    # After the last step the rate is left at the last step's, not zero: what reads it next works.
    assert lr_of(model) == pytest.approx(expected[-1], rel=1e-6)
    assert math.isfinite(callback.value_estimate())


def test_recoveries_in_the_final_cooldown_cut_its_line_and_are_not_counted_in_a_row_across_good_steps():
    x, y = regression_data(n_samples=64)
    x[4 * 8] = x[6 * 8] = np.nan  # steps 5 and 7 of 8 are poisoned; the cool-down starts at step 4
    model, recorder = tiny_model(lr=1e-2), RateRecorder()
    callback = MetaLRCallback(
        fixed_policy(0.0), interval=1, final_cooldown=0.5, snapshot_every=1, max_recoveries=1, recovery_factor=0.1
    )
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[callback, recorder])
    assert [(r.step, r.restored_step) for r in callback.recoveries] == [(5, 4), (7, 6)]  # snapshots go on
    assert callback.stopped_reason is None  # step 6 was good in between
    assert recorder.rates[6] == pytest.approx(1e-3 * 2 / 5)  # step 7: the line (2/5), cut by 0.1
    assert recorder.rates[-1] > 0.0 and lr_of(model) == pytest.approx(recorder.rates[-1], rel=1e-6)


def test_final_cooldown_defaults_to_the_policys_card_and_zero_turns_it_off():
    policy = fixed_policy(1.0)
    policy = type(policy).from_config({**policy.get_config(), "card": {**policy.card, "final_cooldown": 0.5}})
    trained_with_one = MetaLRCallback(policy, interval=1, max_lr=1e-2)
    fit(tiny_model(lr=1e-3), trained_with_one, epochs=2)  # 16 steps
    assert [d.step for d in trained_with_one.decisions] == list(range(1, 8))
    turned_off = MetaLRCallback(policy, interval=1, max_lr=1e-2, final_cooldown=0.0)
    fit(tiny_model(lr=1e-3), turned_off, epochs=2)
    assert len(turned_off.decisions) == 16


def test_act_every_acts_at_every_kth_decision_and_keeps_the_rate_between(doubling_policy):
    callback = MetaLRCallback(policy=doubling_policy, interval=1, act_every=3)
    model = tiny_model(lr=1e-3)
    fit(model, callback)  # 8 decisions: the policy acts at the 1st, 4th and 7th
    assert [d.log2_multiplier for d in callback.decisions] == [1.0, 0, 0, 1.0, 0, 0, 1.0, 0]
    assert all(d.value == -0.25 for d in callback.decisions)  # the value head is asked at every decision
    assert lr_of(model) == pytest.approx(8e-3)
    clone = MetaLRCallback.from_config(callback.get_config())
    assert clone.act_every == 3


def test_act_every_defaults_to_the_policys_card():
    policy = fixed_policy(1.0)
    policy = type(policy).from_config({**policy.get_config(), "card": {**policy.card, "act_every": 4}})
    from_card = MetaLRCallback(policy, interval=1)
    fit(tiny_model(lr=1e-3), from_card)
    assert [d.log2_multiplier for d in from_card.decisions] == [1.0, 0, 0, 0, 1.0, 0, 0, 0]
    every_decision = MetaLRCallback(policy, interval=1, act_every=1)
    fit(tiny_model(lr=1e-3), every_decision)
    assert all(d.log2_multiplier == 1.0 for d in every_decision.decisions)


def test_automatic_interval_spreads_the_policys_decisions_over_the_run():
    policy = fixed_policy(0.0)  # its card asks for 10 decisions a run
    callback = MetaLRCallback(policy)
    fit(tiny_model(), callback, epochs=5)  # 8 batches x 5 epochs = 40 steps
    assert [d.step for d in callback.decisions] == [4, 8, 12, 16, 20, 24, 28, 32, 36, 40]


def test_initial_epoch_counts_as_progress(halving_policy):
    callback = MetaLRCallback(halving_policy, interval=4)
    fit(tiny_model(), callback, epochs=3, initial_epoch=2)
    assert [d.step for d in callback.decisions] == [20, 24]
    assert callback._progress() == pytest.approx(1.0)


def test_starting_rate_outside_the_bounds_is_clamped_with_a_warning(halving_policy):
    model = tiny_model(lr=5.0)
    with pytest.warns(UserWarning, match="outside"):
        fit(model, MetaLRCallback(halving_policy, interval=100, max_lr=0.5))
    assert lr_of(model) == pytest.approx(0.5)


def test_validation_losses_reach_the_features():
    callback = MetaLRCallback(fixed_policy(0.0), interval=3)
    x, y = regression_data()
    fit(tiny_model(), callback, epochs=3, x=x[:48], y=y[:48], validation_data=(x[48:], y[48:]))
    assert len(callback._val_losses) == len(callback._epoch_losses) == 3


# ------------------------------------------------------ per-batch loss recovery


def per_batch_losses(model, x, y, batch_size):
    predictions = model.predict(x, batch_size=batch_size, verbose=0)
    squared = ((predictions - y) ** 2).mean(axis=1)
    return np.array([squared[i : i + batch_size].mean() for i in range(0, len(x), batch_size)])


@pytest.mark.parametrize("steps_per_execution", [1, 3])
def test_each_batch_loss_is_recovered_from_the_running_mean(steps_per_execution):
    # A rate of 1e-10 leaves the weights fixed, so the true loss of every
    # batch is known in advance (no shuffling).
    x, y = regression_data(n_samples=72)
    model = tiny_model(lr=1e-10, steps_per_execution=steps_per_execution)
    truth = per_batch_losses(model, x, y, batch_size=8)  # 9 batches
    callback = MetaLRCallback(fixed_policy(0.0), interval=1, min_lr=1e-12)
    fit(model, callback, epochs=2, x=x, y=y, shuffle=False)

    per_record = truth.reshape(-1, steps_per_execution).mean(axis=1)
    np.testing.assert_allclose(callback.losses, np.tile(per_record, 2), rtol=1e-4)
    batches = np.arange(steps_per_execution, 10, steps_per_execution)
    assert callback.loss_steps == list(batches) + list(9 + batches)
    assert [d.step for d in callback.decisions] == callback.loss_steps


# ---------------------------------------- guards that bound the policy's rate


def test_fit_guard_stops_the_climb_once_the_training_data_is_fitted():
    # An always-double policy on a noise-free linear regression: unguarded it
    # climbs to max_lr and blows the fit up; guarded, the rate stays where it
    # was when the loss fell below exp(-2) of the untrained one, and the fit holds.
    x, y = regression_data(n_samples=64)
    unguarded = MetaLRCallback(fixed_policy(1.0), interval=2, fit_guard=0.0)
    fit(linear_model(lr=0.01), unguarded, epochs=4, x=x, y=y, shuffle=False)
    guarded = MetaLRCallback(fixed_policy(1.0), interval=2, fit_guard=2.0)
    model = linear_model(lr=0.01)
    fit(model, guarded, epochs=4, x=x, y=y, shuffle=False)

    assert max(d.new_lr for d in unguarded.decisions) == pytest.approx(1.0) and unguarded.recoveries
    rates = [d.new_lr for d in guarded.decisions]
    fitted_rate = guarded._fitted_lr
    assert fitted_rate is not None and rates[-1] == pytest.approx(fitted_rate)
    assert rates.index(max(rates)) < len(rates) // 2  # capped early, held since
    assert max(rates) == pytest.approx(fitted_rate) and fitted_rate < 1.0
    assert guarded.recoveries == [] and guarded.losses[-1] < 1e-3 * guarded.losses[0]


def test_fit_guard_defaults_to_the_policys_card_is_validated_and_serialised():
    policy = fixed_policy(1.0)
    policy = type(policy).from_config({**policy.get_config(), "card": {**policy.card, "fit_guard": 2.0}})
    from_card = MetaLRCallback(policy, interval=2)
    fit(linear_model(lr=0.01), from_card, epochs=4, shuffle=False)
    assert from_card._fitted_lr is not None and max(d.new_lr for d in from_card.decisions) < 1.0
    with pytest.raises(ValueError, match="fit_guard"):
        MetaLRCallback(policy, fit_guard=-1.0)
    assert MetaLRCallback.from_config(MetaLRCallback(policy, fit_guard=3.0).get_config()).fit_guard == 3.0


def test_lr_floor_keeps_the_rate_above_a_linear_decay_while_val_loss_improves():
    # An always-halve policy: unfloored the rate falls to min_lr within a few
    # decisions; with lr_floor=1 and a validation loss that keeps improving
    # (validated on the training data), every decision after the first epoch
    # sits at or above the linear decay from the start, 0.01 x the run left.
    x, y = regression_data(n_samples=64)
    unfloored = MetaLRCallback(fixed_policy(-1.0), interval=2, lr_floor=0.0)
    fit(linear_model(lr=0.01), unfloored, epochs=4, x=x, y=y, shuffle=False, validation_data=(x, y))
    floored = MetaLRCallback(fixed_policy(-1.0), interval=2, lr_floor=1.0)
    fit(linear_model(lr=0.01), floored, epochs=4, x=x, y=y, shuffle=False, validation_data=(x, y))

    total_steps = 4 * 8
    assert unfloored.decisions[-1].new_lr == pytest.approx(unfloored.min_lr)
    for decision in floored.decisions:
        floor = 0.01 * (1 - decision.step / total_steps) if decision.epoch >= 1 else 0.0
        assert decision.new_lr == pytest.approx(max(min(floor, decision.old_lr), decision.old_lr / 2))
    assert [d.new_lr for d in floored.decisions if d.step == 16][0] == pytest.approx(0.000625)  # held at the floor


def test_lr_floor_lets_go_once_val_loss_stops_improving_and_without_validation_data():
    # Validated on flipped targets, val_loss is best after the first epoch and
    # only rises; once that best is more than 5 epochs old the floor lets the
    # policy cut. Without validation data there is never a floor.
    x, y = regression_data(n_samples=64)
    stalled = MetaLRCallback(fixed_policy(-1.0), interval=2, lr_floor=1.0, min_lr=1e-5)
    fit(linear_model(lr=0.01), stalled, epochs=10, x=x, y=y, shuffle=False, validation_data=(x, -y))
    by_epoch = {d.epoch: d.new_lr for d in stalled.decisions}
    # Epoch 0 has no floor (no val_loss yet): four halvings. Then the floor, far
    # above, holds the rate where it is while the best (epoch 0) is <= 5 epochs old,
    assert by_epoch[0] == by_epoch[5] == pytest.approx(0.01 / 16)
    assert by_epoch[9] == pytest.approx(1e-5)  # then lets go, and the policy halves to min_lr

    no_val = MetaLRCallback(fixed_policy(-1.0), interval=2, lr_floor=1.0, min_lr=1e-5)
    fit(linear_model(lr=0.01), no_val, epochs=4, x=x, y=y, shuffle=False)
    assert no_val.decisions[-1].new_lr == pytest.approx(1e-5)


def test_lr_floor_is_anchored_at_no_more_than_the_optimizers_default_rate():
    # SGD's default rate is 0.01: from 0.03 the floor decays from 0.01, not 0.03.
    # One always-halve decision per epoch; the second (step 16, half the run
    # left, val_loss improving) meets the floor 2 x 0.01 x 0.5 = 0.01 (from
    # 0.03 it would be 0.03, above the rate of 0.015, which it would hold).
    x, y = regression_data(n_samples=64)
    floored = MetaLRCallback(fixed_policy(-1.0), interval=8, lr_floor=2.0, start_guard=None)
    fit(linear_model(lr=0.03), floored, epochs=4, x=x, y=y, shuffle=False, validation_data=(x, y))
    assert floored.recoveries == [] and floored._floor_anchor_lr == pytest.approx(0.01)
    assert [d.new_lr for d in floored.decisions[:2]] == pytest.approx([0.015, 0.01])
    adam = tiny_model(optimizer=keras.optimizers.Adam(0.1))
    callback = MetaLRCallback(fixed_policy(0.0), lr_floor=1.0)
    fit(adam, callback)
    assert callback._floor_anchor_lr == pytest.approx(1e-3)


def test_lr_floor_falls_with_each_recovery_defaults_to_the_card_and_is_serialised():
    policy = fixed_policy(0.0)
    policy = type(policy).from_config({**policy.get_config(), "card": {**policy.card, "lr_floor": 0.5}})
    callback = MetaLRCallback(policy)
    fit(linear_model(lr=0.01), callback, epochs=1)
    assert callback._lr_floor == 0.5 and callback._floor_anchor_lr == pytest.approx(0.01)
    callback._snapshot_period = 1
    callback._recover(batch=0, cause="exploded")
    assert callback._floor_anchor_lr == pytest.approx(0.001)
    with pytest.raises(ValueError, match="lr_floor"):
        MetaLRCallback(policy, lr_floor=-1.0)
    assert MetaLRCallback(fixed_policy(0.0)).get_config()["lr_floor"] is None
    assert MetaLRCallback.from_config(MetaLRCallback(policy, lr_floor=0.3).get_config()).lr_floor == 0.3


def test_climb_ramp_slows_the_climb_above_the_optimizers_default_rate():
    # An always-double policy with SGD (default rate 0.01), fit guard off,
    # 16 steps: with climb_ramp=0.25 no decision sets a rate above
    # 0.01 x 2^(progress / 0.25). From 0.001 the first doublings are free
    # (below the default); the ramp then holds the climb to it. A start of
    # 0.02, above the default, is left to the policy (up to max_lr).
    x, y = regression_data(n_samples=64)

    def ramp(base, decision):
        return base * 2.0 ** (decision.step / 16 / 0.25)

    free = MetaLRCallback(fixed_policy(1.0), interval=2, fit_guard=0.0, climb_ramp=0.0, explosion_factor=None)
    fit(linear_model(lr=0.001), free, epochs=2, x=x, y=y, shuffle=False)
    ramped = MetaLRCallback(fixed_policy(1.0), interval=2, fit_guard=0.0, climb_ramp=0.25, explosion_factor=None)
    fit(linear_model(lr=0.001), ramped, epochs=2, x=x, y=y, shuffle=False)
    high_start = MetaLRCallback(
        fixed_policy(1.0), interval=2, fit_guard=0.0, climb_ramp=0.25, start_guard=None, explosion_factor=None
    )
    fit(linear_model(lr=0.02), high_start, epochs=2, x=x, y=y, shuffle=False)

    assert [d.new_lr for d in free.decisions] == pytest.approx([0.001 * 2**k for k in range(1, 9)])
    for decision in ramped.decisions:
        assert decision.new_lr == pytest.approx(min(2 * decision.old_lr, ramp(0.01, decision)))
    assert [d.new_lr for d in ramped.decisions[:3]] == pytest.approx([0.002, 0.004, 0.008])  # below the base
    assert ramped.decisions[-1].new_lr == pytest.approx(0.16)  # 0.01 x 2^4, where the free climb reached 0.256
    adam = MetaLRCallback(fixed_policy(1.0), interval=2, fit_guard=0.0, climb_ramp=0.25, explosion_factor=None)
    fit(tiny_model(optimizer=keras.optimizers.Adam(1e-3)), adam, epochs=2)  # Adam's default, read back in float32
    assert max(d.new_lr for d in adam.decisions) <= 1e-3 * 2.0**4 * (1 + 1e-6)
    assert [d.new_lr for d in high_start.decisions] == pytest.approx([0.02 * 2**k for k in range(1, 6)] + [1.0] * 3)


def test_climb_ramp_defaults_to_the_policys_card_is_validated_and_serialised():
    policy = fixed_policy(1.0)
    policy = type(policy).from_config({**policy.get_config(), "card": {**policy.card, "climb_ramp": 0.5}})
    from_card = MetaLRCallback(policy, interval=2, fit_guard=0.0)
    fit(linear_model(lr=0.01), from_card, epochs=2, shuffle=False)
    assert from_card._climb_ramp == 0.5
    assert from_card.decisions[-1].new_lr == pytest.approx(0.01 * 2.0 ** (from_card.decisions[-1].step / 16 / 0.5))
    assert MetaLRCallback(fixed_policy(0.0)).get_config()["climb_ramp"] is None
    for invalid in (-0.1, 1.0):
        with pytest.raises(ValueError, match="climb_ramp"):
            MetaLRCallback(policy, climb_ramp=invalid)
    assert MetaLRCallback.from_config(MetaLRCallback(policy, climb_ramp=0.05).get_config()).climb_ramp == 0.05


def test_climb_ramp_steps_lets_the_faster_ramp_bind_and_comes_from_the_card():
    # SGD (default rate 0.01) from 0.01, an always-double policy, 16 steps:
    # the run-fraction ramp (0.5: one doubling per 8 steps) is the faster
    # of the two with 16 steps per doubling, and the slower with 4.
    policy = fixed_policy(1.0)
    card = {**policy.card, "climb_ramp": 0.5, "climb_ramp_steps": 4.0}
    both = MetaLRCallback(type(policy).from_config({**policy.get_config(), "card": card}), interval=2, fit_guard=0.0)
    fit(linear_model(lr=0.01), both, epochs=2, shuffle=False)
    slow_steps = MetaLRCallback(policy, interval=2, fit_guard=0.0, climb_ramp=0.5, climb_ramp_steps=16.0)
    fit(linear_model(lr=0.01), slow_steps, epochs=2, shuffle=False)

    assert both._climb_ramp_steps == 4.0
    for decision in both.decisions:
        assert decision.new_lr == pytest.approx(min(2 * decision.old_lr, 0.01 * 2.0 ** (decision.step / 4)))
    for decision in slow_steps.decisions:
        assert decision.new_lr == pytest.approx(min(2 * decision.old_lr, 0.01 * 2.0 ** (decision.step / 8)))
    assert both.decisions[-1].new_lr > slow_steps.decisions[-1].new_lr
    assert MetaLRCallback(fixed_policy(0.0)).get_config()["climb_ramp_steps"] is None
    with pytest.raises(ValueError, match="climb_ramp_steps"):
        MetaLRCallback(policy, climb_ramp_steps=-1.0)
    restored = MetaLRCallback.from_config(MetaLRCallback(policy, climb_ramp_steps=50.0).get_config())
    assert restored.climb_ramp_steps == 50.0


# ------------------------------------------------------------- optimizers


def test_an_optimizer_with_a_schedule_gets_a_clear_error(halving_policy):
    schedule = keras.optimizers.schedules.CosineDecay(1e-3, decay_steps=100)
    model = tiny_model(optimizer=keras.optimizers.Adam(schedule))
    with pytest.raises(ValueError, match="CosineDecay.*Adam\\(learning_rate=1e-3\\)"):
        fit(model, MetaLRCallback(halving_policy))


def test_loss_scale_optimizer_is_steered_through_its_inner_optimizer(halving_policy):
    optimizer = keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(1e-2))
    model = tiny_model(optimizer=optimizer)
    callback = MetaLRCallback(halving_policy, interval=4)
    fit(model, callback)
    assert float(optimizer.inner_optimizer.learning_rate.numpy()) == pytest.approx(2.5e-3)
    assert callback._optimizer_kind == "Adam"


@pytest.mark.parametrize("name", ["SGD", "RMSprop", "AdamW"])
def test_other_optimizers_are_named_to_the_policy(name, halving_policy):
    callback = MetaLRCallback(halving_policy, interval=4)
    fit(tiny_model(optimizer=getattr(keras.optimizers, name)(1e-2)), callback)
    assert callback._optimizer_kind == name
    assert callback.decisions[-1].new_lr == pytest.approx(2.5e-3)


MIRRORED_SCRIPT = pathlib.Path(__file__).with_name("mirrored_strategy_check.py")


def test_mirrored_strategy_with_two_logical_cpus():
    completed = subprocess.run([sys.executable, str(MIRRORED_SCRIPT)], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "replicas=2 decisions=3 recoveries=1 lr=0.000125" in completed.stdout


# ------------------------------------------- copying, config and determinism


def test_deepcopy_before_and_after_training(halving_policy):
    callback = MetaLRCallback(halving_policy, interval=2)
    fresh_copy = copy.deepcopy(callback)
    model = tiny_model()
    fit(model, callback)
    trained_copy = copy.deepcopy(callback)
    assert trained_copy.decisions == callback.decisions
    assert trained_copy.model is model  # the model is shared, not copied
    fit(tiny_model(), fresh_copy, epochs=2)
    assert len(fresh_copy.decisions) == 8 and len(callback.decisions) == 4


@pytest.mark.parametrize("policy", ["default", "object", "path"])
def test_config_round_trip(policy, halving_policy, tmp_path):
    argument = {"default": "default", "object": halving_policy, "path": halving_policy.save(tmp_path / "p")}[policy]
    callback = MetaLRCallback(argument, interval=3, min_lr=1e-5, max_lr=0.3, sample=True, seed=7, final_cooldown=0.2)
    assert json.loads(json.dumps(callback.get_config()))  # plain JSON
    clone = MetaLRCallback.from_config(callback.get_config())
    assert clone.get_config() == callback.get_config()
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(callback))
    assert isinstance(restored, MetaLRCallback)
    assert restored.get_config() == callback.get_config()
    assert restored.policy.name == callback.policy.name


def sampled_decisions(seed):
    callback = MetaLRCallback(uniform_policy(), interval=1, sample=True, seed=seed)
    fit(tiny_model(seed=0), callback, epochs=2)
    return [d.log2_multiplier for d in callback.decisions]


def test_sampled_decisions_are_deterministic_for_a_seed():
    first, second, other = sampled_decisions(3), sampled_decisions(3), sampled_decisions(4)
    assert first == second
    assert first != other
    assert len(set(first)) > 1  # it really samples


def test_refitting_resets_the_record(halving_policy):
    callback = MetaLRCallback(halving_policy, interval=4)
    model = tiny_model()
    fit(model, callback)
    fit(model, callback)
    assert [d.step for d in callback.decisions] == [4, 8]
    assert isinstance(callback.decisions[0], Decision)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"interval": 0}, "interval"),
        ({"min_lr": 0.0}, "min_lr"),
        ({"min_lr": 1e-2, "max_lr": 1e-3}, "max_lr"),
        ({"recovery_factor": 1.5}, "recovery_factor"),
        ({"max_recoveries": -1}, "max_recoveries"),
        ({"snapshot_every": 0}, "snapshot_every"),
        ({"final_cooldown": 1.0}, "final_cooldown"),
        ({"final_cooldown": -0.1}, "final_cooldown"),
        ({"act_every": 0}, "act_every"),
        ({"act_every": 2.0}, "act_every"),
    ],
)
def test_bad_arguments_name_the_value(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MetaLRCallback(**kwargs)


@pytest.mark.filterwarnings("ignore:Your input ran out of data")  # how Keras ends an epoch of unknown length
def test_unknown_epoch_length_decides_every_25_batches_then_adapts():
    import tensorflow as tf

    x, y = regression_data(n_samples=240)

    def batches():
        for start in range(0, 240, 8):
            yield x[start : start + 8], y[start : start + 8]

    signature = (tf.TensorSpec((None, 4), tf.float32), tf.TensorSpec((None, 1), tf.float32))
    dataset = tf.data.Dataset.from_generator(batches, output_signature=signature)  # unknown cardinality
    callback = MetaLRCallback(fixed_policy(0.0))  # its card asks for 10 decisions a run
    tiny_model().fit(dataset, epochs=2, shuffle=False, verbose=0, callbacks=[callback])
    # Epoch 1 (30 batches): every 25. Then 30 x 2 epochs / 10 decisions = every 6.
    assert [d.step for d in callback.decisions] == [25, 31, 37, 43, 49, 55]


@pytest.mark.filterwarnings("ignore:Your input ran out of data")
def test_unknown_epoch_length_with_initial_epoch_counts_the_skipped_epochs():
    import tensorflow as tf

    x, y = regression_data(n_samples=240)
    signature = (tf.TensorSpec((None, 4), tf.float32), tf.TensorSpec((None, 1), tf.float32))

    def fit_epochs_2_to_4(callback):
        batches = lambda: ((x[i : i + 8], y[i : i + 8]) for i in range(0, 240, 8))  # noqa: E731
        dataset = tf.data.Dataset.from_generator(batches, output_signature=signature)
        model = tiny_model()
        model.fit(dataset, epochs=4, initial_epoch=2, shuffle=False, verbose=0, callbacks=[callback])
        return model

    steered = MetaLRCallback(fixed_policy(0.0))
    fit_epochs_2_to_4(steered)
    # 30 batches an epoch, 120 in the run, epochs 0-1 done: step 90 after epoch 2, then every 12.
    assert [d.step for d in steered.decisions] == [25, 97, 109]
    cooled = MetaLRCallback(fixed_policy(0.0), final_cooldown=0.25)  # the last 30 steps: all of epoch 3
    model = fit_epochs_2_to_4(cooled)
    assert [d.step for d in cooled.decisions] == [25]
    assert lr_of(model) == pytest.approx(1e-2 / 31, rel=1e-5)  # the run ended on the cool-down's last step, 1/31


# ------------------------------------------------------------------ value head


def test_value_estimate_is_the_value_heads_output_once_losses_exist(halving_policy):
    callback = MetaLRCallback(halving_policy, interval=2)
    assert callback.value_estimate() is None  # nothing seen yet
    fit(tiny_model(), callback)
    assert callback.value_estimate() == pytest.approx(-0.25)  # the fixed policy's value bias


def test_act_every_needs_an_action_that_keeps_the_rate():
    from keras_meta.features import FEATURE_NAMES
    from keras_meta.policy import Policy

    n_features = len(FEATURE_NAMES)
    no_keep = Policy(
        trunk=[],
        action_head=(np.zeros((n_features, 2)), np.zeros(2)),
        value_head=(np.zeros((n_features, 1)), np.zeros(1)),
        actions=[-1.0, 1.0],
    )
    with pytest.raises(ValueError, match="keeps the rate"):
        MetaLRCallback(no_keep, act_every=2)
    MetaLRCallback(no_keep)  # acting at every decision needs no keep action
