"""The batch losses of `MetaLRCallback`'s first decision interval, from several starting rates.

The evidence behind the callback's `start_guard` limit: how far above the
untrained model's loss the first interval goes from a rate far too large
(0.1) and from reasonable ones, on the second development set
(`dev_tasks.py`), never on the public suite. Each fit stops at the first
decision; both guards are off, so the losses are the raw curve.

Usage:
    python benchmarks/experiments/start_losses.py --json benchmarks/dev-tasks/start_losses.json
"""

import argparse
import json
import multiprocessing
import pathlib

import numpy as np

HERE = pathlib.Path(__file__).parent
TASK_FILE = str((HERE / "dev_tasks.py").resolve())
STARTS = (0.1, 0.03, 0.01, 1e-3, 1e-5)
SEEDS = (0, 1, 2)


def first_interval_losses(task_name: str, seed: int, lr: float, policy: str = "default") -> dict:
    """Trains one dev task under `MetaLRCallback` until its first decision; returns the recorded losses."""
    import keras

    from keras_meta.bench.runner import resolve_tasks
    from keras_meta.callbacks import MetaLRCallback

    task = resolve_tasks(TASK_FILE)[0][task_name]
    splits = task.load(seed)
    keras.utils.set_random_seed(seed)
    model = task.build(splits)
    model.compile(keras.optimizers.Adam(lr), task.make_loss())
    callback = MetaLRCallback(policy=policy, explosion_factor=None, start_guard=None)

    class StopAtFirstDecision(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if callback.decisions:
                self.model.stop_training = True

    model.fit(
        splits.x_train,
        splits.y_train,
        batch_size=task.batch_size,
        epochs=task.epochs,
        callbacks=[callback, StopAtFirstDecision()],
        verbose=0,
    )
    return {"task": task_name, "seed": seed, "lr": lr, "interval": callback._interval, "losses": callback.losses}


def peak_ratio(losses, window: int = 3) -> float:
    """The largest mean of `window` consecutive losses after the first, over the first (the untrained model's)."""
    losses = np.asarray(losses, dtype=float)
    means = np.convolve(losses, np.ones(window) / window, mode="valid")
    return float(means.max() / losses[0])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", required=True, help="write the losses and peak ratios here")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    from keras_meta.bench._environment import use_one_thread
    from keras_meta.bench.runner import resolve_tasks

    names = list(resolve_tasks(TASK_FILE)[0])
    jobs = [(name, seed, lr) for name in names for seed in SEEDS for lr in STARTS]
    with multiprocessing.get_context("spawn").Pool(args.workers, initializer=use_one_thread) as pool:
        results = pool.starmap(first_interval_losses, jobs)
    for result in results:
        result["peak_ratio"] = peak_ratio(result["losses"])
    pathlib.Path(args.json).write_text(json.dumps(results))
    for lr in STARTS:
        ratios = sorted(round(r["peak_ratio"], 2) for r in results if r["lr"] == lr)
        print(f"from {lr:g}: peak mean-of-3 / untrained loss, sorted: {ratios}")


if __name__ == "__main__":
    main()
