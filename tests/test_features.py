import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from keras_meta.features import FEATURE_CLIP
from keras_meta.features import FEATURE_NAMES
from keras_meta.features import FEATURE_SPEC
from keras_meta.features import extract_features

# Losses as a user's curve may hold them: zero, or positive and not subnormal.
loss_values = st.one_of(st.just(0.0), st.floats(min_value=1e-100, max_value=1e100))
loss_lists = st.lists(loss_values, min_size=0, max_size=80)
windows = st.integers(min_value=2, max_value=40)


def features(losses, lr=1e-3, val=(), train=(), window=8, optimizer="adam", progress=0.5):
    return extract_features(
        losses,
        lr,
        initial_learning_rate=1e-3,
        progress=progress,
        window=window,
        val_losses=val,
        epoch_losses=train,
        last_log2_multiplier=0.5,
        optimizer=optimizer,
    )


def index(name):
    return FEATURE_NAMES.index(name)


@settings(max_examples=200, deadline=None)
@given(
    losses=loss_lists,
    val=st.lists(loss_values, max_size=5),
    scale=st.floats(min_value=1e-3, max_value=1e3),
    window=windows,
)
def test_features_do_not_change_when_losses_are_scaled(losses, val, scale, window):
    train = losses[-len(val) :] if val and len(losses) >= len(val) else []
    val = val[: len(train)]
    base = features(losses, val=val, train=train, window=window)
    scaled = features(
        [scale * v for v in losses],
        val=[scale * v for v in val],
        train=[scale * v for v in train],
        window=window,
    )
    np.testing.assert_allclose(scaled, base, rtol=1e-6, atol=1e-6)


@settings(max_examples=300, deadline=None)
@given(
    losses=st.lists(st.floats(min_value=-1e300, max_value=1e300), max_size=60),
    lr=st.floats(min_value=1e-30, max_value=1e30),
    progress=st.floats(min_value=-1.0, max_value=2.0),
    window=windows,
)
def test_features_are_finite_and_bounded_for_any_finite_input(losses, lr, progress, window):
    f = features(losses, lr=lr, progress=progress, window=window, val=losses[-2:], train=losses[-2:])
    assert f.shape == (len(FEATURE_NAMES),)
    assert np.all(np.isfinite(f))
    assert np.all(np.abs(f) <= FEATURE_CLIP)


@pytest.mark.parametrize(
    "losses",
    [
        [],
        [1.0],
        [2.0, 2.0],
        [3.0] * 100,
        [0.0] * 30,
        list(np.linspace(5.0, 0.0, 50)),
        list(np.geomspace(1e-8, 1e8, 50)),
        list(np.abs(np.random.default_rng(0).standard_cauchy(500)) * 1e6),
    ],
    ids=["empty", "one", "two", "constant", "zeros", "falling-to-zero", "exploding", "heavy-noise"],
)
def test_features_are_finite_on_edge_cases(losses):
    assert np.all(np.isfinite(features(losses)))


def test_constant_curve_has_no_slope_noise_or_increase():
    f = features([3.0] * 50)
    for name in ("slope", "curvature", "noise", "increase_fraction", "spike", "log_loss_vs_start"):
        assert f[index(name)] == pytest.approx(0.0, abs=1e-12), name


def test_falling_and_rising_curves_have_slopes_of_opposite_sign():
    falling = features(list(np.geomspace(4.0, 1.0, 40)), window=20)
    rising = features(list(np.geomspace(1.0, 4.0, 40)), window=20)
    assert falling[index("slope")] == pytest.approx(-np.log(4.0) / 2, rel=0.05)
    assert rising[index("slope")] == pytest.approx(np.log(4.0) / 2, rel=0.05)
    assert falling[index("increase_fraction")] == 0.0
    assert rising[index("increase_fraction")] == 1.0
    assert falling[index("log_loss_vs_start")] < 0 < rising[index("log_loss_vs_start")]
    assert rising[index("log_loss_vs_best")] > 0 == falling[index("log_loss_vs_best")]


def test_rate_progress_validation_and_optimizer_features():
    f = features([1.0] * 10, lr=4e-3, val=[2.0, 3.0], train=[1.0, 1.5], optimizer="AdamW", progress=0.25)
    assert f[index("log10_lr")] == pytest.approx(np.log10(4e-3))
    assert f[index("log_lr_vs_initial")] == pytest.approx(2.0)
    assert f[index("progress")] == 0.25
    assert f[index("has_validation")] == 1.0
    assert f[index("val_gap")] == pytest.approx(np.log(3.0 / 1.5))
    assert f[index("val_slope")] == pytest.approx(np.log(3.0 / 2.0))
    assert f[index("last_log2_multiplier")] == 0.5
    assert f[index("optimizer_adamw")] == 1.0
    assert f[index("optimizer_adam")] == 0.0
    assert features([1.0], optimizer="Adagrad")[index("optimizer_other")] == 1.0
    assert features([1.0])[index("has_validation")] == 0.0


def test_slope_change_sees_a_bend_in_the_curve():
    bend = list(np.geomspace(8.0, 1.0, 20)) + [1.0] * 20
    assert features(bend, window=20)[index("slope_change")] > 0.5


def test_feature_spec_lists_the_names_in_order():
    assert FEATURE_SPEC["names"] == list(FEATURE_NAMES)
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"losses": [1.0, float("nan")]}, "finite"),
        ({"losses": [1.0], "window": 1}, "window"),
        ({"losses": [1.0], "lr": 0.0}, "positive"),
    ],
)
def test_bad_input_raises_a_clear_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        features(**kwargs)
