"""Where the public suite's #4 targets are lost: robustness by task, and wins by seed.

Reads the records of a `keras-meta bench` run (its cache, `records.jsonl`) and
prints two tables, with the report's definitions (`keras_meta.bench.metrics`):

1. Robustness: the geometric-mean score of `MetaLRCallback` from each starting
   rate relative to 1e-3, on all tasks and with each task left out in turn,
   so that one task carrying the ratio shows as such.
2. Wins: for each task and baseline, MetaLR's mean test loss over the
   baseline's, and on how many seeds MetaLR's loss is the lower, so that a
   task won or lost by less than the seeds' spread shows as such.
3. With `--against OTHER`: the policy against another policy's fits of the
   same cache, start by start: the ratio of their geometric-mean scores with
   the report's paired bootstrap interval over seeds, and on how many tasks
   the policy's score is the lower.

Usage (from the repository root):

    python benchmarks/experiments/suite_breakdown.py benchmarks/public-suite
    python benchmarks/experiments/suite_breakdown.py benchmarks/public-suite --policy runs/candidates/rebuild2 \
        --against default

It reads the records the benchmark's report of the same folder and policy
(`--policy`, default `default`) is made of, by their cache keys; the report
shows the same aggregate numbers, which the script prints first as a check.
"""

from __future__ import annotations

import argparse
import math
import statistics

from keras_meta.bench import metrics
from keras_meta.bench._environment import versions
from keras_meta.bench.methods import standard_methods
from keras_meta.bench.runner import job_key
from keras_meta.bench.runner import read_cache
from keras_meta.bench.runner import resolve_tasks
from keras_meta.bench.suite import default_seed_counts
from keras_meta.bench.suite import plan_jobs

STARTS = ("meta@1e-05", "meta@0.0001", "meta@0.001", "meta@0.01", "meta@0.1")
REFERENCE_START = "meta@0.001"
BASELINES = ("constant@0.001", "cosine@0.001", "plateau", "recipe", "schedule_free_z")


def current_records(output_dir, policy):
    """The records a `keras-meta bench --policy POLICY --output OUTPUT_DIR` report is made of.

    They are looked up by the cache keys of today's code and policy, as the
    benchmark does, so older records of the same (task, method, seed) are
    ignored. Fits the cache lacks are an error: run the benchmark first.
    """
    tasks, _ = resolve_tasks()
    methods = standard_methods(policy)
    jobs = plan_jobs(default_seed_counts(tasks, list(tasks)), methods, policy)
    stamp = versions()
    by_name = {method.name: method for method in methods}
    keys = [job_key(job, tasks[job["task"]], by_name[job["method"]], stamp) for job in jobs]
    cache = read_cache(output_dir)
    missing = [job for job, key in zip(jobs, keys) if key not in cache]
    if missing:
        raise SystemExit(
            f"{len(missing)} of {len(jobs)} fits are not in {output_dir}'s cache (first: {missing[0]}); "
            f"run `keras-meta bench --policy {policy} --output {output_dir}` first."
        )
    return [cache[key] for key in keys]


def robustness_table(task_scores):
    tasks = sorted(task_scores)
    lines = ["| start | all tasks | " + " | ".join(f"without {t}" for t in tasks) + " |"]
    lines.append("|---" * (len(tasks) + 2) + "|")
    for start in STARTS:
        cells = [_relative(task_scores, tasks, start)]
        cells += [_relative(task_scores, [t for t in tasks if t != left_out], start) for left_out in tasks]
        lines.append(f"| {start.split('@')[1]} | " + " | ".join(f"{c:.3f}" for c in cells) + " |")
    return "\n".join(lines)


def _relative(task_scores, tasks, start):
    """The geometric-mean score from `start` over that from 1e-3, on `tasks`."""
    mean = metrics.geometric_mean(task_scores[t][start] for t in tasks)
    return mean / metrics.geometric_mean(task_scores[t][REFERENCE_START] for t in tasks)


def wins_table(by_seed):
    lines = ["| task | " + " | ".join(BASELINES) + " |", "|---" * (len(BASELINES) + 1) + "|"]
    for task in sorted(by_seed):
        ours = by_seed[task][REFERENCE_START]
        cells = []
        for baseline in BASELINES:
            theirs = by_seed[task][baseline]
            seeds = sorted(set(ours) & set(theirs))
            ratio = statistics.fmean(ours[s] for s in seeds) / statistics.fmean(theirs[s] for s in seeds)
            better = sum(ours[s] < theirs[s] for s in seeds)
            cells.append(f"{ratio:.3f} ({better}/{len(seeds)})")
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def against_table(records, other_records):
    """The policy's fits against another policy's, start by start."""
    ours, theirs = metrics.losses_by_seed(records), metrics.losses_by_seed(other_records)
    our_scores, their_scores = metrics.scores(records), metrics.scores(other_records)
    lines = ["| start | score ratio (90% seed interval) | tasks where it is lower |", "|---|---|---|"]
    for start in STARTS:
        ratio, low, high = metrics.ratio_interval(
            {task: ours[task][start] for task in ours}, {task: theirs[task][start] for task in theirs}
        )
        lower = sum(our_scores[task][start] < their_scores[task][start] for task in our_scores)
        lines.append(f"| {start.split('@')[1]} | {ratio:.3f} ({low:.2f}-{high:.2f}) | {lower} of {len(our_scores)} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", help="a `keras-meta bench` output folder (its cache, records.jsonl)")
    parser.add_argument("--policy", default="default", help="the policy of the MetaLR records (default: default)")
    parser.add_argument("--against", help="another policy whose fits of the same cache to compare with")
    args = parser.parse_args()
    records = current_records(args.output, args.policy)
    task_scores = metrics.scores(records)
    aggregate = metrics.aggregate_scores(task_scores)
    check = f"{aggregate[REFERENCE_START]:.3f}; from 0.1 {aggregate['meta@0.1']:.3f}"
    print("check against the report: MetaLR from 1e-3", check)
    print("\nRobustness: geometric-mean score from each start / from 1e-3\n")
    print(robustness_table(task_scores))
    print("\nWins: MetaLR (from 1e-3) mean test loss / the baseline's (seeds on which MetaLR's loss is lower)\n")
    print(wins_table(metrics.losses_by_seed(records)))
    wins = {b: metrics.win_rate(task_scores, REFERENCE_START, b) for b in BASELINES}
    print("\nwin rates:", ", ".join(f"{b} {w:.0%}" for b, w in wins.items()))
    print("tasks needed for 2/3:", math.ceil(2 / 3 * len(task_scores)), "of", len(task_scores))
    if args.against:
        print(f"\n{args.policy} against {args.against}: ratio of geometric-mean scores (below 1: better)\n")
        print(against_table(records, current_records(args.output, args.against)))


if __name__ == "__main__":
    main()
