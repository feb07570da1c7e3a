import json
import pathlib

import keras
import numpy as np
import pytest
from conftest import fixed_policy
from conftest import uniform_policy

import keras_meta
from keras_meta.features import FEATURE_NAMES
from keras_meta.handwritten import build_handwritten_policy
from keras_meta.policy import CARD_FILE
from keras_meta.policy import SHIPPED_POLICY_DIR
from keras_meta.policy import WEIGHTS_FILE
from keras_meta.policy import Policy
from keras_meta.policy import PolicyError
from keras_meta.policy import load_policy


def mlp_policy(seed=0, hidden=(16, 8)):
    rng = np.random.default_rng(seed)
    sizes = (len(FEATURE_NAMES),) + hidden
    trunk = [(rng.standard_normal((a, b)), rng.standard_normal(b)) for a, b in zip(sizes, sizes[1:])]
    return Policy(
        trunk=trunk,
        action_head=(rng.standard_normal((hidden[-1], 5)), rng.standard_normal(5)),
        value_head=(rng.standard_normal((hidden[-1], 1)), rng.standard_normal(1)),
        feature_mean=rng.standard_normal(len(FEATURE_NAMES)),
        feature_std=rng.uniform(0.5, 2.0, len(FEATURE_NAMES)),
        activation="relu",
        card={"name": "random-mlp", "version": "3", "training": {"rounds": 2}},
    )


def test_evaluate_matches_a_hand_computed_forward_pass():
    policy = mlp_policy()
    features = np.random.default_rng(1).standard_normal(len(FEATURE_NAMES))
    probabilities, value = policy.evaluate(features)

    hidden = (features - policy.feature_mean) / policy.feature_std
    for kernel, bias in policy.trunk:
        hidden = np.maximum(hidden @ kernel + bias, 0.0)
    logits = hidden @ policy.action_head[0] + policy.action_head[1]
    expected = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    np.testing.assert_allclose(probabilities, expected, rtol=1e-12)
    assert value == pytest.approx(float(hidden @ policy.value_head[0][:, 0] + policy.value_head[1][0]))
    assert probabilities.sum() == pytest.approx(1.0)


def test_fixed_policy_always_picks_its_action():
    probabilities, value = fixed_policy(-0.5).evaluate(np.zeros(len(FEATURE_NAMES)))
    assert fixed_policy(-0.5).actions[probabilities.argmax()] == -0.5
    assert value == -0.25
    np.testing.assert_allclose(uniform_policy().evaluate(np.ones(len(FEATURE_NAMES)))[0], 0.2)


def test_save_and_load_round_trip(tmp_path):
    policy = mlp_policy()
    policy.save(tmp_path / "p")
    loaded = load_policy(tmp_path / "p")
    assert loaded.card == policy.card
    features = np.random.default_rng(2).standard_normal((7, len(FEATURE_NAMES)))
    for got, want in zip(loaded.evaluate_batch(features), policy.evaluate_batch(features)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)  # stored as float32
    assert load_policy(tmp_path / "p" / CARD_FILE).name == "random-mlp"
    assert load_policy(str(tmp_path / "p")).name == "random-mlp"


def test_shipped_policies_load_by_name():
    shipped = {"default", "handwritten", "meta-v1", "meta-v2", "meta-v10"}
    shipped |= {"meta-v18", "meta-v19", "meta-v20", "meta-v21"}
    assert shipped <= set(keras_meta.available_policies())
    default = load_policy("default")
    assert default.name == "meta-v21" and default.card["kind"] == "meta-trained"
    assert default.card["fit_guard"] == 4.0  # chosen on the memorisation probe (docs/meta_training.md)
    assert default.card["lr_floor"] == 1.0  # the floor, chosen on the dev sets (docs/meta_training.md)
    assert default.card["climb_ramp"] == 0.05  # the ramp, chosen on the dev sets (docs/meta_training.md)
    assert default.card["climb_ramp_steps"] == 50.0  # the step-counted ramp (docs/meta_training.md)
    assert default.card["feature_spec"]["names"] == list(FEATURE_NAMES)
    assert load_policy().name == default.name
    assert load_policy(default) is default


def test_shipped_handwritten_files_are_what_the_builder_writes():
    shipped, built = load_policy("handwritten"), build_handwritten_policy()
    assert shipped.card == built.card
    for name, array in built.weight_arrays().items():
        np.testing.assert_allclose(shipped.weight_arrays()[name], array.astype(np.float32))


def test_handwritten_policy_backs_off_when_the_loss_rises_and_warms_up_when_it_falls():
    policy = load_policy("handwritten")
    falling, rising = np.zeros(len(FEATURE_NAMES)), np.zeros(len(FEATURE_NAMES))
    falling[FEATURE_NAMES.index("slope")] = -0.3
    rising[FEATURE_NAMES.index("slope")] = 0.3
    rising[FEATURE_NAMES.index("log_loss_vs_best")] = 0.3
    assert policy.actions[policy.evaluate(falling)[0].argmax()] > 0
    assert policy.actions[policy.evaluate(rising)[0].argmax()] < 0


def test_unknown_name_or_missing_directory(tmp_path):
    with pytest.raises(PolicyError, match="no-such-policy.*neither a shipped policy"):
        load_policy("no-such-policy")
    with pytest.raises(PolicyError, match=str(tmp_path / "absent")):
        load_policy(tmp_path / "absent")


def test_missing_files_are_named(tmp_path):
    mlp_policy().save(tmp_path)
    (tmp_path / WEIGHTS_FILE).unlink()
    with pytest.raises(PolicyError, match=f"{tmp_path / WEIGHTS_FILE}.*missing"):
        load_policy(tmp_path)
    (tmp_path / CARD_FILE).unlink()
    with pytest.raises(PolicyError, match=f"{tmp_path / CARD_FILE}.*missing"):
        load_policy(tmp_path)


def test_corrupt_card(tmp_path):
    mlp_policy().save(tmp_path)
    (tmp_path / CARD_FILE).write_text("{not json")
    with pytest.raises(PolicyError, match=f"{tmp_path / CARD_FILE}.*not valid JSON"):
        load_policy(tmp_path)
    (tmp_path / CARD_FILE).write_text("[1, 2]")
    with pytest.raises(PolicyError, match="JSON object"):
        load_policy(tmp_path)


def test_corrupt_or_pickled_weights(tmp_path):
    mlp_policy().save(tmp_path)
    weights = tmp_path / WEIGHTS_FILE
    weights.write_bytes(b"PK\x03\x04 truncated archive")
    with pytest.raises(PolicyError, match=f"{weights}.*corrupt"):
        load_policy(tmp_path)
    np.savez(weights, feature_mean=np.array([{"code": "object"}], dtype=object))
    with pytest.raises(PolicyError, match=f"{weights}.*plain arrays"):
        load_policy(tmp_path)


def _edit_card(directory, **changes):
    card = json.loads((directory / CARD_FILE).read_text())
    card.update(changes)
    (directory / CARD_FILE).write_text(json.dumps(card))


def test_mismatched_feature_spec_or_format_is_refused(tmp_path):
    mlp_policy().save(tmp_path)
    _edit_card(tmp_path, feature_spec={"version": 0, "names": ["slope"]})
    with pytest.raises(PolicyError, match=f"{tmp_path}.*different feature spec"):
        load_policy(tmp_path)
    _edit_card(tmp_path, feature_spec=keras_meta.load_policy().card["feature_spec"], format_version=99)
    with pytest.raises(PolicyError, match="format_version=99"):
        load_policy(tmp_path)


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"activation": ["tanh"]}, "activation"),
        ({"actions": []}, "actions"),
        ({"actions": ["x"]}, "actions"),
        ({"decisions_per_run": 0}, "decisions_per_run"),
        ({"decisions_per_run": "40"}, "decisions_per_run"),
        ({"final_cooldown": 1.0}, "final_cooldown"),
        ({"final_cooldown": "0.2"}, "final_cooldown"),
        ({"act_every": 0}, "act_every"),
        ({"act_every": 2, "actions": [-1, 1]}, "keeps the rate"),
        ({"members": 0}, "members"),
        ({"members": 2}, "member 1"),  # the card promises a second network the archive lacks
    ],
)
def test_bad_card_values_are_refused(tmp_path, changes, match):
    mlp_policy().save(tmp_path)
    _edit_card(tmp_path, **changes)
    with pytest.raises(PolicyError, match=match):
        load_policy(tmp_path)


def test_a_plain_npy_file_in_place_of_the_archive(tmp_path):
    mlp_policy().save(tmp_path)
    with open(tmp_path / WEIGHTS_FILE, "wb") as file:
        np.save(file, np.zeros(3))
    with pytest.raises(PolicyError, match="npz archive"):
        load_policy(tmp_path)


def test_inconsistent_shapes_or_values_are_refused(tmp_path):
    policy = mlp_policy()
    arrays = policy.weight_arrays()
    policy.save(tmp_path)
    np.savez(tmp_path / WEIGHTS_FILE, **{**arrays, "action_kernel": np.zeros((3, 5))})
    with pytest.raises(PolicyError, match="inconsistent.*action"):
        load_policy(tmp_path)
    np.savez(tmp_path / WEIGHTS_FILE, **{**arrays, "value_bias": np.array([np.nan])})
    with pytest.raises(PolicyError, match="non-finite"):
        load_policy(tmp_path)
    missing = {k: v for k, v in arrays.items() if k != "trunk_1_bias"}
    np.savez(tmp_path / WEIGHTS_FILE, **missing)
    with pytest.raises(PolicyError, match="trunk_1_bias"):
        load_policy(tmp_path)
    with pytest.raises(ValueError, match="activation"):
        Policy(trunk=[], action_head=policy.action_head, value_head=policy.value_head, activation="gelu")


def test_an_ensemble_averages_its_members_and_round_trips_through_files_and_config(tmp_path):
    first = mlp_policy()
    second = Policy(  # same actions and activation as `first`, other weights
        trunk=[(np.ones((len(FEATURE_NAMES), 3)), np.zeros(3))],
        action_head=(np.arange(15.0).reshape(3, 5) / 10, np.zeros(5)),
        value_head=(np.ones((3, 1)), np.array([0.5])),
        activation=first.activation,
    )
    ensemble = Policy.average([first, second], card={"name": "pair", "act_every": 2})
    features = np.random.default_rng(5).standard_normal((6, len(FEATURE_NAMES)))
    (p1, v1), (p2, v2) = first.evaluate_batch(features), second.evaluate_batch(features)
    probabilities, values = ensemble.evaluate_batch(features)
    np.testing.assert_allclose(probabilities, (p1 + p2) / 2)
    np.testing.assert_allclose(values, (v1 + v2) / 2)
    assert ensemble.card["members"] == 2 and "members=2" in repr(ensemble)
    loaded = load_policy(ensemble.save(tmp_path))
    np.testing.assert_allclose(loaded.evaluate_batch(features)[0], probabilities, rtol=1e-5)
    assert loaded.card["act_every"] == 2 and len(loaded.members) == 1
    clone = Policy.from_config(ensemble.get_config())
    np.testing.assert_allclose(clone.evaluate_batch(features)[1], values)
    with pytest.raises(ValueError, match="same actions and activation"):
        Policy.average([first, fixed_policy(1.0)])  # a tanh network with a relu one
    assert "members" not in first.card  # a single network's card says nothing of members


def test_config_and_keras_serialization_round_trip():
    policy = mlp_policy()
    clone = Policy.from_config(policy.get_config())
    features = np.random.default_rng(3).standard_normal((4, len(FEATURE_NAMES)))
    np.testing.assert_allclose(clone.evaluate_batch(features)[0], policy.evaluate_batch(features)[0])
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(policy))
    assert isinstance(restored, Policy) and restored.card == policy.card
    assert "random-mlp" in repr(restored)


@pytest.mark.parametrize("name", ["meta-v1", "meta-v2"])
def test_each_shipped_meta_trained_policy_is_what_its_config_reproduces(name):
    policy_dir = SHIPPED_POLICY_DIR / name
    policy = load_policy(name)
    config = json.loads((pathlib.Path(__file__).parents[1] / "configs" / f"{name}.json").read_text())
    assert {key: policy.card["training"]["config"][key] for key in config} == config
    assert policy.card["training"]["rounds_done"] == policy.card["training"]["config"]["rounds"]
    assert 0 <= policy.card["evaluation"]["label_agreement"] <= 1
    assert (policy_dir / "weights.npz").stat().st_size < 1_000_000
    assert (policy_dir / "MODEL_CARD.md").read_text().startswith(f"# Model card: `{name}`")


@pytest.mark.parametrize("name", ["meta-v10", "meta-v18", "meta-v19", "meta-v20", "meta-v21"])
def test_each_shipped_ensemble_is_what_its_members_configs_reproduce(name):
    policy = load_policy(name)
    training = policy.card["training"]
    assert policy.card["members"] == len(policy.members) + 1 == len(training["members"]) == 2
    configs = pathlib.Path(__file__).parents[1] / "configs"
    for member, seed in zip(training["members"], training["member_seeds"]):
        config = json.loads((configs / f"{member}.json").read_text())
        assert config["seed"] == seed
        assert {key: training["config"][key] for key in config if key not in ("name", "seed")} == {
            key: value for key, value in config.items() if key not in ("name", "seed")
        }
    assert policy.card["act_every"] == training["config"]["label_every"]  # it acts where its experts did
    assert policy.card["final_cooldown"] == training["config"]["final_cooldown"]
    assert (SHIPPED_POLICY_DIR / name / WEIGHTS_FILE).stat().st_size < 1_000_000
    assert (SHIPPED_POLICY_DIR / name / "MODEL_CARD.md").read_text().startswith(f"# Model card: `{name}`")
