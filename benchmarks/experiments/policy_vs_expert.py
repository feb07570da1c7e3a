"""Does a policy tell meta-training tasks apart as its expert does? A diagnostic.

Reads a `keras-meta horizon-bias --policy ... --json FILE` result (the grid's
best rates, the expert's and the guarded policy's runs per task) and, for each
policy named, runs `MetaLRCallback` with the callback's guards off (fit guard,
floor and both ramps: the policy's own rates) on the same tasks from the same
starts. It prints, for the expert and each run:

* mean |early|: the mean over tasks of |log10(first-half median rate / best
  constant rate)|, in decades (the signed mean is the horizon-bias table's
  `bias_early`, where errors of both signs cancel);
* corr: the correlation over tasks of log10(first-half median rate) with
  log10(best constant rate): does the run's rate follow what the task wants?
* loss ratio: the geometric mean of final validation loss / the grid's best.

Usage (from the repository root):

    keras-meta horizon-bias --tasks 12 --policy default --json benchmarks/horizon_bias/policy_meta-v21.json
    python benchmarks/experiments/policy_vs_expert.py benchmarks/horizon_bias/policy_meta-v21.json \\
        default meta-v2 meta-v10 handwritten
"""

from __future__ import annotations

import argparse
import json
import pathlib

import numpy as np

from keras_meta.meta.bias import _policy_run
from keras_meta.meta.bias import _run_summary
from keras_meta.meta.families import make_data
from keras_meta.meta.families import sample_task

GUARDS_OFF = {"fit_guard": 0, "lr_floor": 0, "climb_ramp": 0, "climb_ramp_steps": 0}


def unguarded_runs(result: dict, policy: str) -> list[dict]:
    """The policy's first-half median rate and final validation loss on each task, guards off."""
    runs = []
    for task in result["tasks"]:
        spec = sample_task(task["seed"], optimizers=("adam",), max_steps=result["max_steps"])
        run = _run_summary("run", *_policy_run(spec, make_data(spec), policy, **GUARDS_OFF))
        runs.append({"early_rate": run["run_early_rate"], "val_loss": run["run_val_loss"]})
    return runs


def summary(tasks: list[dict], runs: list[dict]) -> dict:
    """Mean |early| (decades), the correlation of early with best constant rate, and the loss ratio."""
    best = np.log10([task["best_constant_rate"] for task in tasks])
    early = np.log10([run["early_rate"] for run in runs])
    losses = np.array([run["val_loss"] / task["grid_val_loss"] for run, task in zip(runs, tasks)])
    return {
        "mean_abs_early": float(np.abs(early - best).mean()),
        "corr": float(np.corrcoef(best, early)[0, 1]),
        "loss_ratio": float(np.exp(np.log(losses).mean())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("result", help="a horizon-bias --policy JSON file")
    parser.add_argument("policies", nargs="*", help="policies to run with the guards off")
    args = parser.parse_args()
    result = json.loads(pathlib.Path(args.result).read_text())
    tasks = result["tasks"]
    rows = {}
    for who in ("expert", "policy"):
        runs = [{"early_rate": t[f"{who}_early_rate"], "val_loss": t[f"{who}_val_loss"]} for t in tasks]
        rows["expert" if who == "expert" else f"{result['policy']} (guards on)"] = summary(tasks, runs)
    for policy in args.policies:
        rows[f"{policy} (guards off)"] = summary(tasks, unguarded_runs(result, policy))
    print(f"{len(tasks)} meta-training tasks from {args.result}\n")
    print("| run | mean abs(early) (decades) | corr(early, best constant) | loss ratio |")
    print("|---|---|---|---|")
    for name, row in rows.items():
        print(f"| {name} | {row['mean_abs_early']:.2f} | {row['corr']:+.2f} | {row['loss_ratio']:.3f} |")


if __name__ == "__main__":
    main()
