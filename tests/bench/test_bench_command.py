"""One tiny end-to-end run of `keras-meta bench` through the command line."""

import json
import pathlib

from keras_meta import cli
from keras_meta.bench.runner import CACHE_FILE

TINY_TASKS = pathlib.Path(__file__).with_name("tiny_tasks.py")


def test_bench_runs_a_user_task_file_writes_the_report_and_reuses_the_cache(tmp_path, capsys):
    arguments = ["bench", "--tasks", str(TINY_TASKS), "--seeds", "1", "--workers", "1", "--output", str(tmp_path)]
    assert cli.main(arguments) == 0
    assert "report.md" in capsys.readouterr().out

    records = [json.loads(line) for line in (tmp_path / CACHE_FILE).read_text().splitlines()]
    methods = {r["method"] for r in records}
    assert len(records) == 14 + 4 + 5 + 1 + 1  # grid, baselines, robustness, suggest, the file's own
    assert {"sgd@0.01", "meta@0.001", "suggest", "schedule_free_z", "recipe"} <= methods
    meta = next(r for r in records if r["method"] == "meta@0.001")
    assert len(meta["test_curve"]) == 3 and meta["decisions"]
    assert "recoveries" in meta and "stopped_reason" in meta
    assert meta["versions"]["keras"]

    report = (tmp_path / "report.md").read_text()
    assert "tiny_regression" in report and "MetaLR wins against it" in report
    assert "--tasks" in report  # the command line is in the report
    assert "MetaLRCallback fits recovered from a divergence" in report
    for plot in ("curves.png", "learning_rates.png", "scores.png"):
        assert (tmp_path / plot).read_bytes()[:4] == b"\x89PNG"

    # A rerun finds every fit in the cache and trains nothing.
    assert cli.main(arguments[:-4] + ["--workers", "0", "--output", str(tmp_path)]) == 0
    assert len((tmp_path / CACHE_FILE).read_text().splitlines()) == len(records)


def test_unknown_task_is_refused(tmp_path):
    import pytest

    with pytest.raises(ValueError, match="Unknown tasks"):
        cli.main(["bench", "--task", "nope", "--output", str(tmp_path)])


def test_editing_the_task_file_changes_the_cache_key(tmp_path):
    from keras_meta.bench.methods import constant
    from keras_meta.bench.runner import job_key
    from keras_meta.bench.runner import resolve_tasks

    task_file = tmp_path / "tasks.py"
    task_file.write_text(TINY_TASKS.read_text())
    (task,) = resolve_tasks(task_file)[0].values()
    job = {"task": task.name, "method": "constant@0.001", "seed": 0, "task_file": str(task_file)}
    before = job_key(job, task, constant(1e-3), {"keras": "x"})
    task_file.write_text(TINY_TASKS.read_text() + "\n# an edit\n")
    assert job_key(job, task, constant(1e-3), {"keras": "x"}) != before
