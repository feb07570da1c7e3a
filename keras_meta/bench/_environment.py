"""What a measurement ran on: the machine and the package versions."""

from __future__ import annotations

import os
import platform


def versions() -> dict:
    """The versions of keras-meta, Keras, its backend and NumPy."""
    import keras
    import numpy

    import keras_meta

    stamp = {
        "keras_meta": keras_meta.__version__,
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "numpy": numpy.__version__,
    }
    try:
        import tensorflow as tf

        stamp["tensorflow"] = tf.__version__
    except ImportError:
        pass
    return stamp


def machine_description() -> str:
    """The processor, core count and library versions, in one line."""
    stamp = versions()
    libraries = ", ".join(f"{name} {version}" for name, version in stamp.items() if name != "backend")
    return (
        f"{platform.machine()} {platform.processor() or platform.platform()}, {os.cpu_count()} cores; "
        f"python {platform.python_version()}, {libraries} (backend {stamp['backend']})"
    )
