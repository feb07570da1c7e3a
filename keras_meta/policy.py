"""The policy: numpy inference, the on-disk format, and the registry.

A policy is a small multilayer perceptron with two heads on a shared trunk:

* the **action head** gives probabilities over learning-rate multipliers,
  stored as log2 values (for example `[-1, -0.5, 0, 0.5, 1]`, that is
  x1/2, x1/sqrt(2), x1, xsqrt(2), x2);
* the **value head** predicts log(final loss / current loss).

Inference is plain numpy: a callback asks it for a decision every few steps
and must not pay for a Keras model call.

On disk a policy is a directory with two files, both data, never code:

* `card.json`: name, version, kind, description, the feature spec, the
  action set, the trunk's activation and layer sizes, how many decisions a
  run is meant to have, and free-form `training` and `evaluation` summaries;
* `weights.npz`: `feature_mean`, `feature_std`, `trunk_<i>_kernel`,
  `trunk_<i>_bias` for each hidden layer, `action_kernel`, `action_bias`,
  `value_kernel` and `value_bias`, loaded with `allow_pickle=False`.

An ensemble (`Policy.average`) is one policy whose outputs are the mean of
several networks'; its card says how many (`members`) and the arrays of the
k-th further network carry the prefix `member<k>_`.

Policies shipped inside the package live in `keras_meta/policies/<name>/`
and are loaded by name; anything else is loaded by path.
"""

from __future__ import annotations

import json
import os
import pathlib
import zipfile
from typing import Any

import keras
import numpy as np

from keras_meta.features import FEATURE_NAMES
from keras_meta.features import FEATURE_SPEC

FORMAT_VERSION = 1
"""Version of the on-disk format this code reads and writes."""

CARD_FILE = "card.json"
WEIGHTS_FILE = "weights.npz"

DEFAULT_ACTIONS = (-1.0, -0.5, 0.0, 0.5, 1.0)
"""The standard action set, as log2 learning-rate multipliers."""

ACTIVATIONS = {
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0.0),
}

SHIPPED_POLICY_DIR = pathlib.Path(__file__).parent / "policies"

# Names that stand for shipped policies. "default" names the policy MetaLRCallback uses when
# none is given. The table is data, so that shipping a new default changes no code (and no
# benchmark record keyed by the callback's code).
_ALIASES = json.loads((SHIPPED_POLICY_DIR / "aliases.json").read_text())


class PolicyError(ValueError):
    """A policy file is missing, corrupt, or does not match this version."""


@keras.saving.register_keras_serializable("keras_meta")
class Policy:
    """A learning-rate policy network with numpy inference.

    Most users never build one: `load_policy("default")` returns the shipped
    policy and `MetaLRCallback` loads it for you.

    Example:

    ```python
    policy = keras_meta.load_policy("default")
    probabilities, value = policy.evaluate(features)
    new_lr = lr * policy.multipliers[probabilities.argmax()]
    ```

    Args:
        trunk: List of `(kernel, bias)` pairs, the hidden layers. May be empty.
        action_head: Pair `(kernel, bias)` giving one logit per action.
        value_head: Pair `(kernel, bias)` giving a single value.
        actions: Sequence of floats. log2 of each action's LR multiplier.
        feature_mean: Array. Subtracted from the features before the trunk.
        feature_std: Array. Divides the centred features.
        activation: String. The trunk's activation, `"tanh"` or `"relu"`.
        card: Dict. Descriptive metadata (name, version, kind, description,
            decisions_per_run, final_cooldown, act_every, training,
            evaluation). Missing keys get defaults.
        members: Sequence of `Policy`. Further networks, with the same
            actions and activation, whose outputs are averaged with this
            one's (see `Policy.average`). Defaults to none.
    """

    def __init__(
        self,
        trunk,
        action_head,
        value_head,
        actions=DEFAULT_ACTIONS,
        feature_mean=None,
        feature_std=None,
        activation="tanh",
        card=None,
        members=(),
    ):
        n_features = len(FEATURE_NAMES)
        self.trunk = [(_as_matrix(k), _as_vector(b)) for k, b in trunk]
        self.action_head = (_as_matrix(action_head[0]), _as_vector(action_head[1]))
        self.value_head = (_as_matrix(value_head[0]), _as_vector(value_head[1]))
        self.actions = np.asarray(actions, dtype=np.float64)
        self.feature_mean = _as_vector(np.zeros(n_features) if feature_mean is None else feature_mean)
        self.feature_std = _as_vector(np.ones(n_features) if feature_std is None else feature_std)
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"Unknown activation. Expected one of {sorted(ACTIVATIONS)}. Received: activation={activation!r}"
            )
        self.activation = activation
        self.members = tuple(members)
        for member in self.members:
            if member.members or member.activation != activation or not np.array_equal(member.actions, self.actions):
                raise ValueError("Ensemble members must be single networks with the same actions and activation.")
        self.card = _complete_card(card or {}, self)
        _check_shapes(self)

    @classmethod
    def average(cls, policies, card=None) -> Policy:
        """One policy whose outputs are the mean of several policies' outputs.

        Networks meta-trained from different seeds err in different states
        (each where its own data was thin); the mean of their action
        probabilities and values errs less than either.

        Example:

        ```python
        ensemble = Policy.average(["runs/a/policy", "runs/b/policy"], card={"name": "a+b"})
        ensemble.save("my_policy")
        ```

        Args:
            policies: Sequence of `Policy`, names or paths: single networks
                with the same actions and activation.
            card: Dict or `None`. The ensemble's card; `None` takes the
                first policy's.

        Returns:
            The `Policy`.
        """
        first, *rest = [load_policy(policy) for policy in policies]
        return cls(
            first.trunk,
            first.action_head,
            first.value_head,
            first.actions,
            first.feature_mean,
            first.feature_std,
            first.activation,
            card=first.card if card is None else card,
            members=rest,
        )

    @property
    def name(self) -> str:
        return self.card["name"]

    @property
    def multipliers(self) -> np.ndarray:
        """The learning-rate multiplier of each action."""
        return np.power(2.0, self.actions)

    def evaluate(self, features: np.ndarray) -> tuple[np.ndarray, float]:
        """Runs both heads on one feature vector.

        Args:
            features: Array of shape `(len(FEATURE_NAMES),)`.

        Returns:
            `(probabilities, value)`: the action probabilities (summing to 1)
            and the predicted log(final loss / current loss).
        """
        probabilities, values = self.evaluate_batch(np.asarray(features)[None, :])
        return probabilities[0], float(values[0])

    def evaluate_batch(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Runs both heads on a batch of feature vectors.

        Args:
            features: Array of shape `(batch, len(FEATURE_NAMES))`.

        Returns:
            `(probabilities, values)` of shapes `(batch, n_actions)` and
            `(batch,)`.
        """
        hidden = self._trunk_output(features)
        logits = hidden @ self.action_head[0] + self.action_head[1]
        logits = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        values = (hidden @ self.value_head[0] + self.value_head[1])[:, 0]
        probabilities = exp / exp.sum(axis=1, keepdims=True)
        if not self.members:
            return probabilities, values
        outputs = [(probabilities, values)] + [member.evaluate_batch(features) for member in self.members]
        return np.mean([p for p, _ in outputs], axis=0), np.mean([v for _, v in outputs], axis=0)

    def _trunk_output(self, features: np.ndarray) -> np.ndarray:
        hidden = (np.asarray(features, dtype=np.float64) - self.feature_mean) / self.feature_std
        activation = ACTIVATIONS[self.activation]
        for kernel, bias in self.trunk:
            hidden = activation(hidden @ kernel + bias)
        return hidden

    def weight_arrays(self) -> dict[str, np.ndarray]:
        """The arrays of `weights.npz`, by name."""
        arrays = {"feature_mean": self.feature_mean, "feature_std": self.feature_std}
        for i, (kernel, bias) in enumerate(self.trunk):
            arrays[f"trunk_{i}_kernel"] = kernel
            arrays[f"trunk_{i}_bias"] = bias
        arrays["action_kernel"], arrays["action_bias"] = self.action_head
        arrays["value_kernel"], arrays["value_bias"] = self.value_head
        for k, member in enumerate(self.members, start=1):
            arrays.update({f"member{k}_{name}": array for name, array in member.weight_arrays().items()})
        return arrays

    def save(self, directory) -> pathlib.Path:
        """Writes `card.json` and `weights.npz` into `directory`.

        Args:
            directory: Path. Created if missing; existing files are replaced.

        Returns:
            The directory, as a `pathlib.Path`.
        """
        directory = pathlib.Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        card_text = json.dumps(self.card, indent=2, sort_keys=True) + "\n"
        (directory / CARD_FILE).write_text(card_text)
        weights = {name: array.astype(np.float32) for name, array in self.weight_arrays().items()}
        np.savez(directory / WEIGHTS_FILE, **weights)
        return directory

    def get_config(self) -> dict[str, Any]:
        return {
            "card": self.card,
            "weights": {name: array.tolist() for name, array in self.weight_arrays().items()},
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Policy:
        arrays = {name: np.asarray(value, dtype=np.float64) for name, value in config["weights"].items()}
        _check_card(config["card"], source="config")
        return _policy_from_arrays(config["card"], arrays, source="config")

    def __repr__(self) -> str:
        hidden = [kernel.shape[1] for kernel, _ in self.trunk]
        members = f", members={1 + len(self.members)}" if self.members else ""
        return (
            f"<Policy {self.name!r} v{self.card['version']} ({self.card['kind']}), "
            f"hidden={hidden}{members}, actions={self.actions.tolist()}>"
        )


def load_policy(name_or_path="default") -> Policy:
    """Loads a shipped policy by name, or a policy directory by path.

    Example:

    ```python
    policy = keras_meta.load_policy("default")
    policy = keras_meta.load_policy("runs/my_family/policy")
    ```

    Args:
        name_or_path: String, path or `Policy`. A name from
            `available_policies()`, a policy directory (or its `card.json`),
            or a `Policy`, returned as is.

    Returns:
        The `Policy`.

    Raises:
        PolicyError: the name is unknown, or the files are missing, corrupt,
            or were written for another feature spec or format version.
    """
    if isinstance(name_or_path, Policy):
        return name_or_path
    directory = _resolve(name_or_path)
    card = _read_card(directory / CARD_FILE)
    arrays = _read_weights(directory / WEIGHTS_FILE)
    return _policy_from_arrays(card, arrays, source=str(directory))


def available_policies() -> list[str]:
    """Names of the policies shipped in the package, aliases included."""
    shipped = sorted(p.parent.name for p in SHIPPED_POLICY_DIR.glob(f"*/{CARD_FILE}"))
    return sorted(set(shipped) | set(_ALIASES))


def _resolve(name_or_path) -> pathlib.Path:
    name = os.fspath(name_or_path)
    name = _ALIASES.get(name, name)
    shipped = SHIPPED_POLICY_DIR / name
    if os.sep not in name and "/" not in name and (shipped / CARD_FILE).exists():
        return shipped
    path = pathlib.Path(name).expanduser()
    if path.name == CARD_FILE:
        path = path.parent
    if path.is_dir():
        return path
    raise PolicyError(
        f"No policy found at {str(path)!r}: it is neither a shipped policy "
        f"({', '.join(available_policies())}) nor a directory holding "
        f"{CARD_FILE} and {WEIGHTS_FILE}. Check the name or the path."
    )


def _read_card(path: pathlib.Path) -> dict:
    try:
        card = json.loads(path.read_text())
    except FileNotFoundError:
        raise PolicyError(
            f"Policy card {path} is missing. A policy directory holds {CARD_FILE} and {WEIGHTS_FILE}."
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PolicyError(
            f"Policy card {path} is not valid JSON ({error}). The file is corrupt: restore or regenerate it."
        ) from None
    if not isinstance(card, dict):
        raise PolicyError(f"Policy card {path} must hold a JSON object, not {type(card).__name__}.")
    _check_card(card, source=str(path))
    return card


def _check_card(card: dict, source: str) -> None:
    if card.get("format_version") != FORMAT_VERSION:
        raise PolicyError(
            f"Policy {source} has format_version={card.get('format_version')!r}; this "
            f"version of keras-meta reads format_version={FORMAT_VERSION}. "
            "Upgrade keras-meta or re-export the policy."
        )
    if card.get("feature_spec") != FEATURE_SPEC:
        raise PolicyError(
            f"Policy {source} was trained on a different feature spec "
            f"({card.get('feature_spec')!r}) than this version of keras-meta computes "
            f"(version {FEATURE_SPEC['version']}, {len(FEATURE_NAMES)} features). "
            "Use the keras-meta version it was trained with, or retrain it with `keras-meta meta-train`."
        )
    for key in ("actions", "activation"):
        if key not in card:
            raise PolicyError(f"Policy card {source} lacks the required key {key!r}.")
    actions = card["actions"]
    if not isinstance(actions, list) or not actions or not all(_is_number(a) for a in actions):
        raise PolicyError(f"Policy card {source}: `actions` must be a non-empty list of numbers. Received: {actions!r}")
    if not isinstance(card["activation"], str) or card["activation"] not in ACTIVATIONS:
        raise PolicyError(
            f"Policy card {source}: `activation` must be one of {sorted(ACTIVATIONS)}. Received: {card['activation']!r}"
        )
    decisions = card.get("decisions_per_run", 1)
    if not isinstance(decisions, int) or isinstance(decisions, bool) or decisions < 1:
        raise PolicyError(
            f"Policy card {source}: `decisions_per_run` must be a positive integer. Received: {decisions!r}"
        )
    members = card.get("members", 1)
    if not isinstance(members, int) or isinstance(members, bool) or members < 1:
        raise PolicyError(f"Policy card {source}: `members` must be a positive integer. Received: {members!r}")
    act_every = card.get("act_every", 1)
    if not isinstance(act_every, int) or isinstance(act_every, bool) or act_every < 1:
        raise PolicyError(f"Policy card {source}: `act_every` must be a positive integer. Received: {act_every!r}")
    if act_every > 1 and 0 not in actions:
        raise PolicyError(f"Policy card {source}: `act_every` > 1 needs an action that keeps the rate (0).")
    cooldown = card.get("final_cooldown", 0.0)
    if not (_is_number(cooldown) and 0 <= cooldown < 1):
        raise PolicyError(f"Policy card {source}: `final_cooldown` must be a number in [0, 1). Received: {cooldown!r}")


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)


def _read_weights(path: pathlib.Path) -> dict[str, np.ndarray]:
    try:
        with open(path, "rb") as file, np.load(file, allow_pickle=False) as archive:
            return {name: np.asarray(archive[name], dtype=np.float64) for name in archive.files}
    except FileNotFoundError:
        raise PolicyError(
            f"Policy weights {path} are missing. A policy directory holds {CARD_FILE} and {WEIGHTS_FILE}."
        ) from None
    except (OSError, ValueError, TypeError, AttributeError, zipfile.BadZipFile, EOFError) as error:
        raise PolicyError(
            f"Policy weights {path} cannot be read as a numpy .npz archive of plain arrays ({error}). "
            "The file is corrupt or not a keras-meta policy: restore or regenerate it."
        ) from None


def _policy_from_arrays(card: dict, arrays: dict[str, np.ndarray], source: str) -> Policy:
    """Builds and checks a policy; the card must already have passed `_check_card`."""
    members = []
    for k in range(1, card.get("members", 1)):
        prefix = f"member{k}_"
        member_arrays = {name[len(prefix) :]: array for name, array in arrays.items() if name.startswith(prefix)}
        member_card = {"actions": card["actions"], "activation": card["activation"], "name": f"member {k}"}
        members.append(_policy_from_arrays(member_card, member_arrays, f"{source} (member {k})"))
    arrays = {name: array for name, array in arrays.items() if not name.startswith("member")}
    n_layers = sum(1 for name in arrays if name.startswith("trunk_") and name.endswith("_kernel"))
    required = ["feature_mean", "feature_std", "action_kernel", "action_bias", "value_kernel", "value_bias"]
    required += [f"trunk_{i}_{part}" for i in range(n_layers) for part in ("kernel", "bias")]
    missing = [name for name in required if name not in arrays]
    if missing:
        raise PolicyError(f"Policy {source} lacks the weight arrays {missing}.")
    if not all(np.all(np.isfinite(array)) for array in arrays.values()):
        raise PolicyError(f"Policy {source} holds non-finite weights; it is corrupt.")
    try:
        return Policy(
            trunk=[(arrays[f"trunk_{i}_kernel"], arrays[f"trunk_{i}_bias"]) for i in range(n_layers)],
            action_head=(arrays["action_kernel"], arrays["action_bias"]),
            value_head=(arrays["value_kernel"], arrays["value_bias"]),
            actions=card["actions"],
            feature_mean=arrays["feature_mean"],
            feature_std=arrays["feature_std"],
            activation=card["activation"],
            card=card,
            members=members,
        )
    except ValueError as error:
        raise PolicyError(f"Policy {source} is inconsistent: {error}") from None


def _complete_card(card: dict, policy: Policy) -> dict:
    """The card with defaults filled in and the structural keys made true."""
    complete = {
        "name": "unnamed",
        "version": "0",
        "kind": "custom",
        "description": "",
        "decisions_per_run": 40,
        "training": {},
        "evaluation": {},
        **card,
    }
    complete.update(
        format_version=FORMAT_VERSION,
        feature_spec=FEATURE_SPEC,
        actions=policy.actions.tolist(),
        activation=policy.activation,
        hidden_units=[int(kernel.shape[1]) for kernel, _ in policy.trunk],
    )
    complete.pop("members", None)
    if policy.members:
        complete["members"] = 1 + len(policy.members)
    return complete


def _check_shapes(policy: Policy) -> None:
    n_features = len(FEATURE_NAMES)
    if policy.feature_mean.shape != (n_features,) or policy.feature_std.shape != (n_features,):
        raise ValueError(f"feature_mean and feature_std must have shape ({n_features},).")
    if np.any(policy.feature_std <= 0):
        raise ValueError("feature_std must be positive.")
    width = n_features
    for i, (kernel, bias) in enumerate(policy.trunk):
        _check_layer(f"trunk_{i}", kernel, bias, width)
        width = kernel.shape[1]
    _check_layer("action", *policy.action_head, width)
    _check_layer("value", *policy.value_head, width)
    if policy.action_head[0].shape[1] != policy.actions.size:
        raise ValueError(
            f"The action head has {policy.action_head[0].shape[1]} outputs but there are {policy.actions.size} actions."
        )
    if policy.value_head[0].shape[1] != 1:
        raise ValueError("The value head must have one output.")


def _check_layer(name: str, kernel: np.ndarray, bias: np.ndarray, width: int) -> None:
    if kernel.shape[0] != width or bias.shape != (kernel.shape[1],):
        raise ValueError(
            f"Layer {name} has kernel {kernel.shape} and bias {bias.shape}; expected ({width}, n) and (n,)."
        )


def _as_matrix(array) -> np.ndarray:
    array = np.asarray(array, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"Expected a 2-D kernel. Received shape {array.shape}.")
    return array


def _as_vector(array) -> np.ndarray:
    array = np.asarray(array, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"Expected a 1-D array. Received shape {array.shape}.")
    return array
