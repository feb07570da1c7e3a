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


def refit(config: MetaTrainConfig, decisions: dict, hidden, epochs, card=None):
    """The policy fitted to `decisions` as the meta-training pipeline fits it, at another size or length."""
    return fit_decisions(config, decisions, card=card, hidden=hidden, epochs=epochs)[0]


def labelled(data: dict) -> dict:
    keep = data["label_kind"] == LabellingCallback.LOOKAHEAD
    return {key: value[keep] for key, value in data.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a finished meta-train output folder")
    parser.add_argument("--learning-curve", action="store_true", help="refit on growing fractions of the data")
    args = parser.parse_args()
    run = pathlib.Path(args.run)
    config = MetaTrainConfig.from_dict(json.loads((run / "config.json").read_text()))
    train = _load_rollouts(sorted(run.glob("round_*/rollouts")))
    held_out = labelled(_load_rollouts([run / "evaluation"]))
    train_labelled = labelled(train)
    print(f"{run}: {len(train['features'])} training decisions ({len(train_labelled['features'])} with look-ahead")
    print(f"labels), {len(held_out['features'])} held-out labelled decisions\n")
    print("| fit | train agreement | train regret | held-out agreement | held-out regret |")
    print("|---|---|---|---|---|")
    keep_train = scores(np.full(len(train_labelled["features"]), KEEP), train_labelled)
    keep_held = scores(np.full(len(held_out["features"]), KEEP), held_out)
    print(
        f"| always keep the rate | {keep_train['agreement']:.3f} | {keep_train['regret']:.3f} | "
        f"{keep_held['agreement']:.3f} | {keep_held['regret']:.3f} |"
    )
    if args.learning_curve:
        rng = np.random.default_rng(0)
        order = rng.permutation(len(train["features"]))
        fits = [
            (
                f"{fraction:.0%} of the decisions",
                config.hidden,
                round(config.train_epochs / fraction),
                order[: round(fraction * len(order))],
            )
            for fraction in FRACTIONS
        ]
    else:
        fits = [
            (name, *(variant or (config.hidden, config.train_epochs)), np.arange(len(train["features"])))
            for name, variant in VARIANTS.items()
        ]
    for name, hidden, epochs, rows in fits:
        subset = {key: value[rows] for key, value in train.items()}
        policy = refit(config, subset, hidden, epochs)
        fitted = {}
        for split, data in (("train", labelled(subset)), ("held", held_out)):
            probabilities, _ = policy.evaluate_batch(data["features"])
            fitted[split] = scores(probabilities.argmax(axis=1), data)
        print(
            f"| {name} ({'x'.join(map(str, hidden))}, {epochs} epochs) | {fitted['train']['agreement']:.3f} | "
            f"{fitted['train']['regret']:.3f} | {fitted['held']['agreement']:.3f} | {fitted['held']['regret']:.3f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
