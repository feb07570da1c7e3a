"""Benchmark tasks: data with train/val/test splits, a model, a loss and a budget.

Every task here is **held out from meta-training**: the meta-training task
families are synthetic teacher networks and mixtures, and never load these
data sets. Data come from scikit-learn's bundled data sets, its Friedman #1
generator, and mnist1d's procedural generator; nothing is downloaded.

A user's own tasks go in a Python file that defines `TASKS`, a list of `Task`;
`keras-meta bench --tasks my_tasks.py` runs them through the same harness.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import numpy as np


@dataclasses.dataclass(frozen=True)
class Splits:
    """Train, validation and test arrays of one task and seed."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


@dataclasses.dataclass(frozen=True)
class Task:
    """One benchmark task.

    Args:
        name: String. Unique, used in file names and the cache.
        description: String. One line for the report.
        load: Callable `seed -> Splits`. The seed picks the split.
        build_model: Callable `(input_shape, n_outputs) -> keras.Model`,
            uncompiled.
        loss: String. `"mse"`, `"binary_crossentropy"` or
            `"sparse_categorical_crossentropy"`; the models output logits.
        batch_size: Integer.
        epochs: Integer. The epoch budget.
        version: Integer. Bump it when the task changes, so cached results
            are recomputed.
    """

    name: str
    description: str
    load: Callable[[int], Splits]
    build_model: Callable
    loss: str
    batch_size: int
    epochs: int
    version: int = 1

    def _n_outputs(self, splits: Splits) -> int:
        if self.loss == "sparse_categorical_crossentropy":
            return int(max(splits.y_train.max(), splits.y_val.max(), splits.y_test.max())) + 1
        return 1

    def make_loss(self):
        import keras

        if self.loss == "mse":
            return keras.losses.MeanSquaredError()
        if self.loss == "binary_crossentropy":
            return keras.losses.BinaryCrossentropy(from_logits=True)
        if self.loss == "sparse_categorical_crossentropy":
            return keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        raise ValueError(f"Unknown task loss. Received: loss={self.loss!r}")

    def build(self, splits: Splits):
        """The task's uncompiled model for these splits."""
        return self.build_model(splits.x_train.shape[1:], self._n_outputs(splits))

    def fingerprint(self) -> dict:
        """What identifies this task's results in the cache."""
        return {
            "name": self.name,
            "version": self.version,
            "loss": self.loss,
            "batch_size": self.batch_size,
            "epochs": self.epochs,
        }


# ------------------------------------------------------------------- splitting


def split_and_standardise(x, y, seed, *, fractions=(0.6, 0.2), standardise_y=False) -> Splits:
    """Shuffles, splits into train/val/test and standardises with train statistics.

    Args:
        x: Array of inputs, samples first.
        y: Array of targets.
        seed: Integer. Seeds the shuffle.
        fractions: Pair of floats. Train and validation fractions; the rest
            is test.
        standardise_y: Boolean. Also standardise the targets (regression).

    Returns:
        `Splits`, float32 inputs. Features constant on train are only centred.
    """
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = np.asarray(x, dtype=np.float32)[order], np.asarray(y)[order]
    n_train, n_val = int(fractions[0] * len(x)), int(fractions[1] * len(x))
    mean = x[:n_train].mean(axis=0)
    std = x[:n_train].std(axis=0)
    # A feature constant on train (a blank pixel of digits) is centred, not scaled: dividing by a
    # tiny std would turn its rare non-zero values in val and test into inputs of a million.
    std = np.where(std < 1e-6, 1.0, std)
    x = (x - mean) / std
    if standardise_y:
        y = ((y - y[:n_train].mean()) / y[:n_train].std()).astype(np.float32)
    parts = np.split(np.arange(len(x)), [n_train, n_train + n_val])
    (train, val, test) = parts
    return Splits(x[train], y[train], x[val], y[val], x[test], y[test])


def _sklearn(loader_name: str, target: str = "classes"):
    """A loader of a bundled scikit-learn data set; target is "classes", "binary" or "regression"."""

    def load(seed: int) -> Splits:
        import sklearn.datasets

        x, y = getattr(sklearn.datasets, loader_name)(return_X_y=True)
        y = {"classes": y.astype(np.int32), "binary": y.astype(np.float32)[:, None], "regression": y[:, None]}
        return split_and_standardise(x, y[target], seed, standardise_y=target == "regression")

    return load


def _load_friedman(seed: int) -> Splits:
    from sklearn.datasets import make_friedman1

    # The data set itself is fixed; the seed only picks the split.
    x, y = make_friedman1(n_samples=2000, n_features=10, noise=1.0, random_state=0)
    return split_and_standardise(x, y[:, None], seed, standardise_y=True)


@functools.lru_cache(maxsize=1)
def _mnist1d_arrays():
    from mnist1d.data import get_dataset_args
    from mnist1d.data import make_dataset

    state = np.random.get_state()  # make_dataset seeds numpy's global generator
    try:
        data = make_dataset(get_dataset_args())  # procedural: 5,000 samples, no download
    finally:
        np.random.set_state(state)
    x = np.concatenate([data["x"], data["x_test"]])
    y = np.concatenate([data["y"], data["y_test"]]).astype(np.int32)
    return x, y


def _load_mnist1d(seed: int) -> Splits:
    return split_and_standardise(*_mnist1d_arrays(), seed)


def _load_mnist1d_sequence(seed: int) -> Splits:
    splits = _load_mnist1d(seed)
    return Splits(
        splits.x_train[..., None],
        splits.y_train,
        splits.x_val[..., None],
        splits.y_val,
        splits.x_test[..., None],
        splits.y_test,
    )


# ---------------------------------------------------------------------- models


def mlp(hidden=(64, 64), *, batch_norm=False, dropout=0.0, activation="relu"):
    """A builder of multilayer perceptrons for `Task.build_model`."""

    def build(input_shape, n_outputs):
        import keras

        layers = [keras.Input(input_shape)]
        for units in hidden:
            layers.append(keras.layers.Dense(units, use_bias=not batch_norm))
            if batch_norm:
                layers.append(keras.layers.BatchNormalization())
            layers.append(keras.layers.Activation(activation))
            if dropout:
                layers.append(keras.layers.Dropout(dropout))
        layers.append(keras.layers.Dense(n_outputs))
        return keras.Sequential(layers)

    return build


def conv1d(filters=(32, 64, 64)):
    """A builder of small 1D convolutional networks for `Task.build_model`."""

    def build(input_shape, n_outputs):
        import keras

        layers = [keras.Input(input_shape)]
        for width in filters:
            layers += [
                keras.layers.Conv1D(width, 5, padding="same", activation="relu"),
                keras.layers.MaxPooling1D(2),
            ]
        layers += [keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(n_outputs)]
        return keras.Sequential(layers)

    return build


# ----------------------------------------------------------------------- suite

PUBLIC_TASKS = (
    Task(
        "digits_mlp",
        "sklearn digits (1,797 x 64, 10 classes), MLP 128-128",
        _sklearn("load_digits"),
        mlp((128, 128)),
        "sparse_categorical_crossentropy",
        batch_size=32,
        epochs=30,
    ),
    Task(
        "digits_deep_bn",
        "sklearn digits, 4 x 128 MLP with BatchNorm and dropout 0.1",
        _sklearn("load_digits"),
        mlp((128,) * 4, batch_norm=True, dropout=0.1),
        "sparse_categorical_crossentropy",
        batch_size=32,
        epochs=30,
    ),
    Task(
        "wine_mlp",
        "sklearn wine (178 x 13, 3 classes), MLP 64-64",
        _sklearn("load_wine"),
        mlp((64, 64)),
        "sparse_categorical_crossentropy",
        batch_size=16,
        epochs=40,
    ),
    Task(
        "breast_cancer_mlp",
        "sklearn breast cancer (569 x 30, binary), MLP 64-64",
        _sklearn("load_breast_cancer", "binary"),
        mlp((64, 64)),
        "binary_crossentropy",
        batch_size=32,
        epochs=40,
    ),
    Task(
        "diabetes_mlp",
        "sklearn diabetes (442 x 10, regression), MLP 64-64",
        _sklearn("load_diabetes", "regression"),
        mlp((64, 64)),
        "mse",
        batch_size=32,
        epochs=60,
    ),
    Task(
        "friedman_deep_bn",
        "sklearn Friedman #1 (2,000 x 10, regression, noise 1), 4 x 128 MLP with BatchNorm",
        _load_friedman,
        mlp((128,) * 4, batch_norm=True),
        "mse",
        batch_size=64,
        epochs=40,
    ),
    Task(
        "mnist1d_mlp",
        "mnist1d (5,000 x 40, 10 classes, procedural), MLP 256-256",
        _load_mnist1d,
        mlp((256, 256)),
        "sparse_categorical_crossentropy",
        batch_size=64,
        epochs=30,
    ),
    Task(
        "mnist1d_conv",
        "mnist1d as sequences (40 x 1), 1D conv net 32-64-64",
        _load_mnist1d_sequence,
        conv1d((32, 64, 64)),
        "sparse_categorical_crossentropy",
        batch_size=64,
        epochs=30,
    ),
)
"""The public suite: 8 tasks, 2 regression, 1 conv net, 2 deeper nets with BatchNorm."""

QUICK_TASKS = ("wine_mlp", "diabetes_mlp", "breast_cancer_mlp")
"""The subset `--quick` runs."""
