"""Does the look-ahead labelling prefer rates that are too small? A measurement.

For each of a few meta-training tasks (never benchmark tasks):

1. the **grid**: train the task at constant rates on a log grid and keep the
   rate with the lowest final validation loss;
2. the **expert**: train it from the task's initial rate with the look-ahead
   labels choosing every action (no policy, no exploration), and take the
   median rate over the second half of the run, where the expert has settled.

The bias is the mean of log10(expert rate / grid rate) over tasks: negative
means the labels prefer rates that are too small. Run it with and without the
cool-down (`cooldown=0`) to see what the cool-down removes.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from keras_meta.meta.families import build_model
from keras_meta.meta.families import make_data
from keras_meta.meta.families import sample_task
from keras_meta.meta.families import train
from keras_meta.meta.lookahead import BranchScorer
from keras_meta.meta.lookahead import LookaheadConfig
from keras_meta.meta.rollouts import LabellingCallback
from keras_meta.meta.rollouts import RolloutConfig

GRID = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)


def measure_horizon_bias(task_seeds, lookahead=None, grid=GRID, max_steps=600, optimizer="adam") -> dict:
    """Compares the rates the look-ahead expert settles on with the grid's best.

    Args:
        task_seeds: Sequence of integers. Meta-training task seeds.
        lookahead: `LookaheadConfig` of the expert; `None` for the default.
        grid: Sequence of floats. The constant rates tried.
        max_steps: Integer. Longest run.
        optimizer: String. The optimizer of every task.

    Returns:
        A dict with `bias` (mean log10 of expert / grid rate) and, per task,
        `grid_rate`, `expert_rate` and the final validation losses of both.
    """
    lookahead = lookahead or LookaheadConfig()
    tasks = []
    for seed in task_seeds:
        spec = sample_task(seed, optimizers=(optimizer,), max_steps=max_steps)
        data = make_data(spec)
        grid_losses = {lr: _final_val_loss(spec, data, lr) for lr in grid}
        grid_rate = min(grid_losses, key=grid_losses.get)
        expert_rate, expert_loss = _expert_run(spec, data, lookahead)
        tasks.append(
            {
                "seed": int(seed),
                "grid_rate": grid_rate,
                "grid_val_loss": grid_losses[grid_rate],
                "expert_rate": expert_rate,
                "expert_val_loss": expert_loss,
            }
        )
    bias = float(np.mean([np.log10(t["expert_rate"] / t["grid_rate"]) for t in tasks]))
    return {"bias": bias, "lookahead": dataclasses.asdict(lookahead), "tasks": tasks}


def _final_val_loss(spec, data, lr) -> float:
    history = train(build_model(dataclasses.replace(spec, initial_lr=lr)), spec, data)
    loss = float(history.history["val_loss"][-1])
    return loss if np.isfinite(loss) else np.inf


def _expert_run(spec, data, lookahead) -> tuple[float, float]:
    model = build_model(spec)
    scorer = BranchScorer(model, data, spec.batch_size, lookahead, seed=spec.seed)
    callback = LabellingCallback("handwritten", scorer, RolloutConfig(1.0, 0.0, lookahead), seed=spec.seed)
    history = train(model, spec, data, [callback])
    rates = [d.new_lr for d in callback.decisions]
    settled = rates[len(rates) // 2 :] or [spec.initial_lr]
    return float(np.median(settled)), float(history.history["val_loss"][-1])
