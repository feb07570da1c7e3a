"""How well does each policy's value head rank held-out runs' outcomes? (docs/meta_training.md)

Reads the held-out evaluation rollouts that meta-training stores
(`<run>/evaluation/*.npz`: every decision's features and its actual
log(final loss / loss at the decision), from the final policy acting alone on
tasks no round trained on) and prints, for each policy, the Spearman rank
correlation of its value head's prediction with that actual value: per run's
states and pooled. Every policy is scored on the same states, so the numbers
compare value heads directly, whichever run produced the states.

Usage:

    python benchmarks/experiments/value_head_accuracy.py --policy meta-v2 --policy runs/meta-v12/policy \\
        --states runs/meta-v11 --states runs/meta-v12
"""

from __future__ import annotations

import argparse
import pathlib

import numpy as np
from scipy.stats import spearmanr

from keras_meta.policy import load_policy


def read_states(run: str) -> tuple[np.ndarray, np.ndarray]:
    """The features and actual values of every decision of a run's held-out evaluation rollouts."""
    paths = sorted(pathlib.Path(run, "evaluation").glob("*.npz"))
    if not paths:
        raise SystemExit(f"No evaluation rollouts in {run}/evaluation.")
    rollouts = [np.load(path) for path in paths]
    return np.concatenate([r["features"] for r in rollouts]), np.concatenate([r["values"] for r in rollouts])


def rank_correlation(policy, features, values) -> float:
    _, predicted = policy.evaluate_batch(features)
    return float(spearmanr(predicted, values).statistic)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", action="append", required=True, help="a policy name or path (repeatable)")
    parser.add_argument("--states", action="append", required=True, help="a meta-training run folder (repeatable)")
    args = parser.parse_args()
    states = {run: read_states(run) for run in args.states}
    pooled = (np.concatenate([f for f, _ in states.values()]), np.concatenate([v for _, v in states.values()]))
    columns = [
        *(f"{pathlib.Path(run).name} ({len(v)})" for run, (_, v) in states.items()),
        f"pooled ({len(pooled[1])})",
    ]
    print("| policy | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for name in args.policy:
        policy = load_policy(name)
        cells = [rank_correlation(policy, *state) for state in [*states.values(), pooled]]
        print(f"| {policy.name} | " + " | ".join(f"{cell:.2f}" for cell in cells) + " |")


if __name__ == "__main__":
    main()
