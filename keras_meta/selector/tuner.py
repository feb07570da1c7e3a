"""`MetaModelSelector`: a keras-tuner tuner that reads learning curves and spends less compute."""

from __future__ import annotations

import math

import keras_tuner
from keras_tuner.src.engine import tuner_utils
from keras_tuner.src.engine.objective import MultiObjective
from keras_tuner.src.engine.trial import TrialStatus

from keras_meta.callbacks import MetaLRCallback
from keras_meta.policy import load_policy
from keras_meta.selector.oracle import EPOCHS_METRIC
from keras_meta.selector.oracle import VALUE_METRIC
from keras_meta.selector.oracle import MetaOracle
from keras_meta.selector.oracle import write_json_atomically
from keras_meta.selector.pruning import hyperband_budget

_DEFAULT_MAX_TRIALS = 10  # RandomSearch's default, when no budget is given either


class MetaModelSelector(keras_tuner.Tuner):
    """A drop-in replacement for `keras_tuner.Hyperband` or `RandomSearch`.

    Each trial trains for up to `max_epochs` under `MetaLRCallback`, so the
    learning rate need not be searched. After every epoch the trial's
    objective and the policy's value-head forecast reach the oracle
    (`MetaOracle`), which stops trials that cannot beat the best one so far
    even on an optimistic forecast, ends trials that stopped improving, and
    spends the epochs saved on new trials. Results, best models and resuming
    work as in keras-tuner.

    Example:

    ```python
    selector = keras_meta.MetaModelSelector(   # was: keras_tuner.Hyperband(
        build_model,
        objective="val_accuracy",
        max_epochs=20,
        factor=3,                              # Hyperband's budget, by default
        directory="search",
        project_name="mnist",
    )
    selector.search(x, y, validation_data=(x_val, y_val))
    best_model = selector.get_best_models(1)[0]
    selector.results_summary()                 # includes epochs and time spent
    ```

    Args:
        hypermodel: A `keras_tuner.HyperModel` or a function that takes `hp`
            and returns a compiled model.
        objective: String or `keras_tuner.Objective`. Defaults to
            `"val_loss"`.
        max_trials: Integer or `None`. At most this many trials. Without a
            budget either, defaults to 10.
        max_epochs: Integer. Epochs of a trial that is not stopped. Replaces
            the `epochs` passed to `search`, as in `Hyperband`.
        max_total_epochs: Integer or `None`. The budget, in epochs over all
            trials. `None` with `factor` or `hyperband_iterations` given
            means the budget of that Hyperband search.
        min_epochs: Integer or `None`. No trial is stopped before this many
            epochs; `None` means a quarter of `max_epochs`.
        meta_lr: Boolean. Train each trial under `MetaLRCallback`. With
            `False` the rate stays the model's own, and the curve is still read
            (without steering) for the value head. Defaults to `True`.
        policy: String, path or `Policy`. The policy that steers the rate and
            forecasts the curves. Defaults to `"default"`.
        prune: Boolean. Stop hopeless trials early. Defaults to `True`.
        prune_margin: Float. The pruning rule's optimistic allowance, in log
            units; larger is more cautious. Defaults to 0.5.
        patience: Integer, `"auto"` or `None`. End a trial (keeping its best
            epoch) once its objective has not improved for this many epochs.
            `"auto"`, the default, is a third of `max_epochs`, at least 3;
            `None` trains every trial that is not pruned to `max_epochs`.
        initial_random_trials: Integer. Trials drawn at random before the
            search starts varying the best one. Defaults to 5.
        random_fraction: Float in [0, 1]. The share of later trials drawn at
            random; the rest vary the best trial so far. Defaults to 1.0,
            `RandomSearch`'s proposals (local proposals measured worse).
        factor: Integer or `None`. `Hyperband`'s argument, accepted so that a
            Hyperband call can be swapped unchanged; it sets the budget.
        hyperband_iterations: Integer or `None`. The same.
        seed: Integer or `None`. Seeds the hyperparameter draws.
        hyperparameters, tune_new_entries, allow_new_entries,
        max_retries_per_trial, max_consecutive_failed_trials: As for
            `keras_tuner.RandomSearch`.
        **kwargs: Passed to `keras_tuner.Tuner`: `directory`,
            `project_name`, `overwrite`, `executions_per_trial`,
            `distribution_strategy`, ...
    """

    def __init__(
        self,
        hypermodel=None,
        objective="val_loss",
        max_trials=None,
        max_epochs=10,
        max_total_epochs=None,
        min_epochs=None,
        meta_lr=True,
        policy="default",
        prune=True,
        prune_margin=0.5,
        patience="auto",
        initial_random_trials=5,
        random_fraction=1.0,
        factor=None,
        hyperband_iterations=None,
        seed=None,
        hyperparameters=None,
        tune_new_entries=True,
        allow_new_entries=True,
        max_retries_per_trial=0,
        max_consecutive_failed_trials=3,
        **kwargs,
    ):
        self.meta_lr = bool(meta_lr)
        self.policy = load_policy(policy)  # a missing or corrupt policy fails here, not in every trial
        self.max_epochs = max_epochs
        if max_total_epochs is None and (factor is not None or hyperband_iterations is not None):
            max_total_epochs = hyperband_budget(
                max_epochs, 3 if factor is None else factor, 1 if hyperband_iterations is None else hyperband_iterations
            )
        if max_trials is None and max_total_epochs is None:
            max_trials = _DEFAULT_MAX_TRIALS
        oracle = MetaOracle(
            objective=objective,
            max_trials=max_trials,
            max_epochs=max_epochs,
            max_total_epochs=max_total_epochs,
            min_epochs=min_epochs,
            prune=prune,
            prune_margin=prune_margin,
            patience=patience,
            initial_random_trials=initial_random_trials,
            random_fraction=random_fraction,
            hyperparameters=hyperparameters,
            tune_new_entries=tune_new_entries,
            allow_new_entries=allow_new_entries,
            seed=seed,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
        )
        self._curve_reader = None
        self._reported_epochs = False
        self._trial_epochs = 0
        self._trial_stopped = False
        self._last_fit_results = None
        super().__init__(oracle, hypermodel, **kwargs)

    # ------------------------------------------------------------- training

    def run_trial(self, trial, *args, **kwargs):
        """Trains one trial for `max_epochs`, under `MetaLRCallback` unless `meta_lr=False`."""
        kwargs["epochs"] = self.max_epochs
        callbacks = list(kwargs.pop("callbacks", None) or [])
        if not any(isinstance(callback, MetaLRCallback) for callback in callbacks):
            reader = MetaLRCallback(self.policy) if self.meta_lr else _CurveReader(self.policy)
            callbacks.insert(0, reader)  # first, so that the tuner's callbacks see its `learning_rate` log
        self._reported_epochs, self._trial_epochs, self._trial_stopped = False, 0, False
        return super().run_trial(trial, *args, callbacks=callbacks, **kwargs)

    def _build_and_fit_model(self, trial, *args, **kwargs):
        if self._trial_stopped:
            # Stopped in an earlier execution (executions_per_trial > 1): the verdict stands.
            return self._last_fit_results
        self._last_fit_results = super()._build_and_fit_model(trial, *args, **kwargs)
        return self._last_fit_results

    def _deepcopy_callbacks(self, callbacks):
        copies = super()._deepcopy_callbacks(callbacks)
        self._curve_reader = next((c for c in copies if isinstance(c, MetaLRCallback)), None)
        return copies

    def on_epoch_end(self, trial, model, epoch, logs=None):
        """Reports the epoch's metrics and the value-head forecast; stops the trial if told to."""
        logs = logs or {}
        self._trial_epochs += 1
        objective = self.oracle.objective
        if not objective.has_value(logs):
            return  # the objective comes from HyperModel.fit's return value: no per-epoch reports
        metrics = {name: float(value) for name, value in logs.items() if _is_number(value)}
        if isinstance(objective, MultiObjective):
            metrics[objective.name] = float(objective.get_value(logs))  # what keras-tuner scores
        estimate = self._curve_reader.value_estimate() if self._curve_reader is not None else None
        metrics[VALUE_METRIC] = math.nan if estimate is None else estimate
        updated = self.oracle.update_trial(trial.trial_id, metrics, step=epoch)
        self._reported_epochs = True
        if updated.status == TrialStatus.STOPPED:
            model.stop_training = True
            self._trial_stopped = True

    def _run_and_update_trial(self, trial, *fit_args, **fit_kwargs):
        # keras-tuner's version reports once after training and warns when the
        # objective was already reported; here the per-epoch reports are the results.
        results = self.run_trial(trial, *fit_args, **fit_kwargs)
        if self._reported_epochs:
            return
        objective = self.oracle.objective
        try:
            tuner_utils.validate_trial_results(results, objective, "HyperModel.fit()")
            metrics = tuner_utils.convert_to_metrics_dict(results, objective)
        except (keras_tuner.errors.FatalValueError, KeyError) as error:
            raise keras_tuner.errors.FatalValueError(_missing_objective_message(objective, results)) from error
        if not objective.has_value(metrics):
            raise keras_tuner.errors.FatalValueError(_missing_objective_message(objective, results))
        metrics[EPOCHS_METRIC] = self._trial_epochs  # so that the epoch budget counts this trial too
        self.oracle.update_trial(trial.trial_id, metrics, step=tuner_utils.get_best_step(results, objective))

    # ------------------------------------------------------------ reporting

    def results_summary(self, num_trials=10):
        """keras-tuner's summary, then the epochs and time the search spent."""
        super().results_summary(num_trials)
        if self._is_worker():
            return
        summary = self.oracle.budget_summary()
        budget = summary["max_total_epochs"]
        print(
            f"Epochs spent: {summary['epochs_spent']}" + (f" of a budget of {budget}" if budget else "") + "; "
            f"{summary['seconds_spent']:.1f} s in {summary['trials']} trials; "
            f"{summary['pruned']} stopped early as hopeless, {summary['plateaued']} ended when they stopped "
            f"improving, {summary['stopped_by_budget']} by the budget."
        )

    def save(self):
        if not self._is_worker():
            self.oracle.save()
        write_json_atomically(self._get_tuner_fname(), self.get_state())


class _CurveReader(MetaLRCallback):
    """Reads the loss curve for the value head and never changes the rate (`meta_lr=False`).

    An optimizer with a schedule is left alone: the reader then gives no
    estimate, and the oracle falls back on the incumbent's curve. Its guards
    and a policy card's final cool-down are off: it keeps no snapshots to
    restore, and the user's rate is not its to change.
    """

    def __init__(self, policy):
        super().__init__(
            policy,
            min_lr=1e-30,
            max_lr=1e30,
            recover_non_finite=False,
            explosion_factor=None,
            start_guard=None,
            relapse_guard=None,
            fit_guard=0.0,
            final_cooldown=0.0,
        )
        self._active = True

    def on_train_begin(self, logs=None):
        try:
            super().on_train_begin(logs)
            self._active = True
        except ValueError:  # a schedule: nothing to read the rate from
            self._active = False

    def on_epoch_begin(self, epoch, logs=None):
        if self._active:
            super().on_epoch_begin(epoch, logs)

    def on_train_batch_end(self, batch, logs=None):
        if self._active:
            super().on_train_batch_end(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self._active:
            super().on_epoch_end(epoch, logs)

    def value_estimate(self):
        return super().value_estimate() if self._active else None

    def _choose_action(self, features, probabilities) -> int:
        return int(list(self.policy.actions).index(0.0))  # keep the rate: observe only

    def _take_snapshot(self):
        pass  # no recovery, so no snapshots


def _is_number(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _missing_objective_message(objective, results) -> str:
    first = results[0] if isinstance(results, list) and results else results
    available = sorted(first.history) if hasattr(first, "history") else first
    return (
        f"The objective {objective.name!r} is not among the metrics the trial reported ({available}). "
        "Name one of those as the objective, pass validation_data to search() for a 'val_' objective, "
        "or give keras_tuner.Objective(name, direction) for a metric the model computes."
    )
