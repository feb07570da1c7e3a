"""`MetaLRCallback`: a meta-trained policy steers the learning rate during `fit`."""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import warnings

import keras
import numpy as np

from keras_meta import _guards as guards
from keras_meta._optimizers import Snapshot
from keras_meta._optimizers import check_optimizer
from keras_meta._optimizers import default_learning_rate
from keras_meta._optimizers import get_lr
from keras_meta._optimizers import innermost
from keras_meta._optimizers import set_lr
from keras_meta._recovery import Recovery
from keras_meta._recovery import RecoveryMixin
from keras_meta._recovery import automatic_snapshot_period
from keras_meta.features import extract_features
from keras_meta.policy import Policy
from keras_meta.policy import load_policy

__all__ = ["Decision", "MetaLRCallback", "Recovery", "automatic_snapshot_period"]

_DEFAULT_INTERVAL_UNKNOWN_STEPS = 25  # decision interval while the epoch length is unknown
_MIN_WINDOW = 8  # the feature window never looks at fewer recorded steps


@dataclasses.dataclass(frozen=True)
class Decision:
    """One learning-rate decision of `MetaLRCallback`.

    Attributes:
        step: Integer. Batches trained in this `fit` when the decision was taken.
        epoch: Integer. The epoch it was taken in.
        old_lr: Float. The rate before the decision.
        new_lr: Float. The rate after it, clamped into `[min_lr, max_lr]`.
        log2_multiplier: Float. The action: log2 of the multiplier chosen.
        value: Float. The value head's prediction of log(final / current loss).
    """

    step: int
    epoch: int
    old_lr: float
    new_lr: float
    log2_multiplier: float
    value: float


@keras.saving.register_keras_serializable("keras_meta")
class MetaLRCallback(RecoveryMixin, keras.callbacks.Callback):
    """Lets a meta-trained policy set the learning rate during training.

    Every `interval` batches the callback turns the recent training curve into
    a scale-free feature vector, asks the policy for a multiplier of the
    learning rate (for example x1/2, x1, x2), and applies it, clamped into
    `[min_lr, max_lr]`. Give the optimizer a float learning rate: it is the
    starting point, and the policy takes it from there.

    Keras reports the *running mean* of the loss since the epoch began to
    batch callbacks; the callback recovers each batch's own loss from it,
    also with `steps_per_execution > 1`. When the run diverges (a non-finite
    loss, or a loss that explodes far above the untrained model's) it restores
    the last good weights and optimizer state, cuts the rate and carries on.
    A starting rate far too large is caught before the policy's first
    decision (`start_guard`): the run starts again from the initial weights
    at a tenth of the rate. A run whose loss had fallen far and then returns
    to the untrained model's (`relapse_guard`) has collapsed, and is
    recovered from too.
    A policy card may set a fit guard (`fit_guard`): once the training data
    is fitted the rate may no longer climb; a floor (`lr_floor`): while
    the validation loss improves, the rate may not be annealed faster than a
    linear decay from the optimizer's default rate; and a ramp on the climb
    (`climb_ramp`, `climb_ramp_steps`).

    Example:

    ```python
    model.compile(keras.optimizers.Adam(1e-3), "mse")
    callback = keras_meta.MetaLRCallback()
    history = model.fit(x, y, epochs=20, callbacks=[callback])
    history.history["learning_rate"]  # the rate at the end of each epoch
    callback.decisions                # every decision, with the value estimate
    ```

    Args:
        policy: String, path or `Policy`. A shipped policy's name, a policy
            directory, or a loaded `Policy`. Defaults to `"default"`.
        interval: Integer or `None`. Decide every this many batches. `None`
            spreads the policy's `decisions_per_run` (from its card) evenly
            over the training run.
        min_lr: Float. The smallest rate the policy may set. Defaults to 1e-6.
        max_lr: Float. The largest rate the policy may set. Defaults to 1.0.
        sample: Boolean. Draw each action from the policy's probabilities
            instead of taking the most likely one. Defaults to `False`.
        seed: Integer or `None`. Seeds the draws when `sample=True`; equal
            seeds give equal decisions on equal training runs.
        recover_non_finite: Boolean. Recover from NaN or inf losses by
            restoring the last good state and cutting the rate. Defaults to
            `True`.
        explosion_factor: Float > 1 or `None`. A loss (the mean of the last
            three recorded) above this multiple of the first batch's, the
            untrained model's, counts as a divergence and is recovered from
            like a non-finite one: a rate far too large can wreck the
            weights long before anything overflows. `None` turns this off
            (do so when the first batch's loss is unrepresentatively low).
            Defaults to 10.0.
        start_guard: Float > 1 or `None`. Before the policy's first
            decision, a loss (the mean of the last three recorded) above
            this multiple of the untrained model's means the starting rate
            is far too large: within a few batches it can kill units or
            saturate a classifier for good, before the policy has had a
            say. The callback then restores the initial weights and
            optimizer state and starts again at `recovery_factor` times the
            rate (cause `"started too high"`), at most twice per `fit`.
            `None` turns this off. Defaults to 3.0.
        relapse_guard: Float > 0 or `None`. Once the loss (the mean of the
            last three recorded) has fallen below `exp(-relapse_guard)` of
            the untrained model's, a loss back above the untrained model's
            means the run has collapsed: a rate too large has thrown the
            model out of what it learned, for example onto a constant
            predictor, whose loss is the untrained one and which no later
            rate recovers. It is recovered from like an explosion (cause
            `"relapsed"`). `None` turns this off. Defaults to 1.0.
        recovery_factor: Float in (0, 1). The rate is multiplied by this on
            each recovery. Defaults to 0.1.
        max_recoveries: Integer. After this many recoveries in a row without
            a good decision in between, training stops with the last good
            weights. Defaults to 3.
        snapshot_every: Integer or `None`. Keep a recovery snapshot of the
            weights and optimizer state every this many decisions. `None`
            picks the period from the model's size (see
            `automatic_snapshot_period`), never from timing, so that a
            seeded run is reproducible.
        final_cooldown: Float in [0, 1) or `None`. The last this fraction of
            the run's steps is a cool-down: the policy is no longer asked,
            and the rate falls linearly from where the policy left it to zero
            at the run's end (the "decay" of a warmup-stable-decay schedule),
            below `min_lr`. A recovery there cuts the rest of the line.
            `None` takes the fraction the policy was meta-trained with (its
            card's `final_cooldown`; 0 for policies trained without one).
            Needs the run's length: in a run whose steps per epoch Keras
            cannot tell, it begins only after the first epoch.
        act_every: Integer >= 1 or `None`. The policy acts at every this
            many-th decision only; at the others the rate is kept (they are
            still recorded, with the value head's estimate). `None` takes
            the policy card's `act_every` (1 for policies without one): a
            policy meta-trained on labels taken at every K-th decision,
            whose expert kept the rate between them, acts as that expert did.
        fit_guard: Float >= 0 or `None`. Once the training loss (the mean of
            the last three recorded) has fallen below `exp(-fit_guard)` of
            the untrained model's, the model has fitted its training data,
            and two rules hold from then on: the policy may not raise the
            rate above the rate of that moment (a climb then only gambles
            the fit away: the training loss has little left to gain, the
            validation loss much to lose), and a loss back above the
            untrained model's counts as a divergence, recovered from like an
            explosion (cause `"relapsed"`; the relapse guard alone has this
            rule from a smaller fall). A recovery that restores weights from
            before the fit lifts both rules until the loss falls that far
            again. 0 turns the guard off.
            `None` takes the policy card's `fit_guard` (0 for policies
            without one).
        lr_floor: Float >= 0 or `None`. A floor under the policy's
            annealing. While the validation loss is still improving (its
            best is at most 5 epochs old), no decision may lower the rate
            below `lr_floor` x the anchor x the fraction of the run still to
            go, where the anchor is the smaller of the starting rate and the
            optimizer's own default rate (its class's `learning_rate`
            default, e.g. 1e-3 for Adam). So the policy anneals no faster
            than that linear decay to zero while annealing would stop a
            descent, and the floor never holds a rate above what Keras
            starts the optimizer at. Without validation data, and before
            the first epoch ends, there is no floor; a rate already below it
            is not raised. Every recovery lowers the anchor by
            `recovery_factor`, as it does the rate. 0 turns the floor off.
            `None` takes the policy card's `lr_floor` (0 for policies
            without one).
        climb_ramp: Float in [0, 1) or `None`. In a run that starts at or
            below the optimizer's own default rate, the rate may climb past
            that default no faster than one doubling per `climb_ramp` of the
            run: no decision sets a rate above the default rate x
            2^(progress / climb_ramp). A small start climbs to the default
            as before; a start above the default, the user's own choice, is
            left to the policy. 0 turns the ramp off. `None` takes the
            policy card's `climb_ramp` (0 for policies without one).
        climb_ramp_steps: Float >= 0 or `None`. A second ramp, counted in
            optimizer steps: one doubling per `climb_ramp_steps` steps.
            Where both ramps are on, the faster binds, so a long run climbs
            by steps and a short one by its fraction of the run. 0 turns it
            off. `None` takes the policy card's `climb_ramp_steps` (0 for
            policies without one).
        verbose: Integer. 1 prints each decision. Defaults to 0.
    """

    def __init__(
        self,
        policy="default",
        interval=None,
        min_lr=1e-6,
        max_lr=1.0,
        sample=False,
        seed=None,
        recover_non_finite=True,
        explosion_factor=10.0,
        start_guard=3.0,
        relapse_guard=1.0,
        recovery_factor=0.1,
        max_recoveries=3,
        snapshot_every=None,
        final_cooldown=None,
        act_every=None,
        fit_guard=None,
        lr_floor=None,
        climb_ramp=None,
        climb_ramp_steps=None,
        verbose=0,
    ):
        super().__init__()
        _validate_arguments(
            interval=interval,
            min_lr=min_lr,
            max_lr=max_lr,
            recovery_factor=recovery_factor,
            max_recoveries=max_recoveries,
            snapshot_every=snapshot_every,
            final_cooldown=final_cooldown,
            act_every=act_every,
            fit_guard=fit_guard,
            lr_floor=lr_floor,
            climb_ramp=climb_ramp,
            climb_ramp_steps=climb_ramp_steps,
            explosion_factor=explosion_factor,
            start_guard=start_guard,
            relapse_guard=relapse_guard,
        )
        self.policy = load_policy(policy)
        keep = np.flatnonzero(self.policy.actions == 0.0)
        self._keep_action = int(keep[0]) if keep.size else None
        if act_every is not None and act_every > 1 and self._keep_action is None:
            raise ValueError(
                f"`act_every` > 1 needs a policy with an action that keeps the rate (0). Received: {policy}"
            )
        self._policy_argument = None if isinstance(policy, Policy) else os.fspath(policy)
        self.interval = interval
        self.min_lr = float(min_lr)
        self.max_lr = float(max_lr)
        self.sample = bool(sample)
        self.seed = seed
        self.recover_non_finite = bool(recover_non_finite)
        self.explosion_factor = None if explosion_factor is None else float(explosion_factor)
        self.start_guard = None if start_guard is None else float(start_guard)
        self.relapse_guard = None if relapse_guard is None else float(relapse_guard)
        self.recovery_factor = float(recovery_factor)
        self.max_recoveries = int(max_recoveries)
        self.snapshot_every = snapshot_every
        self.final_cooldown = final_cooldown
        self.act_every = act_every
        self.fit_guard = fit_guard
        self.lr_floor = lr_floor
        self.climb_ramp = climb_ramp
        self.climb_ramp_steps = climb_ramp_steps
        self.verbose = verbose
        self._reset()

    # ------------------------------------------------------------------ state

    def _reset(self):
        """Clears everything recorded by a previous `fit`."""
        self.decisions: list[Decision] = []
        self.recoveries: list[Recovery] = []
        self.losses: list[float] = []  # each recorded chunk's own loss
        self.loss_steps: list[int] = []  # the batch count of each entry of `losses`
        self.stopped_reason: str | None = None
        self._rng = np.random.default_rng(self.seed)
        self._step = 0
        self._epoch = 0
        self._last_decision_step = 0
        self._last_log2_multiplier = 0.0
        self._consecutive_failures = 0
        self._val_losses: list[float] = []
        self._epoch_losses: list[float] = []
        self._snapshot: Snapshot | None = None
        self._snapshot_period = self.snapshot_every  # automatic: set at the first decision
        self._decisions_since_snapshot = 0
        self._cooldown_lr: float | None = None  # the rate where the final cool-down began
        self._first_epoch: int | None = None
        self._fitted_lr: float | None = None  # the rate when the fit guard saw the data fitted
        self._fallen_far = False  # the relapse guard has seen the loss fall below exp(-relapse_guard) x the untrained
        self._start_cuts = 0  # restarts by the start guard
        self._start_running_mean(batch=-1)

    def _start_running_mean(self, batch):
        """Keras restarts its running mean of the loss after `batch`."""
        self._mean_start_batch = batch
        self._previous_batch = batch
        self._previous_sum = 0.0

    # ------------------------------------------------------------------ hooks

    def on_train_begin(self, logs=None):
        self._reset()
        optimizer = self.model.optimizer
        check_optimizer(optimizer)
        self._optimizer_kind = type(innermost(optimizer)).__name__
        lr = get_lr(optimizer)
        clamped = guards.clamp(lr, self.min_lr, self.max_lr)
        if clamped != lr:
            warnings.warn(
                f"MetaLRCallback: the optimizer's learning rate {lr:g} lies outside "
                f"[min_lr, max_lr] = [{self.min_lr:g}, {self.max_lr:g}]; starting from {clamped:g}.",
                stacklevel=2,
            )
            set_lr(optimizer, clamped)
        self._initial_lr = clamped
        self._configure_guards(optimizer, clamped)
        self._epochs = self._run_epochs()
        self._configure_schedule(self.params.get("steps"))
        self._take_snapshot()

    def on_epoch_begin(self, epoch, logs=None):
        if self._first_epoch is None:
            self._first_epoch = epoch
        if self._step == 0 and epoch > 0 and self._steps_per_epoch:
            # fit(initial_epoch=...) resumes a run: count the skipped epochs as done.
            self._step = self._last_decision_step = epoch * self._steps_per_epoch
        self._epoch = epoch
        self._start_running_mean(batch=-1)

    def on_train_batch_end(self, batch, logs=None):
        running_mean = (logs or {}).get("loss")
        if running_mean is None:
            return
        running_mean = float(running_mean)
        steps = batch - self._previous_batch
        self._step += steps
        if not math.isfinite(running_mean):
            if self.recover_non_finite:
                self._recover(batch)
            else:
                self._previous_batch = batch
            return
        self._record_loss(batch, running_mean, steps)
        cause = self._divergence()
        if cause:
            self._recover(batch, cause=cause)
            return
        self._watch_fall()
        cooling_down = self._in_final_cooldown()
        if cooling_down:
            self._cool_down()
        if self._step - self._last_decision_step >= self._interval:
            if cooling_down:  # no decision, but an interval of good steps all the same
                self._last_decision_step = self._step
                self._consecutive_failures = 0
            else:
                self._decide()
            self._maybe_snapshot()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        if self._steps_per_epoch is None:
            self._configure_schedule(self._step // (epoch - self._first_epoch + 1))
            skipped = self._first_epoch * self._steps_per_epoch  # fit(initial_epoch=...): count them as done
            self._step += skipped
            self._last_decision_step += skipped
        self._record_epoch(logs)
        logs["learning_rate"] = get_lr(self.model.optimizer)

    # ----------------------------------------------------------- value head

    def value_estimate(self) -> float | None:
        """The value head's forecast for this run, from the curve so far.

        Returns:
            The predicted log(final training loss / current training loss),
            a float (negative: the loss will still fall), or `None` before
            two losses have been recorded.
        """
        if len(self.losses) < 2 or self.model is None:
            return None
        _, value = self.policy.evaluate(self._features(get_lr(self.model.optimizer)))
        return float(value)

    # -------------------------------------------------------------- mechanics

    def _card_setting(self, name, default=0.0, cast=float):
        """The argument `name` when it was given, else the policy card's value for it."""
        argument = getattr(self, name)
        return cast(self.policy.card.get(name, default)) if argument is None else argument

    def _configure_guards(self, optimizer, start_lr):
        """Resolves the cool-down, guard, floor and ramp settings for this run (arguments over card)."""
        self._final_cooldown_fraction = self._card_setting("final_cooldown")
        self._act_every = self._card_setting("act_every", default=1, cast=int)
        self._fit_guard = self._card_setting("fit_guard")
        self._lr_floor = self._card_setting("lr_floor")
        self._climb_ramp = self._card_setting("climb_ramp")
        self._climb_ramp_steps = self._card_setting("climb_ramp_steps")
        self._default_lr = default_learning_rate(innermost(optimizer))
        # The floor's linear decay starts here: never above the optimizer's default rate; recoveries lower it.
        self._floor_anchor_lr = min(start_lr, self._default_lr or start_lr)
        self._climb_base_lr = start_lr

    def _run_epochs(self):
        """The length of the run, in epochs, that progress is measured against."""
        return int(self.params.get("epochs") or 1)

    def _configure_schedule(self, steps_per_epoch):
        """Sets the decision interval and feature window from the run's length."""
        self._steps_per_epoch = steps_per_epoch
        if steps_per_epoch:
            self._total_steps = steps_per_epoch * self._epochs
            automatic = round(self._total_steps / self.policy.card["decisions_per_run"])
        else:
            self._total_steps = None
            automatic = _DEFAULT_INTERVAL_UNKNOWN_STEPS
        self._cooldown_steps = round((self._total_steps or 0) * self._final_cooldown_fraction)
        self._interval = self.interval or max(1, automatic)
        steps_per_record = max(1, int(getattr(self.model, "steps_per_execution", 1) or 1))
        self._window = max(_MIN_WINDOW, 2 * math.ceil(self._interval / steps_per_record))

    def _record_loss(self, batch, running_mean, steps):
        """Recovers the loss of the batches since the last call from the running mean."""
        running_sum = (batch - self._mean_start_batch) * running_mean
        chunk_loss = (running_sum - self._previous_sum) / steps
        self._previous_sum = running_sum
        self._previous_batch = batch
        self.losses.append(max(chunk_loss, 0.0))
        if len(self.losses) == 1:
            self._untrained_loss = self.losses[0]  # fixed for the run: restores do not move it
        self.loss_steps.append(self._step)

    def _record_epoch(self, logs):
        train, val = logs.get("loss"), logs.get("val_loss")
        if train is None or val is None:
            return
        train, val = float(train), float(val)
        if math.isfinite(train) and math.isfinite(val):
            self._epoch_losses.append(train)
            self._val_losses.append(val)

    def _progress(self):
        if self._total_steps:
            return self._step / self._total_steps
        return self._epoch / self._epochs

    def _in_final_cooldown(self) -> bool:
        return bool(self._cooldown_steps) and self._step >= self._total_steps - self._cooldown_steps

    def _cool_down(self):
        """Sets the next step's rate: step k of the C cool-down steps runs at (C + 1 - k) / (C + 1) of the first rate.

        This is the decay of a look-ahead branch (`keras_meta.meta.lookahead`), so
        that labels score the cool-down the run will have.
        """
        optimizer = self.model.optimizer
        if self._cooldown_lr is None:
            self._cooldown_lr = get_lr(optimizer)
        steps_left = self._total_steps - self._step
        if steps_left <= 0:
            return  # the run is over: a rate of zero would only break what reads it next (value_estimate, a new fit)
        set_lr(optimizer, self._cooldown_lr * steps_left / (self._cooldown_steps + 1))

    def _decide(self):
        optimizer = self.model.optimizer
        old_lr = get_lr(optimizer)
        features = self._features(old_lr)
        probabilities, value = self.policy.evaluate(features)
        if len(self.decisions) % self._act_every == 0:
            action = self._choose_action(features, probabilities)
        else:
            action = self._keep_action
        log2_multiplier = float(self.policy.actions[action])
        ramp = guards.climb_limit(
            self._climb_ramp,
            self._climb_base_lr,
            self._default_lr,
            self._progress(),
            climb_ramp_steps=self._climb_ramp_steps,
            step=self._step,
        )
        highest = guards.rate_ceiling(old_lr, min(self.max_lr, ramp), self._fitted_lr)
        floor = guards.rate_floor(self._lr_floor, self._floor_anchor_lr, self._val_losses, self._progress())
        lowest = min(floor, old_lr, highest)  # the floor stops a fall; it never raises the rate
        new_lr = guards.clamp(old_lr * 2.0**log2_multiplier, max(self.min_lr, lowest), highest)
        if new_lr != old_lr:
            set_lr(optimizer, new_lr)
        self._last_log2_multiplier = log2_multiplier
        self._last_decision_step = self._step
        self._consecutive_failures = 0
        self.decisions.append(Decision(self._step, self._epoch, old_lr, new_lr, log2_multiplier, value))
        if self.verbose:
            print(f"MetaLRCallback: step {self._step}: lr {old_lr:.3g} -> {new_lr:.3g} (value {value:+.3f})")

    def _features(self, lr):
        """The policy's input now (see `keras_meta.features`)."""
        return extract_features(
            self.losses,
            lr,
            initial_learning_rate=self._initial_lr,
            progress=self._progress(),
            window=self._window,
            val_losses=self._val_losses,
            epoch_losses=self._epoch_losses,
            last_log2_multiplier=self._last_log2_multiplier,
            optimizer=self._optimizer_kind,
        )

    def _choose_action(self, features, probabilities) -> int:
        """The index of the action to take: the most likely, or a seeded draw."""
        if self.sample:
            return int(self._rng.choice(len(probabilities), p=probabilities))
        return int(np.argmax(probabilities))

    # ------------------------------------------------------- keras protocol

    def get_config(self):
        policy = self._policy_argument
        if policy is None:
            policy = {"policy_config": self.policy.get_config()}
        return {
            "policy": policy,
            "interval": self.interval,
            "min_lr": self.min_lr,
            "max_lr": self.max_lr,
            "sample": self.sample,
            "seed": self.seed,
            "recover_non_finite": self.recover_non_finite,
            "explosion_factor": self.explosion_factor,
            "start_guard": self.start_guard,
            "relapse_guard": self.relapse_guard,
            "recovery_factor": self.recovery_factor,
            "max_recoveries": self.max_recoveries,
            "snapshot_every": self.snapshot_every,
            "final_cooldown": self.final_cooldown,
            "act_every": self.act_every,
            "fit_guard": self.fit_guard,
            "lr_floor": self.lr_floor,
            "climb_ramp": self.climb_ramp,
            "climb_ramp_steps": self.climb_ramp_steps,
            "verbose": self.verbose,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config["policy"], dict):
            config["policy"] = Policy.from_config(config["policy"]["policy_config"])
        return cls(**config)

    def __deepcopy__(self, memo):
        """Copies everything but the model, which the copy shares."""
        clone = self.__class__.__new__(self.__class__)
        memo[id(self)] = clone
        for key, value in self.__dict__.items():
            setattr(clone, key, value if key == "_model" else copy.deepcopy(value, memo))
        return clone


def _validate_arguments(
    *,
    interval,
    min_lr,
    max_lr,
    recovery_factor,
    max_recoveries,
    snapshot_every,
    final_cooldown,
    act_every,
    fit_guard,
    lr_floor,
    climb_ramp,
    climb_ramp_steps,
    explosion_factor,
    start_guard,
    relapse_guard,
):
    """Raises a `ValueError` naming the first of `MetaLRCallback`'s arguments out of range."""
    for name, value in (("interval", interval), ("snapshot_every", snapshot_every), ("act_every", act_every)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ValueError(f"`{name}` must be a positive integer or None. Received: {name}={value!r}")
    if not min_lr > 0:
        raise ValueError(f"`min_lr` must be positive. Received: min_lr={min_lr}")
    if not max_lr > min_lr:
        raise ValueError(f"`max_lr` must be larger than `min_lr`. Received: min_lr={min_lr}, max_lr={max_lr}")
    if not 0 < recovery_factor < 1:
        raise ValueError(f"`recovery_factor` must lie in (0, 1). Received: recovery_factor={recovery_factor}")
    if max_recoveries < 0:
        raise ValueError(f"`max_recoveries` must be >= 0. Received: max_recoveries={max_recoveries}")
    if final_cooldown is not None and not 0 <= final_cooldown < 1:
        raise ValueError(f"`final_cooldown` must lie in [0, 1) or None. Received: final_cooldown={final_cooldown}")
    for name, value in (("fit_guard", fit_guard), ("lr_floor", lr_floor), ("climb_ramp_steps", climb_ramp_steps)):
        if value is not None and not value >= 0:
            raise ValueError(f"`{name}` must be >= 0 or None. Received: {name}={value}")
    if climb_ramp is not None and not 0 <= climb_ramp < 1:
        raise ValueError(f"`climb_ramp` must lie in [0, 1) (0: off) or None. Received: climb_ramp={climb_ramp}")
    for name, value in (("explosion_factor", explosion_factor), ("start_guard", start_guard)):
        if value is not None and not value > 1:
            raise ValueError(f"`{name}` must be > 1 or None. Received: {name}={value}")
    if relapse_guard is not None and not relapse_guard > 0:
        raise ValueError(
            f"`relapse_guard` must be > 0, or None to turn it off. Received: relapse_guard={relapse_guard}"
        )
