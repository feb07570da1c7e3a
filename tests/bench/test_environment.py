"""Cache fingerprints: a change to the code a result depends on re-keys it, and nothing else does."""

import shutil

import pytest

from keras_meta.bench import _environment


@pytest.fixture
def package_copy(tmp_path, monkeypatch):
    """A copy of the package's source files that `source_fingerprint` reads instead."""
    for name in ("callbacks.py", "_guards.py", "_optimizers.py", "_recovery.py", "features.py"):
        shutil.copy(_environment._PACKAGE_DIR / name, tmp_path / name)
    monkeypatch.setattr(_environment, "_PACKAGE_DIR", tmp_path)
    return tmp_path


@pytest.mark.parametrize("split_out", ["_guards.py", "_recovery.py"])
def test_the_callbacks_hash_covers_the_modules_split_out_of_it(package_copy, split_out):
    before = _environment.source_fingerprint("callbacks.py", "features.py")
    features_alone = _environment.source_fingerprint("features.py")
    with (package_copy / split_out).open("a") as module:
        module.write("\n_A_CHANGE_TO_THE_CALLBACKS_CODE = 1\n")
    assert _environment.source_fingerprint("callbacks.py", "features.py") != before
    assert _environment.source_fingerprint("features.py") == features_alone


def test_docstrings_comments_and_layout_do_not_re_key(package_copy):
    before = _environment.source_fingerprint("callbacks.py")
    source = (package_copy / "_guards.py").read_text()
    edited = source.replace('"""', '"""An edited docstring. ', 1)
    edited = edited.replace("\nimport math\n", "\nimport math  # a comment\n\n")  # and a blank line
    assert edited != source
    (package_copy / "_guards.py").write_text(edited)
    assert _environment.source_fingerprint("callbacks.py") == before
    (package_copy / "_guards.py").write_text(edited.replace("RECENT_WINDOW = 3", "RECENT_WINDOW = 4"))
    assert _environment.source_fingerprint("callbacks.py") != before


@pytest.mark.parametrize(
    "documented, plain",
    [
        ('def f(x):\n    """Doubles."""\n    return 2 * x  # twice\n', "def f(x): return 2*x"),
        ('class A:\n    "A class."\n    size = 1\n', "class A:\n    size = 1\n"),
        ('"""A module."""\n\n\nimport math\n', "import math"),
        ("def f():\n    'Only a docstring.'\n", "def f():\n    pass\n"),
        ("# -*- coding: latin-1 -*-\nx = 1\n".encode("latin-1"), "x = 1"),
    ],
)
def test_code_of_drops_documentation_only(documented, plain):
    assert _environment.code_of(documented) == _environment.code_of(plain)


@pytest.mark.parametrize(
    "first, second",
    [
        ("def f():\n    g()\n", "def f():\n    pass\n"),  # a call first in a body is code
        ("def f(x):\n    f'{x}'\n", "def f(x):\n    pass\n"),  # so is an f-string
        ("def f():\n    x = 1\n    'later'\n", "def f():\n    x = 1\n"),  # a string not first is kept
        ("x = 'a'", "x = 'b'"),
    ],
)
def test_code_of_keeps_every_statement_that_is_not_a_docstring(first, second):
    assert _environment.code_of(first) != _environment.code_of(second)


def test_a_file_named_twice_or_with_its_split_out_modules_hashes_once(package_copy):
    alone = _environment.source_fingerprint("callbacks.py")
    assert _environment.source_fingerprint("callbacks.py", "_optimizers.py") == alone
    assert _environment.source_fingerprint("callbacks.py", "callbacks.py") == alone


def test_the_suite_and_the_selection_benchmark_key_the_callbacks_code_alike():
    from keras_meta.bench import selection

    assert _environment.source_fingerprint(*selection.CALLBACK_SOURCES) == _environment.source_fingerprint(
        *_environment.CALLBACK_SOURCES
    )
