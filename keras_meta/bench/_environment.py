"""What a measurement ran on: the machine and the package versions."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import pathlib
import platform

_PACKAGE_DIR = pathlib.Path(__file__).resolve().parents[1]
# Modules that a file's hash covers too: code split out of it, which the cache keys (fixed lists
# of files) do not name; a new name in a list would re-key every cached fit.
_HASHED_WITH = {"callbacks.py": ("_guards.py", "_optimizers.py", "_recovery.py")}
# The code a `MetaLRCallback` fit runs beyond the benchmark's own, for the cache keys of keras-meta's
# methods. `bench/selection.py` keeps an identical copy (tests/bench/test_environment.py checks that
# the two hash alike): a change to its code re-keys every search of `keras-meta bench select`,
# keras-tuner's included. Merge the two at its next change.
CALLBACK_SOURCES = ("callbacks.py", "features.py", "policy.py")
_DOCUMENTED = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)  # nodes that take a docstring


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


def source_fingerprint(*relative_paths: str) -> str:
    """A hash of the code of some of keras-meta's source files (paths relative to the package).

    Benchmark records carry it, so that a change to the code a result depends
    on invalidates the cached result, and an edit of its documentation does
    not: the hash covers each file's syntax tree without its docstrings
    (`code_of`), so docstrings, comments and layout may change freely. A file
    hashes the modules split out of it with it (`callbacks.py`: the
    callback's guards, recovery and optimizer helpers).

    Args:
        *relative_paths: Strings, paths of source files relative to the package.

    Returns:
        A string of 16 hexadecimal digits.
    """
    paths = set(relative_paths)
    for relative in relative_paths:
        paths.update(_HASHED_WITH.get(relative, ()))
    digest = hashlib.sha1()
    for relative in sorted(paths):
        digest.update(relative.encode())
        digest.update(code_of((_PACKAGE_DIR / relative).read_bytes()).encode())
    return digest.hexdigest()[:16]


def code_of(source: str | bytes) -> str:
    """Python source as its syntax tree, printed without docstrings, comments or layout.

    The printed tree's format belongs to the Python version: a new Python may
    re-key cached results, which errs on the safe side.

    Args:
        source: String or bytes, a Python module's text (bytes are decoded
            as Python decodes a source file: UTF-8 or its coding line).

    Returns:
        A string, equal for two sources that differ only in documentation.

    Example:

    >>> code_of("def f(x):\\n    'Doubles.'\\n    return 2 * x  # twice") == code_of("def f(x): return 2*x")
    True
    """
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, _DOCUMENTED) and node.body and _is_docstring(node.body[0]):
            node.body = node.body[1:] or [ast.Pass()]
    return ast.dump(tree)


def _is_docstring(statement) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


def file_fingerprint(path) -> str:
    """A hash of one file's contents."""
    return hashlib.sha1(pathlib.Path(path).read_bytes()).hexdigest()[:16]


def policy_fingerprint(policy) -> dict:
    """Name, version and a hash of the card and every weight of a policy."""
    from keras_meta.policy import load_policy

    loaded = load_policy(policy)
    digest = hashlib.sha1(json.dumps(loaded.card, sort_keys=True).encode())
    for name, array in sorted(loaded.weight_arrays().items()):
        digest.update(name.encode())
        digest.update(array.astype("float32").tobytes())
    return {"policy": loaded.name, "policy_version": loaded.card["version"], "policy_hash": digest.hexdigest()[:16]}


def use_one_thread() -> None:
    """Runs TensorFlow (if it is the backend) on one thread: steadier timings, parallel workers."""
    try:
        import tensorflow as tf
    except ImportError:
        return
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
