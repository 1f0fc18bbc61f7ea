# The two commands a new user needs: `make demo` and `make test`. Both install what they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv demo demo-update test test-unit test-e2e lint bench clean docker

$(STAMP): pyproject.toml sample-pipelines/wine/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]' -r sample-pipelines/wine/requirements.txt
	touch $(STAMP)

venv: $(STAMP)

docker:
	bash scripts/ensure-docker.sh

demo: venv docker
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash sample-pipelines/wine/demo.sh

demo-update: venv docker
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash sample-pipelines/wine/demo.sh --update

test: venv docker
	bash scripts/run-tests.sh

test-unit: venv
	$(PY) -m pytest tests/unit -q

test-e2e: venv docker
	$(PY) -m pytest tests/e2e -q

lint: venv
	$(VENV)/bin/ruff check .

bench: venv docker
	$(PY) -m bench

clean:
	rm -rf $(VENV) build *.egg-info
