import numpy as np

from keras_meta.meta.bias import measure_horizon_bias
from keras_meta.meta.lookahead import LookaheadConfig


def test_bias_is_the_mean_log_ratio_of_expert_to_grid_rates():
    result = measure_horizon_bias([3], LookaheadConfig(horizon=2, cooldown=1), grid=(1e-3, 1e-2), max_steps=40)
    (task,) = result["tasks"]
    assert task["grid_rate"] in (1e-3, 1e-2)
    assert task["expert_rate"] > 0 and np.isfinite(task["expert_val_loss"])
    assert result["bias"] == np.log10(task["expert_rate"] / task["grid_rate"])
    assert result["lookahead"]["cooldown"] == 1
