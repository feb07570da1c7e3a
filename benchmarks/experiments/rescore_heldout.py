"""Adds one policy, or one way of acting on a policy, to a stored `keras-meta meta-eval` result.

`keras-meta meta-eval` trains every method on every task. To try one more
candidate on the same tasks this script reruns only the candidate, with the
same task family, seeds and training code (`keras_meta.meta.heldout`), and
rescores every method on each task against the best of all of them, as
meta-eval does.

`--rule expected` moves the rate by 2 ** (sum over actions of probability x
log2 multiplier) at each decision instead of taking the most likely action.

Usage:
    python benchmarks/experiments/rescore_heldout.py --policy meta-v2 --rule expected \\
        --name "meta-v2 expected" --output benchmarks/experiments/meta-v2_expected.json
    python benchmarks/experiments/rescore_heldout.py --policy runs/meta-v5/policy \\
        --name meta-v5 --output benchmarks/experiments/meta-v5.json

About 5 minutes for 24 tasks on one core.
"""

import argparse
import json
import pathlib

import numpy as np

from keras_meta._optimizers import get_lr
from keras_meta._optimizers import set_lr
from keras_meta.callbacks import MetaLRCallback
from keras_meta.meta.heldout import run_heldout_task

DEFAULT_REFERENCE = pathlib.Path(__file__).parents[1] / "heldout" / "meta-v2_vs_meta-v4.json"


class ExpectedMultiplierCallback(MetaLRCallback):
    """Moves the rate by the policy's expected log2 multiplier."""

    def _decide(self):
        old_lr = get_lr(self.model.optimizer)
        probabilities, _ = self.policy.evaluate(self._features(old_lr))
        log2_multiplier = float(probabilities @ self.policy.actions)
        set_lr(self.model.optimizer, min(max(old_lr * 2.0**log2_multiplier, self.min_lr), self.max_lr))
        self._last_log2_multiplier = log2_multiplier
        self._last_decision_step = self._step
        self._consecutive_failures = 0


CALLBACKS = {"most_likely": MetaLRCallback, "expected": ExpectedMultiplierCallback}


def fresh_loss(seed, family, policy, rule, start):
    family = {key: tuple(value) if isinstance(value, list) else value for key, value in family.items()}
    return run_heldout_task(seed, str(policy), family, start, callback_class=CALLBACKS[rule])[1]


def rescore(reference, name, policy, rule) -> dict:
    tasks = []
    for task in reference["tasks"]:
        losses = dict(task["losses"])
        losses[name] = fresh_loss(task["seed"], reference["family"], policy, rule, reference.get("start", "drawn"))
        tasks.append({"seed": task["seed"], "losses": losses})
    methods = list(tasks[0]["losses"])
    scores = {
        m: float(np.exp(np.mean([np.log(t["losses"][m] / min(t["losses"].values())) for t in tasks]))) for m in methods
    }
    wins = {m: float(np.mean([t["losses"][name] < t["losses"][m] for t in tasks])) for m in methods if m != name}
    return {"candidate": name, "policy": str(policy), "rule": rule, "scores": scores, "wins": wins, "tasks": tasks}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", required=True)
    parser.add_argument("--rule", choices=sorted(CALLBACKS), default="most_likely")
    parser.add_argument("--name", required=True)
    parser.add_argument("--reference", default=str(DEFAULT_REFERENCE))
    parser.add_argument("--output", required=True)
    arguments = parser.parse_args()
    result = rescore(
        json.loads(pathlib.Path(arguments.reference).read_text()), arguments.name, arguments.policy, arguments.rule
    )
    pathlib.Path(arguments.output).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({"scores": result["scores"], "wins": result["wins"]}, indent=1))
