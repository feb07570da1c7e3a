import keras
import numpy as np

from keras_meta._optimizers import default_learning_rate
from keras_meta._optimizers import get_lr
from keras_meta._optimizers import restore_snapshot
from keras_meta._optimizers import set_lr
from keras_meta._optimizers import take_snapshot


def _trained_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    x = np.random.default_rng(0).normal(size=(32, 3)).astype("float32")
    model.fit(x, x[:, :1], epochs=1, batch_size=8, verbose=0)
    return model, x


def test_restoring_a_snapshot_puts_back_weights_and_optimizer_state_but_keeps_the_rate():
    model, x = _trained_model()
    snapshot = take_snapshot(model, step=4)
    iterations = int(model.optimizer.iterations.numpy())
    model.fit(x, x[:, :1], epochs=2, batch_size=8, verbose=0)
    set_lr(model.optimizer, 3e-4)

    restore_snapshot(model, snapshot)

    assert snapshot.step == 4
    for restored, kept in zip(model.get_weights(), snapshot.weights):
        np.testing.assert_array_equal(restored, kept)
    assert int(model.optimizer.iterations.numpy()) == iterations
    assert get_lr(model.optimizer) == np.float32(3e-4)


def test_no_snapshot_is_taken_of_non_finite_weights():
    model, _ = _trained_model()
    weights = model.get_weights()
    weights[0][0, 0] = np.nan
    model.set_weights(weights)

    assert take_snapshot(model, step=0) is None


def test_default_learning_rate_reads_the_optimizer_class_default():
    assert default_learning_rate(keras.optimizers.Adam(0.5)) == 1e-3
    assert default_learning_rate(keras.optimizers.SGD) == 1e-2
    assert default_learning_rate(keras.optimizers.RMSprop()) == 1e-3

    class NoDefault(keras.optimizers.Adam):
        def __init__(self, learning_rate, **kwargs):
            super().__init__(learning_rate, **kwargs)

    assert default_learning_rate(NoDefault) is None
