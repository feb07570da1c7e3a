"""Runs MetaLRCallback under MirroredStrategy on two logical CPUs.

A separate process, because logical devices must be configured before
TensorFlow starts. Prints one summary line that the test checks.
"""

import os

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"

import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402
from conftest import fixed_policy  # noqa: E402

from keras_meta import MetaLRCallback  # noqa: E402

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
x = rng.standard_normal((64, 4)).astype("float32")
y = x.sum(axis=1, keepdims=True)
x[40] = np.nan  # the 6th global batch of 8 is non-finite
with strategy.scope():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(1e-2), "mse")
callback = MetaLRCallback(fixed_policy(-1.0), interval=2, recovery_factor=0.1, snapshot_every=1)
model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[callback])
finite = all(np.all(np.isfinite(w)) for w in model.get_weights())
assert finite, "weights are not finite after recovery"
lr = float(model.optimizer.learning_rate.numpy())
print(
    f"replicas={strategy.num_replicas_in_sync} decisions={len(callback.decisions)} "
    f"recoveries={len(callback.recoveries)} lr={lr:.6g}"
)
