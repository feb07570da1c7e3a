"""`MetaOracle`: a keras-tuner oracle that reads learning curves and stops hopeless trials.

keras-tuner 1.4 gives its oracle one report per trial, after training.
`MetaModelSelector` reports after every epoch instead, with the value head's
estimate attached under `VALUE_METRIC`; the oracle applies the pruning rule
of `keras_meta.selector.pruning` and marks a hopeless trial `STOPPED`, which
the tuner turns into `model.stop_training`. Everything the oracle knows lives
in its saved state, written atomically after every epoch, so a killed search
resumes where it stood. All selector logic sits in `populate_space`,
`create_trial`, `update_trial` and `end_trial`, the calls that keras-tuner's
distributed mode forwards from workers to the chief.
"""

from __future__ import annotations

import json
import math
import os
import random
import time

import keras_tuner
from keras_tuner.src import utils as keras_tuner_utils
from keras_tuner.src.engine import hyperparameters as hp_module
from keras_tuner.src.engine.metrics_tracking import MetricsTracker
from keras_tuner.src.engine.objective import MultiObjective
from keras_tuner.src.engine.trial import TrialStatus

from keras_meta.selector import pruning

VALUE_METRIC = "keras_meta_value"  # carries the value head's estimate; never stored as a metric
EPOCHS_METRIC = "keras_meta_epochs"  # epochs of a trial reported only once, after training


class MetaOracle(keras_tuner.Oracle):
    """Random (or local) proposals, learning-curve pruning and an epoch budget.

    By default new trials draw their hyperparameters at random (as
    `RandomSearch` does). With `random_fraction < 1`, once
    `initial_random_trials` trials have trained to the end, only that share of
    new trials is random and the others vary the best fully trained trial so
    far: each of its hyperparameters is redrawn with probability
    1/(number of hyperparameters), and a proposal already tried is drawn again
    (the local moves of evolutionary search). The benchmark measured local
    proposals worse than random ones (docs/benchmarks.md), so they are off by
    default. Each trial trains for up to `max_epochs`; after every epoch the
    pruning rule may stop it (see `keras_meta.selector.pruning`), and a trial
    whose objective has not improved for `patience` epochs ends there: it is
    done, not hopeless, keeps its best epoch and counts as fully trained. The search
    ends when `max_trials` trials have run, the search space is exhausted, or
    `max_total_epochs` epochs have been trained, whichever comes first; the
    trial that spends the last epoch of the budget is stopped there.

    Args:
        objective: String or `keras_tuner.Objective`. Defaults to
            `"val_loss"`.
        max_trials: Integer or `None`. At most this many trials.
        max_epochs: Integer. Epochs of a trial that is not stopped.
        max_total_epochs: Integer or `None`. The budget, in epochs over all
            trials.
        min_epochs: Integer or `None`. No trial is stopped before this many
            epochs; `None` means a quarter of `max_epochs` (at least 1).
        prune: Boolean. Stop hopeless trials early. Defaults to `True`.
        prune_margin: Float. The optimistic allowance of the pruning rule,
            in log units, at the start of a trial. Larger is more cautious.
        patience: Integer, `"auto"` or `None`. End a trial whose objective
            has not improved for this many epochs. `"auto"` (the default)
            means a third of `max_epochs`, at least 3; `None` never ends a
            trial for this.
        initial_random_trials: Integer. Trials drawn at random before any is
            varied. Defaults to 5.
        random_fraction: Float in [0, 1]. The share of later trials drawn at
            random; 1.0 (the default) makes every proposal random.
        hyperparameters, allow_new_entries, tune_new_entries, seed,
        max_retries_per_trial, max_consecutive_failed_trials: As for
            `keras_tuner.Oracle`.
    """

    def __init__(
        self,
        objective="val_loss",
        max_trials=None,
        max_epochs=10,
        max_total_epochs=None,
        min_epochs=None,
        prune=True,
        prune_margin=0.5,
        patience="auto",
        initial_random_trials=5,
        random_fraction=1.0,
        hyperparameters=None,
        allow_new_entries=True,
        tune_new_entries=True,
        seed=None,
        max_retries_per_trial=0,
        max_consecutive_failed_trials=3,
    ):
        _validate_budget(max_trials, max_epochs, max_total_epochs, min_epochs, prune_margin)
        _validate_proposals(initial_random_trials, random_fraction)
        super().__init__(
            objective=objective,
            max_trials=max_trials,
            hyperparameters=hyperparameters,
            allow_new_entries=allow_new_entries,
            tune_new_entries=tune_new_entries,
            seed=seed,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
        )
        self.max_epochs = int(max_epochs)
        self.max_total_epochs = None if max_total_epochs is None else int(max_total_epochs)
        self.min_epochs = int(min_epochs) if min_epochs is not None else max(1, self.max_epochs // 4)
        self.prune = bool(prune)
        self.prune_margin = float(prune_margin)
        self.patience = _resolve_patience(patience, self.max_epochs)
        self.initial_random_trials = int(initial_random_trials)
        self.random_fraction = float(random_fraction)
        self.epochs_spent = 0
        self.seconds_spent = 0.0
        self.stopped = {}  # trial_id -> why and when the oracle stopped it
        self._clock = {}  # trial_id -> time of its last event (not saved: wall time restarts on resume)

    # ------------------------------------------------------------ proposals

    def populate_space(self, trial_id):
        if self.budget_exhausted():
            return {"status": TrialStatus.STOPPED, "values": None}
        values = self._local_values() if self._proposes_locally() else None
        if values is None:
            values = self._random_values()
        if values is None:  # the space is exhausted
            return {"status": TrialStatus.STOPPED, "values": None}
        return {"status": TrialStatus.RUNNING, "values": values}

    def _proposes_locally(self) -> bool:
        """Whether the next proposal varies the best trial; drawn from the saved seed state."""
        if self.random_fraction >= 1.0 or len(self._fully_trained_trials()) < self.initial_random_trials:
            return False  # and the seed state moves exactly as RandomSearch's
        draw = random.Random(self._seed_state).random()
        self._seed_state += 1
        return draw >= self.random_fraction

    def _local_values(self):
        """The best fully trained trial's values with some redrawn; `None` if every try was a duplicate."""
        best = min(self._fully_trained_trials(), key=self._loss_like_score)
        parent = best.hyperparameters.values
        redraw_probability = 1.0 / max(1, len(self.hyperparameters.space))
        for _ in range(self._max_collisions):
            rng = random.Random(self._seed_state)
            self._seed_state += 1
            hps = hp_module.HyperParameters()
            for hp in self.hyperparameters.space:
                hps.merge([hp])
                if not hps.is_active(hp):
                    continue
                if hp.name in parent and rng.random() >= redraw_probability:
                    hps.values[hp.name] = parent[hp.name]
                else:
                    hps.values[hp.name] = hp.random_sample(self._seed_state)
                    self._seed_state += 1
            if not self._duplicate(hps.values):
                return hps.values
        return None

    def _fully_trained_trials(self) -> list:
        """Completed trials that the oracle did not cut short, with a score.

        A trial ended on a plateau counts as fully trained: it had stopped
        improving.

        (A trial with an objective curve always has a score, so the score test
        only drops trials that report no objective.)
        """
        return [
            trial
            for trial in self.trials.values()
            if trial.status == TrialStatus.COMPLETED and not self._cut_short(trial.trial_id) and trial.score is not None
        ]

    def _cut_short(self, trial_id) -> bool:
        """Whether the oracle stopped a trial before it was done (pruned, or by the budget)."""
        return trial_id in self.stopped and self.stopped[trial_id]["reason"] != "plateau"

    def _loss_like_score(self, trial) -> float:
        return trial.score if self.objective.direction == "min" else -trial.score

    def budget_exhausted(self) -> bool:
        """Whether the epoch budget is spent."""
        return self.max_total_epochs is not None and self.epochs_spent >= self.max_total_epochs

    # ---------------------------------------------------------- trial events

    @keras_tuner.synchronized
    def create_trial(self, tuner_id):
        if self.budget_exhausted() and tuner_id not in self.ongoing_trials:
            self._finish_retries_without_running()  # a resumed search must not train past its budget
        retried = self._retry_queue[-1] if self._retry_queue and tuner_id not in self.ongoing_trials else None
        trial = super().create_trial(tuner_id)
        if retried is not None and trial.trial_id == retried:
            # A retry trains from scratch: forget the curve of the failed or killed attempt.
            trial.metrics = MetricsTracker()
            self.stopped.pop(trial.trial_id, None)
        self._clock[trial.trial_id] = time.monotonic()
        return trial

    @keras_tuner.synchronized
    def update_trial(self, trial_id, metrics, step=0):
        metrics = dict(metrics)
        per_epoch = VALUE_METRIC in metrics
        value = metrics.pop(VALUE_METRIC, None)
        epochs_after_training = metrics.pop(EPOCHS_METRIC, None)
        trial = super().update_trial(trial_id, metrics, step=step)
        if per_epoch:
            self.epochs_spent += 1
            self._tick(trial_id)
            self._maybe_stop(trial, value, epochs=int(step) + 1)
            self.save()
        elif epochs_after_training is not None:
            self.epochs_spent += int(epochs_after_training)
            self.save()
        return trial

    @keras_tuner.synchronized
    def end_trial(self, trial):
        self._tick(trial.trial_id)
        super().end_trial(trial)

    def _tick(self, trial_id):
        now = time.monotonic()
        self.seconds_spent += now - self._clock.get(trial_id, now)
        self._clock[trial_id] = now

    # --------------------------------------------------------------- pruning

    def _maybe_stop(self, trial, value, epochs):
        if self.budget_exhausted():
            if epochs < self.max_epochs:  # a trial that spends the last epoch in its last epoch just ends
                self._stop(trial, {"epoch": epochs, "reason": "budget"})
            return
        curve = self._loss_like_curve(trial)
        if curve is None:
            return
        if epochs < self.max_epochs and pruning.has_plateaued(curve, self.patience):
            self._stop(trial, {"epoch": epochs, "reason": "plateau", "best_epoch": pruning.best_epoch(curve)})
            return
        if not self.prune:
            return
        estimate = None if value is None or not math.isfinite(value) else float(value)
        decision = pruning.decide(
            curve, self._incumbent_curve(), estimate, self.max_epochs, self.min_epochs, self.prune_margin
        )
        if decision.stop:
            direction = self.objective.direction
            self._stop(
                trial,
                {
                    "epoch": decision.epoch,
                    "reason": "pruned",
                    "forecast": pruning.from_loss_like(decision.forecast, direction),
                    "optimistic": pruning.from_loss_like(decision.optimistic, direction),
                    "incumbent": pruning.from_loss_like(decision.incumbent, direction),
                },
            )

    def _stop(self, trial, record):
        trial.status = TrialStatus.STOPPED
        self.stopped[trial.trial_id] = record

    def _finish_retries_without_running(self):
        """Ends the trials waiting for a retry with what they have: the budget is spent."""
        while self._retry_queue:
            trial = self.trials[self._retry_queue.pop()]
            if self._has_objective_values(trial):
                trial.status = TrialStatus.COMPLETED
                self.score_trial(trial)
            else:
                trial.status = TrialStatus.FAILED
                trial.message = "The epoch budget was spent before this interrupted trial could be trained again."
            self.end_order.append(trial.trial_id)
            self._save_trial(trial)
        self.save()

    def reload(self):
        super().reload()
        # A search killed between writing a finished trial's file and the oracle's own would
        # retrain that trial: keras-tuner queues every trial that was ongoing for a retry.
        for trial_id in list(self._retry_queue):
            trial = self.trials[trial_id]
            if trial.status in (TrialStatus.COMPLETED, TrialStatus.FAILED):
                self._retry_queue.remove(trial_id)
                if trial_id not in self.end_order:
                    self.end_order.append(trial_id)

    def _has_objective_values(self, trial) -> bool:
        """Whether an interrupted trial's reports can score it; fills in a multi-objective's combined value."""
        name = self.objective.name
        if isinstance(self.objective, MultiObjective) and not trial.metrics.exists(name):
            components = self.objective.name_to_direction
            if not all(trial.metrics.exists(component) for component in components):
                return False
            histories = {
                component: {o.step: float(o.mean()) for o in trial.metrics.get_history(component)}
                for component in components
            }
            steps = sorted(set.intersection(*(set(history) for history in histories.values())))
            trial.metrics.register(name, direction="min")
            for step in steps:
                values = {component: history[step] for component, history in histories.items()}
                trial.metrics.update(name, self.objective.get_value(values), step=step)
        return trial.metrics.exists(name) and bool(trial.metrics.get_history(name))

    def _objective_history(self, trial) -> list[float]:
        if isinstance(self.objective, MultiObjective):
            return []
        name = self.objective.name
        if not trial.metrics.exists(name):
            return []
        return [float(observation.mean()) for observation in trial.metrics.get_history(name)]

    def _loss_like_curve(self, trial):
        history = self._objective_history(trial)
        return pruning.to_loss_like(history, self.objective.direction) if history else None

    def _incumbent_curve(self):
        """The loss-like curve of the best fully trained trial (ended on a plateau or at `max_epochs`)."""
        best = None
        for trial in self._fully_trained_trials():
            curve = self._loss_like_curve(trial)
            if curve and (best is None or min(curve) < min(best)):
                best = curve
        return best

    # ------------------------------------------------------------- reporting

    def budget_summary(self) -> dict:
        """Epochs and wall time spent, and the trials stopped early.

        Returns:
            A dict with `epochs_spent`, `max_total_epochs`, `seconds_spent`,
            `trials`, `pruned`, `plateaued` and `stopped_by_budget`.
        """
        reasons = [record["reason"] for record in self.stopped.values()]
        return {
            "epochs_spent": self.epochs_spent,
            "max_total_epochs": self.max_total_epochs,
            "seconds_spent": self.seconds_spent,
            "trials": len(self.trials),
            "pruned": reasons.count("pruned"),
            "plateaued": reasons.count("plateau"),
            "stopped_by_budget": reasons.count("budget"),
        }

    # ----------------------------------------------------------------- state

    def get_state(self):
        state = super().get_state()
        state["keras_meta"] = {
            "max_epochs": self.max_epochs,
            "max_total_epochs": self.max_total_epochs,
            "min_epochs": self.min_epochs,
            "prune": self.prune,
            "prune_margin": self.prune_margin,
            "patience": self.patience,
            "initial_random_trials": self.initial_random_trials,
            "random_fraction": self.random_fraction,
            "epochs_spent": self.epochs_spent,
            "seconds_spent": self.seconds_spent,
            "stopped": self.stopped,
        }
        return state

    def set_state(self, state):
        super().set_state(state)
        meta = state["keras_meta"]
        self.epochs_spent = int(meta["epochs_spent"])
        self.seconds_spent = float(meta["seconds_spent"])
        self.stopped = dict(meta["stopped"])

    def save(self):
        write_json_atomically(self._get_oracle_fname(), self.get_state())

    def _save_trial(self, trial):
        write_json_atomically(os.path.join(self._get_trial_dir(trial.trial_id), "trial.json"), trial.get_state())


def write_json_atomically(path: str, state) -> None:
    """Writes JSON so that a reader (or a resumed search) never sees half a file.

    Local paths are written to a temporary file and renamed over the target;
    other file systems (`gs://...`) fall back to keras-tuner's writer.
    """
    path = str(path)
    if "://" in path:
        keras_tuner_utils.save_json(path, state)
        return
    temporary = f"{path}.{os.getpid()}.partial"
    with open(temporary, "w") as file:
        json.dump(state, file)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


def _validate_budget(max_trials, max_epochs, max_total_epochs, min_epochs, prune_margin):
    for name, value in (("max_trials", max_trials), ("max_total_epochs", max_total_epochs), ("min_epochs", min_epochs)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ValueError(f"`{name}` must be a positive integer or None. Received: {name}={value!r}")
    if not isinstance(max_epochs, int) or max_epochs < 1:
        raise ValueError(f"`max_epochs` must be a positive integer. Received: max_epochs={max_epochs!r}")
    if not prune_margin >= 0:
        raise ValueError(f"`prune_margin` must be >= 0. Received: prune_margin={prune_margin!r}")


def _resolve_patience(patience, max_epochs: int) -> int | None:
    """`"auto"` -> a third of `max_epochs`, at least 3; checks an explicit value."""
    if patience is None:
        return None
    if isinstance(patience, str) and patience == "auto":
        return max(3, max_epochs // 3)
    if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
        raise ValueError(f"`patience` must be a positive integer, 'auto' or None. Received: patience={patience!r}")
    return patience


def _validate_proposals(initial_random_trials, random_fraction):
    if not isinstance(initial_random_trials, int) or initial_random_trials < 0:
        raise ValueError(f"`initial_random_trials` must be a non-negative integer. Received: {initial_random_trials!r}")
    if not 0.0 <= random_fraction <= 1.0:
        raise ValueError(f"`random_fraction` must be in [0, 1]. Received: random_fraction={random_fraction!r}")
