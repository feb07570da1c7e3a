"""End-to-end comparison of policies on held-out synthetic tasks: the meta-training dev set.

The public benchmark must never steer meta-training, so choosing between two
trained policies (or between a policy and no policy) happens here: on
synthetic tasks of the meta-training family that no meta-training run draws
(seeds from `HELDOUT_SEED_BASE` on). Each task is trained

* at a constant rate,
* with cosine decay from it,
* under `MetaLRCallback` with each policy compared, starting from that rate,

and scored by its loss on a fresh sample of the task's distribution (the
test loss, in the benchmark's words) relative to the best of these runs on
that task. A diverged run scores the untrained model's loss.

Two starts:

* `"drawn"`: the task's drawn starting rate (log-uniform over the family's
  range, so mostly far from a good one): how well a policy recovers.
* `"default"`: the optimizer's Keras default rate (Adam 1e-3, SGD 1e-2...),
  where a user starts, as in `keras-meta bench`. Cosine decay also runs from
  `GRID_FACTORS` times that rate, so the best run on a task is a small
  hand-tuning grid: a synthetic mirror of the benchmark's protocol.

Run it with `keras-meta meta-eval --policy meta-v1 --policy runs/x/policy`.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from keras_meta._processes import map_in_processes
from keras_meta.bench.metrics import geometric_mean

HELDOUT_SEED_BASE = 20_000_000  # above every seed a meta-training run with seed < 100 draws
FRESH_SAMPLES = 2048
BASELINES = ("constant", "cosine")
STARTS = ("drawn", "default")
GRID_FACTORS = (0.1, 0.3, 3.0, 10.0)  # start "default": cosine decay from these multiples of the default too
_FITS_PER_PROCESS = 8


def compare_on_heldout(policies, config=None, tasks: int = 24, workers: int = 2, start: str = "drawn") -> dict:
    """Trains held-out synthetic tasks under each policy and the baseline schedules.

    Args:
        policies: Sequence of policy names or paths.
        config: `MetaTrainConfig` whose task family
            (`MetaTrainConfig.task_family`) the tasks are drawn with; `None`
            for the defaults.
        tasks: Integer. Number of tasks.
        workers: Integer. Processes; 0 runs everything in this process.
        start: String, one of `STARTS`: each task's drawn starting rate, or
            its optimizer's Keras default with a small cosine grid around it.

    Returns:
        A dict: `methods` (the baselines, then the policies), `scores`
        (method -> geometric-mean score over tasks, 1.0 = best on every
        task), `wins` (policy -> method -> fraction of tasks the policy beats
        it on), and per task its spec and each method's fresh-sample loss.

    Example:

    >>> result = compare_on_heldout(["default"], tasks=2, workers=0)  # doctest: +SKIP
    >>> sorted(result["scores"])  # doctest: +SKIP
    ['constant', 'cosine', 'default']
    """
    from keras_meta.meta.pipeline import MetaTrainConfig

    if start not in STARTS:
        raise ValueError(f"Unknown start. Expected one of {list(STARTS)}. Received: {start!r}")
    config = config or MetaTrainConfig()
    family = config.task_family()
    baselines = baseline_methods(start)
    methods = baselines + [str(policy) for policy in policies]
    seeds = [HELDOUT_SEED_BASE + i for i in range(tasks)]
    jobs = [(seed, method, family, start) for seed in seeds for method in methods]
    losses = {seed: {} for seed in seeds}
    specs = {}
    for index, outcome in map_in_processes(_run_job, jobs, workers, _FITS_PER_PROCESS, "held-out", unit="fit"):
        if isinstance(outcome, BaseException):
            raise RuntimeError(f"Held-out job {jobs[index][:2]} failed: {outcome}") from outcome
        seed, method = jobs[index][:2]
        specs[seed], losses[seed][method] = outcome
    per_task = [{"seed": seed, "spec": specs[seed], "losses": losses[seed]} for seed in seeds]
    scores = {m: geometric_mean(t["losses"][m] / min(t["losses"].values()) for t in per_task) for m in methods}
    wins = {
        policy: {
            other: float(np.mean([t["losses"][policy] < t["losses"][other] for t in per_task]))
            for other in methods
            if other != policy
        }
        for policy in methods[len(baselines) :]
    }
    return {
        "methods": methods,
        "start": start,
        "scores": scores,
        "wins": wins,
        "family": _plain(family),
        "tasks": per_task,
    }


def baseline_methods(start: str) -> list[str]:
    """The baselines' names for a start: `constant`, `cosine`, and `cosine x3` style grid points."""
    grid = [f"cosine x{factor:g}" for factor in GRID_FACTORS] if start == "default" else []
    return list(BASELINES) + grid


def run_heldout_task(
    seed: int, method: str, family: dict, start: str = "drawn", callback_class=None
) -> tuple[dict, float]:
    """Trains one held-out task with one method.

    Args:
        seed: Integer. The task's seed.
        method: String. A name from `baseline_methods(start)`, or a policy
            name or path.
        family: Dict. Keyword arguments of `sample_task`.
        start: String, one of `STARTS`.
        callback_class: `MetaLRCallback` or a subclass (for experiments
            that act on a policy differently); `None` for `MetaLRCallback`.

    Returns:
        `(spec as a dict, loss on a fresh sample)`.
    """
    import keras

    from keras_meta.callbacks import MetaLRCallback
    from keras_meta.meta.families import build_model
    from keras_meta.meta.families import keras_default_lr
    from keras_meta.meta.families import make_data
    from keras_meta.meta.families import make_optimizer
    from keras_meta.meta.families import sample_task
    from keras_meta.meta.families import train

    spec = sample_task(seed, **family)
    if start == "default":
        spec = dataclasses.replace(spec, initial_lr=keras_default_lr(spec.optimizer))
    data = make_data(spec, fresh_samples=FRESH_SAMPLES)
    model = build_model(spec)
    untrained = _fresh_loss(model, data)
    callbacks = []
    if method == "cosine" or method.startswith("cosine x"):
        factor = float(method.partition(" x")[2] or 1.0)
        steps = spec.epochs * spec.steps_per_epoch
        schedule = keras.optimizers.schedules.CosineDecay(spec.initial_lr * factor, steps)
        model.compile(make_optimizer(spec.optimizer, schedule), model.loss)
    elif method != "constant":
        callbacks.append((callback_class or MetaLRCallback)(policy=method, seed=seed))
    train(model, spec, data, callbacks)
    loss = _fresh_loss(model, data)
    return spec.to_dict(), loss if math.isfinite(loss) else untrained


def _run_job(job) -> tuple[dict, float]:
    return run_heldout_task(*job)


def _fresh_loss(model, data) -> float:
    return float(model.evaluate(data["x_fresh"], data["y_fresh"], batch_size=512, verbose=0))


_START_WORDS = {"drawn": "their drawn rates", "default": "their optimizers' Keras default rates"}


def _plain(family: dict) -> dict:
    return {key: list(value) if isinstance(value, tuple) else value for key, value in family.items()}


def format_heldout(result: dict) -> str:
    """The scores and win rates of a `compare_on_heldout` result, as a Markdown table."""
    policies = list(result["wins"])
    header = "| method | geometric-mean score | " + " | ".join(f"{p} wins against it" for p in policies) + " |"
    lines = [
        f"{len(result['tasks'])} held-out synthetic tasks (seeds {result['tasks'][0]['seed']}..."
        f"{result['tasks'][-1]['seed']}), started from {_START_WORDS[result.get('start', 'drawn')]}; "
        "score = fresh-sample loss / the best method's on the task.",
        "",
        header,
        "|" + "---|" * (2 + len(policies)),
    ]
    for method in result["methods"]:
        cells = [f"{result['wins'][p][method]:.0%}" if method in result["wins"][p] else "" for p in policies]
        lines.append(f"| {method} | {result['scores'][method]:.3f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
