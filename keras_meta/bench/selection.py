"""`keras-meta bench select`: model selection at equal epoch budgets, against keras-tuner.

For each task and seed, four searches over the same architecture space and
the same total-epoch budget (what `keras_tuner.Hyperband` with the given
`max_epochs` and `factor=3` trains):

* `MetaModelSelector`, which does not search the learning rate (each trial
  trains under `MetaLRCallback` from 1e-3);
* `Hyperband`, `RandomSearch` and `BayesianOptimization`, which search the
  learning rate as one more hyperparameter.

Every trial's best-epoch model is evaluated on the test split as it ends, so
each search yields an *anytime curve*: the test loss of its incumbent (best
by validation) against the epochs spent. A fixed pool of configurations of
the same space, each trained for `max_epochs`, gives the reference, the best
test loss seen (pool and searches' full-length trials alike); the regret of a
search is its final test loss divided by that reference.

The tasks are public-suite data sets, held out from meta-training.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import pathlib
import shutil
import tempfile
import time

import numpy as np

from keras_meta._processes import map_in_processes
from keras_meta.bench._environment import policy_fingerprint
from keras_meta.bench._environment import source_fingerprint
from keras_meta.bench._environment import versions
from keras_meta.bench.runner import _end_with_newline
from keras_meta.bench.tasks import mlp

CACHE_FILE = "select_records.jsonl"
METHODS = ("meta", "hyperband", "random", "bayesian")
POOL = "pool"
FACTOR = 3
SELECTOR_SOURCES = ("selector/tuner.py", "selector/oracle.py", "selector/pruning.py")  # key the selector's searches
CALLBACK_SOURCES = ("callbacks.py", "features.py", "policy.py")  # with the code they run beyond this module
_SEARCHES_PER_WORKER = 2  # fresh processes every few searches: many fits in one process slow down


@dataclasses.dataclass(frozen=True)
class SelectionTask:
    """A public-suite data set with the budget of its model search.

    Args:
        name: String.
        data: String. The name of a task in `keras_meta.bench.tasks.PUBLIC_TASKS`,
            whose splits, loss and batch size are used.
        max_epochs: Integer. Epochs of a full-length trial (by default).
    """

    name: str
    data: str
    max_epochs: int = 15


SELECTION_TASKS = (
    SelectionTask("digits", "digits_mlp"),
    SelectionTask("breast_cancer", "breast_cancer_mlp"),
    SelectionTask("friedman", "friedman_deep_bn"),
    SelectionTask("mnist1d", "mnist1d_mlp"),
)
QUICK_TASKS = ("breast_cancer",)


def build_search_space(task, splits, search_lr: bool):
    """The hypermodel every method searches: an MLP of 1-3 layers.

    Args:
        task: The public-suite `Task` (its loss).
        splits: Its `Splits` (input shape, outputs).
        search_lr: Boolean. Add the learning rate to the space (the
            baselines); otherwise Adam starts at 1e-3 (keras-meta steers it).

    Returns:
        A function `hp -> compiled keras.Model`.
    """

    def build(hp):
        import keras

        hidden = (hp.Choice("units", [16, 32, 64, 128, 256]),) * hp.Int("layers", 1, 3)
        network = mlp(
            hidden,
            batch_norm=hp.Boolean("batch_norm"),
            dropout=hp.Choice("dropout", [0.0, 0.1, 0.3]),
            activation=hp.Choice("activation", ["relu", "tanh"]),
        )
        model = network(splits.x_train.shape[1:], task._n_outputs(splits))
        lr = hp.Float("learning_rate", 1e-4, 1e-1, sampling="log") if search_lr else 1e-3
        model.compile(keras.optimizers.Adam(lr), task.make_loss())
        return model

    return build


# ------------------------------------------------------------------ one search


def run_search(job: dict) -> dict:
    """Runs one search (or the reference pool) and returns its ledger.

    Args:
        job: Dict with `task` (a `SelectionTask` name), `method` (one of
            `METHODS` or `POOL`), `seed`, `max_epochs`, `pool_size` and
            `policy`.

    Returns:
        A record: `task`, `method`, `seed`, `budget`, `epochs`, `seconds`
        and `trials`, each trial with its `epochs` (trained in this trial),
        its `length` (the epoch its model reached), the cumulative
        `epochs_spent` when it ended, `val_loss`, `test_loss` and `status`.
    """
    import keras

    from keras_meta.bench.tasks import PUBLIC_TASKS

    task = dataclasses.replace(_selection_tasks()[job["task"]], max_epochs=job["max_epochs"])
    data_task = {t.name: t for t in PUBLIC_TASKS}[task.data]
    splits = data_task.load(job["seed"])
    keras.utils.set_random_seed(job["seed"])
    directory = tempfile.mkdtemp(prefix="keras-meta-select-")
    try:
        tuner = _make_tuner(job, task, data_task, splits, directory)
        start = time.perf_counter()
        tuner.search(
            splits.x_train,
            splits.y_train,
            validation_data=(splits.x_val, splits.y_val),
            batch_size=data_task.batch_size,
            epochs=task.max_epochs,
            verbose=0,
        )
        seconds = time.perf_counter() - start
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return {
        "task": job["task"],
        "method": job["method"],
        "seed": job["seed"],
        "budget": budget(task),
        "max_epochs": task.max_epochs,
        "epochs": sum(trial["epochs"] for trial in tuner.ledger),
        "seconds": seconds,
        "trials": tuner.ledger,
    }


def budget(task: SelectionTask) -> int:
    """The total-epoch budget of every search of a task: Hyperband's, factor 3."""
    from keras_meta.selector.pruning import hyperband_budget

    return hyperband_budget(task.max_epochs, FACTOR)


def _make_tuner(job, task, data_task, splits, directory):
    import keras_tuner

    from keras_meta.selector import MetaModelSelector

    common = {"objective": "val_loss", "directory": directory, "project_name": "search", "seed": 1000 + job["seed"]}
    search_lr = job["method"] != "meta"
    hypermodel = build_search_space(data_task, splits, search_lr=search_lr)
    full_trials = budget(task) // task.max_epochs
    test = (splits.x_test, splits.y_test)
    if job["method"] == "meta":
        return _with_ledger(MetaModelSelector, test)(
            hypermodel, max_epochs=task.max_epochs, max_total_epochs=budget(task), policy=job["policy"], **common
        )
    if job["method"] == "hyperband":
        return _with_ledger(keras_tuner.Hyperband, test)(
            hypermodel, max_epochs=task.max_epochs, factor=FACTOR, **common
        )
    if job["method"] == "random":
        return _with_ledger(keras_tuner.RandomSearch, test)(hypermodel, max_trials=full_trials, **common)
    if job["method"] == "bayesian":
        # keras-tuner draws 3 random trials per hyperparameter before its Gaussian
        # process by default, which would leave it no model-guided trial in this budget.
        bayesian = _with_ledger(keras_tuner.BayesianOptimization, test)
        return bayesian(hypermodel, max_trials=full_trials, num_initial_points=3, **common)
    if job["method"] == POOL:
        common["seed"] = 2000 + job["seed"]  # a pool drawn apart from every search
        return _with_ledger(keras_tuner.RandomSearch, test)(hypermodel, max_trials=job["pool_size"], **common)
    raise ValueError(f"Unknown selection method {job['method']!r}; expected one of {METHODS + (POOL,)}.")


def _with_ledger(tuner_class, test_data):
    """A subclass of `tuner_class` that counts each trial's epochs and tests its best model."""

    class Ledger(tuner_class):
        def on_search_begin(self):
            super().on_search_begin()
            self.ledger = []
            self._epochs = collections.Counter()  # epochs trained by each trial
            self._length = {}  # the epoch each trial's model reached (Hyperband resumes from a parent's)

        def on_epoch_end(self, trial, model, epoch, logs=None):
            self._epochs[trial.trial_id] += 1
            self._length[trial.trial_id] = epoch + 1
            super().on_epoch_end(trial, model, epoch, logs)

        def on_trial_end(self, trial):
            super().on_trial_end(trial)
            ended = self.oracle.get_trial(trial.trial_id)
            entry = {
                "trial_id": trial.trial_id,
                "epochs": self._epochs[trial.trial_id],
                "length": self._length.get(trial.trial_id, 0),
                "epochs_spent": sum(self._epochs.values()),
                "status": ended.status,
                "val_loss": ended.score,
                "test_loss": None,
            }
            if ended.status == "COMPLETED" and ended.score is not None:
                import warnings

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # the unbuilt optimizer's variables are not loaded
                    model = self.load_model(ended)
                entry["test_loss"] = _test_loss(model, *test_data)
            self.ledger.append(entry)

    Ledger.__name__ = f"Ledger{tuner_class.__name__}"
    return Ledger


def _test_loss(model, x, y) -> float:
    loss = model.evaluate(x, y, verbose=0, batch_size=256)
    loss = loss[0] if isinstance(loss, list) else loss
    return float(loss) if np.isfinite(loss) else float("inf")


def _selection_tasks() -> dict:
    return {task.name: task for task in SELECTION_TASKS}


# ------------------------------------------------------------------- running


def run_selection_benchmark(
    output_dir,
    quick=False,
    seeds=None,
    workers=2,
    policy="default",
    pool_size=16,
    task_names=None,
    max_epochs=None,
    command="",
) -> pathlib.Path:
    """Runs (or completes from the cache) the model-selection benchmark and writes its report.

    Args:
        output_dir: Path. Cache `select_records.jsonl`, `select_report.md` and
            `select_anytime.png` go here.
        quick: Boolean. One task, one seed.
        seeds: Integer or `None`. Seeds 0..seeds-1; default 2 (1 with quick).
        workers: Integer. Searches in parallel processes; 0 runs them here.
        policy: String. The policy of `MetaModelSelector`.
        pool_size: Integer. Configurations in the reference pool.
        task_names: List of strings or `None`. Restrict to these tasks.
        max_epochs: Integer or `None`. Overrides the tasks' trial length
            (and with it the budget).
        command: String. The command line, for the report.

    Returns:
        The report's path.
    """
    output_dir = pathlib.Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    names = task_names or (QUICK_TASKS if quick else [t.name for t in SELECTION_TASKS])
    unknown = sorted(set(names) - set(_selection_tasks()))
    if unknown:
        raise ValueError(f"Unknown selection tasks {unknown}; expected some of {sorted(_selection_tasks())}.")
    seeds = seeds or (1 if quick else 2)
    tasks = _selection_tasks()
    jobs = [
        {
            "task": name,
            "method": method,
            "seed": seed,
            "max_epochs": max_epochs or tasks[name].max_epochs,
            "pool_size": pool_size,
            "policy": str(policy),
        }
        for name in names
        for seed in range(seeds)
        for method in (POOL, *METHODS)
    ]
    from keras_meta.bench.selection_report import plot_anytime
    from keras_meta.bench.selection_report import summarise
    from keras_meta.bench.selection_report import write_report

    records, failures = _run_cached(jobs, output_dir, workers)
    summary = summarise(records)
    report = output_dir / "select_report.md"
    report.write_text(write_report(summary, records, failures, command, seeds, policy))
    plot_anytime(records, output_dir / "select_anytime.png")
    (output_dir / "select_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return report


def _job_key(job: dict, stamp: dict) -> str:
    identity = {**job, "code": source_fingerprint("bench/selection.py", "bench/tasks.py"), "versions": stamp}
    if job["method"] == "meta":  # keras-tuner's searches do not run the selector's code
        identity.update(policy_fingerprint(job["policy"]))
        identity["selector_code"] = source_fingerprint(*SELECTOR_SOURCES)
        identity["callback_code"] = source_fingerprint(*CALLBACK_SOURCES)
    else:
        identity.pop("policy")
    if job["method"] != POOL:
        identity.pop("pool_size")
    return json.dumps(identity, sort_keys=True)


def _run_cached(jobs, output_dir, workers):
    stamp = versions()
    keyed = [{**job, "key": _job_key(job, stamp)} for job in jobs]
    cache = _read_cache(output_dir / CACHE_FILE)
    missing = [job for job in keyed if job["key"] not in cache]
    failures = []
    _end_with_newline(output_dir / CACHE_FILE)
    with open(output_dir / CACHE_FILE, "a") as cache_file:
        for job, outcome in _execute(missing, workers):
            if isinstance(outcome, BaseException):
                failures.append((job, f"{type(outcome).__name__}: {outcome}"))
                continue
            record = {**outcome, "key": job["key"], "versions": stamp}
            cache[job["key"]] = record
            cache_file.write(json.dumps(record) + "\n")
            cache_file.flush()
    return [cache[job["key"]] for job in keyed if job["key"] in cache], failures


def _read_cache(path: pathlib.Path) -> dict:
    """Cached records by key; a line cut short by a killed run is skipped."""
    records = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        records[record["key"]] = record
    return records


def _execute(jobs, workers):
    """Yields `(job, record or exception)` as searches finish."""
    plain = [{key: value for key, value in job.items() if key != "key"} for job in jobs]
    outcomes = map_in_processes(run_search, plain, workers, _SEARCHES_PER_WORKER, "bench select", unit="search")
    for index, outcome in outcomes:
        yield jobs[index], outcome
