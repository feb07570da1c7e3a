"""Synthetic task families for meta-training, generated from a seed.

Nothing here loads a benchmark data set: the meta-training tasks are random
teacher networks (regression and classification) and Gaussian mixtures, with
varied sizes, noise, architectures, optimizers and budgets. That keeps every
benchmark figure a held-out figure.

By default a task's inputs are independent standard normal features. With
`latent_dim > 0` (drawn for a `latent_fraction` of the tasks) the teacher or
mixture acts on a few latent factors instead, and the network sees a noisy,
warped and standardised view of them: many correlated features, some skewed,
some binary or binned, as in real tabular data.

A `TaskSpec` is plain data (JSON-able), so rollouts can be described, cached
and sent to worker processes; `make_data` and `build_model` turn it into
arrays and a Keras model.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

FAMILIES = ("teacher_regression", "teacher_classification", "gaussian_mixture")
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
ACTIVATIONS = ("relu", "tanh", "gelu", "elu")
SAMPLE_SIZES = (256, 512, 1024, 2048)
LOG10_LR_RANGE = (-4.5, -0.5)  # initial learning rates from 10**-4.5 to 10**-0.5


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """One synthetic training task, as plain data.

    Attributes:
        seed: Integer. Seeds the data and the initial weights.
        family: String. One of `FAMILIES`.
        n_samples: Integer. Training samples (validation adds a quarter).
        n_features: Integer.
        n_classes: Integer. 1 for regression.
        noise: Float. Label noise (regression: std relative to the target's;
            classification: fraction of flipped labels).
        teacher_depth: Integer. Hidden layers of the teacher network.
        hidden: Tuple of integers. The student's hidden layer widths.
        activation: String.
        batch_norm: Boolean.
        dropout: Float.
        optimizer: String. One of `OPTIMIZERS`.
        initial_lr: Float.
        batch_size: Integer.
        epochs: Integer.
        latent_dim: Integer. 0: the features are independent standard normal
            inputs of the teacher or mixture. k > 0: the teacher or mixture
            acts on k latent factors, and the `n_features` features are a
            noisy, warped, standardised view of them (see `_LatentView`).
    """

    seed: int
    family: str
    n_samples: int
    n_features: int
    n_classes: int
    noise: float
    teacher_depth: int
    hidden: tuple
    activation: str
    batch_norm: bool
    dropout: float
    optimizer: str
    initial_lr: float
    batch_size: int
    epochs: int
    latent_dim: int = 0

    @property
    def loss(self) -> str:
        return "mse" if self.n_classes == 1 else "sparse_categorical_crossentropy"

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.n_samples / self.batch_size)

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "hidden": list(self.hidden)}

    @classmethod
    def from_dict(cls, values: dict) -> TaskSpec:
        return cls(**{**values, "hidden": tuple(values["hidden"])})


def sample_task(
    seed: int,
    optimizers=OPTIMIZERS,
    max_steps: int = 1500,
    max_samples: int = 2048,
    sample_sizes=SAMPLE_SIZES,
    max_epochs: int = 60,
    log10_lr_range=LOG10_LR_RANGE,
    latent_fraction: float = 0.0,
    clean_fraction: float = 0.0,
) -> TaskSpec:
    """Draws one task of the meta-training distribution.

    Args:
        seed: Integer. The task is a pure function of it (and of the other
            arguments).
        optimizers: Sequence of strings. The optimizers to draw from.
        max_steps: Integer. Epochs are cut so that a run has at most this
            many steps (but never fewer than two epochs).
        max_samples: Integer. The largest training set drawn.
        sample_sizes: Sequence of integers. The training-set sizes drawn from.
            Small sets (under a few hundred samples) make runs whose final
            loss is decided by overfitting, as on small real data sets.
        max_epochs: Integer. Epoch budgets are drawn from 10 to this.
        log10_lr_range: Pair of floats. The initial learning rate is
            log-uniform between `10 ** low` and `10 ** high`.
        latent_fraction: Float in [0, 1]. The chance that a task's features
            are a view of 1 to 8 latent factors (`TaskSpec.latent_dim`). It
            is drawn after everything else, so 0 draws the tasks it always did.
        clean_fraction: Float in [0, 1]. The chance that a task has no label
            noise at all: a network can fit its training set to a loss near
            zero, as on small, clean real data sets, where a high rate only
            hastens memorisation. Drawn after `latent_fraction`, so 0 draws
            the tasks it always did.

    Returns:
        A `TaskSpec`.

    Example:

    >>> spec = sample_task(7, sample_sizes=(64, 128), max_epochs=200)
    >>> spec.n_samples in (64, 128) and 2 <= spec.epochs <= 200
    True
    """
    latent_fraction = checked_fraction("latent_fraction", latent_fraction)
    clean_fraction = checked_fraction("clean_fraction", clean_fraction)
    rng = np.random.default_rng(seed)
    family = str(rng.choice(FAMILIES))
    n_samples = min(int(rng.choice(list(sample_sizes))), max_samples)
    batch_size = int(rng.choice([16, 32, 64, 128]))
    steps_per_epoch = math.ceil(n_samples / batch_size)
    epochs = int(rng.integers(10, max_epochs + 1))
    epochs = max(2, min(epochs, max_steps // steps_per_epoch))
    depth = int(rng.integers(1, 5))
    width = int(rng.choice([16, 32, 64, 128, 256]))
    spec = TaskSpec(
        seed=int(seed),
        family=family,
        n_samples=n_samples,
        n_features=int(rng.integers(2, 65)),
        n_classes=1 if family == "teacher_regression" else int(rng.integers(2, 11)),
        noise=float(rng.uniform(0.0, 0.3)),
        teacher_depth=int(rng.integers(1, 4)),
        hidden=(width,) * depth,
        activation=str(rng.choice(ACTIVATIONS)),
        batch_norm=bool(rng.random() < 0.3),
        dropout=float(rng.choice([0.0, 0.0, 0.1, 0.3])),
        optimizer=str(rng.choice(optimizers)),
        initial_lr=float(10 ** rng.uniform(*checked_lr_range(log10_lr_range))),
        batch_size=batch_size,
        epochs=epochs,
    )
    if latent_fraction and rng.random() < latent_fraction:
        spec = dataclasses.replace(spec, latent_dim=int(rng.integers(1, min(8, spec.n_features) + 1)))
    if clean_fraction and rng.random() < clean_fraction:
        spec = dataclasses.replace(spec, noise=0.0)
    return spec


def checked_lr_range(log10_lr_range) -> tuple[float, float]:
    """`(low, high)` as floats; a `ValueError` unless `low < high`."""
    low, high = (float(value) for value in log10_lr_range)
    if not low < high:
        raise ValueError(f"`log10_lr_range` must be (low, high) with low < high. Received: {log10_lr_range!r}")
    return low, high


def checked_fraction(name: str, value) -> float:
    """`value` as a float; a `ValueError` naming the argument `name` unless it lies in [0, 1]."""
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"`{name}` must lie in [0, 1]. Received: {name}={value!r}")
    return value


def make_data(spec: TaskSpec, fresh_samples: int = 0) -> dict[str, np.ndarray]:
    """The task's arrays: `x_train`, `y_train`, `x_val`, `y_val`, and optionally a fresh sample.

    Inputs are standard normal (mixtures: clusters); targets come from the
    family's generator with the spec's noise. The validation split has a
    quarter as many samples as the training split.

    Args:
        spec: The `TaskSpec`.
        fresh_samples: Integer. When positive, `x_fresh` and `y_fresh` hold
            this many further samples from the same distribution (same
            teacher or clusters, same noise), drawn from their own random
            stream so that the other arrays do not depend on it. Training
            never sees them: they measure the loss the task's test split
            would show, however small its validation split is.

    Returns:
        A dict of float32 inputs and targets (int32 class labels).
    """
    rng = np.random.default_rng([spec.seed, 1])
    n_total = spec.n_samples + spec.n_samples // 4
    generator = _generator(rng, spec)
    x, y = generator.sample(rng, n_total)
    split = spec.n_samples
    data = {"x_train": x[:split], "y_train": y[:split], "x_val": x[split:], "y_val": y[split:]}
    if fresh_samples > 0:
        data["x_fresh"], data["y_fresh"] = generator.sample(np.random.default_rng([spec.seed, 2]), fresh_samples)
    return data


def _generator(rng, spec: TaskSpec):
    """What draws the task's samples: a teacher or a mixture, seen through a latent view if the spec has one."""
    if spec.latent_dim:
        return _LatentView(spec, _generator(rng, dataclasses.replace(spec, n_features=spec.latent_dim, latent_dim=0)))
    if spec.family == "gaussian_mixture":
        return _GaussianMixture(rng, spec)
    return _Teacher(rng, spec)


class _Teacher:
    """A random tanh teacher network; regression output or argmax classes.

    The first `sample` call must use the generator's own stream: the input
    draw comes before the teacher's weights, in the order tasks were always
    drawn in.
    """

    def __init__(self, rng, spec: TaskSpec):
        self.rng, self.spec = rng, spec
        self.kernels = self.scale = None  # drawn, and fixed, by the first sample

    def sample(self, rng, n):
        x = rng.standard_normal((n, self.spec.n_features))
        if self.kernels is None:
            self.kernels = self._draw_weights(self.rng)
        hidden = x
        for kernel in self.kernels[:-1]:
            hidden = np.tanh(hidden @ kernel * 2.0)
        outputs = hidden @ self.kernels[-1]
        if self.spec.n_classes == 1:
            if self.scale is None:
                self.scale = (outputs[:, 0].mean(), outputs[:, 0].std() + 1e-8)
            y = (outputs[:, 0] - self.scale[0]) / self.scale[1]
            y = y + self.spec.noise * rng.standard_normal(y.shape)
            return x.astype(np.float32), y[:, None].astype(np.float32)
        return x.astype(np.float32), _flip_labels(rng, outputs.argmax(axis=1), self.spec)

    def _draw_weights(self, rng):
        kernels, width = [], self.spec.n_features
        for _ in range(self.spec.teacher_depth):
            kernels.append(rng.standard_normal((width, 32)) / math.sqrt(width))
            width = 32
        kernels.append(rng.standard_normal((width, self.spec.n_classes)))
        return kernels


class _GaussianMixture:
    """Clusters per class, one to three clusters each, overlapping by a random spread."""

    def __init__(self, rng, spec: TaskSpec):
        self.spec = spec
        clusters_per_class = int(rng.integers(1, 4))
        self.centres = rng.standard_normal((spec.n_classes * clusters_per_class, spec.n_features)) * 2.0
        self.spread = rng.uniform(0.5, 2.0)

    def sample(self, rng, n):
        assignment = rng.integers(0, len(self.centres), n)
        x = self.centres[assignment] + self.spread * rng.standard_normal((n, self.spec.n_features))
        return x.astype(np.float32), _flip_labels(rng, assignment % self.spec.n_classes, self.spec)


class _LatentView:
    """The features real tabular data has: many noisy, warped, correlated views of a few factors.

    Each feature is a random mixture of the latent factors plus its own noise
    (10-50% of its spread), then left as it is, skewed (exp), binarised, or
    binned into 3-6 levels, and finally standardised with the statistics of
    the first sample drawn, as a user standardises with the training split's.
    The targets are those of the latent sample.
    """

    _WARPS = ("identity", "identity", "identity", "skewed", "binary", "binned")

    def __init__(self, spec: TaskSpec, latent_generator):
        rng = np.random.default_rng([spec.seed, 3])  # the view's own stream: the latent task is unchanged
        self.latent_generator = latent_generator
        self.mixing = rng.standard_normal((spec.latent_dim, spec.n_features)) / math.sqrt(spec.latent_dim)
        self.feature_noise = rng.uniform(0.1, 0.5, spec.n_features)
        self.warps = rng.choice(self._WARPS, spec.n_features)
        self.levels = rng.integers(3, 7, spec.n_features)
        self.scale = None

    def sample(self, rng, n):
        z, y = self.latent_generator.sample(rng, n)
        x = z @ self.mixing + self.feature_noise * rng.standard_normal((n, len(self.warps)))
        columns = zip(x.T, self.warps, self.levels)
        x = np.stack([self._warp(column, warp, levels) for column, warp, levels in columns], axis=1)
        if self.scale is None:
            self.scale = (x.mean(axis=0), np.maximum(x.std(axis=0), 1e-6))
        return ((x - self.scale[0]) / self.scale[1]).astype(np.float32), y

    @staticmethod
    def _warp(column, warp, levels):
        if warp == "skewed":
            return np.exp(column)
        if warp == "binary":
            return (column > 0).astype(np.float64)
        if warp == "binned":
            return np.round(np.clip(column, -2, 2) * (levels - 1) / 4)
        return column


def _flip_labels(rng, labels, spec: TaskSpec) -> np.ndarray:
    flip = rng.random(labels.shape) < spec.noise
    labels = np.where(flip, rng.integers(0, spec.n_classes, labels.shape), labels)
    return labels.astype(np.int32)


def build_model(spec: TaskSpec):
    """The student network of the spec, compiled with its optimizer at `initial_lr`."""
    import keras

    keras.utils.set_random_seed(spec.seed)
    layers = [keras.Input((spec.n_features,))]
    for units in spec.hidden:
        layers.append(keras.layers.Dense(units, use_bias=not spec.batch_norm))
        if spec.batch_norm:
            layers.append(keras.layers.BatchNormalization())
        layers.append(keras.layers.Activation(spec.activation))
        if spec.dropout:
            layers.append(keras.layers.Dropout(spec.dropout))
    layers.append(keras.layers.Dense(spec.n_classes))
    model = keras.Sequential(layers)
    model.compile(make_optimizer(spec.optimizer, spec.initial_lr), _loss(spec))
    return model


def train(model, spec: TaskSpec, data: dict, callbacks=()):
    """Fits `model` on the task's data for its budget, validating on its val split.

    Returns:
        The `History`.
    """
    return model.fit(
        data["x_train"],
        data["y_train"],
        validation_data=(data["x_val"], data["y_val"]),
        batch_size=spec.batch_size,
        epochs=spec.epochs,
        callbacks=list(callbacks),
        verbose=0,
    )


def keras_default_lr(name: str) -> float:
    """The rate Keras starts the optimizer named as in `TaskSpec` at: what a user starts from."""
    from keras_meta._optimizers import default_learning_rate

    return default_learning_rate(make_optimizer(name, 1.0))


def make_optimizer(name: str, lr: float):
    """A Keras optimizer by the short name used in `TaskSpec`."""
    import keras

    factories = {
        "adam": lambda: keras.optimizers.Adam(lr),
        "adamw": lambda: keras.optimizers.AdamW(lr),
        "sgd": lambda: keras.optimizers.SGD(lr, momentum=0.9),
        "rmsprop": lambda: keras.optimizers.RMSprop(lr),
    }
    if name not in factories:
        raise ValueError(f"Unknown optimizer. Expected one of {sorted(factories)}. Received: {name!r}")
    return factories[name]()


def _loss(spec: TaskSpec):
    import keras

    if spec.n_classes == 1:
        return keras.losses.MeanSquaredError()
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)
