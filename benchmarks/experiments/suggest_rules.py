"""How `suggest_lr` should turn its probes into a rate: rules compared offline on the second dev set.

`suggest_lr` runs three one-epoch probes (from 1e-4, 1e-3 and 1e-2) under
`MetaLRCallback` and returns the median of the rates they end at, divided by 5.
This script records the probes once per dev task and seed (`dev_tasks.py`,
never the public suite), exactly as the benchmark's `suggest` method runs them,
and then scores candidate rules without training: the test loss of a constant
rate (or of a cosine decay from it) is read off the task's cached grid runs
(`benchmarks/dev-tasks/records.jsonl`, 1e-4 to 1e-1), interpolated linearly in
log(rate) and log(loss); score = mean test loss over seeds / the best grid
run, as in `keras-meta bench`. At a grid rate the reading is exact; between
grid rates it cannot see a valley, so it is pessimistic (the shipped rule reads
1.591 here and scored 1.512 when trained, `suggest-divisor-5_meta-v18.json`).

Usage:

    python benchmarks/experiments/suggest_rules.py --probes benchmarks/dev-tasks/suggest_probes.jsonl
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import pathlib

import numpy as np

HERE = pathlib.Path(__file__).parent
TASK_FILE = str((HERE / "dev_tasks.py").resolve())
RECORDS = HERE.parent / "dev-tasks" / "records.jsonl"
SEEDS = (0, 1, 2)
GRID = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)


def record_probes(path: pathlib.Path, policy: str) -> list[dict]:
    """Runs `suggest_lr` as the benchmark does on every dev task and seed missing from `path`."""
    import keras

    from keras_meta.bench.methods import DEFAULT_LR
    from keras_meta.bench.runner import load_task_file
    from keras_meta.finder import suggest_lr

    done = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    have = {(r["task"], r["seed"]) for r in done}
    tasks, _ = load_task_file(TASK_FILE)
    with open(path, "a") as file:
        for task in tasks:
            for seed in SEEDS:
                if (task.name, seed) in have:
                    continue
                splits = task.load(seed)
                keras.utils.set_random_seed(seed)
                model = task.build(splits)
                model.compile(keras.optimizers.Adam(DEFAULT_LR), task.make_loss())
                suggestion = suggest_lr(
                    model,
                    splits.x_train,
                    splits.y_train,
                    policy=policy,
                    batch_size=task.batch_size,
                    planned_epochs=task.epochs,
                )
                record = {
                    "task": task.name,
                    "seed": seed,
                    "lr": suggestion.lr,
                    "proposals": suggestion.proposals,
                    "start_lrs": suggestion.start_lrs,
                    "final_losses": suggestion.final_losses,
                }
                file.write(json.dumps(record) + "\n")
                file.flush()
                done.append(record)
                print(task.name, seed, f"{suggestion.lr:.2e}", flush=True)
    return done


def grid_losses() -> tuple[dict, dict]:
    """`{schedule: {(task, seed): {rate: test loss}}}` of the cached grid runs, and the oracle per task."""
    from keras_meta.bench.metrics import effective_test_loss
    from keras_meta.bench.metrics import oracle_losses

    records = [json.loads(line) for line in RECORDS.read_text().splitlines()]
    records = [r for r in records if r["method"].startswith(("constant@", "cosine@")) and r["seed"] in SEEDS]
    latest = {(r["task"], r["method"], r["seed"]): r for r in records}
    by_schedule = collections.defaultdict(lambda: collections.defaultdict(dict))
    for (task, method, seed), record in latest.items():
        schedule, _, rate = method.partition("@")
        by_schedule[schedule][(task, seed)][float(rate)] = effective_test_loss(record)
    return by_schedule, oracle_losses(list(latest.values()))


def interpolated_loss(losses_by_rate: dict, rate: float) -> float:
    """The test loss of a constant `rate`, interpolated in log(rate) and log(loss) between grid runs."""
    rates = sorted(losses_by_rate)
    x = [math.log(r) for r in rates]
    y = [math.log(max(losses_by_rate[r], 1e-12)) for r in rates]
    return float(math.exp(np.interp(math.log(rate), x, y)))


def _lowest_loss_probe(probe):
    return int(np.argmin(probe["final_losses"]))


RULES = {
    "median / 5 (shipped)": lambda p: float(np.median(p["proposals"])) / 5,
    "median": lambda p: float(np.median(p["proposals"])),
    "median / 2": lambda p: float(np.median(p["proposals"])) / 2,
    "median / 3": lambda p: float(np.median(p["proposals"])) / 3,
    "median / 8": lambda p: float(np.median(p["proposals"])) / 8,
    "lowest-loss probe's proposal / 5": lambda p: p["proposals"][_lowest_loss_probe(p)] / 5,
    "lowest-loss probe's proposal / 3": lambda p: p["proposals"][_lowest_loss_probe(p)] / 3,
    "lowest-loss probe's proposal / 10": lambda p: p["proposals"][_lowest_loss_probe(p)] / 10,
    "lowest-loss probe's start": lambda p: p["start_lrs"][_lowest_loss_probe(p)],
    "lowest-loss probe's start / 3": lambda p: p["start_lrs"][_lowest_loss_probe(p)] / 3,
    "min proposal / 2": lambda p: min(p["proposals"]) / 2,
    "min proposal": lambda p: min(p["proposals"]),
    "fixed 1e-3": lambda p: 1e-3,
    "fixed 3e-3": lambda p: 3e-3,
}


def score_rules(probes: list[dict], losses_by_rate: dict, oracle: dict) -> dict:
    """`{rule: {"per_task": {task: score}, "geometric_mean": float}}`, a rate's loss read off `losses_by_rate`."""
    from keras_meta.bench.metrics import geometric_mean

    results = {}
    for name, rule in RULES.items():
        per_task = collections.defaultdict(list)
        for probe in probes:
            losses = losses_by_rate[(probe["task"], probe["seed"])]
            per_task[probe["task"]].append(interpolated_loss(losses, rule(probe)))
        scores = {task: float(np.mean(losses)) / oracle[task] for task, losses in per_task.items()}
        results[name] = {"per_task": scores, "geometric_mean": geometric_mean(list(scores.values()))}
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", type=pathlib.Path, required=True)
    parser.add_argument("--policy", default="default")
    parser.add_argument("--json", type=pathlib.Path)
    arguments = parser.parse_args()
    probes = record_probes(arguments.probes, arguments.policy)
    by_schedule, oracle = grid_losses()
    results = {schedule: score_rules(probes, by_schedule[schedule], oracle) for schedule in ("constant", "cosine")}
    for schedule, by_rule in results.items():
        tasks = sorted(next(iter(by_rule.values()))["per_task"])
        print(f"\nThe rate used as a {schedule} rate:\n")
        print("| rule | geometric mean | " + " | ".join(tasks) + " |")
        print("|---" * (len(tasks) + 2) + "|")
        for name, result in by_rule.items():
            cells = " | ".join(f"{result['per_task'][t]:.3f}" for t in tasks)
            print(f"| {name} | {result['geometric_mean']:.3f} | {cells} |")
    if arguments.json:
        arguments.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
