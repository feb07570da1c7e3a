"""Labels by look-ahead: which learning-rate multiplier does best from here?

At a decision point the `BranchScorer` copies the model's weights and
optimizer state into a twin model, and for each candidate multiplier trains
the twin from that same state: `horizon` steps at the candidate rate, then a
`cooldown` of steps with the rate annealed linearly to zero, then scores the
branch on held-out samples (the validation split, or a fresh sample of the
task's distribution). Every branch sees the same batches.

Why the cool-down: scored right after a short horizon, a large rate is
penalised for the noise it adds even when it makes more progress, so greedy
short horizons prefer rates that are too small ("short-horizon bias", Wu et
al., ICLR 2018). Annealing each branch before scoring removes most of that
noise and compares the progress made, the way the end of a real run would.
`measure_horizon_bias` checks the effect on real tasks.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from keras_meta._optimizers import set_lr


@dataclasses.dataclass(frozen=True)
class LookaheadConfig:
    """How branches are run and scored.

    Attributes:
        horizon: Integer. Steps at the candidate rate.
        cooldown: Integer. Steps with the rate annealed linearly to zero.
        eval_samples: Integer. Held-out samples (at most) that score each branch, in one batch.
        temperature: Float. Soft labels are `softmax(-(log L - min log L) / temperature)`.
        score_split: String. The data split that scores branches: `"val"`
            (the split `fit` validates on) or `"fresh"` (a fresh sample of
            the task's distribution, see `families.make_data`; on a small
            task it scores generalisation far less noisily than a small
            validation split).
        keep_bonus: Float >= 0. Log-loss advantage given to keeping the
            rate (see `soft_labels`).
        cooldown_to_end: Boolean. Branches last until the end of the run:
            the candidate rate for `horizon` steps (or, with a
            `final_cooldown`, until the run's final cool-down begins), then a
            linear decay to zero over the steps left. `cooldown` is unused.
        label_every: Integer >= 1. Label only every this many decisions of a
            rollout (see `rollouts.LabellingCallback`).
        final_cooldown: Float in [0, 1). The fraction of each rollout that
            is a final cool-down, as `MetaLRCallback(final_cooldown=...)`
            runs it: no decisions there, the rate annealed to zero.
        branches: Tuple of floats, or `None`. The log2 multipliers a labelled
            decision runs branches for: target rates relative to the current
            one. They must include the policy's actions; wider targets (say
            x4) say how far the rate should go, and their label mass goes to
            the action that moves toward them (see `labels_toward_targets`).
            `None`: the policy's actions.
        propagate_labels: Boolean. Between labelled decisions, label every
            decision with the move toward the last labelled target rates, and
            let the expert make that move (instead of keeping the rate).
        climb_labels: Boolean. Between labelled decisions, run short
            branches (`horizon` steps at each action's rate, then `cooldown`
            steps of decay, as without `cooldown_to_end`) and label the
            decision with them only when the largest action wins. A short
            look-ahead is biased toward small rates, so when even it says
            "raise the rate", the rate is too small; its "lower" is not
            trusted. Meant for `cooldown_to_end` labels, which alone learn
            to climb out of a rate far too small too slowly.
    """

    horizon: int = 20
    cooldown: int = 10
    eval_samples: int = 1024
    temperature: float = 0.02
    score_split: str = "val"
    keep_bonus: float = 0.0
    cooldown_to_end: bool = False
    label_every: int = 1
    final_cooldown: float = 0.0
    branches: tuple | None = None
    propagate_labels: bool = False
    climb_labels: bool = False

    def __post_init__(self):
        if self.score_split not in ("val", "fresh"):
            raise ValueError(f"`score_split` must be 'val' or 'fresh'. Received: {self.score_split!r}")
        if not self.keep_bonus >= 0:
            raise ValueError(f"`keep_bonus` must be >= 0. Received: {self.keep_bonus!r}")
        if not (isinstance(self.label_every, int) and self.label_every >= 1):
            raise ValueError(f"`label_every` must be an integer >= 1. Received: {self.label_every!r}")
        if not 0 <= self.final_cooldown < 1:
            raise ValueError(f"`final_cooldown` must lie in [0, 1). Received: {self.final_cooldown!r}")
        if self.climb_labels and self.propagate_labels:
            raise ValueError("`climb_labels` and `propagate_labels` both label the decisions between; choose one.")
        from keras_meta.policy import DEFAULT_ACTIONS  # imports keras: not at module level

        if self.branches is not None and not set(DEFAULT_ACTIONS) <= set(self.branches):
            raise ValueError(
                f"`branches` must include every action {list(DEFAULT_ACTIONS)}. Received: {self.branches!r}"
            )

    def branch_log2_multipliers(self, actions) -> np.ndarray:
        """The log2 multipliers branches are run for, given the policy's actions."""
        return np.asarray(actions if self.branches is None else sorted(self.branches), dtype=np.float64)


class BranchScorer:
    """Runs candidate-rate branches from a model's current state on a twin model.

    Args:
        model: A compiled, built `keras.Model`. It is never modified.
        data: Dict with `x_train`, `y_train`, `x_val`, `y_val`.
        batch_size: Integer.
        config: `LookaheadConfig`.
        seed: Integer. Seeds the batches each decision's branches share.
    """

    def __init__(self, model, data, batch_size, config=LookaheadConfig(), seed=0):
        import keras

        self.data, self.batch_size, self.config = data, batch_size, config
        self._rng = np.random.default_rng(seed)
        self.twin = keras.models.clone_model(model)
        optimizer = model.optimizer
        self.twin.compile(type(optimizer).from_config(optimizer.get_config()), model.loss)
        self.twin.optimizer.build(self.twin.trainable_variables)

    def branch_losses(
        self, model, lr: float, multipliers, remaining_steps=None, final_cooldown_steps=0, short=False
    ) -> np.ndarray:
        """Held-out loss after each branch; `inf` where a branch diverged.

        Args:
            model: The model whose current state the branches start from.
            lr: Float. The current learning rate.
            multipliers: Sequence of floats. One branch per multiplier.
            remaining_steps: Integer. Steps left in the run; required when
                the config's `cooldown_to_end` is set.
            final_cooldown_steps: Integer. Length of the run's final
                cool-down, in steps; with `cooldown_to_end` a branch keeps
                its candidate rate until the cool-down begins.
            short: Boolean. Run `horizon` steps and `cooldown` steps of
                decay even when the config's `cooldown_to_end` is set.

        Returns:
            Array of shape `(len(multipliers),)`.
        """
        weights = model.get_weights()
        optimizer_values = [v.numpy() for v in model.optimizer.variables]
        if len(optimizer_values) != len(self.twin.optimizer.variables):
            raise ValueError(
                "The model's optimizer is not built like its twin's; score branches only after training has begun."
            )
        if short:
            horizon, cooldown = self.config.horizon, self.config.cooldown
        else:
            horizon, cooldown = self._schedule(remaining_steps, final_cooldown_steps)
        train_batches = self._batches("train", horizon + cooldown)
        val_batch = self._validation_batch()
        losses = []
        for multiplier in multipliers:
            self.twin.set_weights(weights)
            for variable, value in zip(self.twin.optimizer.variables, optimizer_values):
                variable.assign(value)
            losses.append(self._run_branch(lr * multiplier, train_batches, val_batch, horizon, cooldown))
        return np.array(losses)

    def _schedule(self, remaining_steps, final_cooldown_steps) -> tuple[int, int]:
        """A branch's steps at the candidate rate and steps of decay to zero."""
        horizon = self.config.horizon
        if not self.config.cooldown_to_end:
            return horizon, self.config.cooldown
        if remaining_steps is None:
            raise ValueError("`cooldown_to_end` needs the steps left in the run (`remaining_steps`).")
        remaining = int(remaining_steps)
        if final_cooldown_steps:
            horizon = max(horizon, remaining - int(final_cooldown_steps))
        return horizon, max(remaining - horizon, 0)

    def _run_branch(self, rate, train_batches, val_batch, horizon, cooldown) -> float:
        for step, (x, y) in enumerate(train_batches):
            annealed = 1.0 if step < horizon else 1.0 - (step - horizon + 1) / (cooldown + 1)
            set_lr(self.twin.optimizer, rate * annealed)
            if not math.isfinite(float(self.twin.train_on_batch(x, y))):
                return math.inf
        loss = float(self.twin.test_on_batch(*val_batch))
        return loss if math.isfinite(loss) else math.inf

    def _batches(self, split, count):
        x, y = self.data[f"x_{split}"], self.data[f"y_{split}"]
        size = min(self.batch_size, len(x))
        return [(x[i], y[i]) for i in (self._rng.choice(len(x), size, replace=False) for _ in range(count))]

    def _validation_batch(self):
        split = self.config.score_split
        if f"x_{split}" not in self.data:
            raise ValueError(f"Branches are scored on the {split!r} split, which the data lacks.")
        x, y = self.data[f"x_{split}"], self.data[f"y_{split}"]
        chosen = self._rng.choice(len(x), min(self.config.eval_samples, len(x)), replace=False)
        return x[chosen], y[chosen]


def soft_labels(branch_losses: np.ndarray, temperature: float, keep_index=None, keep_bonus: float = 0.0) -> np.ndarray:
    """A target distribution over actions from their branch losses.

    Diverged branches (`inf`) get probability zero; if every branch diverged,
    the smallest multiplier (the first) gets it all.

    Args:
        branch_losses: Array of floats, one per action.
        temperature: Float. Of the softmax over negative log-losses.
        keep_index: Integer or `None`. The action that keeps the rate.
        keep_bonus: Float. Subtracted from that action's log-loss.

    Example:

    >>> soft_labels(np.array([2.0, 1.0, np.inf]), temperature=0.1).round(3).tolist()
    [0.001, 0.999, 0.0]
    >>> soft_labels(np.array([1.0, 1.0, 1.0]), 0.01, keep_index=1, keep_bonus=0.02).round(3).tolist()
    [0.107, 0.787, 0.107]
    """
    losses = np.asarray(branch_losses, dtype=np.float64)
    finite = np.isfinite(losses)
    if not finite.any():
        labels = np.zeros_like(losses)
        labels[0] = 1.0
        return labels
    logs = np.full_like(losses, np.inf)
    logs[finite] = np.log(np.maximum(losses[finite], 1e-30))
    if keep_index is not None and finite[keep_index]:
        logs[keep_index] -= keep_bonus
    weights = np.where(finite, np.exp(-(logs - logs[finite].min()) / temperature), 0.0)
    return weights / weights.sum()


def labels_toward_targets(target_probabilities, target_log2, actions, shift: float = 0.0) -> np.ndarray:
    """Action labels that move the rate toward labelled target rates.

    Each target rate's probability goes to the action nearest to the move
    that reaches it, clipped to the actions' range: a target beyond the
    largest action is reached over several decisions.

    Args:
        target_probabilities: Array. The soft label of each target rate.
        target_log2: Array. log2 of each target rate over the rate at the
            labelled decision.
        actions: Array. The actions' log2 multipliers.
        shift: Float. log2 of the current rate over the rate at the labelled
            decision (0 at the labelled decision itself).

    Returns:
        Array of shape `(len(actions),)`, summing to 1.

    Example:

    >>> labels_toward_targets([0.2, 0.8], [0.0, 2.0], [-1.0, 0.0, 1.0]).tolist()
    [0.0, 0.2, 0.8]
    >>> labels_toward_targets([0.2, 0.8], [0.0, 2.0], [-1.0, 0.0, 1.0], shift=2.0).tolist()
    [0.2, 0.8, 0.0]
    """
    actions = np.asarray(actions, dtype=np.float64)
    moves = np.clip(np.asarray(target_log2, dtype=np.float64) - shift, actions.min(), actions.max())
    nearest = np.abs(moves[:, None] - actions[None, :]).argmin(axis=1)
    labels = np.zeros(len(actions))
    np.add.at(labels, nearest, np.asarray(target_probabilities, dtype=np.float64))
    return labels
