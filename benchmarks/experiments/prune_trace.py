"""Why a search prunes what it prunes: every pruning decision of a selector search on the dev set.

Runs `MetaModelSelector` searches on `select_dev.py`'s synthetic tasks (never
on `keras-meta bench select`'s) with `keras_meta.selector.pruning.decide`
wrapped, and writes, per trial and epoch, the trial's loss-like curve, the
incumbent's, the value head's prediction, the forecast, the optimistic
forecast and whether the trial was stopped. It also writes the margin each
decision was from stopping: `log(optimistic / incumbent_final)` (the trial is
stopped once this is above 0 while the trial is behind the incumbent).

Usage:

    python benchmarks/experiments/prune_trace.py --task synthetic_classification --seed 0 \\
        --output benchmarks/select-dev/prune_trace_classification.json
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))


def trace(task_name: str, seed: int, policy: str, options: dict) -> dict:
    """One search with every pruning decision recorded; returns the search record plus `decisions`."""
    import select_dev

    from keras_meta.selector import pruning

    decisions = []
    original = pruning.decide

    def recording_decide(curve, incumbent_curve, predicted_log_ratio, max_epochs, min_epochs, margin):
        decision = original(curve, incumbent_curve, predicted_log_ratio, max_epochs, min_epochs, margin)
        gap = None
        if decision.optimistic is not None and decision.incumbent:
            gap = math.log(decision.optimistic / decision.incumbent)
        decisions.append(
            {
                "epoch": decision.epoch,
                "curve": list(curve),
                "incumbent_curve": None if incumbent_curve is None else list(incumbent_curve),
                "predicted_log_ratio": predicted_log_ratio,
                "forecast": decision.forecast,
                "optimistic": decision.optimistic,
                "incumbent": decision.incumbent,
                "behind": None if not incumbent_curve else min(curve) > min(incumbent_curve[: len(curve)]),
                "log_optimistic_over_incumbent": gap,
                "stop": decision.stop,
            }
        )
        return decision

    pruning.decide = recording_decide
    try:
        method = "meta" + (":" + ",".join(f"{k}={json.dumps(v)}" for k, v in options.items()) if options else "")
        record = select_dev.run_dev_search({"task": task_name, "method": method, "seed": seed, "policy": policy})
    finally:
        pruning.decide = original
    return {**record, "decisions": decisions}


def summary(record: dict) -> str:
    """Per epoch: how many decisions, how many behind, and the median gap to stopping."""
    import numpy as np

    lines = ["| epoch | decisions | behind | stopped | median log(optimistic/incumbent) | median prediction |"]
    lines.append("|---|---|---|---|---|---|")
    by_epoch = {}
    for decision in record["decisions"]:
        by_epoch.setdefault(decision["epoch"], []).append(decision)
    for epoch in sorted(by_epoch):
        rows = [d for d in by_epoch[epoch] if d["incumbent"] is not None]
        if not rows:
            continue
        gaps = [d["log_optimistic_over_incumbent"] for d in rows]
        predictions = [d["predicted_log_ratio"] for d in rows if d["predicted_log_ratio"] is not None]
        lines.append(
            f"| {epoch} | {len(rows)} | {sum(bool(d['behind']) for d in rows)} | {sum(d['stop'] for d in rows)} "
            f"| {np.median(gaps):+.3f} | {np.median(predictions) if predictions else float('nan'):+.3f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--policy", default="default")
    parser.add_argument("--option", action="append", default=[], help="key=json-value, a MetaModelSelector kwarg")
    parser.add_argument("--output", type=pathlib.Path, required=True)
    arguments = parser.parse_args()
    selector_options = {k: json.loads(v) for k, _, v in (o.partition("=") for o in arguments.option)}
    found = trace(arguments.task, arguments.seed, arguments.policy, selector_options)
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(json.dumps(found, indent=1))
    print(summary(found))
