import numpy as np
import pytest

from keras_meta.bench.tasks import PUBLIC_TASKS
from keras_meta.bench.tasks import split_and_standardise


def test_a_feature_constant_on_train_is_centred_not_blown_up():
    x = np.zeros((10, 2))
    x[:, 0] = np.arange(10)
    lands_in_test = np.random.default_rng(0).permutation(10)[-1]  # the split's own shuffle
    x[lands_in_test, 1] = 5.0  # column 1 is zero on every train sample
    splits = split_and_standardise(x, np.arange(10), seed=0)
    assert np.all(splits.x_train[:, 1] == 0)
    assert splits.x_test[:, 1].max() == 5.0


def test_standardisation_uses_train_statistics_only():
    x = np.random.default_rng(0).standard_normal((100, 3)) * 5 + 2
    splits = split_and_standardise(x, np.zeros(100), seed=1)
    np.testing.assert_allclose(splits.x_train.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(splits.x_train.std(axis=0), 1, atol=1e-5)


@pytest.mark.parametrize("task", PUBLIC_TASKS, ids=lambda t: t.name)
def test_public_tasks_have_sane_splits(task):
    for seed in range(3):
        splits = task.load(seed)
        assert len(splits.x_train) > len(splits.x_val) > 0 and len(splits.x_test) > 0
        for array in (splits.x_train, splits.x_val, splits.x_test):
            assert np.all(np.isfinite(array)) and np.abs(array).max() < 100
