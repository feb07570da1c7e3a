"""Would the policy imitate its expert better if it saw its own recent decisions? A diagnostic.

The policy sees one feature vector per decision: the loss curve's recent
shape, the rate, the progress, and of its past only the previous decision's
multiplier (`last_log2_multiplier`) and the slope change after it
(`slope_change`). What the rate did to the loss over the last few decisions
might tell it whether the task wants a higher rate, which the current inputs
do not (docs/meta_training.md, "Does the policy climb where its expert
does?"). Before any change to the package, this refits the policy network on
the stored rollouts of finished `keras-meta meta-train` runs with each
decision's vector extended by selected features of the decisions before it
in the same run (zeros before the first), and scores the fits as
`imitation_ceiling.py` does: held-out agreement with the expert's best action
and mean log-loss regret, mean ± standard deviation over fit seeds, on every
run's held-out evaluation decisions.

Only the action head's imitation is measured; the wider input is patched into
the fitting code for the experiment alone (the package's policies keep the
feature spec they were built with).

Usage (from the repository root, after `make reproduce-default`'s two runs):

    python benchmarks/experiments/history_inputs.py runs/meta-v16 runs/meta-v16-seed1 --seeds 5
"""

from __future__ import annotations

import argparse
import json
import pathlib
from unittest import mock

import numpy as np
from imitation_ceiling import cell  # the script's folder is on the path
from imitation_ceiling import labelled
from imitation_ceiling import policy_scores

from keras_meta.features import FEATURE_NAMES
from keras_meta.meta.pipeline import MetaTrainConfig
from keras_meta.meta.pipeline import _load_rollouts
from keras_meta.meta.pipeline import fit_decisions

ACTION_HISTORY = ("last_log2_multiplier", "slope_change", "slope")
CURVE_HISTORY = ACTION_HISTORY + ("curvature", "noise", "log_loss_vs_best", "val_slope", "log_lr_vs_initial")
VARIANTS = {
    "the current inputs": ((), 0),
    "+ multiplier, slope change, slope of the 2 decisions before": (ACTION_HISTORY, 2),
    "+ the same of the 4 decisions before": (ACTION_HISTORY, 4),
    "+ 8 curve and rate features of the 2 decisions before": (CURVE_HISTORY, 2),
}


def with_history(directories, columns, depth: int) -> dict:
    """`_load_rollouts` of `directories`, each vector extended by `columns` of the `depth` decisions before it."""
    data = _load_rollouts(directories)
    if depth == 0:
        return data
    indices = [FEATURE_NAMES.index(name) for name in columns]
    extended = []
    for directory in directories:
        for path in sorted(pathlib.Path(directory).glob("*.npz")):
            if path.name.endswith(".partial.npz"):
                continue
            with np.load(path, allow_pickle=False) as rollout:
                features = rollout["features"]
            past = []
            for lag in range(1, depth + 1):
                lagged = np.zeros((len(features), len(indices)))
                lagged[lag:] = features[:-lag, indices]
                past.append(lagged)
            extended.append(np.concatenate([features, *past], axis=1))
    data["features"] = np.concatenate(extended)
    return data


def fit(config: MetaTrainConfig, data: dict, seed: int):
    """The pipeline's fit, with the input width of `data`."""
    names = tuple(f"input_{i}" for i in range(data["features"].shape[1]))
    with (
        mock.patch("keras_meta.meta.training.FEATURE_NAMES", names),
        mock.patch("keras_meta.policy.FEATURE_NAMES", names),
    ):
        return fit_decisions(config, data, seed=seed)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="finished meta-train output folders")
    parser.add_argument("--seeds", type=int, default=5, help="fit seeds per fit (default 5)")
    args = parser.parse_args()
    runs = [pathlib.Path(run) for run in args.runs]
    configs = {run.name: MetaTrainConfig.from_dict(json.loads((run / "config.json").read_text())) for run in runs}
    print(f"{args.seeds} fit seeds; each row trains on one run's rollouts and scores on every run's held-out ones\n")
    columns = [
        f"{train.name} -> {held.name} {figure}" for train in runs for held in runs for figure in ("agr.", "regret")
    ]
    print("| inputs | " + " | ".join(columns) + " |")
    print("|---|" + "---|" * len(columns))
    for name, (history, depth) in VARIANTS.items():
        held_out = {run.name: labelled(with_history([run / "evaluation"], history, depth)) for run in runs}
        cells = []
        for train_run in runs:
            config = configs[train_run.name]
            train = with_history(sorted(train_run.glob("round_*/rollouts")), history, depth)
            policies = [fit(config, train, config.seed + k) for k in range(args.seeds)]
            for data in held_out.values():
                per_seed = [policy_scores([p], data) for p in policies]
                cells += [cell([s["agreement"] for s in per_seed]), cell([s["regret"] for s in per_seed], digits=4)]
        print(
            f"| {name} ({len(FEATURE_NAMES) + len(history) * depth} inputs) | " + " | ".join(cells) + " |", flush=True
        )


if __name__ == "__main__":
    main()
