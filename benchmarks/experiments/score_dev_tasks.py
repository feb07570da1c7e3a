"""Scores policies on the second development set (`dev_tasks.py`) with the public suite's protocol.

Each policy runs `MetaLRCallback` from the default start (and, with
`--robustness`, from 1e-5 and 1e-1; with `--suggest`, also `suggest_lr` followed by that
constant rate, as in `keras-meta bench`) on every task and seed; the oracle grid
and the baselines (Adam 1e-3, cosine 1e-3, ReduceLROnPlateau, the recipe) run
once and are cached with the policies' fits in `benchmarks/dev-tasks/
records.jsonl`, so a new candidate costs only its own fits (about 2 minutes
from one start, 11 tasks x 3 seeds, on 2 cores; the first run, with the grid, takes
about 35 minutes). Score = mean test loss over seeds / the best grid run,
exactly as in `keras-meta bench`. `--task-file` scores another task file the
same way (`memorise_tasks.py`, the probe of wine's regime), with the same cache.

Usage:
    python benchmarks/experiments/score_dev_tasks.py --policy meta-v2 --policy meta-v10 \\
        --json benchmarks/dev-tasks/meta-v2_vs_meta-v10.json
"""

import argparse
import json
import pathlib

from keras_meta.bench import metrics
from keras_meta.bench.methods import DEFAULT_LR
from keras_meta.bench.methods import oracle_grid
from keras_meta.bench.runner import load_task_file
from keras_meta.bench.runner import run_jobs
from keras_meta.policy import load_policy

HERE = pathlib.Path(__file__).parent
TASK_FILE = str((HERE / "dev_tasks.py").resolve())
CACHE_DIR = HERE.parent / "dev-tasks"
BASELINES = {"constant@0.001": "Adam 1e-3", "cosine@0.001": "cosine 1e-3", "plateau": "plateau", "recipe": "recipe"}
ROBUSTNESS_STARTS = (1e-5, 1e-1)


def _jobs(tasks, seeds, methods, task_file, policy="default"):
    return [
        {"task": task, "method": method, "seed": seed, "policy": policy, "task_file": task_file}
        for task in tasks
        for seed in seeds
        for method in methods
    ]


def _relabelled(records, label):
    """Policy records named `<label>@<start>` (or `<label>@suggest`), so that several policies share one table."""
    return [
        {**record, "method": f"{label}@{record['method'].partition('@')[2] or record['method']}"} for record in records
    ]


def score(policies, seeds, robustness, workers, task_file=TASK_FILE, suggest=False):
    """Runs what the cache lacks and returns `{"scores": {task: {method: score}}, "aggregate": ..., ...}`."""
    tasks = [task.name for task in load_task_file(task_file)[0]]
    baseline_methods = [method.name for method in oracle_grid()] + ["plateau", "recipe"]
    records, failures = run_jobs(_jobs(tasks, seeds, baseline_methods, task_file), CACHE_DIR, workers=workers)
    starts = (DEFAULT_LR, *ROBUSTNESS_STARTS) if robustness else (DEFAULT_LR,)
    labels = []
    for policy in policies:
        label = load_policy(policy).name
        labels.append(label)
        methods = [f"meta@{start:g}" for start in starts] + (["suggest"] if suggest else [])
        meta_jobs = _jobs(tasks, seeds, methods, task_file, policy)
        meta_records, meta_failures = run_jobs(meta_jobs, CACHE_DIR, workers=workers)
        records += _relabelled(meta_records, label)
        failures += meta_failures
    if failures:
        raise RuntimeError(f"{len(failures)} fits failed, the first: {failures[0]}")
    task_scores = metrics.scores(records)
    aggregate = metrics.aggregate_scores(task_scores)
    compared = list(BASELINES) + [f"{label}@{DEFAULT_LR:g}" for label in labels]
    return {
        "tasks": tasks,
        "seeds": list(seeds),
        "scores": {task: {m: s[m] for m in s if m in compared or "@" in m} for task, s in task_scores.items()},
        "aggregate": {m: aggregate[m] for m in aggregate if m in compared or m.partition("@")[0] in labels},
        "wins": {
            f"{label} vs {BASELINES.get(other, other)}": metrics.win_rate(task_scores, f"{label}@{DEFAULT_LR:g}", other)
            for label in labels
            for other in compared
            if other != f"{label}@{DEFAULT_LR:g}"
        },
    }


def print_tables(result):
    aggregate = result["aggregate"]
    methods = [m for m in aggregate if m in BASELINES] + [m for m in aggregate if m not in BASELINES]
    names = [BASELINES.get(m, m) for m in methods]
    print("| task | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for task, task_scores in sorted(result["scores"].items()):
        print(f"| {task} | " + " | ".join(f"{task_scores[m]:.3f}" if m in task_scores else "" for m in methods) + " |")
    print("| **geometric mean** | " + " | ".join(f"**{result['aggregate'][m]:.3f}**" for m in methods) + " |")
    for pair, rate in result["wins"].items():
        print(f"{pair}: wins {100 * rate:.0f}%")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", action="append", required=True, help="policy name or directory; repeatable")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (default: 3)")
    parser.add_argument("--robustness", action="store_true", help="also start from 1e-5 and 1e-1")
    parser.add_argument("--suggest", action="store_true", help="also score suggest_lr with each policy")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", help="also write the result here")
    parser.add_argument(
        "--task-file", default=TASK_FILE, help="a `keras-meta bench --tasks` file (default: dev_tasks.py)"
    )
    args = parser.parse_args()
    task_file = str(pathlib.Path(args.task_file).resolve())
    result = score(args.policy, range(args.seeds), args.robustness, args.workers, task_file, args.suggest)
    print_tables(result)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
