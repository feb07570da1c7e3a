"""A tiny meta-training run end to end, through the command line, and its resumption."""

import fcntl
import json
import os
import shutil

import numpy as np
import pytest

from keras_meta import cli
from keras_meta.meta.families import sample_task
from keras_meta.meta.pipeline import MetaTrainConfig
from keras_meta.meta.pipeline import run_meta_training
from keras_meta.policy import load_policy

# Every rollout and every fit costs seconds of fixed overhead (a model, its twin and their traced functions),
# and a rollout's look-ahead costs branches at each of its decisions (about one a step): a tiny run has one
# rollout a round and runs of about 12 steps (`max_steps`; a task's two-epoch minimum may allow 16). The
# tests below check counts and structure, not how good the policy is, and need no more.
TINY = {
    "name": "tiny",
    "rounds": 2,
    "rollouts_per_round": 1,
    "evaluation_rollouts": 1,
    "expert_probability": [1.0, 0.5],
    "max_steps": 12,
    "max_samples": 256,
    "sample_sizes": [64, 128],
    "max_epochs": 20,
    "score_split": "fresh",
    "keep_bonus": 0.01,
    "horizon": 2,
    "cooldown": 1,
    "hidden": [8],
    "train_epochs": 2,
    "workers": 0,
}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A folder with the tiny config (`config.json`) and its meta-training run (`run/`), for this module's tests.

    Under pytest-xdist every worker that runs one of its tests needs the run, and building it is this module's
    largest cost: the first worker builds it once for the session, under a lock, and each worker tests a copy
    of its own (the resumption test modifies it).
    """
    root = tmp_path_factory.mktemp("meta")
    if "PYTEST_XDIST_WORKER" not in os.environ:
        _make_tiny_run(root)
        return root
    shared = tmp_path_factory.getbasetemp().parent / "tiny_meta_run"  # the session's folder, above every worker's
    with open(f"{shared}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or when its process dies
        if not (shared / "done").exists():
            shutil.rmtree(shared, ignore_errors=True)  # what a worker that failed left behind
            shared.mkdir()
            _make_tiny_run(shared)
            (shared / "done").touch()
    shutil.copytree(shared, root, dirs_exist_ok=True, ignore=shutil.ignore_patterns("done"))
    return root


def _make_tiny_run(root):
    (root / "config.json").write_text(json.dumps(TINY))
    assert cli.main(["meta-train", "--config", str(root / "config.json"), "--output", str(root / "run")]) == 0


def test_meta_train_writes_rollouts_round_policies_and_a_final_policy_with_its_card(tiny_run):
    run = tiny_run / "run"
    for round_index in (0, 1):
        assert len(list((run / f"round_{round_index}" / "rollouts").glob("*.npz"))) == 1
        assert (run / f"round_{round_index}" / "policy" / "card.json").exists()
    policy = load_policy(run / "policy")
    assert policy.card["kind"] == "meta-trained"
    assert policy.card["training"]["rounds_done"] == 2
    assert policy.card["training"]["rollouts"] == 2  # round 2 trains on both rounds' rollouts
    evaluation = policy.card["evaluation"]
    assert evaluation["decisions"] > 0 and 0.0 <= evaluation["label_agreement"] <= 1.0
    with np.load(next((run / "round_0" / "rollouts").glob("*.npz"))) as rollout:
        assert rollout["features"].shape[0] == rollout["labels"].shape[0] == rollout["values"].shape[0] > 0
        np.testing.assert_allclose(rollout["labels"].sum(axis=1), 1.0)


def test_a_rerun_resumes_without_redoing_finished_work(tiny_run):
    run = tiny_run / "run"
    rollout = next((run / "round_1" / "rollouts").glob("*.npz"))
    stamp = rollout.stat().st_mtime_ns
    (run / "round_1" / "policy" / "card.json").unlink()  # as if killed while fitting round 2
    assert cli.main(["meta-train", "--config", str(tiny_run / "config.json"), "--output", str(run)]) == 0
    assert rollout.stat().st_mtime_ns == stamp
    assert (run / "round_1" / "policy" / "card.json").exists()


def test_a_different_config_cannot_reuse_the_folder(tiny_run):
    with pytest.raises(ValueError, match="another configuration"):
        cli.main(
            ["meta-train", "--config", str(tiny_run / "config.json"), "--output", str(tiny_run / "run"), "--seed", "5"]
        )


def test_config_rejects_unknown_keys():
    with pytest.raises(ValueError, match="bogus"):
        MetaTrainConfig.from_dict({"bogus": 1})
    assert MetaTrainConfig.from_dict(MetaTrainConfig().to_dict()) == MetaTrainConfig()


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"log10_lr_range": [-1, -3]}, "log10_lr_range"),
        ({"score_split": "test"}, "score_split"),
        ({"keep_bonus": -0.1}, "keep_bonus"),
        ({"optimizers": ["adam", "lion"]}, "optimizers"),
        ({"value_clip": 0}, "value_clip"),
        ({"latent_fraction": 2.0}, "latent_fraction"),
        ({"clean_fraction": 1.5}, "clean_fraction"),
        ({"climb_exploration": -0.5}, "climb_exploration"),
        ({"climb_exploration": 1.0}, "forced_climb_values"),
        ({"branches": [-2, 0, 2]}, "branches"),
    ],
)
def test_config_rejects_invalid_settings_when_loaded(settings, message):
    with pytest.raises(ValueError, match=message):
        MetaTrainConfig.from_dict(settings)


def test_the_run_draws_its_tasks_from_the_configured_family(tiny_run):
    card = load_policy(str(tiny_run / "run" / "policy")).card
    assert card["training"]["config"]["sample_sizes"] == [64, 128]
    assert "64, 128 samples" in card["training"]["families"] and "fresh split" in card["training"]["families"]


def test_meta_eval_compares_the_policy_with_both_schedules_on_held_out_tasks(tiny_run, capsys):
    result_file = tiny_run / "heldout.json"
    policy = str(tiny_run / "run" / "policy")
    arguments = ["meta-eval", "--policy", policy, "--config", str(tiny_run / "config.json")]
    # One task: its spec is drawn from the config's family (64 or 128 samples where the default family draws
    # 512 for this seed), and every method's loss on it is checked.
    assert cli.main([*arguments, "--tasks", "1", "--workers", "0", "--json", str(result_file)]) == 0
    result = json.loads(result_file.read_text())
    assert result["methods"] == ["constant", "cosine", policy]
    (task,) = result["tasks"]
    assert task["seed"] >= 20_000_000 and task["spec"]["n_samples"] in (64, 128)
    losses = task["losses"]
    assert all(np.isfinite(list(losses.values()))) and losses["constant"] != losses["cosine"]
    assert all(score >= 1.0 for score in result["scores"].values())
    assert set(result["wins"][policy]) == {"constant", "cosine"}
    assert "geometric-mean score" in capsys.readouterr().out


def test_meta_eval_from_keras_default_rates_adds_a_cosine_grid_around_them(tiny_run, capsys):
    result_file = tiny_run / "heldout_default.json"
    policy = str(tiny_run / "run" / "policy")
    arguments = ["meta-eval", "--policy", policy, "--config", str(tiny_run / "config.json"), "--start", "default"]
    assert cli.main([*arguments, "--tasks", "1", "--workers", "0", "--json", str(result_file)]) == 0
    result = json.loads(result_file.read_text())
    grid = ["cosine x0.1", "cosine x0.3", "cosine x3", "cosine x10"]
    assert result["start"] == "default" and result["methods"] == ["constant", "cosine", *grid, policy]
    (task,) = result["tasks"]
    keras_defaults = {"adam": 1e-3, "adamw": 1e-3, "sgd": 1e-2, "rmsprop": 1e-3}
    assert task["spec"]["initial_lr"] == keras_defaults[task["spec"]["optimizer"]]
    assert len({round(task["losses"][method], 6) for method in ["cosine", *grid]}) == 5  # five different rates
    assert min(result["scores"].values()) == 1.0
    assert "Keras default rates" in capsys.readouterr().out


def test_meta_eval_refuses_an_unknown_start():
    from keras_meta.meta.heldout import compare_on_heldout

    with pytest.raises(ValueError, match="Unknown start"):
        compare_on_heldout(["default"], tasks=1, workers=0, start="best")


def test_the_same_config_reproduces_the_policy_bit_for_bit(tiny_run):
    """A second run of the tiny config, from scratch, against the module's first: both rounds, DAgger included.

    The first run's final policy may have been refitted by the resumption test: a refit reproduces it too.
    """
    arguments = ["meta-train", "--config", str(tiny_run / "config.json"), "--output", str(tiny_run / "again")]
    assert cli.main(arguments) == 0
    with np.load(tiny_run / "run" / "policy" / "weights.npz") as first:
        with np.load(tiny_run / "again" / "policy" / "weights.npz") as second:
            assert first.files == second.files
            for name in first.files:
                np.testing.assert_array_equal(first[name], second[name])


def test_fit_decisions_refits_a_rounds_policy_and_its_seed_changes_the_fit(tiny_run, tmp_path):
    from keras_meta.meta.pipeline import _load_rollouts
    from keras_meta.meta.pipeline import fit_decisions

    run = tiny_run / "run"
    config = MetaTrainConfig.from_dict(json.loads((run / "config.json").read_text()))
    data = _load_rollouts([run / "round_0" / "rollouts", run / "round_1" / "rollouts"])
    round_policy = load_policy(run / "round_1" / "policy")
    refit, _ = fit_decisions(config, data)
    other_seed, _ = fit_decisions(config, data, seed=config.seed + 1)
    probabilities = round_policy.evaluate_batch(data["features"])[0]
    refit.save(tmp_path / "refit")  # saving rounds the weights as the round's policy was rounded
    np.testing.assert_array_equal(load_policy(tmp_path / "refit").evaluate_batch(data["features"])[0], probabilities)
    assert np.abs(other_seed.evaluate_batch(data["features"])[0] - probabilities).max() > 1e-3


def test_the_task_family_of_a_config_is_what_its_tasks_are_drawn_with():
    from keras_meta.meta.families import sample_task

    config = MetaTrainConfig(sample_sizes=(64,), log10_lr_range=(-5.5, -5.0), optimizers=("sgd",))
    specs = [sample_task(seed, **config.task_family()) for seed in config.task_seeds(0, 10)]
    assert {spec.n_samples for spec in specs} == {64}
    assert {spec.optimizer for spec in specs} == {"sgd"}
    assert all(10**-5.5 <= spec.initial_lr <= 10**-5.0 for spec in specs)


def test_a_run_folder_from_before_the_newer_config_keys_still_resumes(tmp_path):
    import dataclasses

    from keras_meta.meta.pipeline import _claim_output_dir

    config = MetaTrainConfig.from_dict(TINY)
    older = {k: v for k, v in config.to_dict().items() if k not in ("cooldown_to_end", "label_every")}
    (tmp_path / "config.json").write_text(json.dumps(older))
    _claim_output_dir(config, tmp_path)  # the same run: accepted
    with pytest.raises(ValueError, match="another configuration"):
        _claim_output_dir(dataclasses.replace(config, label_every=2), tmp_path)


@pytest.mark.parametrize("propagate", [False, True])
def test_sparse_labels_train_the_value_head_on_every_decision(tmp_path, propagate):
    settings = {**TINY, "rounds": 1, "label_every": 3, "branches": [-2, -1, -0.5, 0, 0.5, 1, 2]}
    config = MetaTrainConfig.from_dict({**settings, "propagate_labels": propagate})
    policy = run_meta_training(config, tmp_path / "run", progress=False)
    training, evaluation = policy.card["training"], policy.card["evaluation"]
    if propagate:  # every decision after the first look-ahead label carries a label
        assert training["labelled_decisions"] == training["decisions"]
        assert "labels carried to the decisions between" in policy.card["description"]
        assert policy.card["act_every"] == 1  # its expert acted at every decision
    else:
        assert 0 < training["labelled_decisions"] < training["decisions"] / 2
        assert policy.card["act_every"] == 3  # it acts where its expert did, and keeps the rate between
    assert evaluation["value_decisions"] > evaluation["decisions"] > 0  # values at every decision, look-ahead at some


def test_rollouts_a_forced_climb_steered_train_the_action_head_but_not_the_value_head(tmp_path):
    # Two rollouts: the first draws no forced climb, the second one that starts at its decision 8 of 11.
    config = MetaTrainConfig.from_dict({**TINY, "rounds": 1, "rollouts_per_round": 2, "climb_exploration": 0.5})
    training = run_meta_training(config, tmp_path / "run", progress=False).card["training"]
    forced = [
        bool(np.load(path)["forced_climb"])
        for path in sorted((tmp_path / "run" / "round_0" / "rollouts").glob("*.npz"))
    ]
    assert any(forced) and not all(forced)  # these seeds draw both kinds
    assert training["labelled_decisions"] == training["decisions"] > training["value_decisions"] > 0
    # With forced_climb_values the same rollouts train the value head on every decision.
    from keras_meta.meta.pipeline import _head_masks
    from keras_meta.meta.pipeline import _load_rollouts

    data = _load_rollouts([tmp_path / "run" / "round_0" / "rollouts"])
    assert _head_masks(config, data)[1].sum() == training["value_decisions"]
    kept = MetaTrainConfig.from_dict({**config.to_dict(), "forced_climb_values": True})
    assert _head_masks(kept, data)[1].all()


def test_clean_fraction_reaches_the_tasks_a_run_draws():
    clean = MetaTrainConfig.from_dict({"clean_fraction": 1.0})
    plain = MetaTrainConfig.from_dict({})
    seeds = clean.task_seeds(0, 8)
    assert all(sample_task(seed, **clean.task_family()).noise == 0.0 for seed in seeds)
    assert any(sample_task(seed, **plain.task_family()).noise > 0.0 for seed in seeds)
