"""Rollouts: train one synthetic task under a policy and label the states it visits.

The rollout trains with `model.fit` under `LabellingCallback`, a
`MetaLRCallback` whose every decision is also labelled by look-ahead. So the
features seen in meta-training are computed by exactly the code that computes
them for users. The action actually taken mixes the expert (the look-ahead's
best), the current policy and random exploration, as DAgger prescribes.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from keras_meta._optimizers import get_lr
from keras_meta.callbacks import MetaLRCallback
from keras_meta.features import FEATURE_NAMES
from keras_meta.meta.families import TaskSpec
from keras_meta.meta.families import build_model
from keras_meta.meta.families import make_data
from keras_meta.meta.families import train
from keras_meta.meta.lookahead import BranchScorer
from keras_meta.meta.lookahead import LookaheadConfig
from keras_meta.meta.lookahead import labels_toward_targets
from keras_meta.meta.lookahead import soft_labels

_LOSS_VS_START = FEATURE_NAMES.index("log_loss_vs_start")


@dataclasses.dataclass(frozen=True)
class RolloutConfig:
    """How a rollout chooses its actions.

    Attributes:
        expert_probability: Float. Chance of taking the look-ahead's best
            action (DAgger's beta).
        exploration: Float. Chance of a uniformly random action.
        lookahead: `LookaheadConfig`.
        climb_exploration: Float in [0, 1]. Chance that the rollout makes
            one forced climb: from a decision drawn in the run's first
            half, the largest action at `CLIMB_LENGTHS` consecutive
            decisions, whoever would act. The states it leads to, far above
            the starting rate, are labelled as any other; without it the
            policy meets them only where it climbs on its own, unlabelled.
        climb_after_loss_drop: Float or `None`. With a value d, a forced
            climb starts instead at the first decision where the training
            loss has fallen below e^-d of its start (the `log_loss_vs_start`
            feature at most -d): the state of a model that has nearly
            memorised its data. A rollout whose loss never falls that far
            makes none.
    """

    expert_probability: float = 0.5
    exploration: float = 0.1
    lookahead: LookaheadConfig = LookaheadConfig()
    climb_exploration: float = 0.0
    climb_after_loss_drop: float | None = None

    CLIMB_LENGTHS = (3, 10)
    """A forced climb lasts from 3 to 10 decisions (x8 to x1024 with doublings), drawn uniformly."""

    def __post_init__(self):
        if not 0.0 <= self.climb_exploration <= 1.0:
            raise ValueError(f"`climb_exploration` must be in [0, 1]. Received: {self.climb_exploration!r}")
        if self.climb_after_loss_drop is not None and not self.climb_after_loss_drop > 0:
            raise ValueError(
                f"`climb_after_loss_drop` must be positive or None. Received: {self.climb_after_loss_drop!r}"
            )


class LabellingCallback(MetaLRCallback):
    """A `MetaLRCallback` that labels the decisions it makes before acting.

    Its guards are off (explosion, start, relapse and fit guards): rollouts
    record runs as they go, and the shipped policies were meta-trained
    without them (a guard here would change what a config reproduces). For
    the same reason the policy acts at every decision, whatever its card's
    `act_every`.

    Every decision is recorded, with its features and the loss there (the
    value head's input and target). Every `label_every`-th decision is
    labelled by look-ahead: branches for each target rate of the config's
    `branches`, turned into action labels by `labels_toward_targets`. At the
    others, with `propagate_labels` the decision is labelled with the move
    toward the last labelled targets, and the expert makes that move; with
    `climb_labels` short branches label it when the largest action wins
    them, and the expert takes that action; otherwise there is no label and
    the expert keeps the rate. The policy and exploration act as usual at
    every decision. `forced_climb` is the range of decisions at which a
    forced climb overrides them all (empty in most rollouts; see
    `RolloutConfig.climb_exploration`).
    """

    LOOKAHEAD, PROPAGATED, CLIMB, UNLABELLED = 1, 2, 3, 0  # values of a sample's `label_kind`

    def __init__(self, policy, scorer, config: RolloutConfig, seed: int):
        super().__init__(
            policy=policy,
            seed=seed,
            explosion_factor=None,
            start_guard=None,  # rollouts label every start as it comes, too-high ones included
            relapse_guard=None,  # ... and every collapse: their labels judge the rates that caused it
            final_cooldown=config.lookahead.final_cooldown,
            act_every=1,  # the rollout's policy acts at every decision, whatever its card says
            fit_guard=0.0,  # rollouts explore climbs after the fit too: their labels judge them
        )
        self.scorer, self.config = scorer, config
        self.samples = []
        self._actions = np.asarray(self.policy.actions, dtype=np.float64)
        self._targets = config.lookahead.branch_log2_multipliers(self._actions)
        self._keep_target = int(np.flatnonzero(self._targets == 0.0)[0])
        self._last_label = None  # (log2 of the rate at the labelled decision, target probabilities)
        # This rollout's forced climb: its first decision (`None` until placed) and its length (0: none).
        self._climb_start, self._climb_length = self._draw_forced_climb(seed)

    @property
    def forced_climb(self) -> range:
        """The decisions this rollout's forced climb takes; empty while it waits for the loss, or without one."""
        if self._climb_start is None:
            return range(0)
        return range(self._climb_start, self._climb_start + self._climb_length)

    def _draw_forced_climb(self, seed) -> tuple[int | None, int]:
        """The first decision and the length of this rollout's forced climb (see `RolloutConfig`).

        Drawn from a generator of its own, so that a config without forced
        climbs makes exactly the draws it made before they existed. With
        `climb_after_loss_drop` the first decision is `None`:
        `_place_waiting_climb` sets it when the loss has fallen.
        """
        if self.config.climb_exploration == 0.0:
            return None, 0
        rng = np.random.default_rng([seed, 1])
        if rng.random() >= self.config.climb_exploration:
            return None, 0
        start = int(rng.integers(self.policy.card["decisions_per_run"] // 2))
        shortest, longest = self.config.CLIMB_LENGTHS
        length = int(rng.integers(shortest, longest + 1))
        return (None if self.config.climb_after_loss_drop is not None else start), length

    def _place_waiting_climb(self, features) -> None:
        """Starts a climb that waits for the loss to fall at this decision, if it has fallen far enough."""
        waiting = self._climb_start is None and self._climb_length > 0
        if waiting and features[_LOSS_VS_START] <= -self.config.climb_after_loss_drop:
            self._climb_start = len(self.decisions)

    def _choose_action(self, features, probabilities) -> int:
        lookahead = self.config.lookahead
        lr = get_lr(self.model.optimizer)
        log2_lr = math.log2(lr)
        n_actions = len(self._actions)
        labels, kind, branch_losses = np.zeros(n_actions), self.UNLABELLED, np.full(n_actions, np.nan)
        if len(self.decisions) % lookahead.label_every == 0:  # this decision's index
            target_losses = self._branch_losses(lr)
            target_labels = soft_labels(target_losses, lookahead.temperature, self._keep_target, lookahead.keep_bonus)
            self._last_label = (log2_lr, target_labels)
            labels, kind = labels_toward_targets(target_labels, self._targets, self._actions), self.LOOKAHEAD
            branch_losses = target_losses[np.isin(self._targets, self._actions)]
        elif lookahead.propagate_labels and self._last_label is not None:
            labelled_log2_lr, target_labels = self._last_label
            labels = labels_toward_targets(target_labels, self._targets, self._actions, log2_lr - labelled_log2_lr)
            kind = self.PROPAGATED
        elif lookahead.climb_labels:
            short_losses = self.scorer.branch_losses(self.model, lr, 2.0**self._actions, short=True)
            short_labels = soft_labels(short_losses, lookahead.temperature, self._keep_action, lookahead.keep_bonus)
            if short_labels.argmax() == len(self._actions) - 1:  # the largest action: see `LookaheadConfig`
                labels, kind, branch_losses = short_labels, self.CLIMB, short_losses
        window = self.losses[-self._window :]
        self.samples.append(
            {
                "features": features,
                "labels": labels,
                "label_kind": kind,
                "branch_losses": branch_losses,
                "loss": float(np.mean(window)),
            }
        )
        self._place_waiting_climb(features)
        if len(self.decisions) in self.forced_climb:  # this decision's index, as above
            return int(np.argmax(self._actions))
        expert_action = self._keep_action if kind == self.UNLABELLED else int(np.argmax(labels))
        draw = self._rng.random()
        if draw < self.config.exploration:
            return int(self._rng.integers(len(probabilities)))
        if draw < self.config.exploration + self.config.expert_probability:
            return expert_action
        return int(self._rng.choice(len(probabilities), p=probabilities))

    def _branch_losses(self, lr: float) -> np.ndarray:
        remaining = self._total_steps - self._step if self._total_steps else None
        return self.scorer.branch_losses(self.model, lr, 2.0**self._targets, remaining, self._cooldown_steps)


def run_rollout(spec: TaskSpec, policy, config: RolloutConfig = RolloutConfig()) -> dict[str, np.ndarray]:
    """Trains `spec` under `policy` and returns its decisions, labelled.

    Args:
        spec: The `TaskSpec`.
        policy: `Policy`, name or path: the policy being improved.
        config: `RolloutConfig`.

    Returns:
        A dict of arrays, one row per decision: `features` (n, n_features),
        `labels` (n, n_actions; zeros where a decision has no label),
        `label_kind` (n,): `LabellingCallback.LOOKAHEAD`, `PROPAGATED`,
        `CLIMB` or `UNLABELLED`, `branch_losses` (n, n_actions; NaN except
        at look-ahead and climb labels), `values` (n,): log(final loss / loss at the
        decision); the run's `final_loss` and `final_val_loss`; and
        `forced_climb`, whether a forced climb steered the run (see
        `RolloutConfig.climb_exploration`).
    """
    fresh = config.lookahead.eval_samples if config.lookahead.score_split == "fresh" else 0
    data = make_data(spec, fresh_samples=fresh)
    model = build_model(spec)
    scorer = BranchScorer(model, data, spec.batch_size, config.lookahead, seed=spec.seed)
    callback = LabellingCallback(policy, scorer, config, seed=spec.seed)
    history = train(model, spec, data, [callback])
    final_loss = float(np.mean(callback.losses[-callback._window :])) if callback.losses else np.nan
    samples = callback.samples
    n_actions = len(callback.policy.actions)
    return {
        "features": np.array([s["features"] for s in samples]).reshape(-1, len(FEATURE_NAMES)),
        "labels": np.array([s["labels"] for s in samples]).reshape(-1, n_actions),
        "label_kind": np.array([s["label_kind"] for s in samples], dtype=np.int8),
        "branch_losses": np.array([s["branch_losses"] for s in samples]).reshape(-1, n_actions),
        "values": np.array([_log_ratio(final_loss, s["loss"]) for s in samples]),
        "final_loss": np.array(final_loss),
        "final_val_loss": np.array(float(history.history["val_loss"][-1])),
        "forced_climb": np.array(len(callback.forced_climb) > 0 and callback.forced_climb.start < len(samples)),
    }


def _log_ratio(final, current) -> float:
    if not (np.isfinite(final) and np.isfinite(current)) or final <= 0 or current <= 0:
        return 0.0
    return float(np.log(final / current))
