"""MetaModelSelector through its public API, with real (tiny) Keras trainings."""

import pathlib

import keras
import keras_tuner
import numpy as np
import pytest
from conftest import fixed_policy

from keras_meta import MetaModelSelector
from keras_meta.selector import hyperband_budget

# keras-tuner loads best-epoch weights into a model whose optimizer is not built yet.
pytestmark = pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer:UserWarning")


def classification_data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((160, 4)).astype("float32")
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype("int32")
    return (x[:128], y[:128]), (x[128:], y[128:])


def build(hp):
    """A broken model's hidden layer outputs zeros for ever: those are the hopeless trials."""
    keras.utils.set_random_seed(0)
    broken = hp.Boolean("broken")
    initializer = "zeros" if broken else "glorot_uniform"
    hidden = keras.layers.Dense(
        hp.Choice("units", [4, 8, 16]), activation="relu", kernel_initializer=initializer, trainable=not broken
    )
    output = keras.layers.Dense(2, activation="softmax")
    model = keras.Sequential([keras.Input((4,)), hidden, output])
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class EpochCounter(keras.callbacks.Callback):
    """A user's own callback. Tuners deep-copy callbacks per trial, so it keeps its record in a file."""

    def __init__(self, path):
        super().__init__()
        self.path = str(path)

    def on_epoch_end(self, epoch, logs=None):
        self._write("epoch")

    def on_train_end(self, logs=None):
        self._write(f"rate {float(self.model.optimizer.learning_rate.numpy())}")

    def _write(self, line):
        with open(self.path, "a") as file:
            file.write(line + "\n")

    @property
    def epochs(self):
        return self._lines().count("epoch")

    @property
    def final_rates(self):
        return [float(line.split()[1]) for line in self._lines() if line.startswith("rate")]

    def _lines(self):
        return pathlib.Path(self.path).read_text().splitlines()


def search(selector, counter=None, **kwargs):
    (x, y), validation = classification_data()
    callbacks = [counter] if counter else []
    selector.search(x, y, validation_data=validation, batch_size=32, callbacks=callbacks, verbose=0, **kwargs)
    return selector


def make(tmp_path, **kwargs):
    settings = {"objective": "val_accuracy", "max_trials": 6, "max_epochs": 4, "seed": 1, "overwrite": True}
    return MetaModelSelector(build, directory=str(tmp_path), project_name="search", **{**settings, **kwargs})


def statuses(selector):
    return {t.trial_id: t.status for t in selector.oracle.trials.values()}


@pytest.mark.slow
def test_a_drop_in_search_keeps_the_keras_tuner_api_and_stops_hopeless_trials(tmp_path, capsys):
    """One search with the defaults (pruning on) shows both: a drop-in replacement is one that prunes."""
    counter = EpochCounter(tmp_path / "epochs.txt")
    selector = search(make(tmp_path / "pruned"), counter)
    oracle = selector.oracle

    # keras-tuner's API.
    assert set(statuses(selector).values()) == {"COMPLETED"}
    assert counter.epochs == oracle.epochs_spent  # the user's callback ran in every trial, stopped ones too
    best_hp = selector.get_best_hyperparameters(1)[0]
    assert best_hp.values["broken"] is False
    best_model = selector.get_best_models(1)[0]
    _, (x_val, y_val) = classification_data()
    accuracy = best_model.evaluate(x_val, y_val, verbose=0)[1]
    best = oracle.get_best_trials(1)[0]
    assert accuracy == pytest.approx(best.score)  # best epoch's weights
    selector.results_summary(2)
    assert "Epochs spent" in capsys.readouterr().out

    # Hopeless trials are stopped, and their epochs saved.
    stopped = oracle.stopped
    assert stopped and all(record["reason"] == "pruned" for record in stopped.values())
    first_complete = min(i for i, t in oracle.trials.items() if i not in stopped)
    broken = {i for i, t in oracle.trials.items() if t.hyperparameters.values["broken"] and i > first_complete}
    assert broken and broken <= set(stopped)  # models that cannot learn are stopped once there is an incumbent
    assert oracle.epochs_spent < 4 * len(oracle.trials)  # what a search that stops nothing spends (checked below)

    # Pruning threw away no trial that would have beaten the best. A broken model's frozen hidden layer
    # outputs zeros, so it predicts one class for every input: however long it trains, it scores at most
    # the validation set's majority share.
    assert best.score > max(np.mean(y_val), 1 - np.mean(y_val))
    # The proposals are random draws from the seed, so a search that stops nothing proposes the same
    # trials: its first ones, up to the last stopped trial that could learn (at least two, so that
    # there is an incumbent to prune against), train those to the end.
    learners = [int(i) for i in stopped if not oracle.trials[i].hyperparameters.values["broken"]]
    unpruned = search(make(tmp_path / "unpruned", max_trials=max(learners, default=1) + 1, prune=False))
    assert unpruned.oracle.epochs_spent == 4 * len(unpruned.oracle.trials) and not unpruned.oracle.stopped
    for trial_id, trained in unpruned.oracle.trials.items():
        assert trained.hyperparameters.values == oracle.trials[trial_id].hyperparameters.values
        if trial_id in stopped:
            assert trained.score <= best.score
        else:
            assert trained.score == pytest.approx(oracle.trials[trial_id].score)  # the same training


def build_memoriser(hp):
    """A wide network on random labels: the validation loss is best after an epoch or two, then rises."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(hp.Choice("units", [64, 128, 256]), activation="relu"),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile(keras.optimizers.Adam(3e-2), "sparse_categorical_crossentropy")
    return model


@pytest.mark.slow
def test_a_trial_that_stops_improving_ends_with_its_best_epoch(tmp_path):
    (x, _), (x_val, _) = classification_data()
    rng = np.random.default_rng(1)
    y, y_val = rng.integers(0, 2, len(x)), rng.integers(0, 2, len(x_val))

    trials = 2  # each of them compared with its twin trained to the end

    def run(patience, name):
        selector = MetaModelSelector(
            build_memoriser,
            objective="val_loss",
            max_trials=trials,
            max_epochs=12,
            patience=patience,
            prune=False,
            policy=fixed_policy(0.0, "keep"),
            directory=str(tmp_path),
            project_name=name,
            seed=1,
        )
        selector.search(x, y, validation_data=(x_val, y_val), batch_size=16, verbose=0)
        return selector

    patient, untiring = run(3, "patient"), run(None, "untiring")
    assert untiring.oracle.epochs_spent == 12 * trials and not untiring.oracle.stopped
    ended = patient.oracle.stopped
    assert len(ended) == trials and all(record["reason"] == "plateau" for record in ended.values())
    assert all(record["epoch"] == record["best_epoch"] + 3 for record in ended.values())
    assert patient.oracle.epochs_spent == sum(record["epoch"] for record in ended.values()) < 12 * trials
    # The same trials, the same best epochs: ending them early lost nothing.
    best = {t.trial_id: t.score for t in patient.oracle.trials.values()}
    assert best == pytest.approx({t.trial_id: t.score for t in untiring.oracle.trials.values()})
    best_model = patient.get_best_models(1)[0]
    assert best_model.evaluate(x_val, y_val, verbose=0) == pytest.approx(min(best.values()), rel=1e-5)


def build_with_four_choices(hp):
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(
                hp.Choice("units", [2, 3, 4, 6, 8, 12, 16, 24]), activation=hp.Choice("act", ["relu", "tanh", "elu"])
            ),
            keras.layers.Dropout(hp.Choice("dropout", [0.0, 0.1, 0.2, 0.3, 0.4])),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile(
        keras.optimizers.Adam(hp.Choice("lr", [1e-3, 3e-3, 1e-2, 3e-2, 1e-1])), "sparse_categorical_crossentropy"
    )
    return model


@pytest.mark.slow
def test_after_the_random_start_trials_vary_the_best_one(tmp_path):
    selector = MetaModelSelector(
        build_with_four_choices,
        max_trials=6,
        max_epochs=2,
        initial_random_trials=1,
        random_fraction=0.0,
        prune=False,
        seed=1,
        directory=str(tmp_path),
        project_name="local",
    )
    search(selector)
    trials = [selector.oracle.trials[i] for i in sorted(selector.oracle.trials)]
    assert len(trials) == 6 and all(t.status == "COMPLETED" for t in trials)
    shared = []
    for index in range(1, len(trials)):
        parent = min(trials[:index], key=lambda t: t.score).hyperparameters.values
        shared.append(sum(trials[index].hyperparameters.values[name] == value for name, value in parent.items()))
    # A local move redraws each of the 4 values with probability 1/4 (at least one changes); a random
    # draw keeps 0.9 of them on average (five moves, not three: five random draws pass this about once in
    # 380 searches, three about once in 50).
    assert 1 <= min(shared) and max(shared) <= 3 and sum(shared) / len(shared) >= 2


@pytest.mark.slow
def test_the_epoch_budget_ends_the_search(tmp_path):
    selector = search(make(tmp_path, max_trials=None, max_total_epochs=7, prune=False))
    assert selector.oracle.epochs_spent == 7
    assert len(selector.oracle.trials) == 2  # 4 + 3 epochs: the second trial is cut at the budget
    assert list(selector.oracle.stopped.values())[0]["reason"] == "budget"


def test_hyperband_arguments_give_hyperbands_budget(tmp_path):
    selector = make(tmp_path, max_trials=None, max_epochs=9, factor=3)
    assert selector.oracle.max_total_epochs == hyperband_budget(9, 3)


@pytest.mark.slow
def test_hyperband_budget_matches_a_real_hyperband_search(tmp_path):
    counter = EpochCounter(tmp_path / "epochs.txt")

    def build_with_a_large_space(hp):
        hp.Float("unused", 0.0, 1.0)  # a space Hyperband cannot exhaust
        return build(hp)

    # The fewest trials (5) of any Hyperband search with a promotion; a factor other than the selector's
    # default 3 checks that the budget follows the factor.
    tuner = keras_tuner.Hyperband(
        build_with_a_large_space, objective="val_accuracy", max_epochs=2, factor=2, directory=str(tmp_path), seed=1
    )
    search(tuner, counter)
    assert counter.epochs == hyperband_budget(2, 2)  # two brackets, one of them promoting a trial


@pytest.mark.slow
def test_meta_lr_steers_the_rate_and_can_be_switched_off(tmp_path):
    doubling = fixed_policy(1.0, "always-double")
    steered, kept = EpochCounter(tmp_path / "steered.txt"), EpochCounter(tmp_path / "kept.txt")
    search(make(tmp_path / "a", max_trials=1, policy=doubling, prune=False), steered)
    # With meta_lr=False the curve is only read: not even a card's final cool-down touches the rate.
    cooled = type(doubling).from_config({**doubling.get_config(), "card": {**doubling.card, "final_cooldown": 0.25}})
    search(make(tmp_path / "b", max_trials=1, policy=cooled, meta_lr=False, prune=False), kept)
    assert steered.final_rates[0] > 1e-2
    assert kept.final_rates == pytest.approx([1e-2])


@pytest.mark.slow
def test_a_policy_with_a_final_cooldown_steers_every_trial_to_its_end(tmp_path):
    """The cool-down ends the run at a small rate, not zero, so the last epoch's value estimate works."""
    keep = fixed_policy(0.0, "keep")
    cooled = type(keep).from_config({**keep.get_config(), "card": {**keep.card, "final_cooldown": 0.25}})
    counter = EpochCounter(tmp_path / "epochs.txt")
    selector = search(make(tmp_path / "search", max_trials=2, policy=cooled, prune=False), counter)
    assert list(statuses(selector).values()) == ["COMPLETED", "COMPLETED"]
    assert all(0.0 < rate < 1e-2 for rate in counter.final_rates)  # annealed from 1e-2


@pytest.mark.slow
def test_a_schedule_works_without_meta_lr_and_is_a_clear_error_with_it(tmp_path):
    def build_with_schedule(hp):
        model = build(hp)
        schedule = keras.optimizers.schedules.CosineDecay(1e-2, 100)
        model.compile(keras.optimizers.Adam(schedule), "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    settings = {"objective": "val_accuracy", "max_epochs": 2, "directory": str(tmp_path)}
    # One trial shows that a schedule trains without meta_lr; the failing search needs three.
    plain = MetaModelSelector(build_with_schedule, meta_lr=False, max_trials=1, project_name="plain", **settings)
    assert set(statuses(search(plain)).values()) == {"COMPLETED"}
    steered = MetaModelSelector(build_with_schedule, max_trials=3, project_name="steered", **settings)
    with pytest.raises(RuntimeError, match="schedule"):
        search(steered)  # three failed trials in a row end the search, with the reason


@pytest.mark.slow
def test_a_trial_that_fails_to_build_is_marked_failed_and_the_search_goes_on(tmp_path):
    def build_or_fail(hp):
        if hp.Choice("units", [4, 8, 16]) == 8:
            raise ValueError("this architecture cannot be built")
        return build(hp)

    # Seed 5 draws 8 units first (that build fails), then 4.
    selector = MetaModelSelector(
        build_or_fail, objective="val_loss", max_trials=2, max_epochs=2, directory=str(tmp_path), seed=5
    )
    search(selector)
    trials = [selector.oracle.trials[i] for i in sorted(selector.oracle.trials)]
    assert [t.hyperparameters.values["units"] for t in trials] == [8, 4]  # the draws the statuses rely on
    assert [t.status for t in trials] == ["FAILED", "COMPLETED"]


def test_unknown_objectives_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="Could not infer optimization direction"):
        make(tmp_path, objective="val_precision_at_3")
    selector = make(tmp_path, objective=keras_tuner.Objective("val_auc", "max"), max_trials=1, max_epochs=1)
    with pytest.raises(keras_tuner.errors.FatalValueError, match="'val_auc' is not among the metrics"):
        search(selector)


def test_objective_object_and_default(tmp_path):
    selector = make(tmp_path, objective=keras_tuner.Objective("val_loss", "min"), max_trials=1, max_epochs=1)
    search(selector)
    assert selector.oracle.get_best_trials(1)[0].score > 0
    assert MetaModelSelector(build, directory=str(tmp_path), project_name="d").oracle.objective.name == "val_loss"


def test_a_missing_policy_fails_at_construction(tmp_path):
    with pytest.raises(ValueError, match="no-such-policy"):
        make(tmp_path, policy="no-such-policy")


def test_a_list_of_objectives_works(tmp_path):
    objectives = ["val_loss", keras_tuner.Objective("val_accuracy", "max")]
    selector = search(make(tmp_path, objective=objectives, max_trials=1, max_epochs=2))
    assert set(statuses(selector).values()) == {"COMPLETED"}


def test_an_objective_returned_by_fit_is_not_pruned_but_is_budgeted(tmp_path):
    class ReturnsValidationLoss(keras_tuner.HyperModel):
        def build(self, hp):
            return build(hp)

        def fit(self, hp, model, *args, validation_data=None, **kwargs):
            model.fit(*args, **kwargs)
            return model.evaluate(*validation_data, verbose=0)[0]

    selector = MetaModelSelector(
        ReturnsValidationLoss(), max_epochs=2, max_total_epochs=3, directory=str(tmp_path), seed=0
    )
    search(selector)
    assert selector.oracle.epochs_spent == 4  # two trials of 2 epochs: whole trials, since none is reported early
    assert len(selector.oracle.trials) == 2
