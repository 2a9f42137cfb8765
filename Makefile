# Two entry points for a fresh clone: `make demo` and `make test`. Both create .venv and install into it.
VENV ?= .venv
PY := $(VENV)/bin/python
# torch==2.13.0 resolves to the CPU build where that file is provided locally, to PyPI's default build elsewhere.
TORCH ?= torch==2.13.0

.PHONY: setup setup-dev demo test lint docs clean

setup: $(VENV)/.installed
setup-dev: $(VENV)/.installed-dev

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e .
	touch $@

# The tests also need the dev extra: pytest, ruff, hypothesis, selenium and the ONNX export stack.
$(VENV)/.installed-dev: $(VENV)/.installed
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

demo: setup
	$(VENV)/bin/munit train --config configs/demo.yaml --output runs/demo --resume
	$(VENV)/bin/munit sample --checkpoint runs/demo --output runs/demo/samples
	@echo "Sample grids: runs/demo/samples/ and runs/demo/images/index.html"

test: setup-dev
	$(PY) -m pytest -q

lint: setup-dev
	$(VENV)/bin/ruff check .

# Regenerate the references that tests keep in step with the code.
docs: setup
	$(PY) -m munit.config_doc > docs/config.md
	$(PY) -m munit.cli_doc > docs/cli.md

clean:
	rm -rf $(VENV) runs
