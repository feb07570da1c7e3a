import numpy as np
import pytest
from conftest import fixed_policy

from keras_meta.meta.ensemble import build_ensemble
from keras_meta.policy import load_policy


def with_card(policy, **changes):
    return type(policy).from_config({**policy.get_config(), "card": {**policy.card, **changes}})


def test_an_ensemble_of_the_shipped_policies_describes_every_member():
    ensemble = build_ensemble(["meta-v1", "meta-v2"], name="v1+v2", act_every=4)
    card = ensemble.card
    assert card["name"] == "v1+v2" and card["members"] == 2 and card["act_every"] == 4
    assert card["fit_guard"] == 0.0  # the first member's (none)
    assert build_ensemble(["meta-v1", "meta-v2"], name="guarded", fit_guard=4.0).card["fit_guard"] == 4.0
    assert "lr_floor" not in card
    assert build_ensemble(["meta-v1", "meta-v2"], name="floored", lr_floor=1.0).card["lr_floor"] == 1.0
    assert "climb_ramp" not in card
    assert build_ensemble(["meta-v1", "meta-v2"], name="ramped", climb_ramp=0.05).card["climb_ramp"] == 0.05
    assert "climb_ramp_steps" not in card
    stepped = build_ensemble(["meta-v1", "meta-v2"], name="stepped", climb_ramp_steps=50.0)
    assert stepped.card["climb_ramp_steps"] == 50.0
    assert card["training"]["members"] == ["meta-v1", "meta-v2"]
    assert card["training"]["member_seeds"] == [0, 0]
    members = [load_policy(name).card["training"] for name in ("meta-v1", "meta-v2")]
    assert card["training"]["decisions"] == sum(training["decisions"] for training in members)
    assert any(key.startswith("meta-v2 ") for key in card["evaluation"])
    features = np.zeros((1, ensemble.feature_mean.size))
    assert ensemble.evaluate_batch(features)[0].sum() == pytest.approx(1.0)


def test_policies_of_different_recipes_or_too_few_are_refused():
    with pytest.raises(ValueError, match="at least two"):
        build_ensemble(["meta-v2"], name="one")
    with pytest.raises(ValueError, match="final_cooldown"):
        build_ensemble([fixed_policy(1.0), with_card(fixed_policy(1.0), final_cooldown=0.2)], name="mixed")
