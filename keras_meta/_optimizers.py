"""Reading and writing an optimizer's rate and state, wrapped optimizers included."""

from __future__ import annotations

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


def get_lr(optimizer) -> float:
    return float(optimizer.learning_rate.numpy())


def set_lr(optimizer, lr: float) -> None:
    """Sets the rate; `LossScaleOptimizer` forwards it to its inner optimizer."""
    optimizer.learning_rate = lr
