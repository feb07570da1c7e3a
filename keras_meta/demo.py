"""The demo: one model trained with constant Adam and once with `MetaLRCallback`.

Run it with `keras-meta demo`. It uses scikit-learn's bundled digits data set
(no download), trains the same MLP from the same initial weights twice, prints
the test scores side by side and writes a plot of the loss and rate curves.
"""

from __future__ import annotations

import pathlib

import numpy as np

DEMO_EPOCHS = 30
DEMO_BATCH_SIZE = 32
DEMO_LR = 1e-3


def load_digits_splits(seed: int = 0):
    """scikit-learn's digits, standardised, split 60/20/20 into train, val and test.

    Args:
        seed: Integer. Seeds the shuffle.

    Returns:
        A `keras_meta.bench.tasks.Splits`.
    """
    from sklearn.datasets import load_digits

    from keras_meta.bench.tasks import split_and_standardise

    x, y = load_digits(return_X_y=True)
    return split_and_standardise(x, y.astype("int32"), seed)


def _build_model(n_features: int, n_classes: int):
    import keras

    return keras.Sequential(
        [
            keras.Input((n_features,)),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(n_classes),
        ]
    )


def run_demo(output_dir="demo_output", policy="default", epochs=DEMO_EPOCHS, seed=0) -> dict:
    """Trains the demo model twice and writes `demo.png` into `output_dir`.

    Args:
        output_dir: Path. Where the plot goes; created if missing.
        policy: String or path. The policy `MetaLRCallback` uses.
        epochs: Integer. Epochs of each training run.
        seed: Integer. Seeds the split and the initial weights.

    Returns:
        A dict with, per method ("constant Adam", "MetaLRCallback"), the test
        loss and accuracy, the histories, and the path of the plot.
    """
    import keras

    from keras_meta.callbacks import MetaLRCallback

    splits = load_digits_splits(seed)
    x_train, y_train = splits.x_train, splits.y_train
    keras.utils.set_random_seed(seed)
    initial_weights = _build_model(x_train.shape[1], 10).get_weights()
    callback = MetaLRCallback(policy=policy)
    runs = {"constant Adam": [], "MetaLRCallback": [callback]}
    results = {}
    for name, callbacks in runs.items():
        keras.utils.set_random_seed(seed)
        model = _build_model(x_train.shape[1], 10)
        model.set_weights(initial_weights)
        model.compile(
            keras.optimizers.Adam(DEMO_LR),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        history = model.fit(
            x_train,
            y_train,
            validation_data=(splits.x_val, splits.y_val),
            epochs=epochs,
            batch_size=DEMO_BATCH_SIZE,
            callbacks=callbacks,
            verbose=0,
        )
        test_loss, test_accuracy = model.evaluate(splits.x_test, splits.y_test, verbose=0)
        results[name] = {"test_loss": test_loss, "test_accuracy": test_accuracy, "history": history.history}
    output_dir = pathlib.Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    plot_path = _plot(results, callback, output_dir / "demo.png")
    return {"methods": results, "plot": str(plot_path), "policy": callback.policy}


def format_demo(result: dict) -> str:
    """The demo's comparison as printable text."""
    policy = result["policy"]
    lines = [
        f"Data: scikit-learn digits (60/20/20 split), MLP 64-128-128-10, Adam from {DEMO_LR:g}, "
        f"batch {DEMO_BATCH_SIZE}.",
        f"Policy: {policy.name} v{policy.card['version']} ({policy.card['kind']}).",
    ]
    if policy.card["kind"] == "handwritten":
        lines.append("  Note: this policy is a hand-written rule, not meta-trained.")
    lines.append(f"{'method':<16} {'test loss':>10} {'test accuracy':>14}")
    for name, scores in result["methods"].items():
        lines.append(f"{name:<16} {scores['test_loss']:>10.4f} {scores['test_accuracy']:>14.4f}")
    lines.append(f"Plot of the loss and learning-rate curves: {result['plot']}")
    return "\n".join(lines)


def _plot(results: dict, callback, path: pathlib.Path) -> pathlib.Path:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 4))
    loss_axes, lr_axes = figure.subplots(1, 2)
    for name, scores in results.items():
        history = scores["history"]
        epochs = np.arange(1, len(history["loss"]) + 1)
        loss_axes.plot(epochs, history["loss"], label=f"{name} (train)")
        loss_axes.plot(epochs, history["val_loss"], linestyle="--", label=f"{name} (val)")
    loss_axes.set(yscale="log", xlabel="epoch", ylabel="loss", title="Loss")
    loss_axes.legend(fontsize="small")
    steps = [0] + [d.step for d in callback.decisions]
    rates = [DEMO_LR] + [d.new_lr for d in callback.decisions]
    lr_axes.step(steps, rates, where="post", label="MetaLRCallback")
    lr_axes.axhline(DEMO_LR, color="gray", linestyle=":", label="constant Adam")
    lr_axes.set(yscale="log", xlabel="step", ylabel="learning rate", title="Learning rate")
    lr_axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return path
