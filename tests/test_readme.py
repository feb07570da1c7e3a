"""The README's usage example runs as written."""

import pathlib
import re

import pytest

README = pathlib.Path(__file__).parents[1] / "README.md"


def test_readme_usage_example_runs(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README has no python example"
    exec(compile(blocks[0], str(README), "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 3
    assert printed[1].startswith("Decision(step=")


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer:UserWarning")
def test_readme_selector_example_runs(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 2, "the README has no MetaModelSelector example"
    exec(compile(blocks[1], str(README), "exec"), {})
    assert "Epochs spent: 12 of a budget of 12" in capsys.readouterr().out
