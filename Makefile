# One entry point for everything the README promises. `make run` and `make test` work on a fresh
# machine: each target builds the virtual environment it needs first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Prefer pyenv's 3.13 (the Lambda runtime); fall back to whatever python3 is on PATH (3.11+ works).
PYENV_ROOT ?= $(shell pyenv root 2>/dev/null)
PY313 := $(lastword $(sort $(wildcard $(PYENV_ROOT)/versions/3.13.*/bin/python3)))
PYTHON ?= $(if $(PY313),$(PY313),python3)

VENV := .venv
VPY := $(VENV)/bin/python
TOOLS_VENV := .venv-tools
ARGS ?=

# Every AWS call of a local run or test goes to loopback unless a target points it at moto.
export AWS_DEFAULT_REGION ?= us-east-1
export AWS_ACCESS_KEY_ID ?= testing
export AWS_SECRET_ACCESS_KEY ?= testing
export SAM_CLI_TELEMETRY := 0
export __SAM_CLI_APP_DIR := $(CURDIR)/.sam-cli

.PHONY: help venv tools-venv lint format typecheck test run chaos bench emulator clean invoke

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(VENV)/.stamp: requirements-dev.txt layers/dependencies/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(VENV)/.stamp  ## create or update the dev virtual environment

# SAM CLI, cfn-lint and checkov pin boto3/pydantic/urllib3 versions that clash with the runtime's,
# so they live in their own venv.
$(TOOLS_VENV)/.stamp: requirements-tools.txt
	$(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-tools.txt
	touch $@

tools-venv: $(TOOLS_VENV)/.stamp  ## create or update the SAM CLI / cfn-lint / checkov venv

lint: venv  ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: venv  ## apply ruff formatting and safe fixes
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

typecheck: venv  ## mypy --strict on the deployable code
	$(VENV)/bin/mypy

test: venv tools-venv lint typecheck  ## the whole test suite (what CI runs)
	$(VPY) -m pytest $(ARGS)

run: venv  ## the whole pipeline on loopback: moto SQS + Secrets Manager, the emulator, the real handler
	$(VPY) -m local.run $(ARGS)

chaos: venv  ## the full fault-injection suite with its invariants
	$(VPY) -m local.chaos $(ARGS)

bench: venv  ## the performance figures, written to bench/results/latest.json
	$(VPY) -m bench.run $(ARGS)

emulator: venv  ## the HubSpot emulator alone (ARGS="--port 8090 --token pat-local")
	$(VPY) -m local.hubspot_emulator --host 127.0.0.1 $(ARGS)

clean:  ## remove build output and virtual environments
	rm -rf $(VENV) $(TOOLS_VENV) .aws-sam .sam-cli .pytest_cache .mypy_cache .ruff_cache .hypothesis

EVENT ?= events/sqs-batch.json
invoke: venv  ## one event through the real handler on moto + the emulator, no Docker (EVENT=events/....json)
	$(VPY) -m local.invoke $(EVENT) $(ARGS)
