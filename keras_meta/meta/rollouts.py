"""Rollouts: train one synthetic task under a policy and label the states it visits.

The rollout trains with `model.fit` under `LabellingCallback`, a
`MetaLRCallback` whose every decision is also labelled by look-ahead. So the
features seen in meta-training are computed by exactly the code that computes
them for users. The action actually taken mixes the expert (the look-ahead's
best), the current policy and random exploration, as DAgger prescribes.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from keras_meta._optimizers import get_lr
from keras_meta.callbacks import MetaLRCallback
from keras_meta.meta.families import TaskSpec
from keras_meta.meta.families import build_model
from keras_meta.meta.families import make_data
from keras_meta.meta.families import train
from keras_meta.meta.lookahead import BranchScorer
from keras_meta.meta.lookahead import LookaheadConfig
from keras_meta.meta.lookahead import soft_labels


@dataclasses.dataclass(frozen=True)
class RolloutConfig:
    """How a rollout chooses its actions.

    Attributes:
        expert_probability: Float. Chance of taking the look-ahead's best
            action (DAgger's beta).
        exploration: Float. Chance of a uniformly random action.
        lookahead: `LookaheadConfig`.
    """

    expert_probability: float = 0.5
    exploration: float = 0.1
    lookahead: LookaheadConfig = LookaheadConfig()


class LabellingCallback(MetaLRCallback):
    """A `MetaLRCallback` that labels each decision by look-ahead before acting.

    Its explosion guard is off: rollouts record runs as they go, and the
    shipped policies were meta-trained without it (a guard here would change
    what a config reproduces).

    With `label_every > 1` only every so many decisions are labelled; at the
    others the expert (who has no label there) keeps the rate, and the
    policy and exploration act as usual.
    """

    def __init__(self, policy, scorer, config: RolloutConfig, seed: int):
        super().__init__(
            policy=policy, seed=seed, explosion_factor=None, final_cooldown=config.lookahead.final_cooldown
        )
        self.scorer, self.config = scorer, config
        self.samples = []
        self._keep_index = list(self.policy.multipliers).index(1.0)

    def _choose_action(self, features, probabilities) -> int:
        lookahead = self.config.lookahead
        labelled = len(self.decisions) % lookahead.label_every == 0  # this decision's index
        expert_action = self._keep_index
        if labelled:
            lr = get_lr(self.model.optimizer)
            remaining = self._total_steps - self._step if self._total_steps else None
            branch_losses = self.scorer.branch_losses(
                self.model, lr, self.policy.multipliers, remaining, self._cooldown_steps
            )
            labels = soft_labels(branch_losses, lookahead.temperature, self._keep_index, lookahead.keep_bonus)
            window = self.losses[-self._window :]
            self.samples.append(
                {"features": features, "labels": labels, "branch_losses": branch_losses, "loss": float(np.mean(window))}
            )
            expert_action = int(np.argmax(labels))
        draw = self._rng.random()
        if draw < self.config.exploration:
            return int(self._rng.integers(len(probabilities)))
        if draw < self.config.exploration + self.config.expert_probability:
            return expert_action
        return int(self._rng.choice(len(probabilities), p=probabilities))


def run_rollout(spec: TaskSpec, policy, config: RolloutConfig = RolloutConfig()) -> dict[str, np.ndarray]:
    """Trains `spec` under `policy` and returns the labelled decisions.

    Args:
        spec: The `TaskSpec`.
        policy: `Policy`, name or path: the policy being improved.
        config: `RolloutConfig`.

    Returns:
        A dict of arrays: `features` (n, n_features), `labels` (n, n_actions),
        `branch_losses` (n, n_actions), `values` (n,): log(final loss / loss
        at the decision), and the run's `final_loss` and `final_val_loss`.
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
        "features": np.array([s["features"] for s in samples]).reshape(-1, _n_features()),
        "labels": np.array([s["labels"] for s in samples]).reshape(-1, n_actions),
        "branch_losses": np.array([s["branch_losses"] for s in samples]).reshape(-1, n_actions),
        "values": np.array([_log_ratio(final_loss, s["loss"]) for s in samples]),
        "final_loss": np.array(final_loss),
        "final_val_loss": np.array(float(history.history["val_loss"][-1])),
    }


def _log_ratio(final, current) -> float:
    if not (np.isfinite(final) and np.isfinite(current)) or final <= 0 or current <= 0:
        return 0.0
    return float(np.log(final / current))


def _n_features() -> int:
    from keras_meta.features import FEATURE_NAMES

    return len(FEATURE_NAMES)
