"""MetaOracle's saved state: what a resumed search does with interrupted trials."""

import keras_tuner
import pytest

from keras_meta.selector import MetaOracle
from keras_meta.selector.oracle import EPOCHS_METRIC
from keras_meta.selector.oracle import VALUE_METRIC


def make_oracle(directory, objective="val_loss", max_epochs=4, **kwargs):
    space = keras_tuner.HyperParameters()
    space.Int("units", 1, 1000)
    oracle = MetaOracle(objective=objective, max_epochs=max_epochs, hyperparameters=space, seed=0, **kwargs)
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


def make_wide_oracle(directory, **kwargs):
    space = keras_tuner.HyperParameters()
    for name in "abcdef":
        space.Choice(name, list(range(10)))
    oracle = MetaOracle(max_epochs=2, prune=False, hyperparameters=space, seed=3, **kwargs)
    oracle._set_project_dir(str(directory), "search")
    return oracle


def run_trials(oracle, count, loss_of):
    proposals = []
    for _ in range(count):
        trial = oracle.create_trial("tuner0")
        values = dict(trial.hyperparameters.values)
        report_epochs(oracle, trial.trial_id, [loss_of(values) + 0.1, loss_of(values)])
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
        proposals.append(values)
    return proposals


def differences(values, other):
    return sum(values[name] != other[name] for name in "abcdef")


def test_after_the_random_start_proposals_vary_the_best_trial(tmp_path):
    oracle = make_wide_oracle(tmp_path, initial_random_trials=3, random_fraction=0.0)
    proposals = run_trials(oracle, 3 + 12, loss_of=lambda values: 1.0 + sum(values.values()))
    for index in range(3, len(proposals)):
        best = min(proposals[:index], key=lambda values: sum(values.values()))
        # Random draws differ from the best in 5.4 of 6 values on average; a local move in 1-3.
        assert 1 <= differences(proposals[index], best) <= 3
    assert len({tuple(sorted(p.items())) for p in proposals}) == len(proposals)  # no trial is repeated


def test_with_random_fraction_one_the_proposals_are_random_search_s(tmp_path):
    local = run_trials(make_wide_oracle(tmp_path / "a", random_fraction=1.0, initial_random_trials=0), 8, sum_of)
    random_search = run_trials(make_wide_oracle(tmp_path / "b", initial_random_trials=100), 8, sum_of)
    assert local == random_search
    spread = [differences(p, min(local[:i], key=sum_of)) for i, p in enumerate(local) if i]
    assert max(spread) >= 4  # random draws, not local moves


def sum_of(values):
    return float(sum(values.values()))


def test_proposal_settings_are_checked():
    with pytest.raises(ValueError, match="random_fraction"):
        MetaOracle(random_fraction=1.5)
    with pytest.raises(ValueError, match="initial_random_trials"):
        MetaOracle(initial_random_trials=-1)


def end(oracle, trial):
    trial.status = "COMPLETED"
    oracle.end_trial(trial)


def test_a_trial_that_stops_improving_ends_and_counts_as_fully_trained(tmp_path):
    oracle = make_oracle(tmp_path, max_epochs=10, patience=2)
    done = oracle.create_trial("tuner0")
    assert report_epochs(oracle, done.trial_id, [1.0, 0.5, 0.6, 0.7]).status == "STOPPED"
    assert oracle.stopped[done.trial_id] == {"epoch": 4, "reason": "plateau", "best_epoch": 2}
    end(oracle, done)
    assert oracle.trials[done.trial_id].score == 0.5

    # It is the incumbent that a hopeless trial is measured against (none would be, were it "cut short").
    hopeless = oracle.create_trial("tuner0")
    assert report_epochs(oracle, hopeless.trial_id, [2.0, 1.9]).status == "STOPPED"
    assert oracle.stopped[hopeless.trial_id]["reason"] == "pruned"
    summary = oracle.budget_summary()
    assert (summary["plateaued"], summary["pruned"], summary["epochs_spent"]) == (1, 1, 6)


def test_without_patience_a_trial_that_stops_improving_trains_on(tmp_path):
    oracle = make_oracle(tmp_path, max_epochs=10, patience=None)
    trial = oracle.create_trial("tuner0")
    assert report_epochs(oracle, trial.trial_id, [1.0, 0.5] + [0.7] * 7).status == "RUNNING"


def test_automatic_patience_is_a_third_of_the_run_and_at_least_three(tmp_path):
    assert make_oracle(tmp_path, max_epochs=30).patience == 10
    assert make_oracle(tmp_path, max_epochs=8).patience == 3
    for wrong in (0, -1, 2.5, "soon", True):
        with pytest.raises(ValueError, match="patience"):
            MetaOracle(patience=wrong)
