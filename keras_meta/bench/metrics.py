"""The benchmark's metrics, computed from records (see DESIGN.md, "How we measure").

A record is one fit: a dict with at least `task`, `method`, `seed`,
`test_loss`, `initial_test_loss`, `val_curve`, `test_curve`, `epochs` and
`wall_seconds`. Everything here is plain Python over such dicts, so it is
tested on hand-built records.

Definitions:

* **effective test loss** of a fit: its final test loss, or, if that is not
  finite (the run diverged), the test loss of the untrained model.
* **mean loss** of a method on a task: the mean effective test loss over seeds.
* **oracle** of a task: the smallest mean loss over the 14 grid methods.
* **hand-tuned**: the grid method with the smallest mean final *validation*
  loss, scored by its mean test loss.
* **score**: mean loss / oracle. Aggregated over tasks by the geometric mean.
* **win rate** of A against B: the fraction of tasks on which A's mean loss is
  lower than B's.
* **time to target**: the first epoch (1-based) whose test loss is at or below
  the oracle, divided by the epoch budget, averaged over the seeds that reach
  it; `None` if no seed does.
* **ratio interval** of A against B: the geometric mean over tasks of A's mean
  loss / B's (the ratio of their aggregate scores), with a bootstrap interval
  over seeds: each resample draws every task's seeds with replacement, the
  same draw for A and B. It says how much of a difference the seeds alone
  could make.
"""

from __future__ import annotations

import math
import random
import statistics
from collections import defaultdict

from keras_meta.bench.methods import oracle_grid

_LOSS_FLOOR = 1e-12  # a loss of exactly zero would make scores and their logarithms undefined


def effective_test_loss(record: dict) -> float:
    """The final test loss, or the untrained model's when training diverged; at least 1e-12."""
    loss = record["test_loss"]
    return max(loss if _finite(loss) else record["initial_test_loss"], _LOSS_FLOOR)


def group(records: list[dict]) -> dict:
    """Records by task, then method: `{task: {method: [record, ...]}}`."""
    grouped = defaultdict(lambda: defaultdict(list))
    for record in records:
        grouped[record["task"]][record["method"]].append(record)
    return grouped


def mean_losses(records: list[dict]) -> dict:
    """`{task: {method: mean effective test loss over seeds}}`."""
    return {
        task: {method: statistics.fmean(effective_test_loss(r) for r in runs) for method, runs in methods.items()}
        for task, methods in group(records).items()
    }


def oracle_losses(records: list[dict], grid_names=None) -> dict:
    """`{task: the smallest mean loss over the grid methods}` for tasks with grid results."""
    grid_names = set(grid_names or (method.name for method in oracle_grid()))
    oracles = {}
    for task, losses in mean_losses(records).items():
        grid = [loss for method, loss in losses.items() if method in grid_names]
        if grid:
            oracles[task] = min(grid)
    return oracles


def hand_tuned_losses(records: list[dict], grid_names=None) -> dict:
    """`{task: (grid method with the best mean final val loss, its mean test loss)}`."""
    grid_names = set(grid_names or (method.name for method in oracle_grid()))
    chosen = {}
    for task, methods in group(records).items():
        val = {
            method: statistics.fmean(_final_val_loss(r) for r in runs)
            for method, runs in methods.items()
            if method in grid_names
        }
        if val:
            best = min(val, key=val.get)
            chosen[task] = (best, statistics.fmean(effective_test_loss(r) for r in methods[best]))
    return chosen


def scores(records: list[dict]) -> dict:
    """`{task: {method: mean loss / oracle}}`."""
    oracles = oracle_losses(records)
    return {
        task: {method: loss / oracles[task] for method, loss in losses.items()}
        for task, losses in mean_losses(records).items()
        if task in oracles
    }


def geometric_mean(values) -> float:
    """The geometric mean of positive values (`inf` if one is infinite)."""
    values = list(values)
    if not values:
        raise ValueError("The geometric mean of nothing is undefined.")
    if any(v <= 0 for v in values):
        raise ValueError(f"The geometric mean needs positive values. Received: {values}")
    return math.exp(statistics.fmean(math.log(v) for v in values))


def aggregate_scores(task_scores: dict) -> dict:
    """`{method: geometric mean score over the tasks that have it}`."""
    by_method = defaultdict(list)
    for methods in task_scores.values():
        for method, score in methods.items():
            by_method[method].append(score)
    return {method: geometric_mean(values) for method, values in by_method.items()}


def win_rate(task_values: dict, method: str, baseline: str) -> float | None:
    """Fraction of tasks on which `method`'s value is below `baseline`'s (ties count half).

    Args:
        task_values: `{task: {method: value}}`, lower is better: mean losses
            or scores.
        method: String.
        baseline: String.

    Returns:
        The fraction, or `None` if no task has both.
    """
    outcomes = []
    for values in task_values.values():
        if method in values and baseline in values:
            a, b = values[method], values[baseline]
            outcomes.append(1.0 if a < b else 0.5 if a == b else 0.0)
    return statistics.fmean(outcomes) if outcomes else None


def losses_by_seed(records: list[dict]) -> dict:
    """`{task: {method: {seed: effective test loss}}}`."""
    return {
        task: {method: {r["seed"]: effective_test_loss(r) for r in runs} for method, runs in methods.items()}
        for task, methods in group(records).items()
    }


def ratio_interval(
    losses_a: dict, losses_b: dict, level: float = 0.9, resamples: int = 2000, seed: int = 0
) -> tuple[float, float, float] | None:
    """A's aggregate score over B's, with a paired bootstrap interval over seeds.

    Args:
        losses_a: `{task: {seed: loss}}` of method A.
        losses_b: `{task: {seed: loss}}` of method B.
        level: Float in (0, 1). The interval's coverage.
        resamples: Integer. Bootstrap resamples.
        seed: Integer. Seeds the resampling, so reports are reproducible.

    Returns:
        `(ratio, low, high)`: the geometric mean over tasks of A's mean loss
        over B's, on the seeds both have, and the interval's ends; below 1
        means A is better. `None` if no task has a seed in common.

    Example:

    >>> a = {"t": {0: 1.0, 1: 3.0}}
    >>> b = {"t": {0: 2.0, 1: 2.0}}
    >>> ratio, low, high = ratio_interval(a, b)
    >>> ratio, low, high
    (1.0, 0.5, 1.5)
    """
    paired = []
    for task in sorted(set(losses_a) & set(losses_b)):
        seeds = sorted(set(losses_a[task]) & set(losses_b[task]))
        if seeds:
            paired.append([(losses_a[task][s], losses_b[task][s]) for s in seeds])
    if not paired:
        return None

    def log_ratio(samples):
        return statistics.fmean(
            math.log(statistics.fmean(a for a, _ in pairs) / statistics.fmean(b for _, b in pairs)) for pairs in samples
        )

    rng = random.Random(seed)
    draws = sorted(log_ratio([rng.choices(pairs, k=len(pairs)) for pairs in paired]) for _ in range(resamples))
    tail = (1 - level) / 2
    low = draws[int(tail * (resamples - 1))]
    high = draws[int(math.ceil((1 - tail) * (resamples - 1)))]
    return math.exp(log_ratio(paired)), math.exp(low), math.exp(high)


def time_to_target(records: list[dict]) -> dict:
    """`{task: {method: mean fraction of the budget to reach the oracle, or None}}`."""
    oracles = oracle_losses(records)
    result = {}
    for task, methods in group(records).items():
        if task not in oracles:
            continue
        result[task] = {}
        for method, runs in methods.items():
            fractions = [_first_epoch_at_or_below(r["test_curve"], oracles[task]) for r in runs]
            reached = [f / r["epochs"] for f, r in zip(fractions, runs) if f is not None]
            result[task][method] = statistics.fmean(reached) if reached else None
    return result


def mean_wall_seconds(records: list[dict]) -> dict:
    """`{task: {method: mean wall time of fit in seconds}}`."""
    return {
        task: {method: statistics.fmean(r["wall_seconds"] for r in runs) for method, runs in methods.items()}
        for task, methods in group(records).items()
    }


def _first_epoch_at_or_below(curve, target) -> int | None:
    for epoch, loss in enumerate(curve, start=1):
        if _finite(loss) and loss <= target:
            return epoch
    return None


def _final_val_loss(record: dict) -> float:
    curve = record["val_curve"]
    return curve[-1] if curve and _finite(curve[-1]) else math.inf


def _finite(value) -> bool:
    return value is not None and math.isfinite(value)
