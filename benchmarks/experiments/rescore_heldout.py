"""Adds one policy, or one way of acting on a policy, to a stored `keras-meta meta-eval` result.

`keras-meta meta-eval` trains every method on every task. To try one more
candidate on the same tasks this script reruns only the candidate, with the
same task family, seeds and training code (`keras_meta.meta.heldout`), and
rescores every method on each task against the best of all of them, as
meta-eval does.

`--rule expected` moves the rate by 2 ** (sum over actions of probability x
log2 multiplier) at each decision instead of taking the most likely action.
`--rule cosine_envelope` lets the policy's most likely action move a base
rate and runs the optimizer at that base times a cosine decay over the run.
The reference's start ("drawn" or "default", see `keras-meta meta-eval
--start`) is kept. `--rule ensemble --policy a+b` acts on the mean of the
action probabilities of policies a and b (the most likely action).
`--act-every K` runs `MetaLRCallback(act_every=K)`: the policy acts at every
K-th decision only and keeps the rate at the others, as the expert of a
`label_every: K` meta-training run did between its labels (default: the
policy card's).
`--final-cooldown F` runs any rule with `MetaLRCallback(final_cooldown=F)`:
the last F of each run anneals to zero with no decisions.

Usage:
    python benchmarks/experiments/rescore_heldout.py --policy meta-v2 --rule expected \\
        --name "meta-v2 expected" --output benchmarks/experiments/meta-v2_expected.json
    python benchmarks/experiments/rescore_heldout.py --policy runs/meta-v5/policy \\
        --name meta-v5 --output benchmarks/experiments/meta-v5.json

About 5 minutes for 24 tasks on one core.
"""

import argparse
import functools
import json
import math
import pathlib

import numpy as np

from keras_meta._optimizers import get_lr
from keras_meta._optimizers import set_lr
from keras_meta.callbacks import MetaLRCallback
from keras_meta.meta.heldout import run_heldout_task
from keras_meta.policy import Policy

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


class CosineEnvelopeCallback(MetaLRCallback):
    """The policy steers a base rate; the optimizer runs at base x a cosine decay over the run.

    Every grid oracle of the public suite and most of the held-out tasks' best
    runs are cosine decays: this builds the decay in and leaves the policy the
    level. The policy still sees the rate the optimizer runs at.
    """

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self._base_lr = self._initial_lr

    def _decide(self):
        old_lr = get_lr(self.model.optimizer)
        probabilities, _ = self.policy.evaluate(self._features(old_lr))
        log2_multiplier = float(self.policy.actions[int(np.argmax(probabilities))])
        self._base_lr = min(max(self._base_lr * 2.0**log2_multiplier, self.min_lr), self.max_lr)
        envelope = 0.5 * (1.0 + math.cos(math.pi * min(self._progress(), 1.0)))
        set_lr(self.model.optimizer, max(self._base_lr * envelope, self.min_lr))
        self._last_log2_multiplier = log2_multiplier
        self._last_decision_step = self._step
        self._consecutive_failures = 0


class EnsembleCallback(MetaLRCallback):
    """`MetaLRCallback` on the mean of a `+`-joined list of policies (`Policy.average`)."""

    def __init__(self, policy, **kwargs):
        super().__init__(policy=Policy.average(policy.split("+")), **kwargs)


CALLBACKS = {
    "most_likely": MetaLRCallback,
    "expected": ExpectedMultiplierCallback,
    "cosine_envelope": CosineEnvelopeCallback,
    "ensemble": EnsembleCallback,
}


def fresh_loss(seed, family, policy, rule, start, final_cooldown=None, act_every=None):
    family = {key: tuple(value) if isinstance(value, list) else value for key, value in family.items()}
    callback_class = functools.partial(CALLBACKS[rule], final_cooldown=final_cooldown, act_every=act_every)
    return run_heldout_task(seed, str(policy), family, start, callback_class=callback_class)[1]


def rescore(reference, name, policy, rule, final_cooldown=None, act_every=None) -> dict:
    tasks = []
    start = reference.get("start", "drawn")
    for task in reference["tasks"]:
        losses = dict(task["losses"])
        losses[name] = fresh_loss(task["seed"], reference["family"], policy, rule, start, final_cooldown, act_every)
        tasks.append({"seed": task["seed"], "losses": losses})
    methods = list(tasks[0]["losses"])
    scores = {
        m: float(np.exp(np.mean([np.log(t["losses"][m] / min(t["losses"].values())) for t in tasks]))) for m in methods
    }
    wins = {m: float(np.mean([t["losses"][name] < t["losses"][m] for t in tasks])) for m in methods if m != name}
    return {
        "candidate": name,
        "policy": str(policy),
        "rule": rule,
        "start": start,
        "final_cooldown": final_cooldown,
        "act_every": act_every,
        "scores": scores,
        "wins": wins,
        "tasks": tasks,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", required=True)
    parser.add_argument("--rule", choices=sorted(CALLBACKS), default="most_likely")
    parser.add_argument("--name", required=True)
    parser.add_argument("--reference", default=str(DEFAULT_REFERENCE))
    parser.add_argument("--final-cooldown", type=float, default=None)
    parser.add_argument("--act-every", type=int, default=None)
    parser.add_argument("--output", required=True)
    arguments = parser.parse_args()
    if arguments.act_every is not None and arguments.rule not in ("most_likely", "ensemble"):
        parser.error("--act-every works with the rules that choose an action: most_likely and ensemble.")
    reference = json.loads(pathlib.Path(arguments.reference).read_text())
    result = rescore(
        reference, arguments.name, arguments.policy, arguments.rule, arguments.final_cooldown, arguments.act_every
    )
    pathlib.Path(arguments.output).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({"scores": result["scores"], "wins": result["wins"]}, indent=1))
