"""A small MetaModelSelector search, run in its own process by the resume and distributed tests.

Usage: `python search_script.py DIRECTORY [SECONDS_PER_EPOCH]`. The search
reads `KERASTUNER_*` variables as keras-tuner does (chief or worker). Each
trial appends the tuner's id to `DIRECTORY/runs.txt` when it starts training,
and the process prints `done` when its search returns. The resume test kills
such a process, then resumes its search by calling `main` in pytest's process.
"""

import os
import sys
import time
import types

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_meta  # noqa: E402

MAX_TRIALS = 4  # two workers each get a trial even if one starts two trials late
MAX_EPOCHS = 3


class _Marker(keras.callbacks.Callback):
    """Records which tuner trained a trial, and slows epochs down so that a kill lands mid-trial."""

    def __init__(self, path, seconds_per_epoch):
        super().__init__()
        self.path = path
        self.seconds_per_epoch = seconds_per_epoch

    def on_train_begin(self, logs=None):
        with open(self.path, "a") as file:
            file.write(os.environ.get("KERASTUNER_TUNER_ID", "tuner0") + "\n")

    def on_epoch_end(self, epoch, logs=None):
        time.sleep(self.seconds_per_epoch)


def build(hp):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(hp.Int("units", 2, 32, sampling="log"), activation="relu"),
            keras.layers.Dense(1),
        ]
    )
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    return model


def poll_the_chief_often():
    """keras-tuner's chief, told that the trials have run out, looks every 20 s for workers still training.

    The chief exits only once none is (that is unchanged); sleeping at most 0.2 s at a time (there and in
    its 1 s main loop) saves a test up to 20 s of waiting. keras-tuner 1.4's `oracle_chief` uses `time`
    only to sleep; every other attribute passes through, so a later use of the module still works.
    """
    from keras_tuner.src.distribute import oracle_chief

    assert oracle_chief.time is time, "keras-tuner's chief no longer uses the time module: drop this patch"

    class ShortSleeps(types.ModuleType):
        def __getattr__(self, name):
            return getattr(time, name)

        @staticmethod
        def sleep(seconds):
            time.sleep(min(seconds, 0.2))

    oracle_chief.time = ShortSleeps("time")


def main(directory, seconds_per_epoch=0.0):
    if os.environ.get("KERASTUNER_TUNER_ID") == "chief":
        poll_the_chief_often()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 6)).astype("float32")
    y = (np.sin(x[:, :1]) + 0.1 * x[:, 1:2]).astype("float32")
    selector = keras_meta.MetaModelSelector(
        build,
        objective="val_loss",
        max_trials=MAX_TRIALS,
        max_epochs=MAX_EPOCHS,
        directory=directory,
        project_name="search",
        overwrite=False,
        seed=3,
    )
    marker = _Marker(os.path.join(directory, "runs.txt"), seconds_per_epoch)
    selector.search(x[:192], y[:192], validation_data=(x[192:], y[192:]), batch_size=32, callbacks=[marker], verbose=0)
    print("done", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 0.0)
