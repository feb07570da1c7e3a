"""How much do the look-ahead labels of a meta-training run say? (docs/meta_training.md)

For every labelled decision of a run's rollouts it reads the five branch losses
(x0.5 ... x2) and prints:

* the median spread, max - min of the log branch losses: how much the choice
  of action matters over one look-ahead;
* how often each action's branch is the best;
* the mean log branch loss of each action relative to the row's mean;
* the lag-1 autocorrelation, within a rollout, of the up-versus-down preference
  (mean log loss of x0.5 and x0.71 minus that of x1.41 and x2): a label that
  is mostly noise changes its mind from one decision to the next.

Usage: python benchmarks/experiments/label_signal.py runs/meta-v2 [--round 0] [--first 24]
"""

import argparse
import pathlib

import numpy as np


def read_rollouts(run, round_index, first):
    pattern = "round_*/rollouts/*.npz" if round_index is None else f"round_{round_index}/rollouts/*.npz"
    paths = [p for p in sorted(pathlib.Path(run).glob(pattern)) if not p.name.endswith(".partial.npz")]
    if first is not None:
        paths = [p for p in paths if int(p.stem) % 1000 < first]
    return [np.load(p)["branch_losses"] for p in paths]


def summarise(rollouts) -> dict:
    spreads, best, relative, autocorrelations = [], [], [], []
    for branch_losses in rollouts:
        logs = np.log(np.maximum(branch_losses, 1e-30))
        logs = logs[np.isfinite(logs).all(axis=1)]
        if len(logs) < 3:
            continue
        spreads.extend(logs.max(axis=1) - logs.min(axis=1))
        best.extend(logs.argmin(axis=1))
        relative.append(logs - logs.mean(axis=1, keepdims=True))
        preference = logs[:, :2].mean(axis=1) - logs[:, 3:].mean(axis=1)
        if preference.std() > 0:
            autocorrelations.append(np.corrcoef(preference[:-1], preference[1:])[0, 1])
    return {
        "rollouts": len(rollouts),
        "decisions": len(best),
        "median_spread": float(np.median(spreads)),
        "best_fraction": (np.bincount(best, minlength=5) / len(best)).round(3).tolist(),
        "mean_relative_log_loss": np.concatenate(relative).mean(axis=0).round(4).tolist(),
        "preference_autocorrelation": float(np.median(autocorrelations)),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--round", type=int, default=None)
    parser.add_argument("--first", type=int, default=None, help="only the first N task seeds of each round")
    arguments = parser.parse_args()
    print(arguments.run, summarise(read_rollouts(arguments.run, arguments.round, arguments.first)))
