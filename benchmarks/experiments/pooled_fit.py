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
"""

from __future__ import annotations

import argparse
import json
import pathlib

from imitation_ceiling import labelled  # the script's folder is on the path
from imitation_ceiling import refit
from imitation_ceiling import scores

from keras_meta.meta.ensemble import build_ensemble
from keras_meta.meta.pipeline import MetaTrainConfig
from keras_meta.meta.pipeline import _load_rollouts
from keras_meta.policy import load_policy

DEFAULT_CARD_SETTINGS = ("act_every", "final_cooldown", "fit_guard", "lr_floor", "climb_ramp", "climb_ramp_steps")


def _scores(policy, data: dict) -> dict:
    probabilities, _ = policy.evaluate_batch(data["features"])
    return scores(probabilities.argmax(axis=1), data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs=2, help="two finished meta-train output folders of one recipe")
    parser.add_argument("--output", required=True, help="where to save the pooled policy")
    parser.add_argument("--card-from", default="default", help="policy whose card settings the pooled one takes")
    args = parser.parse_args()
    runs = [pathlib.Path(run) for run in args.runs]
    config = MetaTrainConfig.from_dict(json.loads((runs[0] / "config.json").read_text()))
    train = _load_rollouts([path for run in runs for path in sorted(run.glob("round_*/rollouts"))])
    settings = load_policy(args.card_from).card
    card = {
        "name": "pooled",
        "version": "1",
        "kind": "meta-trained",
        "description": f"One fit on the pooled rollouts of {runs[0]} and {runs[1]}.",
        "decisions_per_run": 40,
        **{key: settings[key] for key in DEFAULT_CARD_SETTINGS if key in settings},
    }
    pooled = refit(config, train, config.hidden, config.train_epochs, card=card)
    pooled.save(args.output)
    members = [load_policy(run / "policy") for run in runs]
    candidates = {
        f"{runs[0].name} alone": members[0],
        f"{runs[1].name} alone": members[1],
        "their ensemble (the default's recipe)": build_ensemble(members, name="ensemble"),
        "one fit on the pooled rollouts": pooled,
    }
    held_out = {run.name: labelled(_load_rollouts([run / "evaluation"])) for run in runs}
    print(
        f"{len(train['features'])} pooled training decisions; held-out labelled decisions: "
        + ", ".join(f"{name} {len(data['features'])}" for name, data in held_out.items())
        + "\n"
    )
    print("| policy | " + " | ".join(f"{name} agreement | {name} regret" for name in held_out) + " |")
    print("|---|" + "---|---|" * len(held_out))
    for name, policy in candidates.items():
        cells = []
        for data in held_out.values():
            score = _scores(policy, data)
            cells += [f"{score['agreement']:.3f}", f"{score['regret']:.4f}"]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print(f"\nPooled policy: {args.output}")


if __name__ == "__main__":
    main()
