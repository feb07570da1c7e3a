"""`keras-meta meta-train`: DAgger rounds of labelled rollouts and policy fits, resumable.

Layout of an output folder:

```
config.json                      the run's configuration (a rerun must match it)
round_<r>/rollouts/<seed>.npz    one labelled rollout (written atomically)
round_<r>/policy/                the policy fitted after round r
policy/                          the final policy, with its card
```

A killed run continues from what is on disk: finished rollouts are never
redone and finished rounds are skipped.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import multiprocessing
import os
import pathlib
import shutil
import sys

import numpy as np

from keras_meta.meta.families import LOG10_LR_RANGE
from keras_meta.meta.families import OPTIMIZERS
from keras_meta.meta.families import SAMPLE_SIZES
from keras_meta.meta.families import checked_fraction
from keras_meta.meta.families import checked_lr_range

_TASK_SEED_BASE = 10_000_000  # meta-training task seeds live far from any benchmark seed
_EVALUATION_ROUND = 999  # task seeds of the held-out evaluation rollouts


@dataclasses.dataclass(frozen=True)
class MetaTrainConfig:
    """Everything a meta-training run depends on.

    Attributes:
        name: String. The trained policy's name.
        seed: Integer. Seeds the task draws and the policy fits.
        rounds: Integer. DAgger rounds.
        rollouts_per_round: Integer.
        evaluation_rollouts: Integer. Held-out rollouts of the final policy
            that measure its label agreement and value-head accuracy.
        expert_probability: Tuple of floats. DAgger's beta per round (the
            last value repeats).
        exploration: Float. Chance of a random action in a rollout.
        climb_exploration: Float in [0, 1]. Chance that a DAgger rollout
            makes one forced climb of several doublings, so that states far
            above the starting rate get labels (see `RolloutConfig`); the
            evaluation rollouts never do.
        climb_after_loss_drop: Float or `None`. Start each forced climb
            where the training loss has fallen below e^-d of its start
            instead of at a drawn decision (see `RolloutConfig`).
        forced_climb_values: Boolean. Train the value head on the decisions
            of rollouts with a forced climb too. Their final loss is not
            the policy's own run's; with them meta-v12's value head lost
            nearly all its accuracy, so they are left out by default
            (meta-v12's configs set this to reproduce it).
        optimizers: Tuple of strings. The optimizers tasks are drawn with.
        max_steps: Integer. Longest rollout, in steps.
        max_samples: Integer. Largest training set of a task.
        sample_sizes: Tuple of integers. Training-set sizes tasks are drawn with.
        max_epochs: Integer. Largest epoch budget drawn (before the cut to `max_steps`).
        log10_lr_range: Pair of floats. Initial learning rates are drawn
            log-uniform between `10 ** low` and `10 ** high`.
        latent_fraction: Float in [0, 1]. The share of tasks whose features
            are a noisy, warped view of a few latent factors (see
            `families.sample_task`).
        clean_fraction: Float in [0, 1]. The share of tasks without label
            noise, whose training loss can fall to near zero.
        horizon: Integer. Look-ahead steps at the candidate rate.
        cooldown: Integer. Look-ahead steps annealed to zero.
        temperature: Float. Of the soft labels.
        score_split: String. What scores look-ahead branches: `"val"` (the
            task's validation split) or `"fresh"` (a fresh sample of its
            distribution, never trained on).
        keep_bonus: Float. Log-loss advantage of keeping the rate in the
            soft labels (see `LookaheadConfig`).
        cooldown_to_end: Boolean. Branches cool down until the end of the
            run instead of `cooldown` steps (see `LookaheadConfig`).
        label_every: Integer. Label every this many decisions of a rollout.
        final_cooldown: Float in [0, 1). The fraction of every run that is a
            final cool-down to zero with no decisions; rollouts run it, with
            `cooldown_to_end` branches are scored through it, and the policy's
            card carries it, so that `MetaLRCallback` runs it too.
        branches: Tuple of floats, or `None`. The log2 multipliers (target
            rates) a labelled decision runs branches for; `None`: the
            policy's actions (see `LookaheadConfig`).
        propagate_labels: Boolean. Label the decisions between look-ahead
            labels with the move toward the last labelled target rates, and
            let the expert make it (see `LookaheadConfig`).
        climb_labels: Boolean. Label the decisions between look-ahead labels
            by short branches when the largest action wins them (see
            `LookaheadConfig`).
        hidden: Tuple of integers. The policy's trunk.
        train_epochs: Integer. Epochs of each policy fit.
        value_clip: Float or `None`. Clip the value targets to this
            magnitude for the fit (see `training.fit_policy`).
        workers: Integer. Rollout processes (0 = in this process).
    """

    name: str = "meta-trained"
    seed: int = 0
    rounds: int = 3
    rollouts_per_round: int = 48
    evaluation_rollouts: int = 8
    expert_probability: tuple = (1.0, 0.5, 0.25)
    exploration: float = 0.1
    climb_exploration: float = 0.0
    climb_after_loss_drop: float | None = None
    forced_climb_values: bool = False
    optimizers: tuple = OPTIMIZERS
    max_steps: int = 1200
    max_samples: int = 2048
    sample_sizes: tuple = SAMPLE_SIZES
    max_epochs: int = 60
    log10_lr_range: tuple = LOG10_LR_RANGE
    latent_fraction: float = 0.0
    clean_fraction: float = 0.0
    horizon: int = 20
    cooldown: int = 10
    temperature: float = 0.02
    score_split: str = "val"
    keep_bonus: float = 0.0
    cooldown_to_end: bool = False
    label_every: int = 1
    final_cooldown: float = 0.0
    branches: tuple | None = None
    propagate_labels: bool = False
    climb_labels: bool = False
    hidden: tuple = (64, 64)
    train_epochs: int = 60
    value_clip: float | None = None
    workers: int = 2

    def __post_init__(self):
        """Checks the settings that would otherwise fail only inside a rollout worker."""
        unknown = sorted(set(self.optimizers) - set(OPTIMIZERS))
        if unknown or not self.optimizers:
            raise ValueError(
                f"`optimizers` must be a non-empty subset of {list(OPTIMIZERS)}. Received: {self.optimizers!r}"
            )
        checked_lr_range(self.log10_lr_range)
        checked_fraction("latent_fraction", self.latent_fraction)
        checked_fraction("clean_fraction", self.clean_fraction)
        if self.value_clip is not None and not self.value_clip > 0:
            raise ValueError(f"`value_clip` must be positive or None. Received: {self.value_clip!r}")
        self.rollout_config(0.0, 0.0, self.climb_exploration)  # checks the look-ahead's and rollouts' settings
        if self.climb_exploration == 1.0 and not self.forced_climb_values:
            raise ValueError(
                "With `climb_exploration: 1.0` every rollout makes a forced climb, and none is left to train the "
                "value head on; lower it, or set `forced_climb_values: true`."
            )

    def rollout_config(self, expert_probability: float, exploration: float, climb_exploration: float = 0.0):
        """The `RolloutConfig` of one rollout of this run: DAgger's beta and the exploration it makes."""
        from keras_meta.meta.rollouts import RolloutConfig

        return RolloutConfig(
            expert_probability, exploration, self.lookahead(), climb_exploration, self.climb_after_loss_drop
        )

    def lookahead(self):
        """The `LookaheadConfig` that labels this run's decisions."""
        from keras_meta.meta.lookahead import LookaheadConfig

        return LookaheadConfig(
            horizon=self.horizon,
            cooldown=self.cooldown,
            temperature=self.temperature,
            score_split=self.score_split,
            keep_bonus=self.keep_bonus,
            cooldown_to_end=self.cooldown_to_end,
            label_every=self.label_every,
            final_cooldown=self.final_cooldown,
            branches=self.branches,
            propagate_labels=self.propagate_labels,
            climb_labels=self.climb_labels,
        )

    def to_dict(self) -> dict:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, values: dict) -> MetaTrainConfig:
        unknown = sorted(set(values) - {field.name for field in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"Unknown meta-training config keys {unknown}.")
        tuples = {key: tuple(value) for key, value in values.items() if isinstance(value, list)}
        return cls(**{**values, **tuples})

    def task_family(self) -> dict:
        """The keyword arguments of `families.sample_task` that this config sets."""
        return {
            "optimizers": self.optimizers,
            "max_steps": self.max_steps,
            "max_samples": self.max_samples,
            "sample_sizes": self.sample_sizes,
            "max_epochs": self.max_epochs,
            "log10_lr_range": self.log10_lr_range,
            "latent_fraction": self.latent_fraction,
            "clean_fraction": self.clean_fraction,
        }

    def task_seeds(self, round_index: int, count: int) -> list[int]:
        return [_TASK_SEED_BASE + self.seed * 100_000 + round_index * 1_000 + i for i in range(count)]

    def beta(self, round_index: int) -> float:
        return self.expert_probability[min(round_index, len(self.expert_probability) - 1)]


def run_meta_training(config: MetaTrainConfig, output_dir, progress: bool = True):
    """Runs (or resumes) meta-training and writes the final policy.

    Args:
        config: `MetaTrainConfig`.
        output_dir: Path. See the module docstring for its layout.
        progress: Boolean. Show progress bars.

    Returns:
        The final `Policy`, also saved in `output_dir/policy`.
    """
    from keras_meta.policy import load_policy

    output_dir = pathlib.Path(output_dir)
    _claim_output_dir(config, output_dir)
    policy_path = "handwritten"
    for round_index in range(config.rounds):
        round_dir = output_dir / f"round_{round_index}"
        if not (round_dir / "policy" / "card.json").exists():
            seeds = config.task_seeds(round_index, config.rollouts_per_round)
            jobs = [
                (seed, policy_path, config.beta(round_index), config.exploration, config.climb_exploration)
                for seed in seeds
            ]
            _run_rollouts(jobs, round_dir / "rollouts", config, progress, f"round {round_index}")
            _fit_round(config, output_dir, round_index)
        policy_path = str(round_dir / "policy")
    final = load_policy(policy_path)
    evaluation = evaluate_policy(config, output_dir, policy_path, progress)
    card = {**final.card, "evaluation": evaluation}
    final = type(final).from_config({**final.get_config(), "card": card})
    if (output_dir / "policy").exists():
        shutil.rmtree(output_dir / "policy")
    final.save(output_dir / "policy")
    return final


def evaluate_policy(config: MetaTrainConfig, output_dir, policy_path, progress: bool = True) -> dict:
    """Held-out rollouts of a policy acting alone: label agreement and value-head accuracy.

    Returns:
        A dict: `decisions` (those labelled by look-ahead), `label_agreement`
        (how often the policy's choice is the look-ahead's best), `regret`
        (mean log branch loss of the policy's choice minus the best),
        `value_rank_correlation` (Spearman correlation of predicted and actual
        log(final / current loss), over all `value_decisions`), and
        `task_seeds`.
    """
    from keras_meta.meta.rollouts import LabellingCallback
    from keras_meta.policy import load_policy

    seeds = config.task_seeds(_EVALUATION_ROUND, config.evaluation_rollouts)
    directory = pathlib.Path(output_dir) / "evaluation"
    _run_rollouts([(seed, policy_path, 0.0, 0.0, 0.0) for seed in seeds], directory, config, progress, "evaluation")
    data = _load_rollouts([directory])
    policy = load_policy(policy_path)
    probabilities, predicted = policy.evaluate_batch(data["features"])
    value_correlation = _spearman(predicted, data["values"])
    labelled = data["label_kind"] == LabellingCallback.LOOKAHEAD
    chosen = probabilities[labelled].argmax(axis=1)
    logs = np.log(np.maximum(data["branch_losses"][labelled], 1e-30))
    finite_best = np.where(np.isfinite(logs), logs, np.inf).min(axis=1)
    chosen_logs = logs[np.arange(len(chosen)), chosen]
    regret = np.where(np.isfinite(chosen_logs), chosen_logs - finite_best, np.nan)
    return {
        "decisions": int(len(chosen)),
        "label_agreement": float(np.mean(chosen == data["labels"][labelled].argmax(axis=1))),
        "regret": float(np.nanmean(regret)),
        "value_rank_correlation": value_correlation,
        "value_decisions": int(len(predicted)),
        "task_seeds": [seeds[0], seeds[-1]],
    }


def _claim_output_dir(config: MetaTrainConfig, output_dir: pathlib.Path) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    config_file = output_dir / "config.json"
    if config_file.exists():
        existing = MetaTrainConfig.from_dict(json.loads(config_file.read_text()))  # older files lack newer keys
        if existing != config:
            raise ValueError(
                f"{output_dir} holds a meta-training run with another configuration ({config_file}). "
                "Resume it with the same configuration, or choose a new output folder."
            )
    else:
        config_file.write_text(json.dumps(config.to_dict(), indent=2, sort_keys=True) + "\n")


def _fit_round(config: MetaTrainConfig, output_dir: pathlib.Path, round_index: int) -> None:
    rollout_dirs = [output_dir / f"round_{r}" / "rollouts" for r in range(round_index + 1)]
    data = _load_rollouts(rollout_dirs)
    has_label, has_value = _head_masks(config, data)
    card = {
        "name": config.name,
        "version": f"{config.seed}.{round_index}",
        "kind": "meta-trained",
        "description": (
            f"Meta-trained by DAgger with look-ahead labels (horizon {config.horizon}, {_cooldown_words(config)}) "
            f"on synthetic task families only; round {round_index + 1} of {config.rounds}."
        ),
        "decisions_per_run": 40,
        "final_cooldown": config.final_cooldown,
        "act_every": _act_every(config),
        "training": {
            "families": (
                "teacher regression, teacher classification, Gaussian mixtures (synthetic only); "
                f"training sets of {', '.join(map(str, config.sample_sizes))} samples; "
                f"{_latent_inputs(config)}"
                f"{_clean_labels(config)}"
                f"{_initial_rates(config)}"
                f"branches scored on the {config.score_split} split"
            ),
            "optimizers": list(config.optimizers),
            "rounds_done": round_index + 1,
            "rollouts": sum(1 for d in rollout_dirs for p in d.glob("*.npz") if not p.name.endswith(".partial.npz")),
            "decisions": int(len(data["features"])),
            "labelled_decisions": int(has_label.sum()),
            "value_decisions": int(has_value.sum()),
            "config": config.to_dict(),
        },
    }
    policy, final_losses = fit_decisions(config, data, card=card)
    policy.card["training"]["final_fit_losses"] = final_losses
    policy.save(output_dir / f"round_{round_index}" / "policy")


def fit_decisions(config: MetaTrainConfig, data: dict, card=None, hidden=None, epochs=None, seed=None):
    """Fits a policy to labelled decisions (from `_load_rollouts`) as a round of `config` does.

    Args:
        config: `MetaTrainConfig`. Its settings of the fit.
        data: Dict of arrays, the decisions.
        card: Dict or `None`. Card entries of the fitted policy.
        hidden, epochs: The trunk's widths and the epochs; `None` for the config's.
        seed: Integer or `None`. The fit's seed; `None` for the config's.

    Returns:
        `(policy, final_losses)`, as `fit_policy`.
    """
    from keras_meta.meta.training import fit_policy

    has_label, has_value = _head_masks(config, data)
    return fit_policy(
        data["features"],
        data["labels"],
        data["values"],
        has_label=None if has_label.all() else has_label,
        has_value=None if has_value.all() else has_value,
        hidden=config.hidden if hidden is None else hidden,
        epochs=config.train_epochs if epochs is None else epochs,
        value_clip=config.value_clip,
        seed=config.seed if seed is None else seed,
        card=card,
    )


def _head_masks(config: MetaTrainConfig, data: dict) -> tuple[np.ndarray, np.ndarray]:
    """Which decisions train the action head (a label) and which the value head (a value target)."""
    from keras_meta.meta.rollouts import LabellingCallback

    return data["label_kind"] != LabellingCallback.UNLABELLED, data["has_value"] | config.forced_climb_values


def _load_rollouts(directories) -> dict[str, np.ndarray]:
    """Every decision of the finished rollouts in `directories`, concatenated.

    Rollouts written before every decision was recorded hold only labelled
    decisions and no `label_kind`; theirs are look-ahead labels. `has_value`
    is False for every decision of a rollout that a forced climb steered.
    """
    from keras_meta.meta.rollouts import LabellingCallback

    parts = {"features": [], "labels": [], "values": [], "branch_losses": [], "label_kind": [], "has_value": []}
    for directory in directories:
        for path in sorted(pathlib.Path(directory).glob("*.npz")):
            if path.name.endswith(".partial.npz"):
                continue  # cut short by a killed run; redone on resume
            with np.load(path, allow_pickle=False) as rollout:
                for key in parts:
                    if key in rollout:
                        parts[key].append(rollout[key])
                rows = len(rollout["features"])
                if "label_kind" not in rollout:
                    parts["label_kind"].append(np.full(rows, LabellingCallback.LOOKAHEAD, np.int8))
                forced = bool(rollout["forced_climb"]) if "forced_climb" in rollout else False
                parts["has_value"].append(np.full(rows, not forced))
    if not parts["features"]:
        raise ValueError(f"No rollouts found in {[str(d) for d in directories]}.")
    return {key: np.concatenate(values) for key, values in parts.items()}


def _run_rollouts(jobs, directory: pathlib.Path, config: MetaTrainConfig, progress: bool, label: str) -> None:
    """Runs the rollouts whose files are missing and saves each as it finishes."""
    from tqdm.auto import tqdm

    directory.mkdir(parents=True, exist_ok=True)
    missing = [job for job in jobs if not (directory / f"{job[0]}.npz").exists()]
    bar = tqdm(total=len(missing), desc=label, unit="rollout", disable=not progress or not missing, file=sys.stderr)
    settings = config.to_dict()
    try:
        if config.workers == 0:
            for job in missing:
                _save_rollout(directory, job[0], _rollout_job(job, settings))
                bar.update()
            return
        from keras_meta.bench._environment import use_one_thread

        with concurrent.futures.ProcessPoolExecutor(
            config.workers, mp_context=multiprocessing.get_context("spawn"), initializer=use_one_thread
        ) as pool:
            futures = {pool.submit(_rollout_job, job, settings): job for job in missing}
            for future in concurrent.futures.as_completed(futures):
                _save_rollout(directory, futures[future][0], future.result())
                bar.update()
    finally:
        bar.close()


def _act_every(config) -> int:
    """How often the policy acts (`MetaLRCallback(act_every=...)`): as often as its expert did.

    With `label_every: K` and nothing labelling the decisions between, the
    expert acted at every K-th decision and kept the rate at the others.
    """
    labels_between = config.propagate_labels or config.climb_labels
    return 1 if labels_between else config.label_every


def _cooldown_words(config) -> str:
    """The card's words for the branches' cool-down and how many decisions are labelled."""
    words = "cool-down to the end of the run" if config.cooldown_to_end else f"cool-down {config.cooldown}"
    words += f", every {config.label_every} decisions labelled" if config.label_every > 1 else ""
    if config.branches is not None:
        words += f", branches for target rates x{2 ** min(config.branches):g} to x{2 ** max(config.branches):g}"
    words += (
        ", labels carried to the decisions between as moves toward the target rate" if config.propagate_labels else ""
    )
    words += ", short look-aheads label the decisions between when they say raise" if config.climb_labels else ""
    return words + (f", final {config.final_cooldown:.0%} of each run a cool-down" if config.final_cooldown else "")


def _latent_inputs(config) -> str:
    """The card's words for the share of tasks whose features are a view of latent factors."""
    if not config.latent_fraction:
        return ""
    return f"{100 * config.latent_fraction:.0f}% with features that are a noisy, warped view of 1-8 latent factors; "


def _clean_labels(config) -> str:
    """The card's words for the share of tasks without label noise."""
    if not config.clean_fraction:
        return ""
    return f"{100 * config.clean_fraction:.0f}% without label noise; "


def _initial_rates(config) -> str:
    """The card's words for the initial rates drawn; empty for the default range (the older cards')."""
    if tuple(config.log10_lr_range) == LOG10_LR_RANGE:
        return ""
    low, high = config.log10_lr_range
    return f"initial rates 1e{low:g} to 1e{high:g}; "


def _rollout_job(job, settings: dict) -> dict:
    from keras_meta.meta.families import sample_task
    from keras_meta.meta.rollouts import run_rollout

    seed, policy_path, beta, exploration, climb_exploration = job
    config = MetaTrainConfig.from_dict(settings)
    spec = sample_task(seed, **config.task_family())
    return run_rollout(spec, policy_path, config.rollout_config(beta, exploration, climb_exploration))


def _save_rollout(directory: pathlib.Path, seed: int, rollout: dict) -> None:
    temporary = directory / f"{seed}.partial.npz"
    np.savez(temporary, **rollout)
    os.replace(temporary, directory / f"{seed}.npz")


def _spearman(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) < 2:
        return float("nan")
    ranks_a, ranks_b = a.argsort().argsort(), b.argsort().argsort()
    return float(np.corrcoef(ranks_a, ranks_b)[0, 1])
