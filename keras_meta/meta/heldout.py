"""End-to-end comparison of policies on held-out synthetic tasks: the meta-training dev set.

The public benchmark must never steer meta-training, so choosing between two
trained policies (or between a policy and no policy) happens here: on
synthetic tasks of the meta-training family that no meta-training run draws
(seeds from `HELDOUT_SEED_BASE` on). Each task is trained from its drawn
starting rate

* at that constant rate,
* with cosine decay from it,
* under `MetaLRCallback` with each policy compared,

and scored by its loss on a fresh sample of the task's distribution (the
test loss, in the benchmark's words) relative to the best of these runs on
that task. A diverged run scores the untrained model's loss.

Run it with `keras-meta meta-eval --policy meta-v1 --policy runs/x/policy`.
"""

from __future__ import annotations

import math

import numpy as np

from keras_meta._processes import map_in_processes
from keras_meta.bench.metrics import geometric_mean

HELDOUT_SEED_BASE = 20_000_000  # above every seed a meta-training run with seed < 100 draws
FRESH_SAMPLES = 2048
BASELINES = ("constant", "cosine")
_FITS_PER_PROCESS = 8


def compare_on_heldout(policies, config=None, tasks: int = 24, workers: int = 2) -> dict:
    """Trains held-out synthetic tasks under each policy and two schedules.

    Args:
        policies: Sequence of policy names or paths.
        config: `MetaTrainConfig` whose task family
            (`MetaTrainConfig.task_family`) the tasks are drawn with; `None`
            for the defaults.
        tasks: Integer. Number of tasks.
        workers: Integer. Processes; 0 runs everything in this process.

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

    config = config or MetaTrainConfig()
    family = config.task_family()
    methods = list(BASELINES) + [str(policy) for policy in policies]
    seeds = [HELDOUT_SEED_BASE + i for i in range(tasks)]
    jobs = [(seed, method, family) for seed in seeds for method in methods]
    losses = {seed: {} for seed in seeds}
    specs = {}
    for index, outcome in map_in_processes(_run_job, jobs, workers, _FITS_PER_PROCESS, "held-out", unit="fit"):
        if isinstance(outcome, BaseException):
            raise RuntimeError(f"Held-out job {jobs[index][:2]} failed: {outcome}") from outcome
        seed, method, _ = jobs[index]
        specs[seed], losses[seed][method] = outcome
    per_task = [{"seed": seed, "spec": specs[seed], "losses": losses[seed]} for seed in seeds]
    scores = {m: geometric_mean(t["losses"][m] / min(t["losses"].values()) for t in per_task) for m in methods}
    wins = {
        policy: {
            other: float(np.mean([t["losses"][policy] < t["losses"][other] for t in per_task]))
            for other in methods
            if other != policy
        }
        for policy in methods[len(BASELINES) :]
    }
    return {"methods": methods, "scores": scores, "wins": wins, "family": _plain(family), "tasks": per_task}


def run_heldout_task(seed: int, method: str, family: dict) -> tuple[dict, float]:
    """Trains one held-out task with one method.

    Returns:
        `(spec as a dict, loss on a fresh sample)`.
    """
    import keras

    from keras_meta.callbacks import MetaLRCallback
    from keras_meta.meta.families import build_model
    from keras_meta.meta.families import make_data
    from keras_meta.meta.families import make_optimizer
    from keras_meta.meta.families import sample_task
    from keras_meta.meta.families import train

    spec = sample_task(seed, **family)
    data = make_data(spec, fresh_samples=FRESH_SAMPLES)
    model = build_model(spec)
    untrained = _fresh_loss(model, data)
    callbacks = []
    if method == "cosine":
        schedule = keras.optimizers.schedules.CosineDecay(spec.initial_lr, spec.epochs * spec.steps_per_epoch)
        model.compile(make_optimizer(spec.optimizer, schedule), model.loss)
    elif method != "constant":
        callbacks.append(MetaLRCallback(policy=method, seed=seed))
    train(model, spec, data, callbacks)
    loss = _fresh_loss(model, data)
    return spec.to_dict(), loss if math.isfinite(loss) else untrained


def _run_job(job) -> tuple[dict, float]:
    return run_heldout_task(*job)


def _fresh_loss(model, data) -> float:
    return float(model.evaluate(data["x_fresh"], data["y_fresh"], batch_size=512, verbose=0))


def _plain(family: dict) -> dict:
    return {key: list(value) if isinstance(value, tuple) else value for key, value in family.items()}


def format_heldout(result: dict) -> str:
    """The scores and win rates of a `compare_on_heldout` result, as a Markdown table."""
    policies = list(result["wins"])
    header = "| method | geometric-mean score | " + " | ".join(f"{p} wins against it" for p in policies) + " |"
    lines = [
        f"{len(result['tasks'])} held-out synthetic tasks (seeds {result['tasks'][0]['seed']}..."
        f"{result['tasks'][-1]['seed']}); score = fresh-sample loss / the best method's on the task.",
        "",
        header,
        "|" + "---|" * (2 + len(policies)),
    ]
    for method in result["methods"]:
        cells = [f"{result['wins'][p][method]:.0%}" if method in result["wins"][p] else "" for p in policies]
        lines.append(f"| {method} | {result['scores'][method]:.3f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
