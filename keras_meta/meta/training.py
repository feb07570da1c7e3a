"""Fitting the policy network to labelled decisions, and exporting it to numpy.

The network is trained as a Keras model (a tanh trunk, a softmax action head
fitted to the look-ahead's soft labels by cross-entropy, a linear value head
fitted to log(final / current loss) by squared error), then its weights are
exported into a `Policy`, whose inference is numpy. The value head learns
from every decision; the action head only from those with a label.
"""

from __future__ import annotations

import numpy as np

from keras_meta.features import FEATURE_NAMES
from keras_meta.policy import DEFAULT_ACTIONS
from keras_meta.policy import Policy

_MIN_STD = 1e-3  # features that barely vary are not blown up by normalisation


def fit_policy(
    features: np.ndarray,
    labels: np.ndarray,
    values: np.ndarray,
    *,
    has_label=None,
    has_value=None,
    hidden=(64, 64),
    epochs: int = 60,
    value_weight: float = 0.5,
    value_clip: float | None = None,
    seed: int = 0,
    card=None,
) -> tuple[Policy, dict]:
    """Trains a policy on labelled decisions.

    Args:
        features: Array `(n, len(FEATURE_NAMES))`.
        labels: Array `(n, n_actions)`, rows summing to 1.
        values: Array `(n,)`, log(final loss / loss at the decision).
        has_label: Boolean array `(n,)`, or `None` (every row has a label).
            Rows without one train only the value head; each head's loss is
            the mean over its own rows.
        has_value: Boolean array `(n,)`, or `None` (every row has a value
            target). Rows without one train only the action head: their
            runs were not the policy's own (a forced climb), so their final
            loss says little about the policy's.
        hidden: Tuple of integers. The trunk's widths.
        epochs: Integer.
        value_weight: Float. Weight of the value loss against the action loss.
        value_clip: Float or `None`. Value targets are clipped to
            [-value_clip, value_clip] before the fit: a diverged run's
            log(final / current loss) can reach 60 and would dominate the
            squared error. `None`: no clipping.
        seed: Integer.
        card: Dict. Card entries for the exported policy.

    Returns:
        `(policy, metrics)`: the exported `Policy` and the final training
        losses of both heads.
    """
    import keras

    features, labels, values = _check(features, labels, values)
    if value_clip is not None:
        values = np.clip(values, -value_clip, value_clip)
    mean = features.mean(axis=0)
    std = np.maximum(features.std(axis=0), _MIN_STD)
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((features.shape[1],))
    hidden_output = inputs
    for units in hidden:
        hidden_output = keras.layers.Dense(units, activation="tanh")(hidden_output)
    action = keras.layers.Dense(labels.shape[1], name="action")(hidden_output)
    value = keras.layers.Dense(1, name="value")(hidden_output)
    model = keras.Model(inputs, {"action": action, "value": value})
    model.compile(
        keras.optimizers.Adam(1e-3),
        loss={"action": keras.losses.CategoricalCrossentropy(from_logits=True), "value": "mse"},
        loss_weights={"action": 1.0, "value": value_weight},
    )
    history = model.fit(
        ((features - mean) / std).astype(np.float32),
        {"action": labels.astype(np.float32), "value": values[:, None].astype(np.float32)},
        sample_weight=_head_weights(has_label, has_value, len(features)),
        batch_size=64,
        epochs=epochs,
        verbose=0,
        shuffle=True,
    )
    dense_layers = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    trunk = [tuple(layer.get_weights()) for layer in dense_layers[: len(hidden)]]
    policy = Policy(
        trunk=trunk,
        action_head=tuple(model.get_layer("action").get_weights()),
        value_head=tuple(model.get_layer("value").get_weights()),
        actions=DEFAULT_ACTIONS,
        feature_mean=mean,
        feature_std=std,
        activation="tanh",
        card=card,
    )
    final = {key: float(curve[-1]) for key, curve in history.history.items()}
    return policy, final


def _head_weights(has_label, has_value, n: int) -> dict[str, np.ndarray] | None:
    """Sample weights that train each head on its own rows only, at its usual scale; `None` if all rows count."""
    if has_label is None and has_value is None:
        return None
    return {"action": _row_weights(has_label, n, "action"), "value": _row_weights(has_value, n, "value")}


def _row_weights(has_target, n: int, head: str) -> np.ndarray:
    if has_target is None:
        return np.ones(n, np.float32)
    has_target = np.asarray(has_target, dtype=bool)
    if not has_target.any():
        raise ValueError(f"No decision has a target for the {head} head: there is nothing to train it on.")
    return (has_target * (n / has_target.sum())).astype(np.float32)


def _check(features, labels, values):
    features = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if features.ndim != 2 or features.shape[1] != len(FEATURE_NAMES):
        raise ValueError(f"`features` must have shape (n, {len(FEATURE_NAMES)}). Received: {features.shape}")
    if labels.shape != (len(features), len(DEFAULT_ACTIONS)) or values.shape != (len(features),):
        raise ValueError(
            f"`labels` and `values` must have {len(features)} rows. Received: {labels.shape}, {values.shape}"
        )
    if len(features) == 0:
        raise ValueError("There are no labelled decisions to train on.")
    return features, labels, values
