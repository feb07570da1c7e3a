"""Shared test helpers: hand-made policies, tiny data and tiny models."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# One TensorFlow thread per pool in each test process (and the processes tests start, which
# inherit the environment): pytest-xdist already runs one worker per core, and on tiny models
# more threads only contend. Measured on 2 cores, 88 tests of the selector, meta-training and
# callback modules: 176-179 s against 192-219 s with TensorFlow's defaults.
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")

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


def fit(model, callback, epochs=1, batch_size=8, x=None, y=None, **kwargs):
    """`model.fit` on `regression_data()` (or `x`, `y`) with `callback`, silently."""
    if x is None:
        x, y = regression_data()
    return model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, callbacks=[callback], **kwargs)


def lr_of(model):
    """The model's optimizer's current learning rate, a float."""
    return float(model.optimizer.learning_rate.numpy())


def linear_model(lr):
    """A seeded linear regression on 4 features under SGD(`lr`): no hidden layer, so a rate decides its fate."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(lr), "mse")
    return model


@pytest.fixture
def halving_policy():
    return fixed_policy(-1.0, "always-halve")


@pytest.fixture
def doubling_policy():
    return fixed_policy(1.0, "always-double")
