"""Experiment: once the training data is fitted, no rate above the optimizer's default.

The plan and its rule are in docs/meta_training.md ("A cap at the optimizer's
default rate once the data is fitted"). `FitCapCallback` is `MetaLRCallback`
with one change: after its fit guard has seen the training data fitted, a
rate above the optimizer's default rate (Adam's 1e-3) is cut to it at the next
decision, and the fit guard's ceiling becomes the lower of the two. Before the
fit it is `MetaLRCallback` exactly.

This file is also a `keras-meta bench --tasks` file: `TASKS` are the
memorisation probe's and the second dev set's, `METHODS` the capped callback
with meta-v21 from 1e-3, 1e-5 and 0.1. Run as a script, it scores those fits
beside the baselines and meta-v21 in `score_dev_tasks.py`'s cache (training
what the cache lacks), with the same scores.

Usage (from the repository root):

    python benchmarks/experiments/fit_cap.py --set probe --seeds 6 --json benchmarks/dev-tasks/fit-cap_probe.json
    python benchmarks/experiments/fit_cap.py --set dev --seeds 3 --json benchmarks/dev-tasks/fit-cap_dev.json
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

from keras_meta.bench import metrics
from keras_meta.bench._environment import CALLBACK_SOURCES
from keras_meta.bench._environment import policy_fingerprint
from keras_meta.bench._environment import source_fingerprint
from keras_meta.bench.methods import Method
from keras_meta.bench.methods import oracle_grid
from keras_meta.bench.runner import load_task_file
from keras_meta.bench.runner import run_jobs
from keras_meta.callbacks import MetaLRCallback

HERE = pathlib.Path(__file__).resolve().parent
TASK_FILES = {"probe": str(HERE / "memorise_tasks.py"), "dev": str(HERE / "dev_tasks.py")}
CACHE_DIR = HERE.parent / "dev-tasks"
POLICY = "meta-v21"
STARTS = (1e-3, 1e-5, 1e-1)


class FitCapCallback(MetaLRCallback):
    """`MetaLRCallback` whose rate, once the data is fitted, stays at or below the optimizer's default."""

    def _decide(self):
        from keras_meta._optimizers import get_lr
        from keras_meta._optimizers import set_lr

        if self._fitted_lr is not None and self._default_lr:
            self._fitted_lr = min(self._fitted_lr, self._default_lr)
            if get_lr(self.model.optimizer) > self._default_lr:
                set_lr(self.model.optimizer, self._default_lr)
        super()._decide()


def _capped(lr: float) -> Method:
    import keras

    return Method(
        f"fitcap@{lr:g}",
        lambda context: keras.optimizers.Adam(lr),
        lambda context: [FitCapCallback(policy=POLICY)],
        fingerprint={**policy_fingerprint(POLICY), "code": source_fingerprint(*CALLBACK_SOURCES), "version": 1},
    )


TASKS = [task for path in TASK_FILES.values() for task in load_task_file(path)[0]]
METHODS = [_capped(lr) for lr in STARTS]


def score(task_set: str, seeds, workers: int) -> dict:
    """Trains what the cache lacks; returns per-task scores, aggregates and the probe's 5x check."""
    from score_dev_tasks import BASELINES  # the driver's only: a task file loaded by path needs none of it
    from score_dev_tasks import _jobs
    from score_dev_tasks import _relabelled

    task_file = TASK_FILES[task_set]
    names = [task.name for task in load_task_file(task_file)[0]]
    baselines = [method.name for method in oracle_grid()] + ["plateau", "recipe"]
    starts = [f"meta@{lr:g}" for lr in STARTS]
    capped = [f"fitcap@{lr:g}" for lr in STARTS]
    records, failures = run_jobs(_jobs(names, seeds, baselines, task_file), CACHE_DIR, workers=workers)
    control, control_failures = run_jobs(_jobs(names, seeds, starts, task_file, POLICY), CACHE_DIR, workers=workers)
    this_file = str(pathlib.Path(__file__).resolve())
    trial, trial_failures = run_jobs(_jobs(names, seeds, capped, this_file, POLICY), CACHE_DIR, workers=workers)
    failures += control_failures + trial_failures
    if failures:
        raise RuntimeError(f"{len(failures)} fits failed, the first: {failures[0]}")
    records += _relabelled(control, POLICY) + trial
    task_scores = metrics.scores(records)
    oracles = metrics.oracle_losses(records)
    at_five = {}
    for label in (POLICY, "fitcap"):
        at_five[label] = sorted(
            (r["task"], r["seed"])
            for r in records
            if r["method"] == f"{label}@0.001" and metrics.effective_test_loss(r) >= 5 * oracles[r["task"]]
        )
    shown = list(BASELINES) + [f"{label}@{lr:g}" for lr in STARTS for label in (POLICY, "fitcap")]
    return {
        "set": task_set,
        "seeds": list(seeds),
        "scores": {task: {m: s[m] for m in shown if m in s} for task, s in task_scores.items()},
        "aggregate": {m: v for m, v in metrics.aggregate_scores(task_scores).items() if m in shown},
        "at_five_times_the_oracle_from_1e-3": at_five,
    }


def print_tables(result) -> None:
    from score_dev_tasks import BASELINES

    methods = list(result["aggregate"])
    print("| task | " + " | ".join(BASELINES.get(m, m) for m in methods) + " |")
    print("|---" * (len(methods) + 1) + "|")
    for task, task_scores in sorted(result["scores"].items()):
        print(f"| {task} | " + " | ".join(f"{task_scores[m]:.3f}" for m in methods) + " |")
    print("| **geometric mean** | " + " | ".join(f"**{result['aggregate'][m]:.4f}**" for m in methods) + " |")
    for label, pairs in result["at_five_times_the_oracle_from_1e-3"].items():
        print(f"{label} from 1e-3 at 5x the oracle or more: {pairs}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", choices=sorted(TASK_FILES), required=True, help="probe or dev")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (default: 3)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", help="also write the result here")
    args = parser.parse_args()
    result = score(args.set, range(args.seeds), args.workers)
    print_tables(result)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
