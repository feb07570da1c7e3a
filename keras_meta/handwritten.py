"""The hand-written policy: a readable rule, written as policy weights.

Until the meta-trained policy ships, `"default"` resolves to this policy. It
is **not learned**: it is a linear rule, chosen by hand, expressed in the same
network format as a learned policy so that everything downstream (the file
format, the callback, the CLI) is exercised by it.

The rule computes a preferred log2 step for the learning rate,

    mu = 0.35 - 0.7 * progress                (warm up early, anneal late)
         - 1.5 * slope                        (a falling loss invites a larger rate)
         - 2.0 * log_loss_vs_best             (worse than the best window: back off)
         - 0.3 * noise                        (a noisy curve: back off a little)
         - 0.5 * (increase_fraction - 0.5)    (more rises than falls: back off)
         - 3.0 * val_slope                    (validation loss rising: back off)
         - 0.1 * log_lr_vs_initial            (drift back toward the start)

and the action logits `beta * (a * mu - a**2 / 2)` put the most probability on
the action `a` closest to `mu`. The value head is a crude guess, `2 * slope`.
Regenerate the shipped files with `python -m keras_meta.handwritten`.
"""

from __future__ import annotations

import numpy as np

from keras_meta.features import FEATURE_NAMES
from keras_meta.policy import DEFAULT_ACTIONS
from keras_meta.policy import SHIPPED_POLICY_DIR
from keras_meta.policy import Policy

NAME = "handwritten"

_PREFERENCE_BIAS = 0.35 + 0.25  # the constant plus the +0.25 of the increase_fraction term
_PREFERENCE_WEIGHTS = {
    "progress": -0.7,
    "slope": -1.5,
    "log_loss_vs_best": -2.0,
    "noise": -0.3,
    "increase_fraction": -0.5,
    "val_slope": -3.0,
    "log_lr_vs_initial": -0.1,
}
_SHARPNESS = 8.0  # beta: how strongly the logits prefer the closest action
_VALUE_WEIGHTS = {"slope": 2.0}


def build_handwritten_policy() -> Policy:
    """Builds the hand-written policy from the rule in this module's docstring.

    Returns:
        A linear `Policy` (no hidden layer) named `"handwritten"`.
    """
    actions = np.asarray(DEFAULT_ACTIONS)
    preference = _weight_vector(_PREFERENCE_WEIGHTS)
    action_kernel = _SHARPNESS * np.outer(preference, actions)
    action_bias = _SHARPNESS * (actions * _PREFERENCE_BIAS - actions**2 / 2)
    value_kernel = _weight_vector(_VALUE_WEIGHTS)[:, None]
    card = {
        "name": NAME,
        "version": "0.2",
        "kind": "handwritten",
        "description": (
            "A hand-written linear rule, NOT meta-trained: warm up while the loss falls "
            "smoothly, back off on rises, noise and rising validation loss, anneal with progress. "
            "Its value head is a crude guess. Stands in for the default policy until the "
            "meta-trained one ships."
        ),
        "decisions_per_run": 40,
        "training": {"method": "none (hand-written, see keras_meta/handwritten.py)"},
    }
    return Policy(
        trunk=[],
        action_head=(action_kernel, action_bias),
        value_head=(value_kernel, np.zeros(1)),
        actions=actions,
        card=card,
    )


def _weight_vector(weights: dict[str, float]) -> np.ndarray:
    vector = np.zeros(len(FEATURE_NAMES))
    for name, weight in weights.items():
        vector[FEATURE_NAMES.index(name)] = weight
    return vector


if __name__ == "__main__":
    print(build_handwritten_policy().save(SHIPPED_POLICY_DIR / NAME))
