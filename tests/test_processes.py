import math

from keras_meta._processes import map_in_processes


def test_jobs_run_in_recycled_worker_processes_and_failures_come_back_as_exceptions():
    arguments = [4.0, -1.0, 9.0]  # math.sqrt(-1.0) raises ValueError
    outcomes = dict(map_in_processes(math.sqrt, arguments, workers=1, jobs_per_process=2, label="test"))
    assert outcomes[0] == 2.0 and outcomes[2] == 3.0
    assert isinstance(outcomes[1], ValueError)


def test_without_workers_the_jobs_run_here_in_order():
    assert list(map_in_processes(math.sqrt, [1.0, 4.0], workers=0, jobs_per_process=1, label="test")) == [
        (0, 1.0),
        (1, 2.0),
    ]
