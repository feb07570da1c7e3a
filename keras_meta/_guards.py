"""The rules that bound `MetaLRCallback`'s policy, as pure functions of the recorded curve.

The callback records one training loss per chunk of batches; the first is
the untrained model's. From these losses, and from the validation loss of
each finished epoch, the rules here decide

* whether the run has diverged: `divergence_cause` (an explosion, or a
  relapse after the loss had fallen far) and `started_too_high` (the start
  guard, before the policy's first decision);
* whether the loss has fallen below `exp(-g)` of the untrained model's
  (`fallen_below`): for the fit guard, the training data is fitted, after
  which the rate may no longer climb (`rate_ceiling`); for the relapse
  guard, a return to the untrained loss is a relapse;
* how fast the rate may climb above the optimizer's default (`climb_limit`);
* how far a decision may anneal the rate (`rate_floor`).

The callback keeps the state: when each rule applies, and what it remembers
(the rate at the fit, the floor's anchor). These functions only measure, so
that each rule can be read and tested on its own.
"""

from __future__ import annotations

import math

import numpy as np

RECENT_WINDOW = 3  # recorded losses averaged before comparing with the untrained model's
FLOOR_VAL_PATIENCE = 5  # the floor holds while the best validation loss is at most this many epochs old
_SAME_RATE_TOLERANCE = 1e-6  # an optimizer stores its rate in float32: Adam(1e-3) reads back as 0.0010000000475


def recent_loss(losses) -> float:
    """The mean of the last `RECENT_WINDOW` recorded losses.

    Args:
        losses: Sequence of floats, the recorded training losses.

    Returns:
        A float.
    """
    return float(np.mean(losses[-RECENT_WINDOW:]))


def divergence_cause(
    loss: float, untrained_loss: float, explosion_factor: float | None, relapse_armed: bool
) -> str | None:
    """Whether `loss` counts as a divergence, and why.

    Args:
        loss: Float. The loss to judge.
        untrained_loss: Float. The untrained model's loss.
        explosion_factor: Float or `None`. A loss above this multiple of the
            untrained one has exploded; `None` never.
        relapse_armed: Boolean. Whether the loss has fallen far below the
            untrained one (the relapse guard's or the fit guard's
            `fallen_below`); then a loss back above the untrained one has
            relapsed.

    Returns:
        `"exploded"`, `"relapsed"` or `None`.

    Example:

    >>> divergence_cause(12.0, 1.0, explosion_factor=10.0, relapse_armed=False)
    'exploded'
    >>> divergence_cause(1.5, 1.0, explosion_factor=10.0, relapse_armed=True)
    'relapsed'
    """
    if explosion_factor is not None and loss > explosion_factor * untrained_loss:
        return "exploded"
    if relapse_armed and loss > untrained_loss:
        return "relapsed"
    return None


def started_too_high(losses, untrained_loss: float, start_guard: float) -> bool:
    """The start guard's test: the recent loss far above the untrained model's.

    The callback asks it only before the policy's first decision.

    Args:
        losses: Sequence of floats, the recorded training losses.
        untrained_loss: Float. The untrained model's loss.
        start_guard: Float > 1. How many times the untrained loss counts as far above.

    Returns:
        `True` once `RECENT_WINDOW` losses are recorded and their mean exceeds
        `start_guard` x the untrained loss.
    """
    return len(losses) >= RECENT_WINDOW and recent_loss(losses) > start_guard * untrained_loss


def fallen_below(losses, untrained_loss: float, guard: float) -> bool:
    """The fit and relapse guards' test: the recent loss below `exp(-guard)` of the untrained model's.

    Args:
        losses: Sequence of floats, the recorded training losses.
        untrained_loss: Float. The untrained model's loss.
        guard: Float > 0: the fit guard's or the relapse guard's value.

    Returns:
        `True` once `RECENT_WINDOW` losses are recorded and their mean lies
        below `exp(-guard)` x the untrained loss.

    Example:

    >>> fallen_below([2.0, 0.03, 0.02, 0.01], untrained_loss=2.0, guard=4.0)
    True
    """
    return len(losses) >= RECENT_WINDOW and recent_loss(losses) < math.exp(-guard) * untrained_loss


def rate_ceiling(lr: float, max_lr: float, fitted_lr: float | None) -> float:
    """The largest rate a decision may set from `lr`.

    Args:
        lr: Float. The current rate.
        max_lr: Float. The callback's `max_lr`.
        fitted_lr: Float or `None`. The rate when the fit guard saw the data
            fitted; `None` before.

    Returns:
        `max_lr` before the fit; after it, no climb past the fitted rate (a
        rate already above it may stay).
    """
    if fitted_lr is None:
        return max_lr
    return min(max_lr, max(lr, fitted_lr))


def climb_limit(
    climb_ramp: float,
    start_lr: float,
    default_lr: float | None,
    progress: float,
    climb_ramp_steps: float = 0.0,
    step: int = 0,
) -> float:
    """The highest rate a decision may set: a ramp from the default rate that doubles as the run goes on.

    The ramp doubles once per `climb_ramp` of the run or once per
    `climb_ramp_steps` optimizer steps, whichever is faster; either may be
    off. It applies only to a run that starts at or below the optimizer's
    default rate, and binds only above that rate: a small start climbs to
    there as before; a start above it, the user's own choice, is left alone.

    Args:
        climb_ramp: Float. The fraction of the run per doubling; 0 turns
            this ramp off.
        start_lr: Float. The run's starting rate.
        default_lr: Float or `None`. The optimizer class's default rate;
            `None` where it has none (then the ramp starts at the start).
        progress: Float in [0, 1]. The fraction of the run done.
        climb_ramp_steps: Float. Optimizer steps per doubling; 0 turns
            this ramp off.
        step: Integer. Optimizer steps done.

    Returns:
        A float; `inf` where both ramps are off or the start is above the default.

    Example:

    >>> climb_limit(0.05, 1e-5, 1e-3, progress=0.2), climb_limit(0.05, 0.0010000000475, 1e-3, progress=0.2)
    (0.016, 0.016)
    >>> climb_limit(0.05, 1e-3, 1e-3, progress=0.1, climb_ramp_steps=50, step=200)  # 2 or 4 doublings
    0.016
    >>> climb_limit(0.05, 0.1, 1e-3, progress=0.0), climb_limit(0.0, 1e-3, 1e-3, progress=0.2)
    (inf, inf)
    """
    base_lr = start_lr if default_lr is None else default_lr
    doublings = []
    if climb_ramp:
        doublings.append(progress / climb_ramp)
    if climb_ramp_steps:
        doublings.append(step / climb_ramp_steps)
    if not doublings or start_lr > base_lr * (1 + _SAME_RATE_TOLERANCE):
        return math.inf
    return base_lr * 2.0 ** max(doublings)


def rate_floor(lr_floor: float, anchor_lr: float, val_losses, progress: float) -> float:
    """The floor under annealing: `lr_floor` x `anchor_lr` x the fraction of the run left.

    It holds only while the validation loss is still improving: its best is
    at most `FLOOR_VAL_PATIENCE` epochs old.

    Args:
        lr_floor: Float >= 0. 0 turns the floor off.
        anchor_lr: Float. Where the floor's linear decay starts: the smaller
            of the starting rate and the optimizer's default rate, lowered
            by every recovery.
        val_losses: Sequence of floats, the validation loss of each finished
            epoch; empty means no floor yet.
        progress: Float in [0, 1]. The fraction of the run done.

    Returns:
        The floor, a float (0.0 where it does not hold).

    Example:

    >>> rate_floor(1.0, 1e-3, [0.9, 0.8], progress=0.25)
    0.00075
    >>> rate_floor(1.0, 1e-3, [0.5] + [0.9] * 6, progress=0.25)
    0.0
    """
    if not lr_floor or not val_losses:
        return 0.0
    epochs_since_best = len(val_losses) - 1 - int(np.argmin(val_losses))
    if epochs_since_best > FLOOR_VAL_PATIENCE:
        return 0.0
    return lr_floor * anchor_lr * max(0.0, 1.0 - progress)


def clamp(lr: float, low: float, high: float) -> float:
    """`lr` moved into `[low, high]`, as a Python float."""
    return float(min(max(lr, low), high))
