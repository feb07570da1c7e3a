"""The benchmark report: markdown tables and PNG plots from records."""

from __future__ import annotations

import pathlib

import numpy as np

from keras_meta.bench import metrics
from keras_meta.bench.methods import DEFAULT_LR
from keras_meta.bench.methods import ROBUSTNESS_LRS
from keras_meta.bench.methods import baseline_names

META = f"meta@{DEFAULT_LR:g}"
HAND_TUNED = "hand-tuned"
_SHORT_NAMES = {
    f"constant@{DEFAULT_LR:g}": "Adam 1e-3",
    f"cosine@{DEFAULT_LR:g}": "cosine 1e-3",
    "plateau": "plateau",
    "recipe": "recipe",
    "schedule_free": "SF-AdamW",
    "schedule_free_z": "SF-AdamW (z=w)",
    HAND_TUNED: "hand-tuned",
    META: "MetaLR",
    "suggest": "suggest_lr",
}


def write_report(records, failures, output_dir, header: dict) -> pathlib.Path:
    """Writes `report.md`, `curves.png`, `learning_rates.png` and `scores.png`.

    Args:
        records: List of record dicts.
        failures: List of `(job, message)`.
        output_dir: Path. Where the files go.
        header: Dict of strings shown at the top: command, machine, versions,
            seeds, policy.

    Returns:
        The path of `report.md`.
    """
    output_dir = pathlib.Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    sections = [
        _header(header),
        _aggregate_table(records),
        _per_task_table(records),
        _robustness_table(records),
        _time_to_target_table(records),
        _wall_time_table(records),
        _recoveries_section(records),
        _failures(failures),
        "## Plots\n\n![test loss per epoch](curves.png)\n\n"
        "![MetaLRCallback learning rates](learning_rates.png)\n\n![scores](scores.png)\n",
    ]
    path = output_dir / "report.md"
    path.write_text("\n".join(section for section in sections if section))
    _plot_curves(records, output_dir / "curves.png")
    _plot_learning_rates(records, output_dir / "learning_rates.png")
    _plot_scores(records, output_dir / "scores.png")
    return path


def compared_methods() -> list[str]:
    """The rows of the main tables: the baselines, hand tuning and keras-meta."""
    return baseline_names() + [HAND_TUNED, META, "suggest"]


def task_scores_with_hand_tuned(records) -> dict:
    """`metrics.scores` plus a `hand-tuned` entry per task."""
    task_scores = metrics.scores(records)
    oracles = metrics.oracle_losses(records)
    for task, (_, loss) in metrics.hand_tuned_losses(records).items():
        task_scores[task][HAND_TUNED] = loss / oracles[task]
    return task_scores


def _header(header: dict) -> str:
    lines = ["# keras-meta benchmark", ""]
    lines += [f"- **{key}**: {value}" for key, value in header.items()]
    lines += [
        "",
        "Score = mean test loss over seeds / the oracle (the best of 14 grid runs, picked on test), "
        "so 1.00 matches the oracle and lower is better. Hand-tuned = the grid run with the best "
        "validation loss. A diverged run counts as the untrained model's loss.",
        "",
    ]
    return "\n".join(lines)


def _aggregate_table(records) -> str:
    task_scores = task_scores_with_hand_tuned(records)
    aggregate = metrics.aggregate_scores(task_scores)
    lines = [
        "## Aggregate",
        "",
        "| method | geometric-mean score | tasks | MetaLR wins against it | MetaLR / it (90% seed interval) |",
        "|---|---|---|---|---|",
    ]
    for method in compared_methods():
        if method not in aggregate:
            continue
        tasks = sum(1 for scores in task_scores.values() if method in scores)
        wins = metrics.win_rate(task_scores, META, method) if method != META else None
        wins_text = "" if wins is None else f"{100 * wins:.0f}%"
        ratio_text = "" if method == META else _ratio_text(records, method)
        lines.append(
            f"| {_SHORT_NAMES.get(method, method)} | {aggregate[method]:.3f} | {tasks} | {wins_text} | {ratio_text} |"
        )
    lines += [
        "",
        "MetaLR / it: the ratio of the two geometric-mean scores (below 1: MetaLR is better) and, in "
        "brackets, the range that resampling each task's seeds (a paired bootstrap) gives it 90% of the "
        "time. A difference whose interval holds 1 is within the noise of the seeds.",
    ]
    return "\n".join(lines) + "\n"


def _ratio_text(records, method) -> str:
    """MetaLR's aggregate score over `method`'s, with its seed interval, as table text."""
    by_seed = metrics.losses_by_seed(records)
    if method == HAND_TUNED:  # scored by the grid run that validation picked, task by task
        chosen = {task: name for task, (name, _) in metrics.hand_tuned_losses(records).items()}
        baseline = {task: by_seed[task][name] for task, name in chosen.items()}
    else:
        baseline = {task: methods[method] for task, methods in by_seed.items() if method in methods}
    meta = {task: methods[META] for task, methods in by_seed.items() if META in methods}
    interval = metrics.ratio_interval(meta, baseline)
    if interval is None:
        return ""
    ratio, low, high = interval
    return f"{ratio:.3f} ({low:.2f}-{high:.2f})"


def _per_task_table(records) -> str:
    task_scores = task_scores_with_hand_tuned(records)
    oracles = metrics.oracle_losses(records)
    seeds = {task: len({r["seed"] for r in records if r["task"] == task}) for task in task_scores}
    methods = [m for m in compared_methods() if any(m in s for s in task_scores.values())]
    lines = [
        "## Per task (score)",
        "",
        "| task | seeds | oracle loss | " + " | ".join(_SHORT_NAMES.get(m, m) for m in methods) + " |",
        "|---|---|---|" + "---|" * len(methods),
    ]
    for task in sorted(task_scores):
        cells = [_number(task_scores[task].get(m)) for m in methods]
        lines.append(f"| {task} | {seeds[task]} | {oracles[task]:.4g} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _robustness_table(records) -> str:
    task_scores = metrics.scores(records)
    aggregate = metrics.aggregate_scores(task_scores)
    starts = [lr for lr in ROBUSTNESS_LRS if f"meta@{lr:g}" in aggregate]
    if not starts or META not in aggregate:
        return ""
    lines = [
        "## Robustness: MetaLRCallback from different starting rates",
        "",
        "| starting rate | geometric-mean score | relative to 1e-3 |",
        "|---|---|---|",
    ]
    for lr in starts:
        score = aggregate[f"meta@{lr:g}"]
        lines.append(f"| {lr:g} | {score:.3f} | {score / aggregate[META]:.3f} |")
    return "\n".join(lines) + "\n"


def _time_to_target_table(records) -> str:
    reached = metrics.time_to_target(records)
    methods = [m for m in compared_methods() if m != HAND_TUNED]
    lines = [
        "## Time to target",
        "",
        "Fraction of the epoch budget until the test loss first reaches the oracle's final loss "
        "(mean over the seeds that reach it; - = never).",
        "",
        "| task | " + " | ".join(_SHORT_NAMES.get(m, m) for m in methods) + " |",
        "|---|" + "---|" * len(methods),
    ]
    for task in sorted(reached):
        lines.append(f"| {task} | " + " | ".join(_number(reached[task].get(m), "-") for m in methods) + " |")
    return "\n".join(lines) + "\n"


def _wall_time_table(records) -> str:
    wall = metrics.mean_wall_seconds(records)
    constant = f"constant@{DEFAULT_LR:g}"
    rows = [(task, w[constant], w[META]) for task, w in sorted(wall.items()) if constant in w and META in w]
    if not rows:
        return ""
    lines = [
        "## Wall time of fit",
        "",
        "Seconds per fit, mean over seeds (the per-epoch test evaluation of the harness excluded). "
        "Single fits here vary by 10-20%; `keras-meta overhead` measures the callback's cost properly.",
        "",
        "| task | Adam 1e-3 | MetaLR | ratio |",
        "|---|---|---|---|",
    ]
    for task, constant_seconds, meta_seconds in rows:
        lines.append(
            f"| {task} | {constant_seconds:.2f} | {meta_seconds:.2f} | {meta_seconds / constant_seconds:.3f} |"
        )
    ratio = metrics.geometric_mean(m / c for _, c, m in rows)
    lines.append(f"| geometric mean | | | {ratio:.3f} |")
    return "\n".join(lines) + "\n"


def _recoveries_section(records) -> str:
    """Every keras-meta fit in which the callback recovered from a divergence or stopped: its guards at work."""
    meta_records = [r for r in records if r["method"].startswith("meta@")]
    recorded = [r for r in meta_records if "recoveries" in r]
    if not recorded:
        return ""
    eventful = sorted(
        (r for r in recorded if r["recoveries"] or r.get("stopped_reason")),
        key=lambda r: (r["task"], r["method"], r["seed"]),
    )
    unrecorded = len(meta_records) - len(recorded)
    lines = [
        "## Recoveries: MetaLRCallback's guards at work",
        "",
        f"{len(eventful)} of {len(recorded)} MetaLRCallback fits recovered from a divergence or stopped "
        "(a recovery restores the last snapshot and cuts the rate; see docs/callback.md)."
        + (f" Fits recorded before recoveries were, not counted: {unrecorded}." if unrecorded else ""),
    ]
    if eventful:
        lines += [
            "",
            "| task | method | seed | steps in run | recoveries (step: cause, rate) | stopped |",
            "|---|---|---|---|---|---|",
        ]
    for r in eventful:
        total_steps = r.get("steps_per_epoch", 0) * r.get("epochs", 0)
        events = "; ".join(
            f"{e['step']}: {e['cause']}, {e['old_lr']:.3g} -> {e['new_lr']:.3g}" for e in r["recoveries"]
        )
        stopped = "yes" if r.get("stopped_reason") else ""
        lines.append(f"| {r['task']} | {r['method']} | {r['seed']} | {total_steps} | {events} | {stopped} |")
    return "\n".join(lines) + "\n"


def _failures(failures) -> str:
    if not failures:
        return ""
    lines = ["## Failed fits", ""]
    lines += [f"- {job['task']} / {job['method']} / seed {job['seed']}: {message}" for job, message in failures]
    return "\n".join(lines) + "\n"


def _number(value, missing="") -> str:
    return missing if value is None else f"{value:.3f}"


# ------------------------------------------------------------------- plots


def _grid(n_panels):
    """A figure with one panel per task, four to a row, and its axes in order."""
    from matplotlib.figure import Figure

    columns = min(4, n_panels)
    rows = -(-n_panels // columns)
    figure = Figure(figsize=(4 * columns, 3 * rows))
    axes = figure.subplots(rows, columns, squeeze=False)
    for extra in axes.flat[n_panels:]:
        extra.set_visible(False)
    return figure, axes.flat


def _plot_per_task(records, path, draw_panel):
    """One panel per task, drawn by `draw_panel(ax, task, runs_by_method)`, saved to `path`."""
    grouped = metrics.group(records)
    tasks = sorted(grouped)
    if not tasks:
        return
    figure, axes = _grid(len(tasks))
    for task, ax in zip(tasks, axes):
        draw_panel(ax, task, grouped[task])
    axes[0].legend(fontsize="x-small")
    figure.tight_layout()
    figure.savefig(path, dpi=80)


def _plot_curves(records, path):
    oracles = metrics.oracle_losses(records)

    def draw(ax, task, runs_by_method):
        for method in compared_methods():
            runs = runs_by_method.get(method)
            if runs:
                curve = _mean_curve([r["test_curve"] for r in runs])
                ax.plot(np.arange(1, len(curve) + 1), curve, label=_SHORT_NAMES.get(method, method))
        if task in oracles:
            ax.axhline(oracles[task], color="black", linestyle=":", label="oracle")
        ax.set(title=task, xlabel="epoch", ylabel="test loss", yscale="log")

    _plot_per_task(records, path, draw)


def _plot_learning_rates(records, path):
    def draw(ax, task, runs_by_method):
        for lr in ROBUSTNESS_LRS:
            runs = sorted(runs_by_method.get(f"meta@{lr:g}", []), key=lambda r: r["seed"])
            if runs and runs[0]["decisions"]:
                steps, rates = zip(*([[0, lr]] + runs[0]["decisions"]))
                ax.step(steps, rates, where="post", label=f"from {lr:g}")
        ax.set(title=f"{task} (seed 0)", xlabel="step", ylabel="learning rate", yscale="log")

    _plot_per_task(records, path, draw)


def _plot_scores(records, path):
    aggregate = metrics.aggregate_scores(task_scores_with_hand_tuned(records))
    methods = [m for m in compared_methods() if m in aggregate]
    if not methods:
        return
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 3.5))
    ax = figure.subplots()
    ax.bar([_SHORT_NAMES.get(m, m) for m in methods], [aggregate[m] for m in methods], color="tab:blue")
    ax.axhline(1.0, color="black", linestyle=":")
    ax.set(ylabel="geometric-mean score (1 = oracle)", title="Test loss / oracle, lower is better")
    ax.tick_params(axis="x", labelrotation=30)
    figure.tight_layout()
    figure.savefig(path, dpi=80)


def _mean_curve(curves):
    length = min(len(c) for c in curves)
    stacked = np.array([c[:length] for c in curves], dtype=float)
    return np.nanmean(np.where(np.isfinite(stacked), stacked, np.nan), axis=0)
