"""Running benchmark jobs: one fit per task x method x seed, in worker processes, cached.

A *job* is a plain dict (`task`, `method`, `seed`, plus where to find them), so
that it can travel to a worker process; the worker rebuilds the task and the
method by name. Each finished job becomes a *record*, appended to a JSON-lines
cache as soon as it arrives, so a killed benchmark loses at most the fits that
were running, and a rerun only does what is missing.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import importlib.util
import json
import math
import multiprocessing
import os
import pathlib
import sys
import time

import keras

from keras_meta._optimizers import get_lr
from keras_meta.bench._environment import file_fingerprint
from keras_meta.bench._environment import source_fingerprint
from keras_meta.bench._environment import use_one_thread
from keras_meta.bench._environment import versions
from keras_meta.bench.methods import Context
from keras_meta.bench.methods import make_method
from keras_meta.bench.tasks import PUBLIC_TASKS

CACHE_FILE = "records.jsonl"
_MAX_FITS_PER_WORKER = 20  # fresh processes: many fits in one process slow down


# ------------------------------------------------------------ tasks and jobs


def load_task_file(path) -> tuple[list, list]:
    """Imports a user's task file.

    Args:
        path: Path of a Python file defining `TASKS` (a list of `Task`) and,
            optionally, `METHODS` (a list of `Method`).

    Returns:
        `(tasks, methods)`.
    """
    path = pathlib.Path(path).resolve()
    spec = importlib.util.spec_from_file_location(f"keras_meta_user_tasks_{path.stem}", path)
    if spec is None or not path.exists():
        raise FileNotFoundError(f"No task file at {path}.")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, "TASKS"):
        raise ValueError(f"The task file {path} must define TASKS, a list of keras_meta.bench.tasks.Task.")
    return list(module.TASKS), list(getattr(module, "METHODS", []))


def resolve_tasks(task_file=None) -> tuple[dict, list]:
    """The tasks by name (the public suite, or a task file's) and the file's methods."""
    if task_file is None:
        return {task.name: task for task in PUBLIC_TASKS}, []
    tasks, methods = load_task_file(task_file)
    return {task.name: task for task in tasks}, methods


def job_key(job: dict, task, method, stamp: dict) -> str:
    """The cache key of a job: everything its result depends on."""
    identity = {
        "harness": source_fingerprint("bench/tasks.py", "bench/runner.py", "bench/methods.py"),
        "task_file": None if job["task_file"] is None else file_fingerprint(job["task_file"]),
        "task": task.fingerprint(),
        "method": method.name,
        "method_fingerprint": method.fingerprint,
        "seed": job["seed"],
        "versions": stamp,
    }
    return hashlib.sha1(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


# ----------------------------------------------------------------- one fit


def run_job(job: dict) -> dict:
    """Trains one task with one method and seed; the worker's entry point.

    Args:
        job: Dict with `task`, `method`, `seed`, `policy` and `task_file`.

    Returns:
        The record: the job, its scores (final test loss, test/val/train
        loss and learning rate per epoch; for keras-meta methods the
        callback's decisions, recoveries and stop), wall time, and versions.
    """
    tasks, user_methods = resolve_tasks(job["task_file"])
    task = tasks[job["task"]]
    method = make_method(job["method"], job["policy"], user_methods)
    splits = task.load(job["seed"])
    keras.utils.set_random_seed(job["seed"])  # equal initial weights for every method
    model = task.build(splits)
    steps_per_epoch = math.ceil(len(splits.x_train) / task.batch_size)
    context = Context(task, splits, model, steps_per_epoch, job["seed"])
    recorder = _EpochRecorder(splits.x_test, splits.y_test)

    start = time.perf_counter()
    optimizer = method.make_optimizer(context)
    model.compile(optimizer, task.make_loss())
    initial_test_loss = _evaluate(model, splits.x_test, splits.y_test)
    if method.after_compile is not None:
        method.after_compile(model, context)
    callbacks = list(method.make_callbacks(context))
    history = model.fit(
        splits.x_train,
        splits.y_train,
        validation_data=(splits.x_val, splits.y_val),
        batch_size=task.batch_size,
        epochs=task.epochs,
        callbacks=callbacks + [recorder],
        verbose=0,
    )
    wall_seconds = time.perf_counter() - start - recorder.seconds
    return {
        **job,
        "test_loss": _evaluate(model, splits.x_test, splits.y_test),
        "initial_test_loss": initial_test_loss,
        "val_curve": [float(v) for v in history.history.get("val_loss", [])],
        "train_curve": [float(v) for v in history.history.get("loss", [])],
        "test_curve": recorder.test_losses,
        "lr_curve": recorder.learning_rates,
        **_meta_callback_record(callbacks),
        "epochs": task.epochs,
        "steps_per_epoch": steps_per_epoch,
        "wall_seconds": wall_seconds,
    }


def _evaluate(model, x, y) -> float:
    return float(model.evaluate(x, y, batch_size=max(len(x), 1), verbose=0))


def _meta_callback_record(callbacks) -> dict:
    """What the fit's `MetaLRCallback` did: its decisions, its recoveries and why it stopped, if it did.

    Returns:
        Dict with `decisions` (`[step, new_lr]` pairs), `recoveries` (dicts of
        `keras_meta.Recovery`'s fields) and `stopped_reason` (a string or
        `None`); two empty lists and `None` for a fit without the callback.
        The callback is found by its `decisions`, so a user method may wrap
        or subclass it.
    """
    callback = next((c for c in callbacks if hasattr(c, "decisions")), None)
    if callback is None:
        return {"decisions": [], "recoveries": [], "stopped_reason": None}
    return {
        "decisions": [[d.step, d.new_lr] for d in callback.decisions],
        "recoveries": [dataclasses.asdict(r) for r in getattr(callback, "recoveries", [])],
        "stopped_reason": getattr(callback, "stopped_reason", None),
    }


class _EpochRecorder(keras.callbacks.Callback):
    """Records the test loss and the learning rate after every epoch, and its own time."""

    def __init__(self, x_test, y_test):
        super().__init__()
        self.x_test, self.y_test = x_test, y_test
        self.test_losses, self.learning_rates, self.seconds = [], [], 0.0

    def on_epoch_end(self, epoch, logs=None):
        start = time.perf_counter()
        self.test_losses.append(_evaluate(self.model, self.x_test, self.y_test))
        self.learning_rates.append(get_lr(self.model.optimizer))
        self.seconds += time.perf_counter() - start


# ------------------------------------------------------------ many fits


def read_cache(output_dir) -> dict:
    """The cached records of `output_dir`, by key; unreadable lines are skipped."""
    records = {}
    path = pathlib.Path(output_dir) / CACHE_FILE
    if not path.exists():
        return records
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a killed run
        records[record["key"]] = record
    return records


def run_jobs(jobs: list[dict], output_dir, workers: int = 2, progress: bool = True) -> tuple[list, list]:
    """Runs the jobs that the cache lacks, in worker processes.

    Args:
        jobs: List of job dicts (see `run_job`).
        output_dir: Path. The cache `records.jsonl` lives here.
        workers: Integer. Worker processes; 0 runs the jobs in this process.
        progress: Boolean. Show a progress bar on stderr.

    Returns:
        `(records, failures)`: a record per job in the order of `jobs`, and a
        list of `(job, error message)` for jobs that raised.
    """
    output_dir = pathlib.Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    stamp = versions()
    tasks_by_file, methods_by_file = {}, {}
    keyed = []
    for job in jobs:
        source = job["task_file"]
        if source not in tasks_by_file:
            tasks_by_file[source], methods_by_file[source] = resolve_tasks(source)
        task = tasks_by_file[source][job["task"]]
        method = make_method(job["method"], job["policy"], methods_by_file[source])
        keyed.append({**job, "key": job_key(job, task, method, stamp)})
    cache = read_cache(output_dir)
    missing = [job for job in keyed if job["key"] not in cache]
    failures = []
    _end_with_newline(output_dir / CACHE_FILE)
    with open(output_dir / CACHE_FILE, "a") as cache_file:
        for job, outcome in _execute(missing, workers, progress):
            if isinstance(outcome, BaseException):
                failures.append((job, f"{type(outcome).__name__}: {outcome}"))
                continue
            record = {**outcome, "key": job["key"], "versions": stamp}
            cache[job["key"]] = record
            cache_file.write(json.dumps(record) + "\n")
            cache_file.flush()
    return [cache[job["key"]] for job in keyed if job["key"] in cache], failures


def _end_with_newline(path: pathlib.Path) -> None:
    """Completes a last line cut short by a killed run, so the next record starts on its own line."""
    if path.exists() and path.stat().st_size:
        with open(path, "rb+") as file:
            file.seek(-1, os.SEEK_END)
            if file.read(1) != b"\n":
                file.write(b"\n")


def _execute(jobs, workers, progress):
    """Yields `(job, record or exception)` as jobs finish."""
    from tqdm.auto import tqdm

    bar = tqdm(total=len(jobs), desc="bench", unit="fit", disable=not progress or not jobs, file=sys.stderr)
    try:
        if workers == 0:
            for job in jobs:
                yield job, _call(job)
                bar.update()
            return
        # Fresh pools for every few jobs per worker: many fits in one process
        # slow down. (ProcessPoolExecutor's max_tasks_per_child can deadlock
        # on Python 3.11, so the recycling is done here.)
        chunk = workers * _MAX_FITS_PER_WORKER
        for start in range(0, len(jobs), chunk):
            with concurrent.futures.ProcessPoolExecutor(
                workers, mp_context=multiprocessing.get_context("spawn"), initializer=use_one_thread
            ) as pool:
                futures = {pool.submit(run_job, _plain(job)): job for job in jobs[start : start + chunk]}
                for future in concurrent.futures.as_completed(futures):
                    error = future.exception()
                    yield futures[future], error if error is not None else future.result()
                    bar.update()
    finally:
        bar.close()


def _call(job):
    try:
        return run_job(_plain(job))
    except Exception as error:  # reported with the job, the benchmark goes on
        return error


def _plain(job: dict) -> dict:
    return {key: value for key, value in job.items() if key != "key"}
