"""The benchmark's seed plan: which tasks run on how many seeds."""

import dataclasses

import pytest

from keras_meta.bench.methods import constant
from keras_meta.bench.suite import DEFAULT_SEEDS
from keras_meta.bench.suite import SMALL_TASK_SEEDS
from keras_meta.bench.suite import default_seed_counts
from keras_meta.bench.suite import describe_seeds
from keras_meta.bench.suite import plan_jobs
from keras_meta.bench.tasks import PUBLIC_TASKS

TASKS = {task.name: task for task in PUBLIC_TASKS}


def test_tasks_with_small_test_sets_get_more_seeds():
    counts = default_seed_counts(TASKS, list(TASKS))
    small = {name for name, count in counts.items() if count == SMALL_TASK_SEEDS}
    assert small == {"wine_mlp", "breast_cancer_mlp", "diabetes_mlp"}  # test sets of 37, 115, 89
    assert all(counts[name] == DEFAULT_SEEDS for name in set(TASKS) - small)
    assert set(default_seed_counts(TASKS, ["wine_mlp"], quick=True).values()) == {1}


def test_a_task_whose_data_fail_to_load_gets_the_default_count_instead_of_stopping_the_plan():
    def broken_load(seed):
        raise OSError("no such file: data.csv")

    broken = dataclasses.replace(TASKS["wine_mlp"], name="broken", load=broken_load)
    assert default_seed_counts({"broken": broken}, ["broken"]) == {"broken": DEFAULT_SEEDS}


def test_plan_runs_every_method_on_each_tasks_own_seeds():
    methods = [constant(1e-3), constant(1e-2)]
    jobs = plan_jobs({"wine_mlp": 4, "digits_mlp": 2}, methods, "default")
    assert len(jobs) == (4 + 2) * 2
    assert {job["seed"] for job in jobs if job["task"] == "wine_mlp"} == {0, 1, 2, 3}
    assert {job["seed"] for job in jobs if job["task"] == "digits_mlp"} == {0, 1}


@pytest.mark.parametrize(
    "counts, expected",
    [
        ({"a": 3, "b": 3}, "3 (0..2)"),
        ({"a": 3, "b": 10, "c": 3}, "3 (0..2); 10 (0..9) on b"),
    ],
)
def test_the_report_header_names_the_seeds_of_each_task(counts, expected):
    assert describe_seeds(counts) == expected
