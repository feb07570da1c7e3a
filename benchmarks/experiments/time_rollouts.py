"""Times a few meta-training rollouts of a config before committing to a long run.

Runs the first rollouts of round 0 (the hand-written policy, beta 1) in this
process on one thread and prints each one's length, labelled decisions, time
and the look-ahead's best action per label.

Usage (what sized configs/meta-v6.json, with `label_every` 4):
    python benchmarks/experiments/time_rollouts.py configs/meta-v2.json --set cooldown_to_end=true \\
        --set final_cooldown=0.2 --set label_every=4 --count 3
"""

import argparse
import json
import pathlib
import time

from keras_meta.bench._environment import use_one_thread
from keras_meta.meta.families import sample_task
from keras_meta.meta.pipeline import MetaTrainConfig
from keras_meta.meta.rollouts import RolloutConfig
from keras_meta.meta.rollouts import run_rollout

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("--set", action="append", default=[], help="KEY=JSON_VALUE, overriding the config")
    parser.add_argument("--count", type=int, default=3)
    arguments = parser.parse_args()
    values = json.loads(pathlib.Path(arguments.config).read_text())
    values.update({key: json.loads(value) for key, value in (item.split("=", 1) for item in arguments.set)})
    config = MetaTrainConfig.from_dict(values)
    use_one_thread()
    for seed in config.task_seeds(0, arguments.count):
        spec = sample_task(seed, **config.task_family())
        began = time.perf_counter()
        rollout = run_rollout(spec, "handwritten", RolloutConfig(1.0, config.exploration, config.lookahead()))
        print(
            f"task {seed} ({spec.optimizer}, {spec.epochs * spec.steps_per_epoch} steps): "
            f"{len(rollout['labels'])} labels, {time.perf_counter() - began:.1f} s, "
            f"best actions {rollout['labels'].argmax(axis=1).tolist()}",
            flush=True,
        )
