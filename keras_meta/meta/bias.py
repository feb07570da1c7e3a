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


def measure_horizon_bias(task_seeds, lookahead=None, grid=GRID, max_steps=600, optimizer="adam") -> dict:
    """Compares the expert's rates and losses with a grid of constant and cosine schedules.

    Args:
        task_seeds: Sequence of integers. Meta-training task seeds.
        lookahead: `LookaheadConfig` of the expert; `None` for the default.
        grid: Sequence of floats. The rates tried, constant and as cosine starts.
        max_steps: Integer. Longest run.
        optimizer: String. The optimizer of every task.

    Returns:
        A dict with `bias_early`, `bias_peak` (means over tasks of log10
        rate ratios), `loss_ratio` (geometric mean), the look-ahead config,
        and per task the grid's and the expert's rates and losses.
    """
    lookahead = lookahead or LookaheadConfig()
    tasks = []
    for seed in task_seeds:
        spec = sample_task(seed, optimizers=(optimizer,), max_steps=max_steps)
        data = make_data(spec)
        constant = {lr: _final_val_loss(spec, data, lr, cosine=False) for lr in grid}
        cosine = {lr: _final_val_loss(spec, data, lr, cosine=True) for lr in grid}
        early, peak, expert_loss = _expert_run(spec, data, lookahead)
        tasks.append(
            {
                "seed": int(seed),
                "best_constant_rate": min(constant, key=constant.get),
                "best_cosine_rate": min(cosine, key=cosine.get),
                "grid_val_loss": min(min(constant.values()), min(cosine.values())),
                "expert_early_rate": early,
                "expert_peak_rate": peak,
                "expert_val_loss": expert_loss,
            }
        )
    return {
        "bias_early": _mean_log10([t["expert_early_rate"] / t["best_constant_rate"] for t in tasks]),
        "bias_peak": _mean_log10([t["expert_peak_rate"] / t["best_cosine_rate"] for t in tasks]),
        "loss_ratio": geometric_mean(t["expert_val_loss"] / t["grid_val_loss"] for t in tasks),
        "lookahead": dataclasses.asdict(lookahead),
        "max_steps": max_steps,
        "tasks": tasks,
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
    loss = float(history.history["val_loss"][-1])
    return loss if np.isfinite(loss) else np.inf


def _expert_run(spec, data, lookahead) -> tuple[float, float, float]:
    """The expert's early median rate, its peak rate and its final validation loss."""
    model = build_model(spec)
    scorer = BranchScorer(model, data, spec.batch_size, lookahead, seed=spec.seed)
    callback = LabellingCallback("handwritten", scorer, RolloutConfig(1.0, 0.0, lookahead), seed=spec.seed)
    history = train(model, spec, data, [callback])
    rates = [spec.initial_lr] + [d.new_lr for d in callback.decisions]
    early = rates[: max(1, len(rates) // 2)]
    return float(np.median(early)), float(max(rates)), float(history.history["val_loss"][-1])


def format_bias(result: dict) -> str:
    """A short table of a `measure_horizon_bias` result."""
    lines = [
        f"look-ahead: horizon {result['lookahead']['horizon']}, cool-down {result['lookahead']['cooldown']}; "
        f"{len(result['tasks'])} tasks, at most {result['max_steps']} steps",
        f"bias_early {result['bias_early']:+.2f} decades (expert's first-half median / best constant rate)",
        f"bias_peak  {result['bias_peak']:+.2f} decades (expert's peak / best cosine start)",
        f"loss ratio {result['loss_ratio']:.3f} (expert's val loss / the grid's best)",
        "",
        "seed      best const  best cos  expert early  expert peak  grid loss  expert loss",
    ]
    for t in result["tasks"]:
        lines.append(
            f"{t['seed']:<9} {t['best_constant_rate']:<11.0e} {t['best_cosine_rate']:<9.0e} "
            f"{t['expert_early_rate']:<13.2e} {t['expert_peak_rate']:<12.2e} {t['grid_val_loss']:<10.4f} "
            f"{t['expert_val_loss']:.4f}"
        )
    return "\n".join(lines)
