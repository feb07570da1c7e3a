"""keras-meta: meta-learned learning-rate control and model selection for Keras.

The public API is what `__all__` lists; everything else may change.
"""

from keras_meta.callbacks import Decision
from keras_meta.callbacks import MetaLRCallback
from keras_meta.callbacks import Recovery
from keras_meta.finder import LRSuggestion
from keras_meta.finder import suggest_lr
from keras_meta.policy import Policy
from keras_meta.policy import PolicyError
from keras_meta.policy import available_policies
from keras_meta.policy import load_policy
from keras_meta.selector import MetaModelSelector
from keras_meta.selector import MetaOracle

__version__ = "0.1.0"

__all__ = [
    "Decision",
    "LRSuggestion",
    "MetaLRCallback",
    "MetaModelSelector",
    "MetaOracle",
    "Policy",
    "PolicyError",
    "Recovery",
    "available_policies",
    "load_policy",
    "suggest_lr",
]
