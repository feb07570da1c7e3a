"""Reading and writing an optimizer's rate and state (wrapped optimizers included), and snapshots
of a model's whole training state for rolling back a diverged run."""

from __future__ import annotations

import dataclasses
import inspect

import keras
import numpy as np


def innermost(optimizer):
    """The optimizer that does the work, unwrapping `LossScaleOptimizer`."""
    while hasattr(optimizer, "inner_optimizer"):
        optimizer = optimizer.inner_optimizer
    return optimizer


def check_optimizer(optimizer):
    if optimizer is None:
        raise ValueError("MetaLRCallback needs a compiled model with an optimizer.")
    inner = innermost(optimizer)
    schedule = getattr(inner, "_learning_rate", None)
    if isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule) or callable(schedule):
        raise ValueError(
            f"MetaLRCallback sets the learning rate itself, but the optimizer "
            f"{type(inner).__name__} was built with a schedule ({type(schedule).__name__}), "
            "whose rate cannot be changed. Give the optimizer a float starting rate, for "
            "example keras.optimizers.Adam(learning_rate=1e-3), or drop the callback to keep "
            "the schedule."
        )


def optimizer_state(optimizer) -> dict:
    """The optimizer's variables as numpy arrays, by path."""
    return {v.path: np.array(v.numpy()) for v in optimizer.variables}


def restore_optimizer_state(optimizer, state: dict) -> None:
    """Assigns a state taken by `optimizer_state` back.

    Variables built after the state was taken (an optimizer builds its slots
    on the first step) go back to their initial value, zero.
    """
    for variable in optimizer.variables:
        saved = state.get(variable.path)
        variable.assign(np.zeros(variable.shape, variable.dtype) if saved is None else saved)


def default_learning_rate(optimizer) -> float | None:
    """The `learning_rate` default of an optimizer's class (1e-3 for Adam, 1e-2 for SGD).

    Args:
        optimizer: A Keras optimizer or optimizer class.

    Returns:
        The default, a positive float, or `None` if the class has none.
    """
    optimizer_class = optimizer if isinstance(optimizer, type) else type(optimizer)
    try:
        default = inspect.signature(optimizer_class.__init__).parameters["learning_rate"].default
    except (KeyError, TypeError, ValueError):
        return None
    return float(default) if isinstance(default, (int, float)) and default > 0 else None


def get_lr(optimizer) -> float:
    return float(optimizer.learning_rate.numpy())


def set_lr(optimizer, lr: float) -> None:
    """Sets the rate; `LossScaleOptimizer` forwards it to its inner optimizer."""
    optimizer.learning_rate = lr


@dataclasses.dataclass
class Snapshot:
    """A copy of the training state at one batch.

    Attributes:
        step: Integer. The batch count at which it was taken.
        weights: List of numpy arrays, `model.get_weights()`.
        optimizer_variables: Dict, variable path -> numpy value.
    """

    step: int
    weights: list
    optimizer_variables: dict


def take_snapshot(model, step: int) -> Snapshot | None:
    """Copies the model's weights and optimizer state, or returns `None` if a weight is not finite.

    Args:
        model: A compiled, built `keras.Model`.
        step: Integer. The batch count to record with the copy.

    Returns:
        A `Snapshot`, or `None` when the weights hold NaN or inf (nothing worth keeping).
    """
    weights = model.get_weights()
    if not all(np.all(np.isfinite(w)) for w in weights):
        return None
    return Snapshot(step, weights, optimizer_state(model.optimizer))


def restore_snapshot(model, snapshot: Snapshot) -> None:
    """Puts back a snapshot's weights and optimizer state, keeping the current learning rate.

    Args:
        model: The model the snapshot was taken from.
        snapshot: A `Snapshot` from `take_snapshot`.
    """
    optimizer = model.optimizer
    lr = get_lr(optimizer)
    model.set_weights(snapshot.weights)
    restore_optimizer_state(optimizer, snapshot.optimizer_variables)
    set_lr(optimizer, lr)
