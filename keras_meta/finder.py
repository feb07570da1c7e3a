"""`suggest_lr`: short policy-steered probes; a constant rate from the median of their proposals."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from keras_meta._optimizers import get_lr
from keras_meta._optimizers import optimizer_state
from keras_meta._optimizers import restore_optimizer_state
from keras_meta._optimizers import set_lr
from keras_meta.callbacks import MetaLRCallback
from keras_meta.policy import load_policy

DEFAULT_START_LRS = (1e-4, 1e-3, 1e-2)
DEFAULT_DIVISOR = 5.0  # the best of 1, 3, 5 and 8 on the second dev set (docs/suggest_lr.md)
_DECISIONS_PER_PROBE = 20


@dataclasses.dataclass
class LRSuggestion:
    """What `suggest_lr` found.

    Attributes:
        lr: Float. The suggested constant rate: the median of `proposals`
            divided by `divisor`.
        proposals: List of floats. The rate each probe arrived at.
        start_lrs: List of floats. The rate each probe started from.
        trajectories: List of lists of `(step, lr)` pairs, one per probe.
        final_losses: List of floats. Each probe's last training loss.
        divisor: Float. What the median proposal was divided by.
    """

    lr: float
    proposals: list
    start_lrs: list
    trajectories: list
    final_losses: list
    divisor: float = 1.0

    def plot(self, path=None):
        """Plots each probe's learning-rate trajectory and the suggestion.

        Args:
            path: String or `None`. Where to save the PNG; `None` saves nothing.

        Returns:
            The matplotlib `Figure`.
        """
        from matplotlib.figure import Figure

        figure = Figure(figsize=(6, 4))
        axes = figure.subplots()
        for start, trajectory in zip(self.start_lrs, self.trajectories):
            steps, rates = zip(*trajectory)
            axes.plot(steps, rates, marker=".", label=f"probe from {start:.0e}")
        axes.axhline(self.lr, color="black", linestyle="--", label=f"suggestion {self.lr:.2e}")
        axes.set(xscale="linear", yscale="log", xlabel="step", ylabel="learning rate")
        axes.set_title("suggest_lr: policy-steered probes")
        axes.legend(fontsize="small")
        figure.tight_layout()
        if path is not None:
            figure.savefig(path, dpi=100)
        return figure


class _ProbeCallback(MetaLRCallback):
    """A `MetaLRCallback` that treats the probe as the start of a longer run.

    A probe is there to find how far the policy climbs, so a policy card's
    ramps on the climb (`climb_ramp`, `climb_ramp_steps`) are off, and so is
    the relapse guard (`divisor` was chosen on probes without it).
    """

    def __init__(self, planned_epochs, **kwargs):
        super().__init__(climb_ramp=0.0, climb_ramp_steps=0.0, relapse_guard=None, **kwargs)
        self.planned_epochs = planned_epochs

    def _run_epochs(self):
        return self.planned_epochs


def suggest_lr(
    model,
    x,
    y=None,
    *,
    policy="default",
    start_lrs=DEFAULT_START_LRS,
    epochs=1,
    planned_epochs=None,
    batch_size=None,
    interval=None,
    divisor=DEFAULT_DIVISOR,
    **fit_kwargs,
):
    """Suggests a constant learning rate from short policy-steered probes.

    Each probe starts from the model's current weights and optimizer state,
    sets one of `start_lrs`, and trains for `epochs` under a
    `MetaLRCallback`; the rate the policy has arrived at when the probe ends
    is its proposal. That is the policy's rate for the early part of a run;
    held constant for a whole run it is too large, so the suggestion is the
    median proposal divided by `divisor`. The probes climb freely: a policy
    card's ramps on the climb do not apply to them. The model's weights,
    optimizer state and learning rate are restored before returning.

    Example:

    ```python
    model.compile(keras.optimizers.Adam(), "mse")
    suggestion = keras_meta.suggest_lr(model, x, y, batch_size=32)
    model.optimizer.learning_rate = suggestion.lr
    suggestion.plot("probes.png")
    ```

    Args:
        model: A compiled `keras.Model` whose optimizer has a float rate.
        x: Input data, as for `model.fit`.
        y: Target data, as for `model.fit`.
        policy: String, path or `Policy`. The policy that steers the probes.
        start_lrs: Sequence of floats. One probe starts from each.
        epochs: Integer. Length of each probe, in epochs. Defaults to 1.
        planned_epochs: Integer or `None`. The length of the training run the
            suggestion is for: the policy sees each probe as the first
            `epochs` of it. Defaults to `epochs` (the probe is the whole run).
        batch_size: Integer or `None`. As for `model.fit`.
        interval: Integer or `None`. Batches between the policy's decisions.
            `None` gives each probe about 20 decisions when the length of
            the data is known.
        divisor: Float >= 1. The suggestion is the median proposal divided
            by this. Defaults to 5, the best of 1, 3, 5 and 8 for a constant
            rate over the whole run on the second development set
            (docs/suggest_lr.md); 1 returns the median proposal itself.
        **fit_kwargs: Passed on to `model.fit` (for example
            `validation_data`). `epochs`, `callbacks` and `verbose` are set
            by `suggest_lr`.

    Returns:
        An `LRSuggestion`.
    """
    if not start_lrs:
        raise ValueError(f"`start_lrs` must not be empty. Received: start_lrs={start_lrs!r}")
    if epochs < 1:
        raise ValueError(f"`epochs` must be at least 1. Received: epochs={epochs}")
    if not divisor >= 1:
        raise ValueError(f"`divisor` must be at least 1. Received: divisor={divisor}")
    planned_epochs = planned_epochs or epochs
    if planned_epochs < epochs:
        raise ValueError(
            f"`planned_epochs` must be at least `epochs`. Received: epochs={epochs}, planned_epochs={planned_epochs}"
        )
    reserved = sorted({"epochs", "callbacks", "verbose"} & set(fit_kwargs))
    if reserved:
        raise ValueError(f"suggest_lr sets {reserved} itself; pass `epochs=` as its own argument. Received: {reserved}")
    if not model.built or model.optimizer is None:
        raise ValueError(
            "suggest_lr needs a built and compiled model, so that it can restore the weights it starts "
            "from: give the model a `keras.Input`, or call it on a batch, and `compile` it first."
        )
    policy = load_policy(policy)
    interval = interval or _probe_interval(x, batch_size, epochs)
    weights = model.get_weights()
    saved_optimizer_state = optimizer_state(model.optimizer)
    original_lr = get_lr(model.optimizer)
    proposals, trajectories, final_losses = [], [], []
    try:
        for start_lr in start_lrs:
            callback = _ProbeCallback(planned_epochs, policy=policy, interval=interval)
            set_lr(model.optimizer, float(start_lr))
            history = model.fit(
                x, y, batch_size=batch_size, epochs=epochs, callbacks=[callback], verbose=0, **fit_kwargs
            )
            proposals.append(get_lr(model.optimizer))
            trajectories.append(_trajectory(callback, float(start_lr)))
            final_losses.append(float(history.history["loss"][-1]))
            model.set_weights(weights)
            restore_optimizer_state(model.optimizer, saved_optimizer_state)
    finally:
        model.set_weights(weights)
        restore_optimizer_state(model.optimizer, saved_optimizer_state)
        set_lr(model.optimizer, original_lr)
    return LRSuggestion(
        lr=float(np.median(proposals)) / float(divisor),
        proposals=proposals,
        start_lrs=[float(lr) for lr in start_lrs],
        trajectories=trajectories,
        final_losses=final_losses,
        divisor=float(divisor),
    )


def _probe_interval(x, batch_size, epochs):
    """About `_DECISIONS_PER_PROBE` decisions per probe, when the data's length is known."""
    first = x[0] if isinstance(x, (list, tuple)) and x else x
    if not hasattr(first, "shape"):
        return None  # a dataset or generator: let the callback decide
    n_samples = first.shape[0]
    steps = epochs * math.ceil(n_samples / (batch_size or 32))
    return max(1, steps // _DECISIONS_PER_PROBE)


def _trajectory(callback, start_lr):
    """The probe's (step, lr) path, starting from its first rate."""
    points = [(0, start_lr)]
    points += [(d.step, d.new_lr) for d in callback.decisions]
    return points
