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


def plan_jobs(task_names, methods, seeds, policy, task_file=None) -> list[dict]:
    """One job per task x method x seed, tasks outermost.

    Args:
        task_names: List of strings.
        methods: List of `Method`.
        seeds: Iterable of integers.
        policy: String or path. The policy of keras-meta's methods.
        task_file: Path or `None`. Where user tasks come from.

    Returns:
        A list of job dicts.
    """
    source = None if task_file is None else str(pathlib.Path(task_file).resolve())
    return [
        {"task": task, "method": method.name, "seed": seed, "policy": policy, "task_file": source}
        for task in task_names
        for seed in seeds
        for method in methods
    ]


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
        seeds: Integer or `None`. Seeds 0..seeds-1; `None` = 3 (1 with `quick`).
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
        seeds = QUICK_SEEDS if quick else DEFAULT_SEEDS
    if seeds < 1:
        raise ValueError(f"`seeds` must be at least 1. Received: seeds={seeds}")
    policy = os.fspath(policy)
    loaded = load_policy(policy)
    methods = standard_methods(policy, quick=quick) + user_methods
    jobs = plan_jobs(task_names, methods, range(seeds), policy, task_file)
    records, failures = run_jobs(jobs, output_dir, workers=workers, progress=progress)
    header = {
        "command": f"`{command}`",
        "date": datetime.date.today().isoformat(),
        "machine": machine_description(),
        "seeds": f"{seeds} (0..{seeds - 1})",
        "tasks": ", ".join(task_names),
        "policy": f"{loaded.name} v{loaded.card['version']} ({loaded.card['kind']})",
        "fits": f"{len(records)} recorded, {len(failures)} failed",
    }
    return write_report(records, failures, output_dir, header)
