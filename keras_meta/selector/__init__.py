"""Model selection with learning curves: `MetaModelSelector` and its `MetaOracle`."""

from keras_meta.selector.oracle import MetaOracle
from keras_meta.selector.pruning import hyperband_budget
from keras_meta.selector.tuner import MetaModelSelector

__all__ = ["MetaModelSelector", "MetaOracle", "hyperband_budget"]
