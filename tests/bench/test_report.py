import math

from keras_meta.bench import report


def record(task, method, seed, test_loss, val=None):
    return {
        "task": task,
        "method": method,
        "seed": seed,
        "test_loss": test_loss,
        "initial_test_loss": 10.0,
        "test_curve": [test_loss],
        "val_curve": [test_loss if val is None else val],
        "epochs": 1,
        "wall_seconds": 1.0,
    }


def test_aggregate_table_gives_metalr_over_each_method_with_its_seed_interval():
    records = []
    for task in ("a", "b"):
        for seed, (meta, plateau) in enumerate([(1.0, 2.0), (1.0, 2.0), (1.0, 2.0)]):
            records += [
                record(task, report.META, seed, meta),
                record(task, "plateau", seed, plateau),
                # The grid: validation picks cosine@0.001 (val 0.1), the oracle is constant@0.001.
                record(task, "constant@0.001", seed, 0.5, val=1.0),
                record(task, "cosine@0.001", seed, 4.0, val=0.1),
            ]
    table = report._aggregate_table(records)
    rows = {line.split(" | ")[0].strip("| "): line for line in table.splitlines() if line.startswith("| ")}
    assert rows["plateau"].endswith("| 0.500 (0.50-0.50) |")  # half of plateau's loss on every seed
    assert rows["hand-tuned"].endswith("| 0.250 (0.25-0.25) |")  # scored by cosine@0.001, validation's pick
    assert rows["cosine 1e-3"].endswith("| 0.250 (0.25-0.25) |")
    assert rows["MetaLR"].endswith("|  |")  # no ratio against itself
    assert math.isclose(float(rows["MetaLR"].split(" | ")[1]), 2.0)  # 1.0 / the oracle's 0.5


def test_recoveries_section_lists_each_fit_whose_guards_fired():
    calm = {**record("a", report.META, 0, 1.0), "recoveries": [], "stopped_reason": None}
    recovered = {
        **record("a", "meta@0.1", 1, 1.0),
        "recoveries": [{"step": 12, "restored_step": 8, "old_lr": 0.1, "new_lr": 0.01, "cause": "relapsed"}],
        "stopped_reason": None,
        "steps_per_epoch": 10,
        "epochs": 5,
    }
    old = record("b", report.META, 0, 1.0)  # cached before recoveries were recorded
    section = report._recoveries_section([calm, recovered, old, record("a", "plateau", 0, 1.0)])
    assert "1 of 2 MetaLRCallback fits recovered from a divergence or stopped" in section
    assert "Fits recorded before recoveries were, not counted: 1." in section
    assert "| a | meta@0.1 | 1 | 50 | 12: relapsed, 0.1 -> 0.01 |  |" in section
    assert report._recoveries_section([record("a", "plateau", 0, 1.0), old]) == ""  # nothing recorded: no section


def test_per_task_table_says_how_many_seeds_each_task_ran():
    records = [record("small", m, seed, 1.0) for m in (report.META, "constant@0.001") for seed in range(10)]
    records += [record("large", m, seed, 1.0) for m in (report.META, "constant@0.001") for seed in range(3)]
    rows = [line for line in report._per_task_table(records).splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| task | seeds | oracle loss |")
    assert rows[1].startswith("| large | 3 | 1 |") and rows[2].startswith("| small | 10 | 1 |")
