"""A user task file, as `keras-meta bench --tasks` expects: one tiny regression task."""

import keras
import numpy as np

from keras_meta.bench.methods import Method
from keras_meta.bench.tasks import Task
from keras_meta.bench.tasks import mlp
from keras_meta.bench.tasks import split_and_standardise


def load_tiny(seed):
    rng = np.random.default_rng(123)
    x = rng.standard_normal((60, 3))
    y = (x @ np.array([1.0, -2.0, 0.5]))[:, None]
    return split_and_standardise(x, y, seed, standardise_y=True)


TASKS = [Task("tiny_regression", "60 x 3 linear teacher", load_tiny, mlp((8,)), "mse", batch_size=16, epochs=3)]

METHODS = [Method("sgd@0.01", lambda context: keras.optimizers.SGD(0.01), fingerprint={"version": 1})]
