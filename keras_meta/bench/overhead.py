"""The callback's overhead: wall time of `fit` with it divided by without it.

Each timing runs in a fresh Python process, so that one fit's leftovers
(traced functions, allocator state) cannot favour the next, and the two
variants alternate so that slow drifts of the machine hit both alike.
TensorFlow runs on one thread in both, because thread scheduling on a small
machine moves single fits by more than the effect being measured.

Two figures come out: the end-to-end ratio of median fit times, and the
callback's *self time*, the time spent inside its hooks as a fraction of the
fit, which is far less noisy than a ratio of two noisy medians.

Run it with `keras-meta overhead`; `python -m keras_meta.bench.overhead
--child` is the child process it starts.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from keras_meta.bench._environment import machine_description
from keras_meta.bench._environment import use_one_thread
from keras_meta.callbacks import MetaLRCallback

_N_SAMPLES = 4096
_N_FEATURES = 32
_N_CLASSES = 10
_HIDDEN = (128, 128)
_BATCH_SIZE = 32


def time_one_fit(with_callback: bool, epochs: int, seed: int = 0) -> dict:
    """Times `fit` of a small MLP, after a one-epoch warm-up that traces it.

    Args:
        with_callback: Boolean. Whether the timed fit runs `MetaLRCallback`.
        epochs: Integer. Epochs of the timed fit.
        seed: Integer. Seeds the data and the weights.

    Returns:
        A dict: `seconds`, the timed fit's wall time, and `callback_seconds`,
        the time spent inside the callback's hooks (0 without it).
    """
    import keras
    import numpy as np

    use_one_thread()
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((_N_SAMPLES, _N_FEATURES)).astype("float32")
    y = (x @ rng.standard_normal((_N_FEATURES, _N_CLASSES))).argmax(axis=1)
    model = keras.Sequential(
        [keras.Input((_N_FEATURES,))]
        + [keras.layers.Dense(units, activation="relu") for units in _HIDDEN]
        + [keras.layers.Dense(_N_CLASSES)]
    )
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=_BATCH_SIZE, epochs=1, verbose=0)
    callback = _SelfTimedCallback()
    start = time.perf_counter()
    model.fit(x, y, batch_size=_BATCH_SIZE, epochs=epochs, verbose=0, callbacks=[callback] if with_callback else [])
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "callback_seconds": callback.seconds if with_callback else 0.0}


def _self_timed(hook):
    def timed(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return hook(self, *args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start

    return timed


class _SelfTimedCallback(MetaLRCallback):
    """`MetaLRCallback` that adds up the time spent in its hooks."""

    seconds = 0.0
    on_train_begin = _self_timed(MetaLRCallback.on_train_begin)
    on_epoch_begin = _self_timed(MetaLRCallback.on_epoch_begin)
    on_train_batch_end = _self_timed(MetaLRCallback.on_train_batch_end)
    on_epoch_end = _self_timed(MetaLRCallback.on_epoch_end)


def measure_overhead(repeats: int = 9, epochs: int = 20) -> dict:
    """Runs `repeats` pairs of fresh-process fits, alternating the order.

    Args:
        repeats: Integer. Pairs of runs (one with, one without the callback).
        epochs: Integer. Epochs of each timed fit.

    Returns:
        A dict with the seconds of every run, their medians, the ratio of the
        medians, and a description of the machine and the workload.
    """
    times = {"with": [], "without": []}
    self_fractions = []
    for repeat in range(repeats):
        order = ("without", "with") if repeat % 2 == 0 else ("with", "without")
        for variant in order:
            timing = _time_in_child(variant == "with", epochs, seed=repeat)
            times[variant].append(timing["seconds"])
            if variant == "with":
                self_fractions.append(timing["callback_seconds"] / timing["seconds"])
    median_with = statistics.median(times["with"])
    median_without = statistics.median(times["without"])
    return {
        "ratio": median_with / median_without,
        "self_time_fraction": statistics.median(self_fractions),
        "median_seconds_with": median_with,
        "median_seconds_without": median_without,
        "seconds_with": times["with"],
        "seconds_without": times["without"],
        "repeats": repeats,
        "workload": (
            f"MLP {_N_FEATURES}-{'-'.join(map(str, _HIDDEN))}-{_N_CLASSES}, {_N_SAMPLES} samples, "
            f"batch {_BATCH_SIZE}, {epochs} epochs ({epochs * _N_SAMPLES // _BATCH_SIZE} steps), "
            "default policy and interval, TensorFlow on one thread"
        ),
        "machine": machine_description(),
    }


def format_report(result: dict) -> str:
    """A short markdown report of a `measure_overhead` result."""
    return "\n".join(
        [
            f"- overhead ratio (median with / median without): **{result['ratio']:.3f}**",
            f"- time inside the callback's hooks: **{100 * result['self_time_fraction']:.2f}%** of fit (median)",
            f"- median fit time: {result['median_seconds_with']:.3f} s with the callback, "
            f"{result['median_seconds_without']:.3f} s without ({result['repeats']} fresh processes each)",
            f"- workload: {result['workload']}",
            f"- machine: {result['machine']}",
        ]
    )


def _time_in_child(with_callback: bool, epochs: int, seed: int) -> dict:
    command = [sys.executable, "-m", "keras_meta.bench.overhead", "--child", "--epochs", str(epochs)]
    command += ["--seed", str(seed)] + (["--with-callback"] if with_callback else [])
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    completed = subprocess.run(command, capture_output=True, text=True, env=environment)
    if completed.returncode != 0:
        raise RuntimeError(f"The timing process failed:\n{completed.stderr[-2000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _child_main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="One timed fit (a child of `keras-meta overhead`).")
    parser.add_argument("--child", action="store_true", required=True)
    parser.add_argument("--with-callback", action="store_true")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(json.dumps(time_one_fit(args.with_callback, args.epochs, args.seed)))


if __name__ == "__main__":
    _child_main()
