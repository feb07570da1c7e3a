"""`keras-meta bench`: the jobs of a benchmark run, then its report."""

from __future__ import annotations

import datetime
import os
import pathlib

from keras_meta.bench._environment import machine_description
from keras_meta.bench.methods import standard_methods
from keras_meta.bench.report import write_report
from keras_meta.bench.runner import resolve_tasks
from keras_meta.bench.runner import run_jobs
from keras_meta.bench.tasks import QUICK_TASKS
from keras_meta.policy import load_policy

DEFAULT_SEEDS = 3
QUICK_SEEDS = 1
# A task whose test set is this small is measured on more seeds: the noise between seeds of a
# 37-sample test set (wine) is larger than the differences between methods (DESIGN.md asks for
# enough seeds that it is not).
SMALL_TEST_SET = 200
SMALL_TASK_SEEDS = 10


def default_seed_counts(tasks: dict, task_names, quick=False) -> dict:
    """How many seeds each task gets when the user names none.

    Args:
        tasks: `{name: Task}`.
        task_names: List of strings. The tasks to run.
        quick: Boolean. One seed everywhere.

    Returns:
        `{task name: count}`: `DEFAULT_SEEDS`, or `SMALL_TASK_SEEDS` where the
        test set of seed 0 has fewer than `SMALL_TEST_SET` samples. A task
        whose data fail to load gets `DEFAULT_SEEDS`; its fits then fail and
        the report lists the error, as for any failed fit.

    Example:

    >>> from keras_meta.bench.tasks import PUBLIC_TASKS
    >>> default_seed_counts({t.name: t for t in PUBLIC_TASKS}, ["wine_mlp", "digits_mlp"])
    {'wine_mlp': 10, 'digits_mlp': 3}
    """
    if quick:
        return {name: QUICK_SEEDS for name in task_names}
    return {name: _seed_count(tasks[name]) for name in task_names}


def _seed_count(task) -> int:
    try:
        test_samples = len(task.load(0).x_test)
    except Exception:  # the fits will fail with this error, and the report says so
        return DEFAULT_SEEDS
    return SMALL_TASK_SEEDS if test_samples < SMALL_TEST_SET else DEFAULT_SEEDS


def plan_jobs(seed_counts: dict, methods, policy, task_file=None) -> list[dict]:
    """One job per task x method x seed, tasks outermost.

    Args:
        seed_counts: `{task name: number of seeds}`; a task with n seeds
            runs seeds 0..n-1.
        methods: List of `Method`.
        policy: String or path. The policy of keras-meta's methods.
        task_file: Path or `None`. Where user tasks come from.

    Returns:
        A list of job dicts.
    """
    source = None if task_file is None else str(pathlib.Path(task_file).resolve())
    return [
        {"task": task, "method": method.name, "seed": seed, "policy": policy, "task_file": source}
        for task, count in seed_counts.items()
        for seed in range(count)
        for method in methods
    ]


def describe_seeds(seed_counts: dict) -> str:
    """The report header's seeds line, e.g. `"3 (0..2); 10 (0..9) on wine_mlp"`."""
    by_count = {}
    for task, count in seed_counts.items():
        by_count.setdefault(count, []).append(task)
    common = max(by_count, key=lambda count: len(by_count[count]))
    parts = [f"{common} (0..{common - 1})"]
    parts += [f"{count} (0..{count - 1}) on {', '.join(tasks)}" for count, tasks in by_count.items() if count != common]
    return "; ".join(parts)


def run_benchmark(
    output_dir="bench_output",
    *,
    quick=False,
    seeds=None,
    workers=2,
    policy="default",
    task_file=None,
    task_names=None,
    command="keras-meta bench",
    progress=True,
) -> pathlib.Path:
    """Runs (or completes from the cache) a benchmark and writes its report.

    Args:
        output_dir: Path. Cache, report and plots go here.
        quick: Boolean. Three small tasks, one seed, three starting rates.
        seeds: Integer or `None`. Seeds 0..seeds-1 on every task; `None` =
            `default_seed_counts` (3, or 10 on tasks with a test set under
            200 samples; 1 with `quick`).
        workers: Integer. Worker processes (0 = in this process).
        policy: String or path. The policy of keras-meta's methods.
        task_file: Path or `None`. A Python file defining `TASKS` (and
            optionally `METHODS`) to run instead of the public suite.
        task_names: List of strings or `None`. Run only these tasks.
        command: String. The command line, for the report.
        progress: Boolean. Show a progress bar.

    Returns:
        The path of the report.
    """
    tasks, user_methods = resolve_tasks(task_file)
    if task_names is None:
        task_names = list(QUICK_TASKS) if quick and task_file is None else list(tasks)
    unknown = sorted(set(task_names) - set(tasks))
    if unknown:
        raise ValueError(f"Unknown tasks {unknown}. Available: {sorted(tasks)}")
    if seeds is None:
        seed_counts = default_seed_counts(tasks, task_names, quick=quick)
    elif seeds < 1:
        raise ValueError(f"`seeds` must be at least 1. Received: seeds={seeds}")
    else:
        seed_counts = {name: seeds for name in task_names}
    policy = os.fspath(policy)
    loaded = load_policy(policy)
    methods = standard_methods(policy, quick=quick) + user_methods
    jobs = plan_jobs(seed_counts, methods, policy, task_file)
    records, failures = run_jobs(jobs, output_dir, workers=workers, progress=progress)
    header = {
        "command": f"`{command}`",
        "date": datetime.date.today().isoformat(),
        "machine": machine_description(),
        "seeds": describe_seeds(seed_counts),
        "tasks": ", ".join(task_names),
        "policy": f"{loaded.name} v{loaded.card['version']} ({loaded.card['kind']})",
        "fits": f"{len(records)} recorded, {len(failures)} failed",
    }
    return write_report(records, failures, output_dir, header)
