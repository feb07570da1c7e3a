"""Does the look-ahead labelling prefer rates that are too small? A measurement.

For each of a few meta-training tasks (never benchmark tasks):

1. the **grid**: train the task at each rate of a log grid, once at a
   constant rate and once with cosine decay from it, and keep the best
   constant rate, the best cosine starting rate and the best validation loss;
2. the **expert**: train it from the task's initial rate with the look-ahead
   labels choosing every action (no policy, no exploration).

An annealing schedule is naturally low late in a run, so the expert's rates
are compared where like meets like:

* `bias_early`: log10 of the expert's median rate over the first half of
  the run / the best constant rate;
* `bias_peak`: log10 of the expert's highest rate / the best cosine
  starting rate (a cosine schedule peaks where it starts);
* `loss_ratio`: the expert's final validation loss / the grid's best.

Negative biases mean the labels prefer rates that are too small; a loss
ratio near or below 1 says the expert's schedule is as good as the best of
the grid whatever its rates. Run it with and without the cool-down
(`cooldown=0`) to see what the cool-down removes:
`keras-meta horizon-bias --cooldown 0`.

With a `policy`, the same three figures are measured for `MetaLRCallback`
with that policy from the same start (`policy_bias_early`, ...): whether the
policy imitates the expert's rates on the tasks it was trained on, or falls
short of them (`keras-meta horizon-bias --policy default`).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from keras_meta.bench.metrics import geometric_mean
from keras_meta.meta.families import build_model
from keras_meta.meta.families import make_data
from keras_meta.meta.families import sample_task
from keras_meta.meta.families import train
from keras_meta.meta.lookahead import BranchScorer
from keras_meta.meta.lookahead import LookaheadConfig
from keras_meta.meta.rollouts import LabellingCallback
from keras_meta.meta.rollouts import RolloutConfig

GRID = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
BIAS_SEED_BASE = 10_500_000  # meta-training task seeds, apart from the pipeline's rounds


def measure_horizon_bias(task_seeds, lookahead=None, grid=GRID, max_steps=600, optimizer="adam", policy=None) -> dict:
    """Compares the expert's rates and losses with a grid of constant and cosine schedules.

    Args:
        task_seeds: Sequence of integers. Meta-training task seeds.
        lookahead: `LookaheadConfig` of the expert; `None` for the default.
        grid: Sequence of floats. The rates tried, constant and as cosine starts.
        max_steps: Integer. Longest run.
        optimizer: String. The optimizer of every task.
        policy: `None`, or a policy (shipped name, directory or `Policy`)
            to measure as well: `MetaLRCallback` with it, from each task's
            start, in place of the expert.

    Returns:
        A dict with `bias_early`, `bias_peak` (means over tasks of log10
        rate ratios), `loss_ratio` (geometric mean), the look-ahead config,
        and per task the grid's and the expert's rates and losses; with a
        policy also `policy`, `policy_bias_early`, `policy_bias_peak`,
        `policy_loss_ratio` and the policy's rates and loss per task.

    Example:

    ```python
    result = measure_horizon_bias(range(BIAS_SEED_BASE, BIAS_SEED_BASE + 6), policy="default")
    print(format_bias(result))
    ```
    """
    lookahead = lookahead or LookaheadConfig()
    tasks = []
    for seed in task_seeds:
        spec = sample_task(seed, optimizers=(optimizer,), max_steps=max_steps)
        data = make_data(spec)
        constant = {lr: _final_val_loss(spec, data, lr, cosine=False) for lr in grid}
        cosine = {lr: _final_val_loss(spec, data, lr, cosine=True) for lr in grid}
        task = {
            "seed": int(seed),
            "best_constant_rate": min(constant, key=constant.get),
            "best_cosine_rate": min(cosine, key=cosine.get),
            "grid_val_loss": min(min(constant.values()), min(cosine.values())),
        }
        task.update(_run_summary("expert", *_expert_run(spec, data, lookahead)))
        if policy is not None:
            task.update(_run_summary("policy", *_policy_run(spec, data, policy)))
        tasks.append(task)
    result = {**_biases("expert", tasks, prefix=""), "lookahead": dataclasses.asdict(lookahead)}
    result.update({"max_steps": max_steps, "tasks": tasks})
    if policy is not None:
        from keras_meta.policy import load_policy

        result.update({"policy": load_policy(policy).name, **_biases("policy", tasks, prefix="policy_")})
    return result


def _run_summary(who, rates, val_loss) -> dict:
    """A run's first-half median rate, its peak rate and its final validation loss."""
    early = rates[: max(1, len(rates) // 2)]
    return {
        f"{who}_early_rate": float(np.median(early)),
        f"{who}_peak_rate": float(max(rates)),
        f"{who}_val_loss": val_loss,
    }


def _biases(who, tasks, prefix) -> dict:
    """The three figures of `who` (expert or policy), as means over tasks."""
    return {
        f"{prefix}bias_early": _mean_log10([t[f"{who}_early_rate"] / t["best_constant_rate"] for t in tasks]),
        f"{prefix}bias_peak": _mean_log10([t[f"{who}_peak_rate"] / t["best_cosine_rate"] for t in tasks]),
        f"{prefix}loss_ratio": geometric_mean(t[f"{who}_val_loss"] / t["grid_val_loss"] for t in tasks),
    }


def _mean_log10(ratios) -> float:
    return float(np.mean(np.log10(ratios)))


def _final_val_loss(spec, data, lr, cosine) -> float:
    import keras

    from keras_meta.meta.families import make_optimizer

    model = build_model(dataclasses.replace(spec, initial_lr=lr))
    if cosine:
        schedule = keras.optimizers.schedules.CosineDecay(lr, spec.epochs * spec.steps_per_epoch)
        model.compile(make_optimizer(spec.optimizer, schedule), model.loss)
    history = train(model, spec, data)
    return _final_loss(history)


def _expert_run(spec, data, lookahead) -> tuple[list, float]:
    """The expert's rates (the start, then each decision's) and its final validation loss."""
    model = build_model(spec)
    scorer = BranchScorer(model, data, spec.batch_size, lookahead, seed=spec.seed)
    callback = LabellingCallback("handwritten", scorer, RolloutConfig(1.0, 0.0, lookahead), seed=spec.seed)
    history = train(model, spec, data, [callback])
    return [spec.initial_lr] + [d.new_lr for d in callback.decisions], _final_loss(history)


def _policy_run(spec, data, policy, **callback_arguments) -> tuple[list, float]:
    """`MetaLRCallback`'s rates (the start, then each decision's) and its final validation loss."""
    from keras_meta.callbacks import MetaLRCallback

    model = build_model(spec)
    callback = MetaLRCallback(policy, **callback_arguments)
    history = train(model, spec, data, [callback])
    return [spec.initial_lr] + [d.new_lr for d in callback.decisions], _final_loss(history)


def _final_loss(history) -> float:
    loss = float(history.history["val_loss"][-1])
    return loss if np.isfinite(loss) else np.inf


def format_bias(result: dict) -> str:
    """A short table of a `measure_horizon_bias` result."""
    runs = ["expert"] + (["policy"] if "policy" in result else [])
    lines = [
        f"look-ahead: horizon {result['lookahead']['horizon']}, cool-down {result['lookahead']['cooldown']}; "
        f"{len(result['tasks'])} tasks, at most {result['max_steps']} steps"
        + (f"; policy {result['policy']}" if "policy" in result else "")
    ]
    for who in runs:
        prefix = "" if who == "expert" else "policy_"
        lines += [
            f"{who}: bias_early {result[prefix + 'bias_early']:+.2f} decades (first-half median / best constant rate)",
            f"{who}: bias_peak  {result[prefix + 'bias_peak']:+.2f} decades (peak / best cosine start)",
            f"{who}: loss ratio {result[prefix + 'loss_ratio']:.3f} (val loss / the grid's best)",
        ]
    header = "seed      best const  best cos  grid loss "
    header += "".join(f" {who + ' early':<13} {who + ' peak':<12} {who + ' loss':<11}" for who in runs)
    lines += ["", header.rstrip()]
    for t in result["tasks"]:
        row = (
            f"{t['seed']:<9} {t['best_constant_rate']:<11.0e} {t['best_cosine_rate']:<9.0e} {t['grid_val_loss']:<10.4f}"
        )
        for who in runs:
            row += f" {t[who + '_early_rate']:<13.2e} {t[who + '_peak_rate']:<12.2e} {t[who + '_val_loss']:<11.4f}"
        lines.append(row.rstrip())
    return "\n".join(lines)
