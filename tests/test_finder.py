import numpy as np
import pytest
from conftest import fixed_policy
from conftest import regression_data
from conftest import tiny_model

from keras_meta import LRSuggestion
from keras_meta import MetaLRCallback
from keras_meta import suggest_lr


def test_suggestion_is_the_median_of_the_probes_proposals_over_the_divisor(doubling_policy):
    x, y = regression_data()  # 8 batches of 8: interval 1 below gives 8 decisions a probe
    model = tiny_model()
    suggestion = suggest_lr(model, x, y, policy=doubling_policy, start_lrs=(1e-5, 1e-3, 1e-4), batch_size=8, interval=1)
    np.testing.assert_allclose(suggestion.proposals, [1e-5 * 256, 1e-3 * 256, 1e-4 * 256], rtol=1e-5)
    assert suggestion.divisor == 5.0 and suggestion.lr == pytest.approx(1e-4 * 256 / 5, rel=1e-5)
    undivided = suggest_lr(model, x, y, policy=doubling_policy, start_lrs=(1e-4,), batch_size=8, interval=1, divisor=1)
    assert undivided.lr == pytest.approx(1e-4 * 256, rel=1e-5)
    with pytest.raises(ValueError, match="divisor"):
        suggest_lr(model, x, y, divisor=0.5)
    assert suggestion.start_lrs == [1e-5, 1e-3, 1e-4]
    assert [len(t) for t in suggestion.trajectories] == [9, 9, 9]
    assert suggestion.trajectories[0][0] == (0, 1e-5)
    assert all(np.isfinite(suggestion.final_losses))


def test_probes_climb_freely_under_a_policy_with_a_climb_ramp(doubling_policy):
    x, y = regression_data()  # 8 decisions, at 1/80 to 8/80 of a 10-epoch run
    config = doubling_policy.get_config()
    card = {**config["card"], "climb_ramp": 0.05, "climb_ramp_steps": 2.0}
    ramped = type(doubling_policy).from_config({**config, "card": card})
    probe = dict(start_lrs=(1e-3,), batch_size=8, planned_epochs=10, interval=1, divisor=1)
    # In a fit, the ramps would hold Adam at its default 1e-3 x 2^max(8/80 / 0.05, 8 / 2) = 1.6e-2.
    suggestion = suggest_lr(tiny_model(lr=1e-3), x, y, policy=ramped, **probe)
    assert suggestion.proposals == [pytest.approx(1e-3 * 256, rel=1e-5)]


def test_model_weights_optimizer_state_and_rate_are_restored(halving_policy):
    x, y = regression_data()
    model = tiny_model(lr=3e-3)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)  # builds the optimizer's slots
    weights = model.get_weights()
    slots = [v.numpy().copy() for v in model.optimizer.variables]
    suggest_lr(model, x, y, policy=halving_policy, batch_size=8, epochs=2)
    for got, want in zip(model.get_weights(), weights):
        np.testing.assert_array_equal(got, want)
    for variable, want in zip(model.optimizer.variables, slots):
        np.testing.assert_array_equal(variable.numpy(), want)
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(3e-3)


def test_planned_epochs_tell_the_policy_the_probe_is_the_start_of_a_run(monkeypatch):
    progress_at_decisions = []
    original = MetaLRCallback._features

    def record_progress(callback, lr):
        progress_at_decisions.append(callback._progress())
        return original(callback, lr)

    monkeypatch.setattr(MetaLRCallback, "_features", record_progress)
    x, y = regression_data()  # 8 batches: one probe epoch is a tenth of a 10-epoch run
    suggestion = suggest_lr(
        tiny_model(), x, y, policy=fixed_policy(0.0), start_lrs=(1e-3,), batch_size=8, planned_epochs=10, interval=2
    )
    assert suggestion.proposals == [pytest.approx(1e-3)]
    np.testing.assert_allclose(progress_at_decisions, [0.025, 0.05, 0.075, 0.1])
    with pytest.raises(ValueError, match="planned_epochs"):
        suggest_lr(tiny_model(), x, y, epochs=3, planned_epochs=2)
    with pytest.raises(ValueError, match="start_lrs"):
        suggest_lr(tiny_model(), x, y, start_lrs=())
    with pytest.raises(ValueError, match="callbacks"):
        suggest_lr(tiny_model(), x, y, callbacks=[])


def test_an_unbuilt_model_gets_a_clear_error():
    import keras

    x, y = regression_data()
    unbuilt = keras.Sequential([keras.layers.Dense(1)])
    unbuilt.compile("adam", "mse")
    with pytest.raises(ValueError, match="built and compiled"):
        suggest_lr(unbuilt, x, y)


def test_plot_is_written(tmp_path, doubling_policy):
    x, y = regression_data()
    suggestion = suggest_lr(tiny_model(), x, y, policy=doubling_policy, batch_size=8)
    assert isinstance(suggestion, LRSuggestion)
    suggestion.plot(tmp_path / "probes.png")
    assert (tmp_path / "probes.png").read_bytes()[:4] == b"\x89PNG"
