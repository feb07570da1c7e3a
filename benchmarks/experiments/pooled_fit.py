"""One policy fitted on the pooled rollouts of two meta-training runs, against their ensemble.

The shipped default averages two policies, each fitted on its own run's
labelled rollouts. `benchmarks/experiments/imitation_ceiling.py` found the
imitation limited by data, so this fits one network on both runs' training
decisions (the run's own settings; twice the data) and scores it, each
member's final policy, and their ensemble on the held-out evaluation
decisions of both runs: agreement with the expert's best action and the mean
log-loss regret of the chosen branch. The pooled policy is saved, with the
default's card settings (fit guard, floor, ramps), for the dev sets and the
suite.

Usage (from the repository root, after `make reproduce-default`'s two
`keras-meta meta-train` runs):

    python benchmarks/experiments/pooled_fit.py runs/meta-v16 runs/meta-v16-seed1 --output runs/candidates/pooled

`--seeds N` (N >= 2) refits each member and the pooled policy with N fit
seeds (each config's seed plus 0 to N - 1; seed 0's refits are the members
themselves) and prints each fit's mean and standard deviation over seeds, then
the ensembles of all fits: every member refit, and every pooled fit. The
pooled policy saved is seed 0's.
"""

from __future__ import annotations

import argparse
import json
import pathlib

import numpy as np
from imitation_ceiling import cell  # the script's folder is on the path
from imitation_ceiling import labelled
from imitation_ceiling import policy_scores
from imitation_ceiling import refit

from keras_meta.meta.ensemble import build_ensemble
from keras_meta.meta.pipeline import MetaTrainConfig
from keras_meta.meta.pipeline import _load_rollouts
from keras_meta.policy import load_policy

DEFAULT_CARD_SETTINGS = ("act_every", "final_cooldown", "fit_guard", "lr_floor", "climb_ramp", "climb_ramp_steps")


def _print_table(rows: dict, held_out: dict) -> None:
    """`rows` maps a name to a function from held-out data to a list of score dicts (one per seed)."""
    print("| policy | " + " | ".join(f"{name} agreement | {name} regret" for name in held_out) + " |")
    print("|---|" + "---|---|" * len(held_out))
    for name, score_of in rows.items():
        cells = []
        for data in held_out.values():
            per_seed = score_of(data)
            cells += [cell([s["agreement"] for s in per_seed]), cell([s["regret"] for s in per_seed], digits=4)]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


def _save_fit_ensemble(refits, settings: dict, output: str) -> None:
    """Saves the ensemble of `refits` with the card settings of `settings` (the default's)."""
    ensemble = build_ensemble(
        refits,
        name=pathlib.Path(output).name,
        **{key: settings[key] for key in DEFAULT_CARD_SETTINGS if key in settings and key != "final_cooldown"},
    )
    ensemble.save(output)
    print(f"Ensemble of {len(refits)} refits: {output}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs=2, help="two finished meta-train output folders of one recipe")
    parser.add_argument("--output", required=True, help="where to save the pooled policy")
    parser.add_argument("--card-from", default="default", help="policy whose card settings the pooled one takes")
    parser.add_argument("--seeds", type=int, default=1, help="fit seeds per fit (default 1: no refits)")
    parser.add_argument("--ensemble-output", help="with --seeds: where to save the ensemble of all member refits")
    parser.add_argument("--pairs-output", help="with --seeds: a folder for each seed's two-refit ensemble, pair-K")
    args = parser.parse_args()
    runs = [pathlib.Path(run) for run in args.runs]
    configs = [MetaTrainConfig.from_dict(json.loads((run / "config.json").read_text())) for run in runs]
    own_data = [_load_rollouts(sorted(run.glob("round_*/rollouts"))) for run in runs]
    train = {key: np.concatenate([data[key] for data in own_data]) for key in own_data[0]}
    settings = load_policy(args.card_from).card
    card = {
        "name": "pooled",
        "version": "1",
        "kind": "meta-trained",
        "description": f"One fit on the pooled rollouts of {runs[0]} and {runs[1]}.",
        "decisions_per_run": 40,
        **{key: settings[key] for key in DEFAULT_CARD_SETTINGS if key in settings},
    }
    config = configs[0]
    pooled = [
        refit(config, train, config.hidden, config.train_epochs, card=card, seed=config.seed + k)
        for k in range(args.seeds)
    ]
    pooled[0].save(args.output)
    members = [load_policy(run / "policy") for run in runs]
    held_out = {run.name: labelled(_load_rollouts([run / "evaluation"])) for run in runs}
    print(
        f"{len(train['features'])} pooled training decisions; held-out labelled decisions: "
        + ", ".join(f"{name} {len(data['features'])}" for name, data in held_out.items())
        + f"; {args.seeds} fit seed(s)\n"
    )
    if args.seeds == 1:
        rows = {
            f"{runs[0].name} alone": lambda data: [policy_scores([members[0]], data)],
            f"{runs[1].name} alone": lambda data: [policy_scores([members[1]], data)],
            "their ensemble (the default's recipe)": lambda data: [policy_scores(members, data)],
            "one fit on the pooled rollouts": lambda data: [policy_scores([pooled[0]], data)],
        }
    else:
        refits = [
            [
                refit(
                    c, d, c.hidden, c.train_epochs, seed=c.seed + k, card={**member.card, "name": f"{run.name}-fit{k}"}
                )
                for k in range(args.seeds)
            ]
            for c, d, member, run in zip(configs, own_data, members, runs)
        ]
        if args.ensemble_output:
            _save_fit_ensemble(refits[0] + refits[1], settings, args.ensemble_output)
        if args.pairs_output:
            for k, pair in enumerate(zip(*refits)):
                _save_fit_ensemble(list(pair), settings, str(pathlib.Path(args.pairs_output) / f"pair-{k}"))
        rows = {
            f"{runs[0].name} refit": lambda data: [policy_scores([p], data) for p in refits[0]],
            f"{runs[1].name} refit": lambda data: [policy_scores([p], data) for p in refits[1]],
            "ensemble of the two refits of one seed (the default's recipe)": lambda data: [
                policy_scores(pair, data) for pair in zip(*refits)
            ],
            "one fit on the pooled rollouts": lambda data: [policy_scores([p], data) for p in pooled],
            f"ensemble of all {2 * args.seeds} member refits": lambda data: [
                policy_scores(refits[0] + refits[1], data)
            ],
            f"ensemble of all {args.seeds} pooled fits": lambda data: [policy_scores(pooled, data)],
        }
    _print_table(rows, held_out)
    print(f"\nPooled policy: {args.output}")


if __name__ == "__main__":
    main()
