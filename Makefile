# The README's two commands: `make demo` (the main job) and `make test`.
# Both create the virtual environment .venv on first use.

PYTHON ?= python3
VENV := .venv
BACKEND ?= cpu   # cpu installs tensorflow-cpu, gpu installs tensorflow

.PHONY: demo test lint clean

$(VENV)/installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e ".[$(strip $(BACKEND)),test]"
	touch $@

demo: $(VENV)/installed
	$(VENV)/bin/keras-meta demo

test: $(VENV)/installed
	$(VENV)/bin/ruff check keras_meta tests
	$(VENV)/bin/ruff format --check keras_meta tests
	$(VENV)/bin/python -m pytest

clean:
	rm -rf $(VENV) demo_output
