"""How well can a policy with these inputs imitate the look-ahead expert? A diagnostic.

Takes a finished `keras-meta meta-train` run (its labelled rollouts of every
round, and the held-out evaluation rollouts of its final policy) and refits
the policy network on the training decisions with the run's own settings and
with larger networks trained longer. For each fit it prints, on the training
decisions and on the held-out ones (look-ahead labels only):

* agreement: how often the policy's most likely action is the expert's best;
* regret: the mean log branch loss of the policy's choice minus the best
  branch's (0: always the expert's choice);

next to the same for always keeping the rate. A fit that agrees with the
expert on its training decisions far more than on held-out ones is limited by
data (more rollouts); one that cannot agree even on its training decisions is
limited by its inputs (the features do not say what the expert saw ahead).

Usage (from the repository root, after `keras-meta meta-train --config
configs/meta-v16.json --output runs/meta-v16`):

    python benchmarks/experiments/imitation_ceiling.py runs/meta-v16
    python benchmarks/experiments/imitation_ceiling.py runs/meta-v16 --learning-curve

`--learning-curve` refits at the run's own size on random 25%, 50% and 100%
of the training decisions instead, each with the same number of gradient
steps: does held-out regret fall as the data grows?

`--seeds N` repeats every fit with N fit seeds (the config's seed plus 0 to
N - 1; for the learning curve each seed also draws its own subset) and prints
each figure's mean and standard deviation over them, plus the held-out figures
of the fits' ensemble (their mean action probabilities). `--held-out RUN ...`
also scores on other runs' held-out evaluation decisions (another seed's run:
states the fits never saw), one extra pair of columns per run.

    python benchmarks/experiments/imitation_ceiling.py runs/meta-v16 --learning-curve --seeds 5 \
        --held-out runs/meta-v16-seed1
"""

from __future__ import annotations

import argparse
import json
import pathlib

import numpy as np

from keras_meta.meta.pipeline import MetaTrainConfig
from keras_meta.meta.pipeline import _load_rollouts
from keras_meta.meta.pipeline import fit_decisions
from keras_meta.meta.rollouts import LabellingCallback
from keras_meta.policy import DEFAULT_ACTIONS

KEEP = DEFAULT_ACTIONS.index(0.0)
FRACTIONS = (0.25, 0.5, 1.0)
VARIANTS = {
    "the run's own": None,
    "256x256, 300 epochs": ((256, 256), 300),
    "256x256x256, 600 epochs": ((256,) * 3, 600),
}


def scores(choices: np.ndarray, data: dict) -> dict:
    """Agreement with the expert's best action and the mean log-loss regret of `choices`."""
    logs = np.log(np.maximum(data["branch_losses"], 1e-30))
    finite = np.where(np.isfinite(logs), logs, np.inf)
    chosen = logs[np.arange(len(choices)), choices]
    regret = np.where(np.isfinite(chosen), chosen - finite.min(axis=1), np.nan)
    return {"agreement": float(np.mean(choices == data["labels"].argmax(axis=1))), "regret": float(np.nanmean(regret))}


def refit(config: MetaTrainConfig, decisions: dict, hidden, epochs, card=None, seed=None):
    """The policy fitted to `decisions` as the meta-training pipeline fits it, at another size, length or seed."""
    return fit_decisions(config, decisions, card=card, hidden=hidden, epochs=epochs, seed=seed)[0]


def labelled(data: dict) -> dict:
    keep = data["label_kind"] == LabellingCallback.LOOKAHEAD
    return {key: value[keep] for key, value in data.items()}


def probabilities_of(policy, data: dict) -> np.ndarray:
    return policy.evaluate_batch(data["features"])[0]


def policy_scores(policies, data: dict) -> dict:
    """`scores` of the mean action probabilities of `policies` (one policy, or an ensemble's members)."""
    probabilities = np.mean([probabilities_of(policy, data) for policy in policies], axis=0)
    return scores(probabilities.argmax(axis=1), data)


def cell(values, digits: int = 3) -> str:
    """One figure (to `digits` decimals), or its mean and standard deviation over seeds."""
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{np.mean(values):.4f} ± {np.std(values, ddof=1):.4f}"


def fit_specs(args, config: MetaTrainConfig, n_decisions: int) -> list:
    """`(name, hidden, epochs, rows_of_seed)` of every fit the options ask for."""
    if args.learning_curve:

        def rows_of(fraction):
            return lambda k: np.random.default_rng(k).permutation(n_decisions)[: round(fraction * n_decisions)]

        return [
            (f"{share:.0%} of the decisions", config.hidden, round(config.train_epochs / share), rows_of(share))
            for share in FRACTIONS
        ]
    every_row = np.arange(n_decisions)
    return [
        (name, *(variant or (config.hidden, config.train_epochs)), lambda k: every_row)
        for name, variant in VARIANTS.items()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a finished meta-train output folder")
    parser.add_argument("--learning-curve", action="store_true", help="refit on growing fractions of the data")
    parser.add_argument("--seeds", type=int, default=1, help="fit seeds per fit (default 1)")
    parser.add_argument("--held-out", nargs="*", default=[], help="other runs whose held-out decisions to score on")
    args = parser.parse_args()
    run = pathlib.Path(args.run)
    config = MetaTrainConfig.from_dict(json.loads((run / "config.json").read_text()))
    train = _load_rollouts(sorted(run.glob("round_*/rollouts")))
    held_out = {
        pathlib.Path(path).name: labelled(_load_rollouts([pathlib.Path(path) / "evaluation"]))
        for path in [run, *args.held_out]
    }
    train_labelled = labelled(train)
    print(f"{run}: {len(train['features'])} training decisions ({len(train_labelled['features'])} with look-ahead")
    sizes = ", ".join(f"{name} {len(data['features'])}" for name, data in held_out.items())
    print(f"labels); held-out labelled decisions: {sizes}")
    print(f"{args.seeds} fit seed(s) per fit\n")
    held_columns = " | ".join(f"{name} agreement | {name} regret" for name in held_out)
    print(f"| fit | train agreement | train regret | {held_columns} |")
    print("|---|---|---|" + "---|---|" * len(held_out))
    keep = [scores(np.full(len(data["features"]), KEEP), data) for data in [train_labelled, *held_out.values()]]
    print("| always keep the rate | " + " | ".join(f"{s['agreement']:.3f} | {s['regret']:.3f}" for s in keep) + " |")
    for name, hidden, epochs, rows_of_seed in fit_specs(args, config, len(train["features"])):
        figures = {}  # (split, figure) -> one value per seed
        held_probabilities = {split: [] for split in held_out}
        for k in range(args.seeds):
            subset = {key: value[rows_of_seed(k)] for key, value in train.items()}
            policy = refit(config, subset, hidden, epochs, seed=config.seed + k)
            fitted = labelled(subset)
            for split, data in [("train", fitted), *held_out.items()]:
                probabilities = probabilities_of(policy, data)
                if split != "train":
                    held_probabilities[split].append(probabilities)
                for figure, value in scores(probabilities.argmax(axis=1), data).items():
                    figures.setdefault((split, figure), []).append(value)
        splits = ["train", *held_out]
        row = " | ".join(cell(figures[(split, figure)]) for split in splits for figure in ("agreement", "regret"))
        print(f"| {name} ({'x'.join(map(str, hidden))}, {epochs} epochs) | {row} |", flush=True)
        if args.seeds > 1:
            ensemble = [
                scores(np.mean(held_probabilities[split], axis=0).argmax(axis=1), data)
                for split, data in held_out.items()
            ]
            cells = " | ".join(f"{s['agreement']:.3f} | {s['regret']:.4f}" for s in ensemble)
            print(f"| ensemble of its {args.seeds} fits | - | - | {cells} |", flush=True)


if __name__ == "__main__":
    main()
