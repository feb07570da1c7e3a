"""When to stop a trial: the model selector's pruning rule, in plain Python.

The rule works on *loss-like* curves: positive numbers where smaller is
better. A "min" objective with non-negative values (a loss) is used as it is; a
"max" objective within [0, 1] (an accuracy, an AUC) becomes its error,
`1 - value`. Other objectives are not pruned, since neither a ratio nor an
error is meaningful for them.

A trial is stopped after epoch `n` (of `max_epochs`) only when both hold:

1. **It is behind.** Its best objective so far is worse than the
   incumbent's best at the same epoch.
2. **Even an optimistic forecast loses.** The value head predicts
   `log(final / current)` of the run's loss. The forecast of the trial's
   final objective is its best so far times `exp(prediction)`, and the
   optimistic forecast divides that by `exp(margin * sqrt(remaining))`,
   where `remaining` is the fraction of the epochs still to come: the
   further the end, the wider the allowance. If the optimistic forecast is
   still worse than the incumbent's final objective, the trial cannot win.

Without a value-head prediction the rule assumes the trial improves from
here as much as the incumbent did from the same epoch, with the same
optimistic allowance.

A second rule, `has_plateaued`, ends a trial that is not hopeless but done:
its objective has not improved for `patience` epochs (on a task that
overfits, the best epoch comes early and the rest of the run is spent
getting worse). Such a trial keeps its best epoch and counts as fully
trained.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

_FLOOR = 1e-12  # keeps logs finite for perfect scores (zero loss, accuracy 1)


@dataclasses.dataclass(frozen=True)
class PruningDecision:
    """What the rule said about a trial after one epoch.

    Attributes:
        stop: Boolean.
        epoch: Integer. Epochs trained when the decision was made.
        forecast: Float or `None`. The forecast final objective, in the
            objective's own units.
        optimistic: Float or `None`. The optimistic forecast.
        incumbent: Float or `None`. The incumbent's final objective.
    """

    stop: bool
    epoch: int
    forecast: float | None = None
    optimistic: float | None = None
    incumbent: float | None = None


def to_loss_like(values: Sequence[float], direction: str) -> list[float] | None:
    """Maps objective values to positive, smaller-is-better numbers.

    Args:
        values: Sequence of floats. Objective values.
        direction: String. "min" or "max".

    Returns:
        A list of floats (non-finite values become inf, zeros are floored
        at 1e-12), or `None` if the objective has no loss-like form (a "min"
        objective with negative values, a "max" objective outside [0, 1]).

    Example:

    >>> to_loss_like([0.9, 0.95], "max")
    [0.09999999999999998, 0.050000000000000044]
    >>> to_loss_like([-1.0], "min") is None
    True
    >>> to_loss_like([0.5, float("nan"), 0.0], "min")
    [0.5, inf, 1e-12]
    """
    values = [float(v) for v in values]
    finite = [v for v in values if math.isfinite(v)]
    if direction == "min" and all(v >= 0 for v in finite):
        loss_like = values
    elif direction == "max" and all(0.0 <= v <= 1.0 for v in finite):
        loss_like = [1.0 - v for v in values]
    else:
        return None
    # A non-finite epoch (a diverged model) counts as the worst possible value.
    return [max(v, _FLOOR) if math.isfinite(v) else math.inf for v in loss_like]


def from_loss_like(value: float, direction: str) -> float:
    """The inverse of `to_loss_like` for one value."""
    return value if direction == "min" else 1.0 - value


def decide(
    curve: Sequence[float],
    incumbent_curve: Sequence[float] | None,
    predicted_log_ratio: float | None,
    max_epochs: int,
    min_epochs: int,
    margin: float,
) -> PruningDecision:
    """Applies the pruning rule to a loss-like curve.

    Args:
        curve: Sequence of floats. The trial's loss-like objective after each
            epoch so far (see `to_loss_like`).
        incumbent_curve: Sequence of floats or `None`. The same for the best
            trial that trained to its end; `None` while there is none.
        predicted_log_ratio: Float or `None`. The value head's prediction of
            log(final loss / current loss) for this trial.
        max_epochs: Integer. The epochs a trial trains for when not stopped.
        min_epochs: Integer. No trial is stopped before this many epochs.
        margin: Float. The optimistic allowance, in log units, at the start
            of a run.

    Returns:
        A `PruningDecision` (loss-like units).

    Example:

    >>> decide([1.0, 0.9, 0.85], [0.5, 0.3, 0.25, 0.2], -0.1, 4, 2, 0.5).stop
    True
    >>> decide([0.6, 0.28, 0.24], [0.5, 0.3, 0.25, 0.2], -0.1, 4, 2, 0.5).stop
    False
    """
    epoch = len(curve)
    if incumbent_curve is None or not incumbent_curve or epoch < min_epochs or epoch >= max_epochs:
        return PruningDecision(False, epoch)
    best = min(curve)
    incumbent_final = min(incumbent_curve)
    incumbent_now = min(incumbent_curve[:epoch])
    if predicted_log_ratio is None or not math.isfinite(predicted_log_ratio):
        predicted_log_ratio = math.log(max(incumbent_final, _FLOOR) / max(incumbent_now, _FLOOR))
    forecast = best * math.exp(min(0.0, predicted_log_ratio))
    remaining = 1.0 - epoch / max_epochs
    optimistic = forecast * math.exp(-margin * math.sqrt(remaining))
    stop = best > incumbent_now and optimistic > incumbent_final
    return PruningDecision(stop, epoch, forecast, optimistic, incumbent_final)


def best_epoch(curve: Sequence[float]) -> int:
    """The epoch (counted from 1) of a loss-like curve's best value; the first of ties.

    Example:

    >>> best_epoch([1.0, 0.8, 0.9, 0.8])
    2
    """
    return 1 + min(range(len(curve)), key=lambda index: curve[index])


def has_plateaued(curve: Sequence[float], patience: int | None) -> bool:
    """Whether the best epoch of a loss-like curve is `patience` or more epochs back.

    Args:
        curve: Sequence of floats. The trial's loss-like objective after each
            epoch so far.
        patience: Integer or `None` (never plateaued).

    Returns:
        Boolean.

    Example:

    >>> has_plateaued([1.0, 0.8, 0.9, 0.85, 0.95], patience=3)
    True
    >>> has_plateaued([1.0, 0.8, 0.9, 0.79, 0.95], patience=3)
    False
    """
    if patience is None or not curve:
        return False
    return len(curve) - best_epoch(curve) >= patience


def hyperband_budget(max_epochs: int, factor: int = 3, hyperband_iterations: int = 1) -> int:
    """The epochs `keras_tuner.Hyperband` trains in a full search.

    Counts each trial's new epochs only (Hyperband resumes promoted trials
    from their parent's checkpoint). Used to give a `MetaModelSelector` that
    replaces a Hyperband tuner the same budget.

    Args:
        max_epochs: Integer. Hyperband's `max_epochs`.
        factor: Integer. Hyperband's `factor`.
        hyperband_iterations: Integer. Hyperband's `hyperband_iterations`.

    Returns:
        Integer.

    Example:

    >>> hyperband_budget(9, factor=3)
    75
    """
    from keras_tuner.src.tuners.hyperband import HyperbandOracle

    oracle = HyperbandOracle(objective="val_loss", max_epochs=max_epochs, factor=factor)
    total = 0
    for bracket in range(oracle._get_num_brackets()):
        for round_index in range(oracle._get_num_rounds(bracket)):
            previous = oracle._get_epochs(bracket, round_index - 1) if round_index else 0
            total += oracle._get_size(bracket, round_index) * (oracle._get_epochs(bracket, round_index) - previous)
    return int(total * hyperband_iterations)
