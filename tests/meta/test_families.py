import dataclasses
import inspect
import json

import numpy as np
import pytest

from keras_meta.meta import families
from keras_meta.meta.families import TaskSpec
from keras_meta.meta.families import build_model
from keras_meta.meta.families import make_data
from keras_meta.meta.families import sample_task


def test_a_task_is_a_pure_function_of_its_seed():
    assert sample_task(7) == sample_task(7)
    first, second = make_data(sample_task(7)), make_data(sample_task(7))
    for name in first:
        np.testing.assert_array_equal(first[name], second[name])
    assert sample_task(7) != sample_task(8)


def test_specs_round_trip_through_json():
    spec = sample_task(3)
    assert TaskSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_the_distribution_covers_every_family_optimizer_and_budget_limit():
    specs = [sample_task(seed, max_steps=800) for seed in range(300)]
    assert {s.family for s in specs} == set(families.FAMILIES)
    assert {s.optimizer for s in specs} == set(families.OPTIMIZERS)
    assert any(s.batch_norm for s in specs) and any(s.dropout for s in specs)
    assert all(s.epochs * s.steps_per_epoch <= 800 or s.epochs == 2 for s in specs)
    assert max(sample_task(seed, max_samples=300).n_samples for seed in range(20)) <= 300
    rates = np.log10([s.initial_lr for s in specs])
    assert rates.min() < -4 and rates.max() > -1
    assert {sample_task(seed, optimizers=("adam",)).optimizer for seed in range(50)} == {"adam"}


@pytest.mark.parametrize("seed", range(6))
def test_data_shapes_and_labels(seed):
    spec = sample_task(seed)
    data = make_data(spec)
    assert data["x_train"].shape == (spec.n_samples, spec.n_features)
    assert len(data["x_val"]) == spec.n_samples // 4
    if spec.n_classes == 1:
        assert data["y_train"].shape == (spec.n_samples, 1)
    else:
        assert data["y_train"].min() >= 0 and data["y_train"].max() < spec.n_classes
    assert all(np.all(np.isfinite(a)) for a in data.values())


def test_the_student_trains_on_its_task():
    spec = sample_task(11)
    data = make_data(spec)
    model = build_model(spec)
    history = model.fit(data["x_train"], data["y_train"], batch_size=spec.batch_size, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert type(model.optimizer).__name__.lower().replace("_", "") == spec.optimizer


def test_meta_training_never_touches_benchmark_data():
    source = inspect.getsource(families)
    for benchmark_source in ("sklearn", "mnist1d", "keras_meta.bench"):
        assert benchmark_source not in source


def test_sample_sizes_and_epoch_budgets_are_configurable():
    specs = [sample_task(seed, sample_sizes=(64, 128), max_epochs=200, max_steps=10_000) for seed in range(60)]
    assert {s.n_samples for s in specs} == {64, 128}
    assert max(s.epochs for s in specs) > 60 and all(s.epochs <= 200 for s in specs)


def test_the_initial_rate_range_is_configurable_and_leaves_the_other_draws_alone():
    default_rates = [sample_task(seed).initial_lr for seed in range(200)]
    assert 10**-4.5 <= min(default_rates) and max(default_rates) <= 10**-0.5
    wide = [sample_task(seed, log10_lr_range=(-5.5, -0.5)) for seed in range(200)]
    assert min(spec.initial_lr for spec in wide) < 10**-4.5
    assert all(10**-5.5 <= spec.initial_lr <= 10**-0.5 for spec in wide)
    assert [dataclasses.replace(spec, initial_lr=0.0) for spec in wide] == [
        dataclasses.replace(sample_task(seed), initial_lr=0.0) for seed in range(200)
    ]
    with pytest.raises(ValueError, match="log10_lr_range"):
        sample_task(0, log10_lr_range=(-1, -3))


def test_a_fresh_sample_changes_nothing_else_and_follows_the_same_teacher():
    spec = sample_task(3)
    spec = TaskSpec.from_dict(
        {**spec.to_dict(), "family": "teacher_classification", "n_classes": 3, "noise": 0.0, "n_features": 2}
    )
    plain, with_fresh = make_data(spec), make_data(spec, fresh_samples=500)
    for name in plain:
        np.testing.assert_array_equal(plain[name], with_fresh[name])
    assert with_fresh["x_fresh"].shape == (500, spec.n_features)
    other = make_data(TaskSpec.from_dict({**spec.to_dict(), "seed": spec.seed + 1}), fresh_samples=500)
    same_teacher = _nearest_neighbour_accuracy(with_fresh, with_fresh)
    other_teacher = _nearest_neighbour_accuracy(with_fresh, other)
    assert same_teacher > other_teacher + 0.2


def _nearest_neighbour_accuracy(train, test):
    distances = ((test["x_fresh"][:, None, :] - train["x_train"][None, :, :]) ** 2).sum(axis=-1)
    return float(np.mean(train["y_train"][distances.argmin(axis=1)] == test["y_fresh"]))


def test_latent_inputs_are_drawn_for_a_fraction_of_tasks_and_leave_the_other_draws_alone():
    plain = [sample_task(seed) for seed in range(100)]
    assert [sample_task(seed, latent_fraction=0.0) for seed in range(100)] == plain
    latent = [sample_task(seed, latent_fraction=1.0) for seed in range(100)]
    assert all(1 <= spec.latent_dim <= min(8, spec.n_features) for spec in latent)
    assert [dataclasses.replace(spec, latent_dim=0) for spec in latent] == plain
    some = [sample_task(seed, latent_fraction=0.5).latent_dim > 0 for seed in range(100)]
    assert 30 < sum(some) < 70
    with pytest.raises(ValueError, match="latent_fraction"):
        sample_task(0, latent_fraction=1.5)


def test_clean_tasks_lose_their_label_noise_only_and_leave_the_other_draws_alone():
    plain = [sample_task(seed, latent_fraction=0.5) for seed in range(100)]
    assert [sample_task(seed, latent_fraction=0.5, clean_fraction=0.0) for seed in range(100)] == plain
    clean = [sample_task(seed, latent_fraction=0.5, clean_fraction=1.0) for seed in range(100)]
    assert all(spec.noise == 0.0 for spec in clean)
    assert [dataclasses.replace(spec, noise=0.0) for spec in plain] == clean
    some = [sample_task(seed, clean_fraction=0.25).noise == 0.0 for seed in range(200)]
    assert 25 < sum(some) < 75
    with pytest.raises(ValueError, match="clean_fraction"):
        sample_task(0, clean_fraction=-0.1)


def test_latent_features_are_a_standardised_low_rank_view_that_fresh_samples_share():
    spec = dataclasses.replace(sample_task(5, latent_fraction=1.0), n_features=40, latent_dim=3, n_samples=512)
    data = make_data(spec, fresh_samples=2000)
    assert data["x_train"].shape == (512, 40)
    x = np.concatenate([data["x_train"], data["x_val"]])  # the first sample drawn: standardised on its statistics
    assert np.all(np.isfinite(x))
    np.testing.assert_allclose(x.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(x.std(axis=0), 1.0, atol=1e-3)
    singular_values = np.linalg.svd(x, compute_uv=False)
    assert (singular_values[:3] ** 2).sum() / (singular_values**2).sum() > 0.5  # three factors carry most of it
    fresh = data["x_fresh"]  # standardised with the first sample's statistics, not its own
    assert np.abs(fresh.mean(axis=0)).max() < 0.3 and not np.allclose(fresh.std(axis=0), 1.0, atol=1e-3)
    assert data["y_train"].shape[0] == 512 and TaskSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_the_student_learns_a_latent_task():
    spec = dataclasses.replace(
        sample_task(2, latent_fraction=1.0),
        family="teacher_regression",
        n_classes=1,
        noise=0.0,
        n_features=20,
        latent_dim=2,
        n_samples=512,
        optimizer="adam",
        initial_lr=3e-3,
        batch_norm=False,
        dropout=0.0,
    )
    data = make_data(spec)
    model = build_model(spec)
    history = model.fit(data["x_train"], data["y_train"], batch_size=32, epochs=15, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
