"""Shared test helpers: hand-made policies, tiny data and tiny models."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# Scripts that tests run in their own processes; pytest must not import them.
collect_ignore = ["mirrored_strategy_check.py"]

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from keras_meta.features import FEATURE_NAMES  # noqa: E402
from keras_meta.policy import DEFAULT_ACTIONS  # noqa: E402
from keras_meta.policy import Policy  # noqa: E402


def fixed_policy(log2_multiplier: float, name: str = "fixed") -> Policy:
    """A policy that always chooses the same action, whatever it sees."""
    actions = np.asarray(DEFAULT_ACTIONS)
    bias = np.where(actions == log2_multiplier, 50.0, 0.0)
    assert bias.max() > 0, f"{log2_multiplier} is not in {DEFAULT_ACTIONS}"
    return Policy(
        trunk=[],
        action_head=(np.zeros((len(FEATURE_NAMES), actions.size)), bias),
        value_head=(np.zeros((len(FEATURE_NAMES), 1)), np.array([-0.25])),
        card={"name": name, "decisions_per_run": 10},
    )


def uniform_policy() -> Policy:
    """A policy with equal probability on every action."""
    n_features, n_actions = len(FEATURE_NAMES), len(DEFAULT_ACTIONS)
    return Policy(
        trunk=[(np.zeros((n_features, 4)), np.zeros(4))],
        action_head=(np.zeros((4, n_actions)), np.zeros(n_actions)),
        value_head=(np.zeros((4, 1)), np.zeros(1)),
        card={"name": "uniform"},
    )


def regression_data(n_samples=64, n_features=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n_samples, n_features)).astype("float32")
    y = (x @ rng.standard_normal((n_features, 1))).astype("float32")
    return x, y


def tiny_model(lr=1e-2, n_features=4, optimizer=None, seed=0, **compile_kwargs):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [keras.Input((n_features,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(1)]
    )
    model.compile(optimizer or keras.optimizers.Adam(lr), "mse", **compile_kwargs)
    return model


@pytest.fixture
def halving_policy():
    return fixed_policy(-1.0, "always-halve")


@pytest.fixture
def doubling_policy():
    return fixed_policy(1.0, "always-double")
