"""Benchmark methods: an optimizer factory plus a callbacks factory.

The built-in methods are named so that the name says everything about them,
for example `constant@1e-3`, `cosine@3e-2` or `meta@1e-5`; `make_method`
turns a name back into a `Method` (worker processes rebuild methods this
way). A user's task file may define `METHODS`, a list of `Method`, to
benchmark anything else.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

from keras_meta.bench._environment import CALLBACK_SOURCES
from keras_meta.bench._environment import policy_fingerprint
from keras_meta.bench._environment import source_fingerprint

GRID_LRS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
"""The oracle's learning rates, each run constant and with cosine decay."""

ROBUSTNESS_LRS = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1)
"""The starting rates of the robustness measurement."""

DEFAULT_LR = 1e-3


@dataclasses.dataclass(frozen=True)
class Context:
    """What a method's factories may look at.

    Attributes:
        task: The `Task`.
        splits: The task's `Splits` for this seed.
        model: The uncompiled model, with its initial weights.
        steps_per_epoch: Integer.
        seed: Integer.
    """

    task: object
    splits: object
    model: object
    steps_per_epoch: int
    seed: int


@dataclasses.dataclass(frozen=True)
class Method:
    """A way to train: an optimizer, callbacks, and an optional post-compile step.

    Args:
        name: String. Unique; the report's row label and part of the cache key.
        make_optimizer: Callable `Context -> keras.optimizers.Optimizer`.
        make_callbacks: Callable `Context -> list of callbacks`.
        after_compile: Callable `(model, Context) -> None`, or `None`.
        fingerprint: Dict of plain values. Anything beyond the name that
            identifies the method's results in the cache (a policy's
            version, a user method's version).
    """

    name: str
    make_optimizer: Callable
    make_callbacks: Callable = lambda context: []
    after_compile: Callable | None = None
    fingerprint: dict = dataclasses.field(default_factory=dict)


def _adam(lr):
    import keras

    return lambda context: keras.optimizers.Adam(lr)


def constant(lr: float) -> Method:
    """Adam at a constant rate."""
    return Method(f"constant@{lr:g}", _adam(lr))


def cosine(lr: float) -> Method:
    """Adam with cosine decay from `lr` to zero over the epoch budget."""

    def make_optimizer(context):
        import keras

        steps = context.steps_per_epoch * context.task.epochs
        return keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(lr, decay_steps=steps))

    return Method(f"cosine@{lr:g}", make_optimizer)


def _plateau():
    import keras

    return keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=5, min_lr=1e-6)


def plateau() -> Method:
    """Adam(1e-3) with `ReduceLROnPlateau(factor=0.5, patience=5)` on val_loss."""
    return Method("plateau", _adam(DEFAULT_LR), lambda context: [_plateau()])


def recipe() -> Method:
    """The practitioner's recipe: plateau plus `EarlyStopping(patience=10, restore_best_weights=True)`."""

    def make_callbacks(context):
        import keras

        stopping = keras.callbacks.EarlyStopping(monitor="val_loss", patience=10, restore_best_weights=True)
        return [_plateau(), stopping]

    return Method("recipe", _adam(DEFAULT_LR), make_callbacks)


def schedule_free(z_at_weights: bool = False) -> Method:
    """`keras.optimizers.ScheduleFreeAdamW` at its defaults.

    Args:
        z_at_weights: Boolean. Start its z sequence at the weights, as the
            paper intends; as shipped in Keras 3.15 it starts at zero.
    """

    def make_optimizer(context):
        import keras

        return keras.optimizers.ScheduleFreeAdamW()

    def start_z_at_weights(model, context):
        optimizer = model.optimizer
        optimizer.build(model.trainable_variables)
        for z, weight in zip(optimizer._momentums, model.trainable_variables):
            if z is not None:
                z.assign(weight)

    if z_at_weights:
        return Method("schedule_free_z", make_optimizer, after_compile=start_z_at_weights)
    return Method("schedule_free", make_optimizer)


def _policy_fingerprint(policy, *extra_sources) -> dict:
    """What a keras-meta method's results depend on: the policy's contents and the callback's code."""
    return {**policy_fingerprint(policy), "code": source_fingerprint(*CALLBACK_SOURCES, *extra_sources)}


def meta(lr: float = DEFAULT_LR, policy="default") -> Method:
    """Adam from `lr`, steered by `MetaLRCallback` with `policy`."""
    policy = os.fspath(policy)

    def make_callbacks(context):
        from keras_meta.callbacks import MetaLRCallback

        return [MetaLRCallback(policy=policy)]

    return Method(f"meta@{lr:g}", _adam(lr), make_callbacks, fingerprint=_policy_fingerprint(policy))


def suggest(policy="default") -> Method:
    """`suggest_lr` (three 1-epoch probes, planned for the whole budget), then constant Adam."""
    policy = os.fspath(policy)

    def make_optimizer(context):
        import keras

        from keras_meta.finder import suggest_lr

        splits = context.splits
        context.model.compile(keras.optimizers.Adam(DEFAULT_LR), context.task.make_loss())
        suggestion = suggest_lr(
            context.model,
            splits.x_train,
            splits.y_train,
            policy=policy,
            batch_size=context.task.batch_size,
            planned_epochs=context.task.epochs,
        )
        return keras.optimizers.Adam(suggestion.lr)

    return Method("suggest", make_optimizer, fingerprint=_policy_fingerprint(policy, "finder.py"))


def oracle_grid() -> list[Method]:
    """The 14 methods of the oracle: each grid rate, constant and cosine."""
    return [constant(lr) for lr in GRID_LRS] + [cosine(lr) for lr in GRID_LRS]


def baseline_names() -> list[str]:
    """The baselines `MetaLRCallback` is compared against, by method name."""
    return [
        f"constant@{DEFAULT_LR:g}",
        f"cosine@{DEFAULT_LR:g}",
        "plateau",
        "recipe",
        "schedule_free",
        "schedule_free_z",
    ]


def standard_methods(policy="default", quick: bool = False) -> list[Method]:
    """Every method of a benchmark run: the grid, the baselines and keras-meta's.

    Args:
        policy: String, path or `Policy`. The policy keras-meta's methods use.
        quick: Boolean. Measure robustness from 1e-5 and 1e-1 only.

    Returns:
        A list of `Method`, names unique.
    """
    starts = (1e-5, DEFAULT_LR, 1e-1) if quick else ROBUSTNESS_LRS
    methods = oracle_grid() + [plateau(), recipe(), schedule_free(), schedule_free(z_at_weights=True)]
    methods += [meta(lr, policy) for lr in starts] + [suggest(policy)]
    return methods


def make_method(name: str, policy="default", user_methods=()) -> Method:
    """Rebuilds a method from its name.

    Args:
        name: String. A built-in name or the name of one of `user_methods`.
        policy: String or path. The policy of keras-meta's methods.
        user_methods: Sequence of `Method` from a user's task file.

    Returns:
        The `Method`.
    """
    for method in user_methods:
        if method.name == name:
            return method
    kind, _, rate = name.partition("@")
    factories = {"constant": constant, "cosine": cosine}
    if kind in factories and rate:
        return factories[kind](float(rate))
    if kind == "meta" and rate:
        return meta(float(rate), policy)
    named = {
        "plateau": plateau,
        "recipe": recipe,
        "schedule_free": schedule_free,
        "schedule_free_z": lambda: schedule_free(z_at_weights=True),
        "suggest": lambda: suggest(policy),
    }
    if name in named:
        return named[name]()
    raise ValueError(f"Unknown benchmark method. Received: name={name!r}")
