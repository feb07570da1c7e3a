import pytest

from keras_meta.bench import methods


def test_standard_methods_have_unique_names_that_rebuild():
    standard = methods.standard_methods()
    names = [m.name for m in standard]
    assert len(names) == len(set(names)) == 14 + 4 + 5 + 1
    for name in names:
        assert methods.make_method(name).name == name
    assert set(methods.baseline_names()) <= set(names)


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="Unknown benchmark method"):
        methods.make_method("adagrad")


def test_policy_methods_carry_the_policy_in_their_fingerprint():
    assert methods.meta(1e-3).fingerprint["policy"] == "meta-v21"
    assert methods.make_method("meta@1e-05").name == "meta@1e-05"


def test_policy_contents_change_the_fingerprint(tmp_path):
    from conftest import fixed_policy

    first = fixed_policy(1.0, "same-name").save(tmp_path / "first")
    second = fixed_policy(-1.0, "same-name").save(tmp_path / "second")
    assert methods.meta(1e-3, first).fingerprint["policy_hash"] != methods.meta(1e-3, second).fingerprint["policy_hash"]
    assert methods.meta(1e-3, first).fingerprint == methods.meta(1e-3, str(first)).fingerprint
