"""One benchmark fit (`run_job`): what its record keeps of the callback's work."""

from keras_meta.bench.runner import run_job

NAN_TASK_FILE = """
import numpy as np

from keras_meta.bench.tasks import Task, mlp, split_and_standardise


def load(seed):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((80, 3))
    splits = split_and_standardise(x, x @ np.array([[1.0], [-1.0], [0.5]]), seed, standardise_y=True)
    splits.x_train[5] = np.nan  # one poisoned sample: its batch's loss is NaN in every epoch
    return splits


TASKS = [Task("poisoned", "a NaN in the training data", load, mlp((4,)), "mse", batch_size=8, epochs=2)]
"""


def job(method, task_file):
    return {"task": "poisoned", "method": method, "seed": 0, "policy": "default", "task_file": str(task_file)}


def test_a_meta_fit_records_its_recoveries_and_a_baseline_records_none(tmp_path):
    task_file = tmp_path / "poisoned_tasks.py"
    task_file.write_text(NAN_TASK_FILE)
    meta = run_job(job("meta@0.001", task_file))
    assert meta["recoveries"] and all(r["cause"] == "non-finite" for r in meta["recoveries"])
    first = meta["recoveries"][0]
    assert first["restored_step"] <= first["step"] and first["new_lr"] < first["old_lr"]
    assert meta["decisions"] or meta["stopped_reason"]
    baseline = run_job(job("constant@0.001", task_file))
    assert baseline["recoveries"] == [] and baseline["stopped_reason"] is None and baseline["decisions"] == []
