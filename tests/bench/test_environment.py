"""Cache fingerprints: a change to the code a result depends on re-keys it, and nothing else does."""

import shutil

import pytest

from keras_meta.bench import _environment


@pytest.fixture
def package_copy(tmp_path, monkeypatch):
    """A copy of the package's source files that `source_fingerprint` reads instead."""
    for name in ("callbacks.py", "_guards.py", "_optimizers.py", "features.py"):
        shutil.copy(_environment._PACKAGE_DIR / name, tmp_path / name)
    monkeypatch.setattr(_environment, "_PACKAGE_DIR", tmp_path)
    return tmp_path


def test_the_callbacks_hash_covers_the_guards_split_out_of_it(package_copy):
    before = _environment.source_fingerprint("callbacks.py", "features.py")
    features_alone = _environment.source_fingerprint("features.py")
    with (package_copy / "_guards.py").open("a") as guards:
        guards.write("\n# a change to a guard\n")
    assert _environment.source_fingerprint("callbacks.py", "features.py") != before
    assert _environment.source_fingerprint("features.py") == features_alone


def test_a_file_named_twice_or_with_its_split_out_modules_hashes_once(package_copy):
    alone = _environment.source_fingerprint("callbacks.py")
    assert _environment.source_fingerprint("callbacks.py", "_optimizers.py") == alone
    assert _environment.source_fingerprint("callbacks.py", "callbacks.py") == alone
