import json
import shutil

from keras_meta import cli
from keras_meta.policy import SHIPPED_POLICY_DIR

REPORT = """# keras-meta benchmark

- **command**: `keras-meta bench`
- **seeds**: 3 (0..2)

## Aggregate

| method | geometric-mean score | tasks | MetaLR wins against it |
|---|---|---|---|
| Adam 1e-3 | 1.289 | 8 | 75% |

## Per task (score)

| task | oracle loss |
|---|---|

## Robustness

| starting rate | geometric-mean score | relative to 1e-3 |
|---|---|---|
| 1e-05 | 1.1 | 1.0 |
"""


def test_model_card_renders_the_card_and_the_benchmark_tables(tmp_path, capsys):
    policy_dir = tmp_path / "policy"
    shutil.copytree(SHIPPED_POLICY_DIR / "handwritten", policy_dir)
    report = tmp_path / "report.md"
    report.write_text(REPORT)

    assert cli.main(["model-card", str(policy_dir), "--bench", str(report)]) == 0

    card = (policy_dir / "MODEL_CARD.md").read_text()
    assert card.startswith("# Model card: `handwritten`")
    assert "| Adam 1e-3 | 1.289 | 8 | 75% |" in card
    assert "| 1e-05 | 1.1 | 1.0 |" in card
    assert "Per task" not in card  # only the aggregate and robustness sections
    assert "- **seeds**: 3 (0..2)" in card
    assert "MODEL_CARD.md" in capsys.readouterr().out


def test_model_card_describes_a_fit_guard_a_rate_floor_and_a_climb_ramp(tmp_path):
    policy_dir = tmp_path / "policy"
    shutil.copytree(SHIPPED_POLICY_DIR / "meta-v2", policy_dir)
    card_file = policy_dir / "card.json"
    card_file.write_text(
        json.dumps({**json.loads(card_file.read_text()), "fit_guard": 4.0, "lr_floor": 1.0, "climb_ramp": 0.05})
    )

    assert cli.main(["model-card", str(policy_dir)]) == 0

    model_card = (policy_dir / "MODEL_CARD.md").read_text()
    assert "Fit guard: once the training loss is below exp(-4)" in model_card
    assert "Rate floor: while the validation loss still improves" in model_card
    assert "Climb ramp: in a run that starts at or below" in model_card and "2^(progress / 0.05)" in model_card

    card_file.write_text(json.dumps({**json.loads(card_file.read_text()), "climb_ramp_steps": 50.0}))
    assert cli.main(["model-card", str(policy_dir)]) == 0
    assert "2^(max(progress / 0.05, steps / 50))" in (policy_dir / "MODEL_CARD.md").read_text()
