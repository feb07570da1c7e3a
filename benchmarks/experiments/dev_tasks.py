"""The second development set: real-data-like tasks held out from meta-training AND the public suite.

The first development set (`keras-meta meta-eval`, `rescore_heldout.py`) draws
its tasks from the meta-training families, and it did not predict the public
suite: a recipe that won there by 7-9% lost by 6% on real data (docs/
meta_training.md). These tasks are chosen to look like the public suite's
without sharing a data set with it: small tabular sets that overfit, scikit-
learn generators with structure unlike a teacher network (hypercube clusters
with redundant features, Friedman #2 and #3, moons, Hastie's 10.2, a swiss
roll, a low-rank linear model), and two tasks on the real photographs that
scikit-learn bundles (a coordinate network and a convolutional in-painter).

No data set here is in the public suite (digits, wine, breast cancer,
diabetes, Friedman #1, mnist1d) or in the meta-training families (teacher
networks). Candidate policies may be compared here as often as needed; the
public suite stays the final word.

This is a `keras-meta bench --tasks` file; `score_dev_tasks.py` runs it with
only the methods a comparison needs. As in the public suite, each data set is
fixed and the seed only picks the split.
"""

import functools

import numpy as np

from keras_meta.bench.tasks import Splits
from keras_meta.bench.tasks import Task
from keras_meta.bench.tasks import mlp
from keras_meta.bench.tasks import split_and_standardise

_DATA_SEED = 20261130  # fixes every generated data set; not a meta-training or benchmark seed


def _generated(generator_name, target, **kwargs):
    """A loader of one fixed draw of a scikit-learn generator; target is "classes", "binary" or "regression"."""

    def load(seed: int) -> Splits:
        import sklearn.datasets

        x, y = getattr(sklearn.datasets, generator_name)(random_state=_DATA_SEED, **kwargs)
        if generator_name == "make_hastie_10_2":
            y = (y > 0).astype(np.float32)
        y = {"classes": y.astype(np.int32), "binary": y.astype(np.float32)[:, None], "regression": y[:, None]}
        return split_and_standardise(x, y[target], seed, standardise_y=target == "regression")

    return load


def _load_iris(seed: int) -> Splits:
    from sklearn.datasets import load_iris

    x, y = load_iris(return_X_y=True)
    return split_and_standardise(x, y.astype(np.int32), seed)


@functools.lru_cache(maxsize=2)
def _grey_photo(name: str, stride: int) -> np.ndarray:
    from sklearn.datasets import load_sample_image

    image = load_sample_image(name).astype(np.float32).mean(axis=-1) / 255.0
    return image[::stride, ::stride]


def _load_photo_coordinates(seed: int) -> Splits:
    """Grey level of flower.jpg (every 8th pixel) from Fourier features of the pixel's position."""
    image = _grey_photo("flower.jpg", 8)
    rows, cols = np.meshgrid(np.linspace(-1, 1, image.shape[0]), np.linspace(-1, 1, image.shape[1]), indexing="ij")
    frequencies = np.pi * 2.0 ** np.arange(6)
    angles = np.concatenate([rows.reshape(-1, 1) * frequencies, cols.reshape(-1, 1) * frequencies], axis=1)
    x = np.concatenate([np.sin(angles), np.cos(angles)], axis=1)
    return split_and_standardise(x, image.reshape(-1, 1), seed, standardise_y=True)


def _load_photo_inpainting(seed: int) -> Splits:
    """The centre pixel of 9 x 9 patches of china.jpg (every 2nd pixel) from the patch, centre blanked."""
    image = _grey_photo("china.jpg", 2)
    rng = np.random.default_rng(_DATA_SEED)
    rows = rng.integers(0, image.shape[0] - 9, size=4000)
    cols = rng.integers(0, image.shape[1] - 9, size=4000)
    patches = np.stack([image[r : r + 9, c : c + 9] for r, c in zip(rows, cols)])
    targets = patches[:, 4, 4].copy()
    patches[:, 4, 4] = patches.mean(axis=(1, 2))
    splits = split_and_standardise(patches.reshape(len(patches), -1), targets[:, None], seed, standardise_y=True)
    as_images = {name: value.reshape(-1, 9, 9, 1) for name, value in vars(splits).items() if name.startswith("x_")}
    return Splits(**{**vars(splits), **as_images})


def _small_conv2d(input_shape, n_outputs):
    import keras

    return keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Conv2D(16, 3, activation="relu"),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(n_outputs),
        ]
    )


TASKS = [
    Task(
        "iris_mlp",
        "sklearn iris (150 x 4, 3 classes), MLP 32-32",
        _load_iris,
        mlp((32, 32)),
        "sparse_categorical_crossentropy",
        batch_size=16,
        epochs=60,
    ),
    Task(
        "redundant_binary_mlp",
        "make_classification (1,000 x 20: 5 informative, 5 redundant; 5% flipped labels), MLP 64-64",
        _generated(
            "make_classification",
            "binary",
            n_samples=1000,
            n_features=20,
            n_informative=5,
            n_redundant=5,
            flip_y=0.05,
            class_sep=0.8,
        ),
        mlp((64, 64)),
        "binary_crossentropy",
        batch_size=32,
        epochs=40,
    ),
    Task(
        "clusters_dropout_mlp",
        "make_classification (3,000 x 30, 5 classes, 2 clusters each), MLP 128-128 with dropout 0.2",
        _generated(
            "make_classification",
            "classes",
            n_samples=3000,
            n_features=30,
            n_informative=10,
            n_redundant=5,
            n_classes=5,
            n_clusters_per_class=2,
        ),
        mlp((128, 128), dropout=0.2),
        "sparse_categorical_crossentropy",
        batch_size=64,
        epochs=30,
    ),
    Task(
        "friedman2_mlp",
        "make_friedman2 (1,000 x 4, regression, noise 60), MLP 64-64-64",
        _generated("make_friedman2", "regression", n_samples=1000, noise=60.0),
        mlp((64, 64, 64)),
        "mse",
        batch_size=32,
        epochs=50,
    ),
    Task(
        "friedman3_tanh",
        "make_friedman3 (1,000 x 4, regression, noise 0.1), tanh MLP 64-64",
        _generated("make_friedman3", "regression", n_samples=1000, noise=0.1),
        mlp((64, 64), activation="tanh"),
        "mse",
        batch_size=32,
        epochs=50,
    ),
    Task(
        "moons_small_mlp",
        "make_moons (400 x 2, noise 0.3, binary), MLP 64-64-64",
        _generated("make_moons", "binary", n_samples=400, noise=0.3),
        mlp((64, 64, 64)),
        "binary_crossentropy",
        batch_size=16,
        epochs=60,
    ),
    Task(
        "hastie_deep_bn",
        "make_hastie_10_2 (4,000 x 10, binary), 3 x 128 MLP with BatchNorm",
        _generated("make_hastie_10_2", "binary", n_samples=4000),
        mlp((128,) * 3, batch_norm=True),
        "binary_crossentropy",
        batch_size=64,
        epochs=30,
    ),
    Task(
        "swiss_roll_mlp",
        "make_swiss_roll (2,000 x 3, noise 0.5): position along the roll, MLP 64-64",
        _generated("make_swiss_roll", "regression", n_samples=2000, noise=0.5),
        mlp((64, 64)),
        "mse",
        batch_size=32,
        epochs=40,
    ),
    Task(
        "low_rank_linear_mlp",
        "make_regression (600 x 50, effective rank 5, noise 10), MLP 32",
        _generated(
            "make_regression",
            "regression",
            n_samples=600,
            n_features=50,
            n_informative=10,
            effective_rank=5,
            noise=10.0,
        ),
        mlp((32,)),
        "mse",
        batch_size=32,
        epochs=40,
    ),
    Task(
        "photo_coordinates_mlp",
        "flower.jpg grey level (53 x 80 pixels) from 24 Fourier features of position, MLP 128-128-128",
        _load_photo_coordinates,
        mlp((128, 128, 128)),
        "mse",
        batch_size=64,
        epochs=40,
    ),
    Task(
        "photo_inpainting_conv",
        "china.jpg 9 x 9 patches (4,000): the blanked centre pixel, 2D conv net 16-32",
        _load_photo_inpainting,
        _small_conv2d,
        "mse",
        batch_size=64,
        epochs=30,
    ),
]
