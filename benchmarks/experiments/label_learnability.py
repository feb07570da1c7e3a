"""How much of the look-ahead labels a policy network can learn, on rollouts it never saw.

Splits a meta-training run's rollouts (all rounds) into 80% to fit on and 20%
held out, by rollout, and fits the policy network as `keras-meta meta-train`
does (`keras_meta.meta.training.fit_policy`). On the held-out decisions it
reports

* the action head's cross-entropy against the soft labels, beside a uniform
  guess and the training labels' mean (a constant guess);
* the regret of acting on it: the log branch loss of the most likely action
  minus the best branch's (what `keras-meta meta-train`'s evaluation calls
  regret), and minus the "keep" branch's, beside always taking one action.

First, over all decisions, it prints each branch's mean log loss relative to
keeping the rate, and how often each branch is the best, by progress through
the run.

Usage:
    python benchmarks/experiments/label_learnability.py runs/meta-v2
    python benchmarks/experiments/label_learnability.py runs/meta-v2 --fit-seeds   # no fitting

A few minutes on one core.
"""

import argparse
import pathlib

import numpy as np

from keras_meta.features import FEATURE_NAMES
from keras_meta.meta.rollouts import LabellingCallback
from keras_meta.meta.training import fit_policy

KEEP = 2  # the index of x1 in the action set
PROGRESS_BINS = (0.0, 0.1, 0.25, 0.5, 0.75, 1.01)


def rollout_files(run: pathlib.Path) -> list[pathlib.Path]:
    return sorted(p for p in run.glob("round_*/rollouts/*.npz") if not p.name.endswith(".partial.npz"))


def load(paths) -> dict[str, np.ndarray]:
    """The decisions labelled by look-ahead (newer rollouts also record the others)."""
    parts = {"features": [], "labels": [], "values": [], "branch_losses": []}
    for path in paths:
        with np.load(path, allow_pickle=False) as rollout:
            labelled = rollout["label_kind"] == LabellingCallback.LOOKAHEAD if "label_kind" in rollout else slice(None)
            for key in parts:
                parts[key].append(rollout[key][labelled])
    return {key: np.concatenate(values) for key, values in parts.items()}


def relative_log_losses(branch_losses: np.ndarray) -> np.ndarray:
    """Each branch's log loss minus the best branch's; NaN where a branch diverged."""
    logs = np.log(np.maximum(branch_losses, 1e-30))
    logs = np.where(np.isfinite(logs), logs, np.nan)
    return logs - np.nanmin(logs, axis=1, keepdims=True)


def cross_entropy(probabilities, labels) -> float:
    return float(-(labels * np.log(np.maximum(probabilities, 1e-12))).sum(axis=1).mean())


def regrets(relative, choices) -> tuple[float, float]:
    chosen = relative[np.arange(len(choices)), choices]
    return float(np.nanmean(chosen)), float(np.nanmean(chosen - relative[:, KEEP]))


def print_preference_by_progress(data) -> None:
    relative = relative_log_losses(data["branch_losses"])
    progress = data["features"][:, FEATURE_NAMES.index("progress")]
    for low, high in zip(PROGRESS_BINS[:-1], PROGRESS_BINS[1:]):
        rows = relative[(progress >= low) & (progress < high)]
        against_keep = np.nanmean(rows - rows[:, KEEP : KEEP + 1], axis=0)
        best = np.bincount(np.nanargmin(np.where(np.isnan(rows), np.inf, rows), axis=1), minlength=rows.shape[1])
        print(
            f"progress {low:.2f}-{min(high, 1.0):.2f} ({len(rows)} decisions): against keep "
            f"{np.round(against_keep, 3).tolist()}, best {np.round(best / len(rows), 2).tolist()}"
        )


def main(run: pathlib.Path, fit_seeds, epochs_options) -> None:
    paths = rollout_files(run)
    print_preference_by_progress(load(paths))
    held_out = np.random.default_rng(0).random(len(paths)) < 0.2
    train = load([p for p, h in zip(paths, held_out) if not h])
    test = load([p for p, h in zip(paths, held_out) if h])
    relative = relative_log_losses(test["branch_losses"])
    n_test, n_actions = test["labels"].shape
    print(f"{run}: {len(paths)} rollouts; {len(train['features'])} decisions to fit on, {n_test} held out")
    print(
        f"cross-entropy: uniform {cross_entropy(np.full((n_test, n_actions), 1 / n_actions), test['labels']):.3f}, "
        f"mean training label {cross_entropy(np.tile(train['labels'].mean(axis=0), (n_test, 1)), test['labels']):.3f}"
    )
    for action in range(n_actions):
        best, against_keep = regrets(relative, np.full(n_test, action))
        print(f"always action {action}: regret {best:.4f}, against keep {against_keep:+.4f}")
    for seed in fit_seeds:
        for epochs in epochs_options:
            policy, _ = fit_policy(train["features"], train["labels"], train["values"], epochs=epochs, seed=seed)
            probabilities, _ = policy.evaluate_batch(test["features"])
            choices = probabilities.argmax(axis=1)
            best, against_keep = regrets(relative, choices)
            shares = np.round(np.bincount(choices, minlength=n_actions) / n_test, 2).tolist()
            print(
                f"fit seed {seed}, {epochs} epochs: cross-entropy {cross_entropy(probabilities, test['labels']):.3f}, "
                f"regret {best:.4f}, against keep {against_keep:+.4f}, actions {shares}"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=pathlib.Path)
    parser.add_argument("--fit-seeds", type=int, nargs="*", default=[0, 1])
    parser.add_argument("--epochs", type=int, nargs="+", default=[30, 60])
    arguments = parser.parse_args()
    main(arguments.run, arguments.fit_seeds, arguments.epochs)
