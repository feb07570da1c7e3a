"""A probe set of wine's regime without wine: small, clean data sets that an MLP memorises early.

On the public suite, every candidate policy since meta-v11 that fixed Friedman
and digits lost on wine (seed 0): once the training loss has fallen to ~1e-9
the policy keeps raising Adam's rate, up to 1.0, and one seed's test loss ends
20-50x the oracle's. Neither development set holds a task that fails this way
(iris with a 32-32 MLP and 60 epochs does not). These tasks try to reproduce the
regime off the benchmark: scikit-learn generators and iris, at wine's size and
with wine's model, batch size and epoch budget (MLP 64-64, batch 16, 40 epochs),
and no label noise. No data set here is in the public suite or in the
meta-training families.

Run with `score_dev_tasks.py --task-file benchmarks/experiments/memorise_tasks.py`.
"""

import numpy as np

from keras_meta.bench.tasks import Splits
from keras_meta.bench.tasks import Task
from keras_meta.bench.tasks import mlp
from keras_meta.bench.tasks import split_and_standardise

_DATA_SEED = 20261201  # fixes every generated data set; not a meta-training or benchmark seed


def _clean_classification(n_samples, n_features, n_classes, class_sep):
    """A loader of one fixed draw of `make_classification` without flipped labels."""

    def load(seed: int) -> Splits:
        from sklearn.datasets import make_classification

        x, y = make_classification(
            n_samples=n_samples,
            n_features=n_features,
            n_informative=n_features // 2,
            n_redundant=n_features // 4,
            n_classes=n_classes,
            n_clusters_per_class=1,
            class_sep=class_sep,
            flip_y=0.0,
            random_state=_DATA_SEED,
        )
        target = y.astype(np.int32) if n_classes > 2 else y.astype(np.float32)[:, None]
        return split_and_standardise(x, target, seed)

    return load


def _load_iris(seed: int) -> Splits:
    from sklearn.datasets import load_iris

    x, y = load_iris(return_X_y=True)
    return split_and_standardise(x, y.astype(np.int32), seed)


_WINE_RECIPE = dict(batch_size=16, epochs=40)

TASKS = [
    Task(
        "clean_three_class_mlp",
        "make_classification (178 x 13, 3 classes, class_sep 2, no flipped labels), MLP 64-64",
        _clean_classification(178, 13, 3, 2.0),
        mlp((64, 64)),
        "sparse_categorical_crossentropy",
        **_WINE_RECIPE,
    ),
    Task(
        "clean_binary_mlp",
        "make_classification (200 x 10, binary, class_sep 1.5, no flipped labels), MLP 64-64",
        _clean_classification(200, 10, 2, 1.5),
        mlp((64, 64)),
        "binary_crossentropy",
        **_WINE_RECIPE,
    ),
    Task(
        "iris_wine_recipe_mlp",
        "sklearn iris (150 x 4, 3 classes) with wine's recipe: MLP 64-64, batch 16, 40 epochs",
        _load_iris,
        mlp((64, 64)),
        "sparse_categorical_crossentropy",
        **_WINE_RECIPE,
    ),
]
