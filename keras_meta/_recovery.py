"""How `MetaLRCallback` recovers from a diverged run: snapshots, restores and rate cuts.

A run diverges when its loss turns non-finite, explodes far above the
untrained model's, relapses back above it after it had fallen far below it,
or starts far above it before the policy's first decision (the rules are in
`keras_meta._guards`). The callback then restores the last snapshot of the
weights and the optimizer's state, cuts the rate by `recovery_factor` and
carries on; after `max_recoveries` in a row it stops training with the last
good weights.

`RecoveryMixin` holds these mechanics. `MetaLRCallback` mixes it in and owns
the state it reads and writes. Its `_reset`, at the start of every `fit`,
clears the recorded `losses` and `loss_steps`, `recoveries`, `decisions`,
`stopped_reason`, the snapshot and its period, and what the guards remember
(`_fitted_lr`, `_fallen_far`, `_start_cuts`); `_configure_guards` then reads
the guards' settings from the arguments and the policy's card (`_fit_guard`,
the floor's anchor `_floor_anchor_lr`), and the first recorded loss fixes
`_untrained_loss`. A restore restarts the callback's reading of Keras's
running mean (`_start_running_mean`).
"""

from __future__ import annotations

import dataclasses
import math
import warnings

from keras_meta import _guards as guards
from keras_meta._optimizers import get_lr
from keras_meta._optimizers import restore_snapshot
from keras_meta._optimizers import set_lr
from keras_meta._optimizers import take_snapshot

_MAX_START_CUTS = 2  # the start guard cuts a starting rate at most this often
_MIN_SNAPSHOT_PERIOD = 4  # automatic snapshots: every this many decisions at least
_PARAMS_PER_SNAPSHOT_DECISION = 1_000_000  # ... and one decision more per this many parameters
_DIVERGENCE_CAUSES = {
    "non-finite": "was non-finite",
    "exploded": "exploded",
    "relapsed": "rose back above the untrained model's",
    "started too high": "rose far above the untrained model's before the first decision",
}


@dataclasses.dataclass(frozen=True)
class Recovery:
    """One recovery from a diverged run: a non-finite, exploded or relapsed loss.

    Attributes:
        step: Integer. The batch count at which the divergence was seen.
        restored_step: Integer. The batch count of the state that was restored.
        old_lr: Float. The rate that produced the divergence.
        new_lr: Float. The reduced rate training carried on with.
        cause: String. `"non-finite"`, `"exploded"` (far above the untrained
            model's loss), `"relapsed"` (back above the untrained model's
            loss after it had fallen far below it: the relapse guard, or the
            fit guard's fit) or `"started too high"` (the start guard: far
            above the untrained model's loss before the first decision).
    """

    step: int
    restored_step: int
    old_lr: float
    new_lr: float
    cause: str = "non-finite"


def automatic_snapshot_period(n_params: int) -> int:
    """Decisions between recovery snapshots when `snapshot_every=None`.

    A snapshot copies the weights and the optimizer's state. Every 4
    decisions keeps its cost a small fraction of the training in between on
    small models, where the copy's fixed cost dominates; beyond 4 million
    parameters the period grows by one decision per million, so that the
    copies of large models stay as rare relative to their training. The
    period depends on the model alone, never on timing: which snapshot a
    recovery restores is the same in every run with the same seed.

    Args:
        n_params: Integer. The model's parameter count.

    Returns:
        The period, an integer of at least 4.

    Example:

    >>> automatic_snapshot_period(20_000), automatic_snapshot_period(25_000_000)
    (4, 25)
    """
    return max(_MIN_SNAPSHOT_PERIOD, math.ceil(n_params / _PARAMS_PER_SNAPSHOT_DECISION))


class RecoveryMixin:
    """Divergence detection and recovery for `MetaLRCallback` (see the module's docstring)."""

    # ------------------------------------------------- fit and relapse guards

    def _watch_fall(self):
        """Notes when the loss first falls far enough for the fit and relapse guards (see `keras_meta._guards`)."""
        if self.relapse_guard and not self._fallen_far:
            self._fallen_far = guards.fallen_below(self.losses, self._untrained_loss, self.relapse_guard)
        if not self._fit_guard or self._fitted_lr is not None:
            return
        if guards.fallen_below(self.losses, self._untrained_loss, self._fit_guard):
            self._fitted_lr = get_lr(self.model.optimizer)
            if self.verbose:
                print(f"MetaLRCallback: step {self._step}: data fitted; the rate stays <= {self._fitted_lr:.3g}")

    def _rewatch_fall(self):
        """After a restore, a fall that the restore undid arms neither guard: they see the restored history.

        Without this a restore to weights from before the fall (the untrained
        model's, say) would leave the relapse armed, and losses near the
        untrained one would count as relapses again and again.
        """
        if self._fallen_far:
            self._fallen_far = guards.fallen_below(self.losses, self._untrained_loss, self.relapse_guard)
        if self._fitted_lr is not None and not guards.fallen_below(self.losses, self._untrained_loss, self._fit_guard):
            self._fitted_lr = None

    # ------------------------------------------------------------- recovery

    def _maybe_snapshot(self):
        """Takes a snapshot every `_snapshot_period` decisions."""
        if self._snapshot_period is None:  # the model is built by now
            self._snapshot_period = automatic_snapshot_period(self.model.count_params())
        self._decisions_since_snapshot += 1
        if self._decisions_since_snapshot < self._snapshot_period:
            return
        self._take_snapshot()
        self._decisions_since_snapshot = 0

    def _take_snapshot(self):
        """Keeps the current weights and optimizer state, if they are finite and the loss has not diverged."""
        if self.losses and self._diverged_above(self.losses[-1]):
            return
        self._snapshot = take_snapshot(self.model, self._step) or self._snapshot

    def _diverged_above(self, loss) -> str | None:
        """The cause, if `loss` counts as a divergence: `"exploded"`, `"relapsed"` or `None`."""
        relapse_armed = self._fallen_far or self._fitted_lr is not None
        return guards.divergence_cause(loss, self._untrained_loss, self.explosion_factor, relapse_armed)

    def _divergence(self) -> str | None:
        """Whether the recent loss has diverged: the start guard first, then an explosion or a relapse."""
        if len(self.losses) < 2:
            return None
        if self._started_too_high():
            return "started too high"
        return self._diverged_above(guards.recent_loss(self.losses))

    def _started_too_high(self) -> bool:
        """The start guard, while it applies: before the first decision, with cuts left and room to cut."""
        if self.start_guard is None or self.decisions or self._start_cuts >= _MAX_START_CUTS:
            return False
        started_too_high = guards.started_too_high(self.losses, self._untrained_loss, self.start_guard)
        return started_too_high and get_lr(self.model.optimizer) > self.min_lr

    def _recover(self, batch, cause="non-finite"):
        """Handles a divergence: restore, cut the rate, or give up."""
        self._consecutive_failures += 1
        if cause == "started too high":
            self._start_cuts += 1
        optimizer = self.model.optimizer
        old_lr = get_lr(optimizer)
        if self._snapshot is None:
            self.model.stop_training = True
            self.stopped_reason = (
                f"MetaLRCallback stopped training: the loss was non-finite at batch {self._step} and no "
                "finite weights were ever seen to restore. Check the model's initial weights and the data."
            )
            warnings.warn(self.stopped_reason, RuntimeWarning, stacklevel=2)
            return
        restore_snapshot(self.model, self._snapshot)
        self._forget_losses_after(self._snapshot.step)
        self._rewatch_fall()
        if self._consecutive_failures > self.max_recoveries:
            self.model.stop_training = True
            self.stopped_reason = (
                f"MetaLRCallback stopped training: the loss {_DIVERGENCE_CAUSES[cause]} {self._consecutive_failures} "
                f"times in a row (last at batch {self._step}, learning rate {old_lr:.3g}). The model "
                f"holds the weights of batch {self._snapshot.step}, the last good state. "
                "Check the data and the loss for NaN or inf, or lower min_lr / the starting rate."
            )
            warnings.warn(self.stopped_reason, RuntimeWarning, stacklevel=2)
            return
        self.model.reset_metrics()  # the running mean would stay NaN for the epoch
        self._start_running_mean(batch)
        new_lr = guards.clamp(old_lr * self.recovery_factor, self.min_lr, self.max_lr)
        set_lr(optimizer, new_lr)
        if self._cooldown_lr is not None:  # the cool-down goes on from the cut rate
            self._cooldown_lr *= self.recovery_factor
        self._floor_anchor_lr *= self.recovery_factor
        self.recoveries.append(Recovery(self._step, self._snapshot.step, old_lr, new_lr, cause))
        if self.verbose:
            print(
                f"MetaLRCallback: {cause} loss at step {self._step}; restored step "
                f"{self._snapshot.step}, lr {old_lr:.3g} -> {new_lr:.3g}"
            )

    def _forget_losses_after(self, step):
        """Drops the recorded losses of the batches that the restore undid (the first one stays)."""
        while len(self.losses) > 1 and self.loss_steps[-1] > step:
            self.losses.pop()
            self.loss_steps.pop()
