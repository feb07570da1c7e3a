"""Many independent trainings in worker processes, with a progress bar.

Benchmark fits, model-selection searches and held-out evaluations are
independent jobs. They run in `spawn`ed processes on one TensorFlow thread
each, and the processes are replaced every few jobs: many fits in one
process slow down, and `ProcessPoolExecutor`'s `max_tasks_per_child` can
deadlock on Python 3.11, so the recycling is done here.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import sys


def map_in_processes(function, arguments, workers: int, jobs_per_process: int, label: str, unit: str = "job"):
    """Calls `function(argument)` for each argument; yields results as they finish.

    Args:
        function: A module-level callable (it is pickled by name).
        arguments: List of picklable arguments, one per job.
        workers: Integer. Processes at once; 0 runs every job in this process.
        jobs_per_process: Integer. Jobs a process runs before it is replaced.
        label: String. The progress bar's label.
        unit: String. The progress bar's unit.

    Yields:
        `(index, result or exception)`: `index` into `arguments`, and what
        the call returned or the exception it raised (the caller decides
        whether one failure ends the run).

    Example:

    >>> sorted(map_in_processes(abs, [-1, 2], workers=0, jobs_per_process=1, label="demo"))
    [(0, 1), (1, 2)]
    """
    from tqdm.auto import tqdm

    from keras_meta.bench._environment import use_one_thread

    bar = tqdm(total=len(arguments), desc=label, unit=unit, disable=not arguments, file=sys.stderr)
    try:
        if workers == 0:
            for index, argument in enumerate(arguments):
                try:
                    outcome = function(argument)
                except Exception as error:  # handed to the caller with its job
                    outcome = error
                yield index, outcome
                bar.update()
            return
        chunk = workers * jobs_per_process
        for start in range(0, len(arguments), chunk):
            with concurrent.futures.ProcessPoolExecutor(
                workers, mp_context=multiprocessing.get_context("spawn"), initializer=use_one_thread
            ) as pool:
                futures = {
                    pool.submit(function, arguments[i]): i for i in range(start, min(start + chunk, len(arguments)))
                }
                for future in concurrent.futures.as_completed(futures):
                    error = future.exception()
                    yield futures[future], error if error is not None else future.result()
                    bar.update()
    finally:
        bar.close()
