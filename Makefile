# The README's two commands: `make demo` (the main job) and `make test`.
# Both create the virtual environment .venv on first use.

PYTHON ?= python3
VENV := .venv
BACKEND ?= cpu   # cpu installs tensorflow-cpu, gpu installs tensorflow

.PHONY: demo test lint clean reproduce-default

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
	$(VENV)/bin/python -m pytest -n auto --durations=15   # one worker per core; lists the 15 slowest tests

clean:
	rm -rf $(VENV) demo_output

# The shipped default policy, meta-v21, from its two meta-training configs (about 45 min on 2 cores).
reproduce-default: $(VENV)/installed
	$(VENV)/bin/keras-meta meta-train --config configs/meta-v16.json --output runs/meta-v16
	$(VENV)/bin/keras-meta meta-train --config configs/meta-v16-seed1.json --output runs/meta-v16-seed1
	$(VENV)/bin/keras-meta ensemble runs/meta-v16/policy runs/meta-v16-seed1/policy \
		--name meta-v21 --fit-guard 4 --lr-floor 1 --climb-ramp 0.05 --climb-ramp-steps 50 --output runs/meta-v21
