"""`MetaLRCallback`'s recovery from diverged runs (`keras_meta._recovery`), in real Keras fits."""

import math

import keras
import numpy as np
import pytest
from conftest import fit
from conftest import fixed_policy
from conftest import linear_model
from conftest import lr_of
from conftest import regression_data
from conftest import tiny_model

from keras_meta import MetaLRCallback
from keras_meta.callbacks import automatic_snapshot_period

# -------------------------------------------------------- non-finite recovery


def data_with_nan_batch(bad_batch, n_batches=8, batch_size=8):
    x, y = regression_data(n_samples=n_batches * batch_size)
    x[bad_batch * batch_size] = np.nan
    return x, y


def test_a_nan_batch_restores_the_last_good_state_and_cuts_the_rate():
    x, y = data_with_nan_batch(bad_batch=5)  # the 6th batch of 8 is poisoned
    model = tiny_model(lr=1e-2)
    callback = MetaLRCallback(fixed_policy(0.0), interval=2, recovery_factor=0.1, snapshot_every=1)
    snapshots = {}

    class RecordWeights(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            snapshots[batch + 1] = self.model.get_weights()

    history = model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[RecordWeights(), callback])
    (recovery,) = callback.recoveries
    assert (recovery.step, recovery.restored_step) == (6, 4)
    assert recovery.new_lr == pytest.approx(1e-3)
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())
    assert math.isfinite(history.history["loss"][0])
    # Nothing learned is lost: training went on from the weights of step 4.
    assert not np.allclose(model.get_weights()[0], snapshots[4][0])
    assert callback.stopped_reason is None
    assert lr_of(model) == pytest.approx(1e-3)


def test_snapshots_are_taken_every_few_decisions():
    x, y = data_with_nan_batch(bad_batch=5)
    every_third = MetaLRCallback(fixed_policy(0.0), interval=1, snapshot_every=3)
    fit(tiny_model(), every_third, x=x, y=y, shuffle=False)
    assert every_third.recoveries[0].restored_step == 3

    # Automatic: every 4 decisions for a small model, so the restored step is
    # the same in every run (it was once chosen by timing, and runs differed).
    for _ in range(2):
        automatic = MetaLRCallback(fixed_policy(0.0), interval=1)
        fit(tiny_model(), automatic, x=x, y=y, shuffle=False)
        assert automatic.recoveries[0].restored_step == 4


def test_automatic_snapshot_period_grows_with_the_model_only():
    assert automatic_snapshot_period(100) == 4
    assert automatic_snapshot_period(4_000_000) == 4
    assert automatic_snapshot_period(4_000_001) == 5
    assert automatic_snapshot_period(120_000_000) == 120


def test_repeated_failures_stop_training_with_the_last_good_weights():
    x, y = regression_data()
    y[:] = np.nan  # every batch is non-finite
    model = tiny_model(lr=1e-2)
    initial = model.get_weights()
    callback = MetaLRCallback(fixed_policy(0.0), interval=2, max_recoveries=2)
    with pytest.warns(RuntimeWarning, match="non-finite 3 times in a row.*weights of batch 0"):
        history = fit(model, callback, epochs=5, x=x, y=y)
    assert len(callback.recoveries) == 2
    assert len(history.history["loss"]) == 1  # stopped in the first epoch
    assert math.isnan(history.history["loss"][0])  # the epoch's loss is reported as it was
    for got, want in zip(model.get_weights(), initial):
        np.testing.assert_array_equal(got, want)
    assert "Check the data" in callback.stopped_reason


def test_recovery_can_be_turned_off():
    x, y = data_with_nan_batch(bad_batch=2)
    callback = MetaLRCallback(fixed_policy(0.0), interval=2, recover_non_finite=False)
    fit(tiny_model(), callback, x=x, y=y, shuffle=False, epochs=2)
    assert callback.recoveries == []
    assert callback._step == 16  # every batch counted once, the non-finite ones included
    assert callback.loss_steps == [1, 2]  # from the third batch on, the weights themselves are NaN


# ------------------------------------------------------ explosions and starts


def test_an_exploding_loss_restores_the_last_good_state_and_cuts_the_rate():
    # Plain SGD on a linear regression: far past 2 / curvature every step
    # multiplies the error, so the loss explodes long before it overflows.
    x, y = regression_data(n_samples=64)
    x = 4.0 * x
    unguarded = linear_model(lr=0.3)
    fit(unguarded, MetaLRCallback(fixed_policy(0.0), interval=2, explosion_factor=None), epochs=1, x=x, y=y)
    guarded = linear_model(lr=0.3)
    initial_loss = guarded.evaluate(x, y, verbose=0)
    callback = MetaLRCallback(fixed_policy(0.0), interval=2, snapshot_every=1)
    fit(guarded, callback, epochs=3, x=x, y=y)

    assert callback.recoveries and {r.cause for r in callback.recoveries} == {"exploded"}
    first = callback.recoveries[0]
    assert first.new_lr == pytest.approx(0.1 * first.old_lr)
    assert first.restored_step == 0  # the only state before the blow-up
    assert callback.stopped_reason is None
    final_loss = guarded.evaluate(x, y, verbose=0)
    assert final_loss < 0.1 * initial_loss
    assert not unguarded.evaluate(x, y, verbose=0) < 1e3 * initial_loss  # huge or NaN without the guard


def test_losses_of_undone_batches_are_forgotten_and_no_snapshot_keeps_a_blown_up_state():
    x, y = regression_data(n_samples=64)
    callback = MetaLRCallback(fixed_policy(0.0), interval=2, snapshot_every=1)
    fit(linear_model(lr=0.1), callback, epochs=1, x=4.0 * x, y=y)
    # At the decision of step 2 the loss was already 16x the untrained one: no snapshot then,
    # so the blow-up is undone back to the start rather than to a wrecked state.
    (recovery,) = callback.recoveries
    assert recovery.restored_step == 0 and callback.stopped_reason is None
    # The first loss stays (the untrained model's, the curve's start); the undone batches' go.
    assert not [step for step in callback.loss_steps[1:] if recovery.restored_step < step <= recovery.step]
    assert callback.loss_steps == sorted(set(callback.loss_steps))
    restored_loss = callback.losses[callback.loss_steps.index(max(recovery.restored_step, 1))]
    assert restored_loss <= 10.0 * callback.losses[0]  # a state whose loss had blown up is never kept


def test_start_guard_restarts_a_far_too_high_starting_rate_from_the_initial_weights():
    # SGD far past 2 / curvature: the loss is several times the untrained one
    # within three batches, long before the first decision (interval 40).
    x, y = regression_data(n_samples=64)
    x = 4.0 * x
    unguarded = linear_model(lr=0.3)
    fit(unguarded, MetaLRCallback(fixed_policy(0.0), interval=40, explosion_factor=None, start_guard=None), x=x, y=y)
    guarded = linear_model(lr=0.3)
    initial_loss = guarded.evaluate(x, y, verbose=0)
    callback = MetaLRCallback(fixed_policy(0.0), interval=40, explosion_factor=None, start_guard=3.0)
    fit(guarded, callback, epochs=5, x=x, y=y)

    starts = [r for r in callback.recoveries if r.cause == "started too high"]
    assert starts and len(starts) <= 2  # at most two restarts
    assert all(r.restored_step == 0 and r.step < 40 for r in starts)
    assert starts[0].old_lr == pytest.approx(0.3) and starts[0].new_lr == pytest.approx(0.03)
    assert callback.stopped_reason is None
    assert guarded.evaluate(x, y, verbose=0) < 0.1 * initial_loss
    assert not unguarded.evaluate(x, y, verbose=0) < 1e3 * initial_loss  # huge or NaN without the guard


def test_start_guard_leaves_a_good_start_alone_and_rests_after_the_first_decision():
    x, y = regression_data(n_samples=64)
    good = MetaLRCallback(fixed_policy(0.0), interval=40, start_guard=3.0)
    fit(linear_model(lr=0.01), good, epochs=5, x=x, y=y)
    assert good.recoveries == [] and lr_of(good.model) == pytest.approx(0.01)
    # Interval 2: the first decision comes at batch 2, before three losses
    # exist, so the guard never looks, and a later blow-up is not its business.
    late = MetaLRCallback(fixed_policy(0.0), interval=2, explosion_factor=None, start_guard=3.0)
    fit(linear_model(lr=0.3), late, x=4.0 * x, y=y)
    assert late.decisions and not [r for r in late.recoveries if r.cause == "started too high"]


# ---------------------------------------------------------------- relapses


def test_fit_guard_counts_a_loss_back_above_the_untrained_ones_as_a_divergence():
    # Four clean epochs' worth of batches fit the data; the last two batches'
    # targets are flipped, a loss several times the untrained model's but
    # below explosion_factor times it.
    x, y = regression_data(n_samples=64)
    x, y = np.concatenate([x] * 4 + [x[:16]]), np.concatenate([y] * 4 + [-y[:16]])
    unguarded = MetaLRCallback(fixed_policy(0.0), interval=2, snapshot_every=1, fit_guard=0.0, relapse_guard=None)
    fit(linear_model(lr=0.05), unguarded, x=x, y=y, shuffle=False)
    guarded = MetaLRCallback(fixed_policy(0.0), interval=2, snapshot_every=1, fit_guard=3.0, relapse_guard=None)
    fit(linear_model(lr=0.05), guarded, x=x, y=y, shuffle=False)

    assert unguarded.recoveries == [] and unguarded.losses[-1] < 10 * unguarded.losses[0]
    (recovery,) = guarded.recoveries
    assert recovery.cause == "relapsed" and recovery.step == 34 and recovery.restored_step == 32
    assert recovery.new_lr == pytest.approx(0.005)
    assert max(guarded.losses) < 10 * guarded.losses[0]  # the relapsed batches are forgotten


def test_relapse_guard_needs_no_fit_guard():
    # The flipped batches of the test above, without a fit guard: the loss
    # fell below exp(-1) of the untrained model's, so its return above the
    # untrained loss is a relapse all the same.
    x, y = regression_data(n_samples=64)
    x, y = np.concatenate([x] * 4 + [x[:16]]), np.concatenate([y] * 4 + [-y[:16]])
    guarded = MetaLRCallback(fixed_policy(0.0), interval=2, snapshot_every=1, fit_guard=0.0)
    fit(linear_model(lr=0.05), guarded, x=x, y=y, shuffle=False)
    (recovery,) = guarded.recoveries
    assert recovery.cause == "relapsed" and recovery.step == 34 and recovery.restored_step == 32
    assert guarded._fitted_lr is None  # the fit guard saw nothing: it is off


def relapse_before_any_snapshot(callback_class=MetaLRCallback, fit_guard=0.0):
    """The flipped batches of the tests above, twice over, with no snapshot but the untrained model's."""
    x, y = regression_data(n_samples=64)
    x, y = np.concatenate([x] * 4 + [x[:16]]), np.concatenate([y] * 4 + [-y[:16]])
    callback = callback_class(fixed_policy(0.0), interval=2, snapshot_every=1000, fit_guard=fit_guard)
    fit(linear_model(lr=0.05), callback, epochs=2, x=x, y=y, shuffle=False)
    return callback


def test_a_restore_to_before_the_fall_disarms_the_relapse_guard():
    # The relapse restores the untrained weights (step 0); armed still, the
    # guard would count their losses, near the untrained one, as relapses
    # again until the callback gives up.
    guarded = relapse_before_any_snapshot()
    first = guarded.recoveries[0]
    assert first.cause == "relapsed" and first.step == 34 and first.restored_step == 0
    assert guarded.stopped_reason is None and len(guarded.recoveries) == 1  # the restored run trains on

    class NeverDisarmed(MetaLRCallback):
        def _rewatch_fall(self):
            pass

    with pytest.warns(RuntimeWarning, match="rose back above the untrained model's 4 times in a row"):
        looping = relapse_before_any_snapshot(NeverDisarmed)  # what the disarming prevents
    assert looping.stopped_reason and looping.recoveries[1].step <= first.step + 8


def test_a_restore_to_before_the_fit_lifts_the_fit_guards_ceiling():
    class Watched(MetaLRCallback):
        """Notes the fit guard's ceiling just before and just after each recovery."""

        def _recover(self, batch, cause="non-finite"):
            self.ceilings = getattr(self, "ceilings", []) + [self._fitted_lr]
            super()._recover(batch, cause)
            self.ceilings.append(self._fitted_lr)

    guarded = relapse_before_any_snapshot(Watched, fit_guard=2.0)
    first = guarded.recoveries[0]
    assert first.cause == "relapsed" and first.restored_step == 0
    before, after = guarded.ceilings[:2]
    assert before == pytest.approx(0.05) and after is None  # the untrained weights have not fitted anything


def test_a_reused_callback_forgets_the_previous_fit():
    callback = MetaLRCallback(fixed_policy(0.0), interval=2, fit_guard=0.0)
    fit(linear_model(lr=0.05), callback, epochs=4, shuffle=False)
    assert callback._fallen_far
    fit(linear_model(lr=1e-5), callback, epochs=1, shuffle=False)
    assert not callback._fallen_far and callback.recoveries == []


def collapsing_run(relapse_guard):
    """A ReLU network whose rate doubles every 8 batches to 0.3: it learns, then is thrown back above its start."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 8)).astype("float32")
    y = (np.abs(x[:, :4]).sum(axis=1, keepdims=True) - 3.2).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    callback = MetaLRCallback(fixed_policy(1.0), interval=8, max_lr=0.3, relapse_guard=relapse_guard)
    fit(model, callback, epochs=12, batch_size=16, x=x, y=y, shuffle=False)
    return callback, model.evaluate(x, y, verbose=0)


def test_relapse_guard_restores_a_run_that_a_huge_rate_throws_back_to_its_start():
    guarded, guarded_loss = collapsing_run(relapse_guard=1.0)
    unguarded, unguarded_loss = collapsing_run(relapse_guard=None)
    assert unguarded.recoveries == []  # never 10x the untrained loss: no other guard sees it
    assert guarded.recoveries and {r.cause for r in guarded.recoveries} == {"relapsed"}
    assert all(r.new_lr < r.old_lr for r in guarded.recoveries)
    assert guarded_loss < 0.75 * unguarded_loss


@pytest.mark.parametrize(
    "name, out_of_range, default",
    [("explosion_factor", 1.0, 10.0), ("start_guard", 1.0, 3.0), ("relapse_guard", 0.0, 1.0)],
)
def test_divergence_limits_are_validated_default_and_serialise_when_off(name, out_of_range, default):
    with pytest.raises(ValueError, match=name):
        MetaLRCallback(fixed_policy(0.0), **{name: out_of_range})
    assert getattr(MetaLRCallback(fixed_policy(0.0)), name) == default
    callback = MetaLRCallback(fixed_policy(0.0), **{name: None})
    assert getattr(MetaLRCallback.from_config(callback.get_config()), name) is None
