"""A policy's model card in markdown: what it was trained on, how it was evaluated, its benchmark.

The machine-readable card is the policy's `card.json`; this renders it for
people, with the aggregate and robustness tables of a `keras-meta bench`
report appended, and is shipped beside the weights as `MODEL_CARD.md`:

```bash
keras-meta model-card keras_meta/policies/meta-v1 --bench benchmarks/public-suite/report.md
```
"""

from __future__ import annotations

import json
import pathlib
import re

from keras_meta.policy import load_policy

MODEL_CARD_FILE = "MODEL_CARD.md"


def render_model_card(policy, bench_report=None) -> str:
    """The model card of a policy, in markdown.

    Args:
        policy: String, path or `Policy`.
        bench_report: Path or `None`. A `keras-meta bench` report whose
            aggregate and robustness sections are included.

    Returns:
        A markdown string.
    """
    policy = load_policy(policy)
    card = policy.card
    training = card.get("training", {})
    config = training.get("config", {})
    lines = [
        f"# Model card: `{card['name']}` v{card['version']} ({card['kind']})",
        "",
        card.get("description", ""),
        "",
        "## Network",
        "",
        f"* Input: {len(card['feature_spec']['names'])} scale-free features of the loss curve "
        f"(feature spec v{card['feature_spec'].get('version', '?')}).",
        f"* Trunk: {', '.join(str(w) for w in config.get('hidden', [])) or 'as stored'} units, "
        f"{card['activation']}; action head over multipliers 2^{card['actions']}; value head "
        "log(final loss / current loss).",
        f"* {card['decisions_per_run']} decisions per run by default; "
        f"{sum(a.size for a in policy.weight_arrays().values()):,} weights.",
        *(
            [f"* The last {card['final_cooldown']:.0%} of each run is a linear cool-down to zero, with no decisions."]
            if card.get("final_cooldown")
            else []
        ),
        *(
            [f"* The mean of {card['members']} networks' action probabilities and values (a seed ensemble)."]
            if card.get("members", 1) > 1
            else []
        ),
        *(
            [f"* It acts at every {card['act_every']}th decision only and keeps the rate at the others."]
            if card.get("act_every", 1) > 1
            else []
        ),
        *(
            [
                f"* Fit guard: once the training loss is below exp(-{card['fit_guard']:g}) of the untrained model's, "
                "the rate climbs no further, and a loss back above the untrained one is recovered from."
            ]
            if card.get("fit_guard")
            else []
        ),
        *(
            [
                f"* Rate floor: while the validation loss still improves, no decision lowers the rate below "
                f"{card['lr_floor']:g} x a linear decay to zero from the starting rate (at most the optimizer's "
                "default rate)."
            ]
            if card.get("lr_floor")
            else []
        ),
        *(
            [
                f"* Climb ramp: in a run that starts at or below the optimizer's default rate, no decision sets a "
                f"rate above that default x 2^({_ramp_doublings(card)})."
            ]
            if card.get("climb_ramp") or card.get("climb_ramp_steps")
            else []
        ),
        "",
    ]
    if training:
        lines += ["## Training", ""]
        for key in (
            "members",
            "member_seeds",
            "families",
            "optimizers",
            "rounds_done",
            "rollouts",
            "decisions",
            "labelled_decisions",
        ):
            if key in training:
                lines.append(f"* {key.replace('_', ' ')}: {_plain(training[key])}")
        if config:
            lines += [
                "",
                "Configuration (`keras-meta meta-train`):",
                "",
                "```json",
                json.dumps(config, indent=2),
                "```",
            ]
        lines.append("")
    evaluation = card.get("evaluation") or {}
    if evaluation:
        lines += ["## Held-out meta-training rollouts", "", "| measure | value |", "|---|---|"]
        lines += [f"| {key.replace('_', ' ')} | {_plain(value)} |" for key, value in evaluation.items()]
        lines.append("")
    if bench_report is not None:
        lines += _benchmark_sections(pathlib.Path(bench_report))
    return "\n".join(lines).rstrip() + "\n"


def write_model_card(policy_dir, bench_report=None) -> pathlib.Path:
    """Writes `MODEL_CARD.md` into a policy directory and returns its path."""
    path = pathlib.Path(policy_dir) / MODEL_CARD_FILE
    path.write_text(render_model_card(policy_dir, bench_report))
    return path


def _benchmark_sections(report: pathlib.Path) -> list[str]:
    text = report.read_text()
    header = [line for line in text.splitlines() if line.startswith("- **")]
    lines = ["## Held-out benchmark (`keras-meta bench`)", "", *header, ""]
    for title in ("Aggregate", "Robustness"):
        match = re.search(rf"^## {title}.*?\n(.*?)(?=^## |\Z)", text, flags=re.S | re.M)
        if match:
            lines += [f"### {title}", "", match.group(1).strip(), ""]
    lines.append(f"Full report: `{report}`.")
    return lines


def _plain(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_plain(v) for v in value)
    return str(value)


def _ramp_doublings(card) -> str:
    """The climb ramp's exponent as the card sets it: by fraction of the run, by steps, or the faster."""
    terms = []
    if card.get("climb_ramp"):
        terms.append(f"progress / {card['climb_ramp']:g}")
    if card.get("climb_ramp_steps"):
        terms.append(f"steps / {card['climb_ramp_steps']:g}")
    return terms[0] if len(terms) == 1 else f"max({', '.join(terms)})"
