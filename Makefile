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

# Installer: uv (much faster than pip on a first set-up) from PATH, else from PyPI into .uv/; pip when
# neither works. Every environment installs a compiled requirements file: all transitive pins.
UV_PIN := uv==0.13.9
UV_VENV := .uv
FIND_UV := UV=$$(command -v uv || { test -x $(UV_VENV)/bin/uv && echo $(UV_VENV)/bin/uv; })
LOCK_FLAGS := --quiet --universal --python-version 3.11

# Local runs and tests get dummy credentials and a region (moto accepts any). Only those targets: the
# deploying ones and `make dlq --stack` use the user's own AWS configuration, untouched.
LOCAL_AWS_TARGETS := test run chaos bench emulator invoke validate-sam validate-cfn-lint validate-checkov
$(LOCAL_AWS_TARGETS): export AWS_DEFAULT_REGION ?= us-east-1
$(LOCAL_AWS_TARGETS): export AWS_ACCESS_KEY_ID ?= testing
$(LOCAL_AWS_TARGETS): export AWS_SECRET_ACCESS_KEY ?= testing
# `make dlq` against a local moto stack (AWS_ENDPOINT_URL set): the same dummy defaults.
ifdef AWS_ENDPOINT_URL
dlq: export AWS_DEFAULT_REGION ?= us-east-1
dlq: export AWS_ACCESS_KEY_ID ?= testing
dlq: export AWS_SECRET_ACCESS_KEY ?= testing
endif
export SAM_CLI_TELEMETRY := 0
export __SAM_CLI_APP_DIR ?= $(CURDIR)/.sam-cli

# SAM CLI and friends from the tools venv; `sam build` finds python3.13 on PATH (BuildMethod python3.13).
SAM := $(TOOLS_VENV)/bin/sam
SAM_PATH := PATH="$(if $(PY313),$(dir $(PY313)):)$(CURDIR)/$(TOOLS_VENV)/bin:$$PATH"
OFFLINE := AWS_ENDPOINT_URL=http://127.0.0.1:9
BUILD_DIR ?= .aws-sam/build
CACHE_DIR ?= .aws-sam/cache
CHECKOV_ARGS ?= --compact --quiet

.PHONY: help venv run-venv tools-venv lock lint format typecheck test run chaos bench dlq emulator \
	build validate validate-sam validate-cfn-lint validate-checkov deploy clean invoke

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-17s %s\n", $$1, $$2}'

# install(venv dir, requirements file): create the venv if needed, then install with uv or pip.
define install
	@$(FIND_UV); if [ ! -x $(1)/bin/python ]; then \
	  if [ -n "$$UV" ]; then "$$UV" venv --quiet --python "$(PYTHON)" $(1); else "$(PYTHON)" -m venv $(1); fi; \
	fi; \
	if [ -n "$$UV" ]; then \
	  echo "installing $(2) into $(1) (uv)"; \
	  "$$UV" pip install --quiet --python $(1)/bin/python -r $(2); \
	else \
	  echo "installing $(2) into $(1) (pip: uv unavailable)"; \
	  $(1)/bin/python -m ensurepip --upgrade >/dev/null 2>&1 || true; \
	  $(1)/bin/python -m pip install --quiet --disable-pip-version-check -r $(2); \
	fi
endef

# uv itself, from PyPI, in its own small venv; a failure here only means pip is used instead.
$(UV_VENV)/.stamp:
	@command -v uv >/dev/null 2>&1 || { "$(PYTHON)" -m venv $(UV_VENV) && \
	  $(UV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check $(UV_PIN); } || \
	  echo "uv could not be installed: pip installs instead"
	@touch $@

# `make run` needs only the runtime pins plus moto; `make test`/`make bench` add the dev tools.
$(VENV)/.stamp-run: requirements-run.txt layers/dependencies/requirements.txt | $(UV_VENV)/.stamp
	$(call install,$(VENV),requirements-run.txt)
	@touch $@

$(VENV)/.stamp: $(VENV)/.stamp-run requirements-dev.txt
	$(call install,$(VENV),requirements-dev.txt)
	@touch $@

run-venv: $(VENV)/.stamp-run  ## create or update the venv `make run` needs (runtime pins + moto)

venv: $(VENV)/.stamp  ## create or update the dev virtual environment (run-venv + test tools)

# SAM CLI, cfn-lint and checkov pin boto3/pydantic/urllib3 versions that clash with the runtime's,
# so they live in their own venv.
$(TOOLS_VENV)/.stamp: requirements-tools.txt | $(UV_VENV)/.stamp
	$(call install,$(TOOLS_VENV),requirements-tools.txt)
	@touch $@

tools-venv: $(TOOLS_VENV)/.stamp  ## create or update the SAM CLI / cfn-lint / checkov venv

lock: $(UV_VENV)/.stamp  ## recompile requirements-*.txt from requirements-*.in (uv pip compile)
	@$(FIND_UV); test -n "$$UV" || { echo "make lock needs uv"; exit 1; }; \
	for env in run dev tools; do \
	  UV_CUSTOM_COMPILE_COMMAND="make lock" "$$UV" pip compile $(LOCK_FLAGS) requirements-$$env.in -o requirements-$$env.txt || exit 1; \
	done

lint: venv  ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: venv  ## apply ruff formatting and safe fixes
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

typecheck: venv  ## mypy --strict on functions, local and bench
	$(VENV)/bin/mypy

# Two pytest workers, one per core (the suite took 6 min in one process, 4 min in two; three were
# slower). A test file stays on one worker, so its module and session fixtures are built once.
TEST_WORKERS ?= 2

test: venv tools-venv lint typecheck  ## the whole test suite (what CI runs)
	$(VPY) -m pytest -n $(TEST_WORKERS) --dist loadfile $(ARGS)

run: run-venv  ## the whole pipeline on loopback: moto SQS + Secrets Manager, the emulator, the real handler
	$(VPY) -m local.run $(ARGS)

chaos: run-venv  ## the full fault-injection suite with its invariants
	$(VPY) -m local.chaos $(ARGS)

bench: venv  ## the performance figures, written to bench/results/latest.json
	$(VPY) -m bench.run $(ARGS)

dlq: run-venv  ## the dead-letter queue: ARGS="--stack NAME list|show ID|export|replay [--yes]"
	$(VPY) -m local.ops.dlq $(ARGS)

emulator: run-venv  ## the HubSpot emulator alone (ARGS="--port 8090 --token pat-local")
	$(VPY) -m local.hubspot_emulator --host 127.0.0.1 $(ARGS)

# --- Deploying (README "Deploying") ------------------------------------------------------------------
build: tools-venv  ## sam build for python3.13/arm64 without Docker (cached: unchanged layer not rebuilt)
	@test -n "$(PY313)" || { echo "make build needs Python 3.13 (pyenv install 3.13), or run: $(SAM) build --use-container"; exit 1; }
	@echo "sam build: the function has no requirements.txt on purpose (its dependencies are the layer's), so SAM says it continues without one"
	$(SAM_PATH) $(SAM) build --build-dir $(BUILD_DIR) --cache-dir $(CACHE_DIR)

validate: validate-sam validate-cfn-lint validate-checkov  ## sam validate --lint, cfn-lint + serverless rules, checkov (offline)

validate-sam: tools-venv
	$(OFFLINE) $(SAM) validate --lint --template-file template.yaml

validate-cfn-lint: tools-venv
	$(OFFLINE) $(TOOLS_VENV)/bin/cfn-lint --format parseable --append-rules cfn_lint_serverless.rules -- template.yaml

validate-checkov: tools-venv
	$(OFFLINE) $(TOOLS_VENV)/bin/checkov --skip-download --framework cloudformation $(CHECKOV_ARGS) --file template.yaml

# The first deploy asks every question (`sam deploy --guided`) and saves the answers to samconfig.toml;
# later ones reuse them (local/ops/deploy_mode.py decides). ARGS go to sam deploy.
deploy: build  ## sam deploy: guided the first time (no saved answers or no stack yet), then with the saved ones
	@if [ "$$($(TOOLS_VENV)/bin/python -m local.ops.deploy_mode)" = guided ]; then \
	  echo "$(SAM) deploy --guided (first deploy: answers are saved to samconfig.toml)"; \
	  $(SAM) deploy --guided --template-file $(BUILD_DIR)/template.yaml $(ARGS); \
	else \
	  echo "$(SAM) deploy (answers from samconfig.toml)"; \
	  $(SAM) deploy --template-file $(BUILD_DIR)/template.yaml $(ARGS); \
	fi

clean:  ## remove build output and virtual environments
	rm -rf $(VENV) $(TOOLS_VENV) $(UV_VENV) .aws-sam .sam-cli .pytest_cache .mypy_cache .ruff_cache .hypothesis

EVENT ?= events/sqs-batch.json
invoke: run-venv  ## one event through the real handler on moto + the emulator, no Docker (EVENT=events/....json)
	$(VPY) -m local.invoke $(EVENT) $(ARGS)
