"""Seed ensembles: several meta-trained policies of one recipe, averaged into one.

Two meta-training seeds of one config differ most in states their data did
not cover, and there one of them can be wildly wrong (docs/meta_training.md
measures it). The mean of their action probabilities and values cancels much
of that. `build_ensemble` makes the averaged `Policy` and its card;
`keras-meta ensemble` writes it:

```bash
keras-meta ensemble runs/meta-v8/policy runs/meta-v8-seed1/policy --name meta-v10 --output my_policy
```
"""

from __future__ import annotations

from keras_meta.policy import Policy
from keras_meta.policy import load_policy

_SUMMED = ("rollouts", "decisions", "labelled_decisions", "value_decisions")


def build_ensemble(
    policies,
    name: str,
    act_every: int | None = None,
    fit_guard: float | None = None,
    lr_floor: float | None = None,
    climb_ramp: float | None = None,
    climb_ramp_steps: float | None = None,
) -> Policy:
    """Averages meta-trained policies into one, with a card that describes every member.

    Example:

    >>> ensemble = build_ensemble(["meta-v1", "meta-v2"], name="v1+v2")
    >>> ensemble.card["members"], ensemble.card["training"]["members"]
    (2, ['meta-v1', 'meta-v2'])

    Args:
        policies: Sequence of at least two `Policy`, names or paths, with
            the same actions, activation, decisions per run and final
            cool-down.
        name: String. The ensemble's name.
        act_every: Integer or `None`. How often the ensemble acts (see
            `MetaLRCallback`); `None` takes the first policy's card's.
        fit_guard: Float >= 0 or `None`. The ensemble's fit guard (see
            `MetaLRCallback`; 0 is none); `None` takes the first policy's
            card's.
        lr_floor: Float >= 0 or `None`. The ensemble's rate floor (see
            `MetaLRCallback`; 0 is none); `None` takes the first policy's
            card's, and none is written if that has none.
        climb_ramp: Float in [0, 1) or `None`. The ensemble's ramp on the
            climb (see `MetaLRCallback`; 0 is none); `None` takes the first
            policy's card's, and none is written if that has none.
        climb_ramp_steps: Float >= 0 or `None`. The ensemble's ramp on the
            climb counted in optimizer steps (see `MetaLRCallback`; 0 is
            none); `None` takes the first policy's card's, and none is
            written if that has none.

    Returns:
        The `Policy`.
    """
    members = [load_policy(policy) for policy in policies]
    if len(members) < 2:
        raise ValueError(f"An ensemble needs at least two policies. Received: {len(members)}.")
    first = members[0].card
    for key in ("decisions_per_run", "final_cooldown"):
        values = {member.card.get(key, 0.0) for member in members}
        if len(values) > 1:
            raise ValueError(f"The policies disagree on `{key}` ({sorted(values)}); average policies of one recipe.")
    card = {
        "name": name,
        "version": "1",
        "kind": first.get("kind", "custom"),
        "description": (
            f"The mean of {len(members)} policies' action probabilities and values "
            f"({', '.join(member.name for member in members)}). First member: {first.get('description', '')}"
        ),
        "decisions_per_run": first.get("decisions_per_run", 40),
        "final_cooldown": first.get("final_cooldown", 0.0),
        "act_every": first.get("act_every", 1) if act_every is None else act_every,
        "fit_guard": first.get("fit_guard", 0.0) if fit_guard is None else fit_guard,
        "training": _training(members),
        "evaluation": {
            f"{member.name} {key}": value
            for member in members
            for key, value in member.card.get("evaluation", {}).items()
            if key != "task_seeds"
        },
    }
    if lr_floor is not None or "lr_floor" in first:
        card["lr_floor"] = first.get("lr_floor", 0.0) if lr_floor is None else lr_floor
    if climb_ramp is not None or "climb_ramp" in first:
        card["climb_ramp"] = first.get("climb_ramp", 0.0) if climb_ramp is None else climb_ramp
    if climb_ramp_steps is not None or "climb_ramp_steps" in first:
        card["climb_ramp_steps"] = first.get("climb_ramp_steps", 0.0) if climb_ramp_steps is None else climb_ramp_steps
    return Policy.average(members, card=card)


def _training(members) -> dict:
    trainings = [member.card.get("training", {}) for member in members]
    training = {key: value for key, value in trainings[0].items() if key not in _SUMMED and key != "config"}
    training["members"] = [member.name for member in members]
    for key in _SUMMED:
        if all(key in t for t in trainings):
            training[key] = sum(t[key] for t in trainings)
    configs = [t["config"] for t in trainings if "config" in t]
    if configs:
        training["config"] = configs[0]
        training["member_seeds"] = [config.get("seed") for config in configs]
    return training
