"""MetaOracle's saved state: what a resumed search does with interrupted trials."""

import keras_tuner
import pytest

from keras_meta.selector import MetaOracle
from keras_meta.selector.oracle import EPOCHS_METRIC
from keras_meta.selector.oracle import VALUE_METRIC


def make_oracle(directory, objective="val_loss", **kwargs):
    space = keras_tuner.HyperParameters()
    space.Int("units", 1, 1000)
    oracle = MetaOracle(objective=objective, max_epochs=4, hyperparameters=space, seed=0, **kwargs)
    oracle._set_project_dir(str(directory), "search")
    return oracle


def report_epochs(oracle, trial_id, losses):
    for epoch, loss in enumerate(losses):
        trial = oracle.update_trial(trial_id, {"val_loss": loss, VALUE_METRIC: -0.1}, step=epoch)
    return trial


def test_a_trial_finished_on_disk_is_not_retrained_on_resume(tmp_path):
    oracle = make_oracle(tmp_path)
    trial = oracle.create_trial("tuner0")
    report_epochs(oracle, trial.trial_id, [1.0, 0.8, 0.7, 0.6])
    # Killed inside end_trial: the trial's file says COMPLETED, the oracle's still lists it as ongoing.
    trial.status = "COMPLETED"
    oracle.score_trial(trial)
    oracle._save_trial(trial)

    resumed = make_oracle(tmp_path)
    resumed.reload()
    assert resumed._retry_queue == []
    assert resumed.end_order == [trial.trial_id]
    assert resumed.create_trial("tuner0").trial_id != trial.trial_id  # a new trial, not a retrain
    assert resumed.epochs_spent == 4


def test_a_resumed_search_with_its_budget_spent_trains_nothing_more(tmp_path):
    oracle = make_oracle(tmp_path, max_total_epochs=3)
    trial = oracle.create_trial("tuner0")
    stopped = report_epochs(oracle, trial.trial_id, [1.0, 0.8, 0.7])
    assert stopped.status == "STOPPED"  # the budget ends the trial after its third epoch
    # Killed before end_trial. On resume the interrupted trial must not be trained again.

    resumed = make_oracle(tmp_path, max_total_epochs=3)
    resumed.reload()
    assert resumed.create_trial("tuner0").status == "STOPPED"  # the search is over
    finished = resumed.trials[trial.trial_id]
    assert finished.status == "COMPLETED" and finished.score == 0.7
    assert resumed.epochs_spent == 3


def test_an_interrupted_multi_objective_trial_is_scored_from_its_reports(tmp_path):
    objective = [keras_tuner.Objective("val_loss", "min"), keras_tuner.Objective("val_accuracy", "max")]
    oracle = make_oracle(tmp_path, objective=objective, max_total_epochs=2)
    trial = oracle.create_trial("tuner0")
    for epoch, (loss, accuracy) in enumerate([(1.0, 0.5), (0.8, 0.7)]):
        oracle.update_trial(trial.trial_id, {"val_loss": loss, "val_accuracy": accuracy, VALUE_METRIC: 0.0}, step=epoch)
    # Killed before end_trial, with the budget spent.

    resumed = make_oracle(tmp_path, objective=objective, max_total_epochs=2)
    resumed.reload()
    assert resumed.create_trial("tuner0").status == "STOPPED"
    finished = resumed.trials[trial.trial_id]
    assert finished.status == "COMPLETED"
    assert finished.score == pytest.approx(0.8 - 0.7) and finished.best_step == 1


def test_epochs_reported_once_after_training_count_against_the_budget(tmp_path):
    oracle = make_oracle(tmp_path, max_total_epochs=5)
    for _ in range(2):
        trial = oracle.create_trial("tuner0")
        oracle.update_trial(trial.trial_id, {"val_loss": 0.5, EPOCHS_METRIC: 3}, step=2)
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
    assert oracle.epochs_spent == 6
    assert oracle.create_trial("tuner0").status == "STOPPED"
    assert "keras_meta_epochs" not in oracle.trials[trial.trial_id].metrics.metrics  # not stored as a metric
