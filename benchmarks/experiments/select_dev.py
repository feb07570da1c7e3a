"""A synthetic dev set for the model selector: calibrate it here, never on `keras-meta bench select`.

`keras-meta bench select` judges the selector on four public data sets; tuning
its settings (`prune_margin`, `min_epochs`, `random_fraction`...) on them would
fit the selector to the benchmark. This script runs the same searches, with
the same search space, budget, ledger and regret, on synthetic tasks from
`keras_meta.meta.families` instead: teacher-network regression and
classification and Gaussian mixtures, drawn from seeds 30,000,000 on, apart
from meta-training's (10,000,000 on) and the learning-rate dev set's
(20,000,000 on). Each bench seed draws a new member of the task (a new teacher
or new clusters); its test split is a fresh sample of the same distribution.

It reuses `keras_meta.bench.selection`'s tuners and metrics, and keeps its own
cache, so that neither cache invalidates the other.

Methods: `pool` (the reference configurations), `hyperband`, `random`,
`bayesian`, `meta` (the selector as shipped), and selector variants written
`meta:key=value,key=value` with `MetaModelSelector` keyword arguments, values
in JSON (`meta:prune_margin=1.0`, `meta:policy="runs/meta-v8/policy"`). A
method written `meta+lr` (with or without settings) adds the baselines' learning
rate to the selector's search space: `MetaLRCallback` then starts each trial from
the drawn rate instead of 1e-3.

Usage:

    python benchmarks/experiments/select_dev.py --output runs/select-dev --seeds 2 \\
        --method hyperband --method meta --method meta:prune_margin=1.0
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import shutil
import tempfile
import time

import numpy as np

SYNTHETIC_SEED_BASE = 30_000_000
MAX_EPOCHS = 15
POOL_SIZE = 16
BATCH_SIZE = 32


@dataclasses.dataclass(frozen=True)
class DevTask:
    """One synthetic search task: a family, a training-set size and the index that seeds its draws."""

    name: str
    family: str
    n_samples: int
    index: int


DEV_TASKS = (
    DevTask("synthetic_regression", "teacher_regression", 1024, 0),
    DevTask("synthetic_classification", "teacher_classification", 1024, 1),
    DevTask("synthetic_mixture", "gaussian_mixture", 512, 2),
    DevTask("synthetic_small_regression", "teacher_regression", 256, 3),
)


def data_task(task: DevTask):
    """The `keras_meta.bench.tasks.Task` of a dev task: its loader, loss and batch size."""
    from keras_meta.bench.tasks import Task
    from keras_meta.bench.tasks import mlp

    def load(seed: int):
        from keras_meta.bench.tasks import Splits
        from keras_meta.meta.families import make_data
        from keras_meta.meta.families import sample_task

        spec = sample_task(SYNTHETIC_SEED_BASE + 1000 * task.index + seed)
        classes = 1 if task.family == "teacher_regression" else 2 + spec.seed % 9
        spec = dataclasses.replace(spec, family=task.family, n_classes=classes, n_samples=task.n_samples)
        data = make_data(spec, fresh_samples=max(512, task.n_samples // 2))
        return Splits(data["x_train"], data["y_train"], data["x_val"], data["y_val"], data["x_fresh"], data["y_fresh"])

    loss = "mse" if task.family == "teacher_regression" else "sparse_categorical_crossentropy"
    return Task(task.name, f"synthetic {task.family}", load, mlp(), loss, BATCH_SIZE, MAX_EPOCHS)


def selector_options(method: str) -> dict:
    """`meta:prune_margin=1.0,min_epochs=2` -> `{"prune_margin": 1.0, "min_epochs": 2}`."""
    _, _, settings = method.partition(":")
    options = {}
    for item in filter(None, settings.split(",")):
        key, _, value = item.partition("=")
        options[key] = json.loads(value)
    return options


def run_dev_search(job: dict) -> dict:
    """One search on a dev task: the same record as `keras_meta.bench.selection.run_search`."""
    import keras

    from keras_meta.bench import selection
    from keras_meta.selector import MetaModelSelector

    task = {t.name: t for t in DEV_TASKS}[job["task"]]
    data = data_task(task)
    splits = data.load(job["seed"])
    keras.utils.set_random_seed(job["seed"])
    budget = selection.budget(selection.SelectionTask(task.name, task.name, MAX_EPOCHS))
    directory = tempfile.mkdtemp(prefix="keras-meta-select-dev-")
    try:
        if job["method"].startswith("meta"):
            common = {"objective": "val_loss", "directory": directory, "project_name": "search"}
            tuner = selection._with_ledger(MetaModelSelector, (splits.x_test, splits.y_test))(
                selection.build_search_space(data, splits, search_lr=job["method"].startswith("meta+lr")),
                max_epochs=MAX_EPOCHS,
                max_total_epochs=budget,
                seed=1000 + job["seed"],
                **common,
                **{"policy": job["policy"], **selector_options(job["method"])},
            )
        else:
            selection_task = selection.SelectionTask(task.name, task.name, MAX_EPOCHS)
            tuner = selection._make_tuner({**job, "pool_size": POOL_SIZE}, selection_task, data, splits, directory)
        start = time.perf_counter()
        tuner.search(
            splits.x_train,
            splits.y_train,
            validation_data=(splits.x_val, splits.y_val),
            batch_size=BATCH_SIZE,
            epochs=MAX_EPOCHS,
            verbose=0,
        )
        seconds = time.perf_counter() - start
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    trials = tuner.ledger
    return {
        **job,
        "budget": budget,
        "max_epochs": MAX_EPOCHS,
        "epochs": sum(t["epochs"] for t in trials),
        "seconds": seconds,
        "trials": trials,
    }


def run(output: pathlib.Path, methods, seeds: int, workers: int, policy: str) -> list[dict]:
    """Runs the searches missing from `output/records.jsonl` and returns every record asked for."""
    from keras_meta._processes import map_in_processes

    output.mkdir(parents=True, exist_ok=True)
    cache_file = output / "records.jsonl"
    cache = {}
    for line in cache_file.read_text().splitlines() if cache_file.exists() else []:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # cut short by a killed run
        cache[_key(record)] = record
    from keras_meta.bench import selection
    from keras_meta.bench._environment import policy_fingerprint
    from keras_meta.bench._environment import source_fingerprint

    fingerprint = policy_fingerprint(policy)
    selector_code = source_fingerprint(*selection.SELECTOR_SOURCES, *selection.CALLBACK_SOURCES)
    jobs = [
        {
            "task": task.name,
            "method": method,
            "seed": seed,
            "policy": policy,
            "policy_fingerprint": fingerprint if method.startswith("meta") else None,
            "selector_code": selector_code if method.startswith("meta") else None,
        }
        for task in DEV_TASKS
        for seed in range(seeds)
        for method in ("pool", *methods)
    ]
    missing = [job for job in jobs if _key(job) not in cache]
    with open(cache_file, "a") as file:
        for index, outcome in map_in_processes(run_dev_search, missing, workers, 2, "select dev", unit="search"):
            if isinstance(outcome, BaseException):
                print(f"failed: {missing[index]}: {type(outcome).__name__}: {outcome}")
                continue
            cache[_key(outcome)] = outcome
            file.write(json.dumps(outcome) + "\n")
            file.flush()
    return [cache[_key(job)] for job in jobs if _key(job) in cache]


def _key(job: dict) -> str:
    """The cache key: task, method, seed and, for the selector, the policy and code it ran with.

    The fingerprints are stored in each job (and so in its record) when the job
    is planned: a policy's name, such as `default`, may later mean other weights,
    and a change to the selector's or the callback's code changes its searches.
    Records written before a fingerprint was stored never match a selector job.
    """
    identity = [job["task"], job["method"], job["seed"], job.get("policy_fingerprint"), job.get("selector_code")]
    return json.dumps(identity, sort_keys=True)


def table(records) -> str:
    """Per task and method, as Markdown: regret and the fraction of Hyperband's epochs needed.

    Regret is a geometric mean over seeds, the fraction (the epochs a search
    spent before its pick was as good as Hyperband's final pick, over
    Hyperband's epochs; inf: never) a median over seeds, as in
    `keras-meta bench select`. The last rows give the geometric-mean regret
    over all tasks and seeds and the median task's fraction.
    """
    from keras_meta.bench.metrics import geometric_mean
    from keras_meta.bench.selection_report import format_fraction
    from keras_meta.bench.selection_report import summarise

    per_task = summarise(records)["tasks"]
    tasks = sorted(per_task)
    methods = sorted({method for task in tasks for method in per_task[task]})

    def cell(task, method, key):
        row = per_task[task].get(method)
        return "" if row is None else f"{row[key]:.3f}" if key == "regret" else format_fraction(row[key])

    lines = ["| task | " + " | ".join(f"{m} regret | {m} epochs to HB" for m in methods) + " |"]
    lines.append("|---" * (2 * len(methods) + 1) + "|")
    for task in tasks:
        cells = [f"{cell(task, m, 'regret')} | {cell(task, m, 'fraction_of_hyperband')}" for m in methods]
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    regrets = [geometric_mean([per_task[t][m]["regret"] for t in tasks if m in per_task[t]]) for m in methods]
    fractions = [
        np.median([per_task[t][m]["fraction_of_hyperband"] for t in tasks if m in per_task[t]]) for m in methods
    ]
    summary = [f"{regret:.3f} | {format_fraction(fraction)}" for regret, fraction in zip(regrets, fractions)]
    lines.append("| all tasks (regret: geometric mean; epochs: median task) | " + " | ".join(summary) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=pathlib.Path, required=True)
    parser.add_argument("--method", action="append", dest="methods", help="repeatable; default hyperband and meta")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--policy", default="default")
    arguments = parser.parse_args()
    found = run(
        arguments.output,
        arguments.methods or ["hyperband", "meta"],
        arguments.seeds,
        arguments.workers,
        arguments.policy,
    )
    print(table(found))
