"""The model-selection benchmark's measures, report and plot (`keras-meta bench select`).

Kept apart from `keras_meta.bench.selection`, whose code decides what a search
does and so keys its cache: a change here rewrites the report from the cached
searches and reruns none of them.

Two readings of "reaching Hyperband's final pick", both reported:

* **seed by seed**: for each seed, the fraction of Hyperband's epochs a search
  spent before its pick's test loss was as good as Hyperband's final pick on
  that seed (inf if never); per task the median over seeds.
* **over seeds**: the fraction of Hyperband's epochs after which the search's
  anytime regret, as a geometric mean over seeds, is as low as Hyperband's
  final regret (the same mean); per task one number.
"""

from __future__ import annotations

import collections

import numpy as np

from keras_meta.bench._environment import machine_description
from keras_meta.bench.metrics import geometric_mean
from keras_meta.bench.selection import METHODS
from keras_meta.bench.selection import POOL


def reference_losses(records) -> dict:
    """The best test loss of a full-length trial, per (task, seed), over the pool and all searches."""
    best = {}
    for record in records:
        for trial in record["trials"]:
            if trial["test_loss"] is None or trial["length"] < record["max_epochs"]:
                continue
            key = (record["task"], record["seed"])
            best[key] = min(best.get(key, float("inf")), trial["test_loss"])
    return best


def anytime_curve(record) -> tuple[np.ndarray, np.ndarray]:
    """Epochs spent and the incumbent's test loss after each trial of a search.

    The incumbent is the trial with the best validation loss so far; trials
    without a test loss (failed) are skipped.

    Example:

    >>> record = {"trials": [
    ...     {"epochs_spent": 3, "val_loss": 0.5, "test_loss": 0.6},
    ...     {"epochs_spent": 5, "val_loss": 0.7, "test_loss": 0.4},
    ...     {"epochs_spent": 9, "val_loss": 0.2, "test_loss": 0.3}]}
    >>> anytime_curve(record)
    (array([3, 5, 9]), array([0.6, 0.6, 0.3]))
    """
    epochs, losses = [], []
    best_val, incumbent_test = float("inf"), None
    for trial in record["trials"]:
        if trial["test_loss"] is None:
            continue
        if trial["val_loss"] < best_val:
            best_val, incumbent_test = trial["val_loss"], trial["test_loss"]
        epochs.append(trial["epochs_spent"])
        losses.append(incumbent_test)
    return np.asarray(epochs), np.asarray(losses, dtype=float)


def epochs_to_reach(record, target: float) -> float:
    """The epochs a search spent before its incumbent's test loss reached `target` (inf if never)."""
    epochs, losses = anytime_curve(record)
    reached = np.nonzero(losses <= target)[0]
    return float(epochs[reached[0]]) if len(reached) else float("inf")


def summarise(records) -> dict:
    """Per task and method: regret, epochs and time spent, and the fraction of Hyperband's epochs needed.

    Args:
        records: List of search and pool records (`run_search`'s), any
            tasks and seeds.

    Returns:
        `{"tasks": {task: {method: {"regret", "epochs", "seconds", "trials",
        "fraction_of_hyperband", "fraction_of_hyperband_over_seeds"}}},
        "aggregate": {...}}`: per task and method, means over seeds (the
        regret a geometric mean, the seed-by-seed fraction a median; the
        fraction over seeds is one number, see the module's docstring); the
        aggregate holds the tasks on which the selector's regret is below
        Hyperband's and the median task's fraction, read both ways.
    """
    reference = reference_losses(records)
    searches = [r for r in records if r["method"] != POOL]
    by_task_seed = collections.defaultdict(dict)
    for record in searches:
        by_task_seed[(record["task"], record["seed"])][record["method"]] = record
    rows = collections.defaultdict(lambda: collections.defaultdict(lambda: collections.defaultdict(list)))
    for (task, seed), methods in by_task_seed.items():
        hyperband = methods.get("hyperband")
        if hyperband is not None:
            _, hyperband_losses = anytime_curve(hyperband)
            hyperband_final = hyperband_losses[-1] if len(hyperband_losses) else None
        for method, record in methods.items():
            _, losses = anytime_curve(record)
            final = losses[-1] if len(losses) else float("inf")
            row = rows[task][method]
            row["seed"].append(seed)
            row["regret"].append(final / reference[(task, seed)])
            row["epochs"].append(record["epochs"])
            row["seconds"].append(record["seconds"])
            row["trials"].append(len(record["trials"]))
            if hyperband is not None:
                needed = float("inf") if hyperband_final is None else epochs_to_reach(record, hyperband_final)
                row["fraction_of_hyperband"].append(needed / max(hyperband["epochs"], 1))
    over_seeds = _fractions_over_seeds(searches, reference)
    table = {
        task: {
            method: {
                "regret": geometric_mean(values["regret"]),
                "fraction_of_hyperband_over_seeds": over_seeds.get((task, method), float("nan")),
                "epochs": float(np.mean(values["epochs"])),
                "seconds": float(np.mean(values["seconds"])),
                "trials": float(np.mean(values["trials"])),
                "fraction_of_hyperband": float(np.median(values["fraction_of_hyperband"]))
                if values["fraction_of_hyperband"]
                else float("nan"),
                "per_seed": _per_seed(values),
            }
            for method, values in methods.items()
        }
        for task, methods in rows.items()
    }
    wins = [
        t
        for t, m in table.items()
        if "meta" in m and "hyperband" in m and m["meta"]["regret"] < m["hyperband"]["regret"]
    ]
    fractions = [m["meta"]["fraction_of_hyperband"] for m in table.values() if "meta" in m]
    fractions_over_seeds = [m["meta"]["fraction_of_hyperband_over_seeds"] for m in table.values() if "meta" in m]
    return {
        "tasks": table,
        "aggregate": {
            "tasks": len(table),
            "meta_beats_hyperband": len(wins),
            "median_fraction_of_hyperband_epochs": float(np.median(fractions)) if fractions else float("nan"),
            "median_fraction_of_hyperband_epochs_over_seeds": float(np.median(fractions_over_seeds))
            if fractions_over_seeds
            else float("nan"),
        },
    }


def _per_seed(values) -> dict:
    """`{seed: {"regret", "trials"[, "fraction_of_hyperband"]}}` from one method's lists of per-seed values."""
    per_seed = {}
    for index, seed in enumerate(values["seed"]):
        entry = {"regret": values["regret"][index], "trials": values["trials"][index]}
        if values["fraction_of_hyperband"]:
            entry["fraction_of_hyperband"] = values["fraction_of_hyperband"][index]
        per_seed[seed] = entry
    return per_seed


def regret_after(record, reference: float, epochs: float) -> float:
    """The regret of a search's pick once it had spent `epochs` (inf before its first pick).

    Example:

    >>> record = {"trials": [
    ...     {"epochs_spent": 3, "val_loss": 0.5, "test_loss": 0.6},
    ...     {"epochs_spent": 9, "val_loss": 0.2, "test_loss": 0.3}]}
    >>> regret_after(record, 0.3, 5), regret_after(record, 0.3, 9), regret_after(record, 0.3, 2)
    (2.0, 1.0, inf)
    """
    spent, losses = anytime_curve(record)
    return _value_after(spent, losses / reference, epochs)


def _value_after(spent, values, epochs: float) -> float:
    """The value of a step curve (`values` from `spent` epochs on) once `epochs` were spent; inf before."""
    reached = np.searchsorted(spent, epochs, side="right")
    return float(values[reached - 1]) if reached else float("inf")


def _fractions_over_seeds(searches, reference) -> dict:
    """`{(task, method): fraction}`: when the seed-averaged anytime regret first matches Hyperband's final one."""
    by_task = collections.defaultdict(lambda: collections.defaultdict(list))
    for record in searches:
        by_task[record["task"]][record["method"]].append(record)
    fractions = {}
    for task, methods in by_task.items():
        hyperband = methods.get("hyperband")
        if not hyperband:
            continue
        budget = max(max(record["epochs"] for record in hyperband), 1)
        target = geometric_mean([regret_after(r, reference[(task, r["seed"])], float("inf")) for r in hyperband])
        for method, records in methods.items():
            curves = []  # (epochs spent, regret of the pick) per seed, computed once
            for record in records:
                spent, losses = anytime_curve(record)
                curves.append((spent, losses / reference[(task, record["seed"])]))
            moments = sorted({trial["epochs_spent"] for r in records for trial in r["trials"]})
            fractions[(task, method)] = float("inf")
            for epochs in moments:
                regrets = [_value_after(spent, regret, epochs) for spent, regret in curves]
                if all(np.isfinite(regrets)) and geometric_mean(regrets) <= target:
                    fractions[(task, method)] = epochs / budget
                    break
    return fractions


# -------------------------------------------------------------------- report


_LABELS = {
    "meta": "MetaModelSelector (no LR search)",
    "hyperband": "Hyperband",
    "random": "RandomSearch",
    "bayesian": "BayesianOptimization",
}


def write_report(summary, records, failures, command, seeds, policy) -> str:
    """The Markdown report."""
    tasks = summary["tasks"]
    aggregate = summary["aggregate"]
    budgets = {r["task"]: (r["budget"], r["max_epochs"]) for r in records}
    lines = [
        "# keras-meta model-selection benchmark",
        "",
        f"Command: `{command}`  ",
        f"Machine: {machine_description()}, keras-tuner {_keras_tuner_version()}  ",
        f"Seeds: {seeds}; policy of MetaModelSelector: `{policy}`; objective `val_loss`, scored by test loss.",
        "",
        "Budget per search, in epochs (Hyperband's with factor 3), and a trial's full length: "
        + ", ".join(f"{task} {b} ({e})" for task, (b, e) in sorted(budgets.items())),
        "",
        "**Regret** = the test loss of the search's final pick / the best test loss of any full-length "
        "trial (a fixed pool of configurations and the searches' own). **Epochs to Hyperband's best** = "
        "the fraction of Hyperband's epochs a search spent before its pick's test loss was as good as "
        "Hyperband's final pick, seed by seed (median over seeds; inf: never) and **over seeds** (when the "
        "search's regret, a geometric mean over seeds, first matched Hyperband's final one).",
        "",
        "## Aggregate",
        "",
        f"* MetaModelSelector has a lower regret than Hyperband on {aggregate['meta_beats_hyperband']} of "
        f"{aggregate['tasks']} tasks (target: 3/4 of them).",
        f"* On the median task it reached Hyperband's final pick after "
        f"{format_fraction(aggregate['median_fraction_of_hyperband_epochs'])} of Hyperband's epochs seed by seed, "
        f"{format_fraction(aggregate['median_fraction_of_hyperband_epochs_over_seeds'])} over seeds "
        "(target: at most 0.5).",
        "",
        "## Per task",
        "",
        "| task | method | regret | epochs to Hyperband's best, seed by seed | over seeds | epochs | trials "
        "| wall time (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for task in sorted(tasks):
        for method in METHODS:
            if method in tasks[task]:
                row = tasks[task][method]
                lines.append(
                    f"| {task} | {_LABELS[method]} | {row['regret']:.3f} "
                    f"| {format_fraction(row['fraction_of_hyperband'])} "
                    f"| {format_fraction(row['fraction_of_hyperband_over_seeds'])} "
                    f"| {row['epochs']:.0f} | {row['trials']:.0f} | {row['seconds']:.0f} |"
                )
    lines += ["", "![anytime curves](select_anytime.png)", ""]
    lines += _per_seed_section(tasks)
    if failures:
        lines += ["## Failures", ""] + [
            f"* {job['task']} / {job['method']} / seed {job['seed']}: {error}" for job, error in failures
        ]
    return "\n".join(lines) + "\n"


def _per_seed_section(tasks) -> list[str]:
    """Per task and seed: the selector's regret against Hyperband's, the fraction needed, [the selector's trials]."""
    seeds = sorted({seed for methods in tasks.values() if "meta" in methods for seed in methods["meta"]["per_seed"]})
    compared = [task for task in sorted(tasks) if "meta" in tasks[task] and "hyperband" in tasks[task]]
    if not compared:
        return []
    lines = [
        "## Per seed",
        "",
        "MetaModelSelector's regret vs Hyperband's, (the fraction of Hyperband's epochs it needed to match "
        "Hyperband's final pick) and [its trials].",
        "",
        "| task | " + " | ".join(f"seed {seed}" for seed in seeds) + " |",
        "|---" * (len(seeds) + 1) + "|",
    ]
    for task in compared:
        meta, hyperband = tasks[task]["meta"]["per_seed"], tasks[task]["hyperband"]["per_seed"]
        cells = []
        for seed in seeds:
            if seed not in meta or seed not in hyperband:
                cells.append("")
                continue
            fraction = meta[seed]["fraction_of_hyperband"]
            reached = "never" if fraction == float("inf") else f"{fraction:.2f}"
            cells.append(
                f"{meta[seed]['regret']:.2f} vs {hyperband[seed]['regret']:.2f} ({reached}) [{meta[seed]['trials']}]"
            )
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    return lines + [""]


def _keras_tuner_version() -> str:
    import keras_tuner

    return keras_tuner.__version__


def format_fraction(value) -> str:
    """A fraction of Hyperband's epochs as the report writes it: two decimals, "inf" for never, "" for none."""
    return "inf" if value == float("inf") else ("" if value != value else f"{value:.2f}")


def plot_anytime(records, path) -> None:
    """Each search's anytime regret against epochs spent, one panel per task."""
    from matplotlib.figure import Figure

    reference = reference_losses(records)
    tasks = sorted({r["task"] for r in records})
    figure = Figure(figsize=(4.5 * len(tasks), 3.6))
    for index, task in enumerate(tasks):
        ax = figure.add_subplot(1, len(tasks), index + 1)
        for method in METHODS:
            for record in (r for r in records if r["task"] == task and r["method"] == method):
                epochs, losses = anytime_curve(record)
                if len(epochs):
                    regret = losses / reference[(task, record["seed"])]
                    label = _LABELS[method] if record["seed"] == 0 else None
                    ax.step(epochs, regret, where="post", label=label, color=f"C{METHODS.index(method)}", alpha=0.8)
        ax.set_yscale("log")
        ax.set_title(task)
        ax.set_xlabel("epochs spent")
        ax.set_ylabel("regret of the current pick")
    figure.axes[0].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
