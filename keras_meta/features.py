"""Loss history -> a scale-free feature vector, in pure numpy.

The policy network never sees raw losses. It sees the vector that
`extract_features` computes from the recent loss curve, the learning rate and
the training progress. Every feature that depends on the losses is built from
*differences of log-losses*, so multiplying every loss by a positive constant
leaves the vector unchanged, and every feature is clipped, so the vector is
finite for any finite input.

The order and meaning of the features are part of the policy file format:
a policy records `FEATURE_SPEC` and is refused when it differs from this
module's.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

FEATURE_NAMES = (
    "log_loss_vs_start",  # mean log-loss of the window minus that of the first window
    "log_loss_vs_best",  # mean log-loss of the window minus the best window so far
    "slope",  # change of log-loss across the window (linear fit)
    "curvature",  # quadratic coefficient of the fit, scaled to the window
    "noise",  # std of the log-loss around the linear fit
    "increase_fraction",  # soft fraction of steps on which the loss went up
    "spike",  # max minus median of the window's log-loss
    "log10_lr",  # current learning rate, log10
    "log_lr_vs_initial",  # log2(current rate / rate at the start of training)
    "progress",  # fraction of the step budget done, in [0, 1]
    "has_validation",  # 1.0 when validation losses exist, else 0.0
    "val_gap",  # log(last val loss / last epoch's train loss)
    "val_slope",  # log(last val loss / previous val loss)
    "last_log2_multiplier",  # the previous decision, log2 of its multiplier
    "slope_change",  # slope of this window minus slope of the one before
    "optimizer_adam",
    "optimizer_adamw",
    "optimizer_sgd",
    "optimizer_rmsprop",
    "optimizer_other",
)
"""The names of the features, in the order of the vector."""

FEATURE_SPEC = {"version": 1, "names": list(FEATURE_NAMES)}
"""What a policy file must record to be accepted by this version."""

OPTIMIZER_KINDS = ("adam", "adamw", "sgd", "rmsprop")
"""Optimizers the feature vector names; any other is "other"."""

FEATURE_CLIP = 10.0
"""Every feature is clipped into [-FEATURE_CLIP, FEATURE_CLIP]."""

_RELATIVE_FLOOR = 1e-12  # losses below this fraction of the largest are floored
_INCREASE_SCALE = 1e-3  # a log-loss rise of this size counts as a full increase


def extract_features(
    losses: Sequence[float],
    learning_rate: float,
    *,
    initial_learning_rate: float,
    progress: float,
    window: int,
    val_losses: Sequence[float] = (),
    epoch_losses: Sequence[float] = (),
    last_log2_multiplier: float = 0.0,
    optimizer: str = "adam",
) -> np.ndarray:
    """Computes the policy's input vector from a training curve.

    Args:
        losses: Sequence of floats. The training loss of each recorded step,
            oldest first. Losses are assumed to be non-negative; negative
            values are floored like zeros.
        learning_rate: Float. The current learning rate.
        initial_learning_rate: Float. The learning rate when training began.
        progress: Float. Fraction of the step budget done, in [0, 1].
        window: Integer. How many recent steps the curve features look at.
        val_losses: Sequence of floats. Validation loss at the end of each
            epoch so far; empty when there is no validation data.
        epoch_losses: Sequence of floats. Training loss of each finished
            epoch, aligned with `val_losses`.
        last_log2_multiplier: Float. log2 of the previous decision's
            multiplier, 0 for none.
        optimizer: String. The optimizer being steered (its class name, any
            case): one of `OPTIMIZER_KINDS`, anything else is "other".

    Returns:
        A float64 array of shape `(len(FEATURE_NAMES),)`, finite, each entry
        in `[-FEATURE_CLIP, FEATURE_CLIP]`.

    Example:

    >>> import numpy as np
    >>> f = extract_features(
    ...     np.linspace(2.0, 1.0, 40), 1e-3,
    ...     initial_learning_rate=1e-3, progress=0.5, window=20)
    >>> f.shape == (len(FEATURE_NAMES),)
    True
    >>> bool(f[FEATURE_NAMES.index("slope")] < 0)
    True
    """
    if window < 2:
        raise ValueError(f"`window` must be at least 2. Received: window={window}")
    losses = np.asarray(losses, dtype=np.float64)
    if not np.all(np.isfinite(losses)):
        raise ValueError("`losses` must be finite; handle NaN or inf losses before calling.")
    log_losses = _log_relative(losses)
    curve = _curve_features(log_losses, window)
    rates = _rate_features(learning_rate, initial_learning_rate, progress)
    validation = _validation_features(val_losses, epoch_losses)
    features = np.concatenate(
        [
            curve,
            rates,
            validation,
            [float(last_log2_multiplier)],
            [_slope_change(log_losses, window)],
            _optimizer_one_hot(optimizer),
        ]
    )
    features = np.nan_to_num(features, nan=0.0, posinf=FEATURE_CLIP, neginf=-FEATURE_CLIP)
    return np.clip(features, -FEATURE_CLIP, FEATURE_CLIP)


def _log_relative(values: np.ndarray) -> np.ndarray:
    """Log of values divided by their largest magnitude, floored.

    Dividing by the largest magnitude first makes the result independent of
    the losses' scale (up to rounding) and keeps it finite for huge inputs.
    """
    if values.size == 0:
        return values
    largest = float(np.max(np.abs(values)))
    if not np.isfinite(largest) or largest == 0.0:
        largest = 1.0
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        relative = values / largest
    return np.log(np.maximum(np.nan_to_num(relative, nan=1.0), _RELATIVE_FLOOR))


@functools.lru_cache(maxsize=16)
def _orthogonal_basis(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Monic polynomials of degree 1 and 2 in x = linspace(0, 1, n), orthogonal to each other and to 1.

    The least-squares coefficient of y on each is the highest coefficient of the
    linear and the quadratic fit, so the fits need no solver.
    """
    x = np.linspace(0.0, 1.0, n)
    linear = x - x.mean()
    square = x**2 - x.mean() ** 2
    quadratic = square - linear * (square @ linear) / max(linear @ linear, 1e-300)
    quadratic -= quadratic.mean()
    return linear, quadratic


def _projection(y: np.ndarray, basis: np.ndarray) -> float:
    norm = basis @ basis
    return float(y @ basis / norm) if norm > 0 else 0.0


def _window_slope(log_losses: np.ndarray) -> float:
    """Slope of the least-squares line through the log-losses over x in [0, 1]."""
    if log_losses.size < 2:
        return 0.0
    return _projection(log_losses, _orthogonal_basis(log_losses.size)[0])


def _curve_features(log_losses: np.ndarray, window: int) -> np.ndarray:
    """The seven features of the loss curve's shape (see FEATURE_NAMES)."""
    if log_losses.size == 0:
        return np.zeros(7)
    recent = log_losses[-window:]
    vs_start = recent.mean() - log_losses[:window].mean()
    vs_best = max(recent.mean() - _best_window_mean(log_losses, window), 0.0)
    slope = curvature = noise = increase_fraction = 0.0
    if recent.size >= 2:
        linear, quadratic = _orthogonal_basis(recent.size)
        slope = _projection(recent, linear)
        curvature = _projection(recent, quadratic) if recent.size >= 3 else 0.0
        noise = (recent - recent.mean() - slope * linear).std()
        increase_fraction = np.clip(np.diff(recent) / _INCREASE_SCALE, 0.0, 1.0).mean()
    ordered = np.sort(recent)
    spike = ordered[-1] - 0.5 * (ordered[(recent.size - 1) // 2] + ordered[recent.size // 2])
    return np.array([vs_start, vs_best, slope, curvature, noise, increase_fraction, spike])


def _best_window_mean(log_losses: np.ndarray, window: int) -> float:
    """Smallest mean log-loss over any run of `window` consecutive steps."""
    width = min(window, log_losses.size)
    cumulative = np.concatenate([[0.0], np.cumsum(log_losses)])
    return float((cumulative[width:] - cumulative[:-width]).min() / width)


def _slope_change(log_losses: np.ndarray, window: int) -> float:
    """Slope of the latest window minus the slope of the one before it."""
    if log_losses.size < 2 * window:
        return 0.0
    before = log_losses[-2 * window : -window]
    return _window_slope(log_losses[-window:]) - _window_slope(before)


def _rate_features(learning_rate: float, initial: float, progress: float) -> np.ndarray:
    if not (learning_rate > 0 and initial > 0):
        raise ValueError(
            f"Learning rates must be positive. Received: learning_rate={learning_rate}, initial_learning_rate={initial}"
        )
    return np.array(
        [
            np.log10(learning_rate),
            np.log2(learning_rate / initial),
            float(np.clip(progress, 0.0, 1.0)),
        ]
    )


def _validation_features(val_losses: Sequence[float], epoch_losses: Sequence[float]) -> np.ndarray:
    """has_validation, val_gap and val_slope (zeros without validation)."""
    val = np.asarray(val_losses, dtype=np.float64)
    train = np.asarray(epoch_losses, dtype=np.float64)
    if val.size == 0 or train.size == 0:
        return np.zeros(3)
    logs = _log_relative(np.concatenate([val[-2:], train[-1:]]))
    val_logs, train_last = logs[:-1], logs[-1]
    gap = val_logs[-1] - train_last
    slope = val_logs[-1] - val_logs[-2] if val_logs.size == 2 else 0.0
    return np.array([1.0, gap, slope])


def _optimizer_one_hot(optimizer: str) -> np.ndarray:
    kind = optimizer.lower()
    one_hot = np.zeros(len(OPTIMIZER_KINDS) + 1)
    index = OPTIMIZER_KINDS.index(kind) if kind in OPTIMIZER_KINDS else len(OPTIMIZER_KINDS)
    one_hot[index] = 1.0
    return one_hot
