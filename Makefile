# nnlab: `make help` lists the targets. The first `make run` or `make test` builds .venv.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install run test test-all lint bench gpu-check clean reproduce

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-10s %s\n", $$1, $$2}'

# torchattacks (the attack tests compare with it) pins requests~=2.25.1, which MLflow's
# dependencies outgrew; with it in .[dev], pip's resolver backtracks for many minutes. Its other
# needs (numpy, scipy, tqdm, requests) come with .[dev].
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m pip install -q --no-deps 'torchattacks>=3.4'
	touch $@

install: $(VENV)/.installed ## create .venv and install nnlab with its test tools

run: install ## train the default experiment (spiral toy, MLP; a few seconds on CPU); ARGS=... adds overrides
	$(VENV)/bin/nnlab train $(ARGS)

# Two workers, one test file each at a time (--dist loadfile): a module's expensive fixtures (the
# attack tests' trained LeNets, the report's sweep) are then built once, not once per worker.
PYTEST_WORKERS := -n 2 --dist loadfile

test: install ## run the test suite (slow tests excluded)
	$(PY) -m pytest -q -m "not slow" $(PYTEST_WORKERS)

test-all: install ## run every test, slow ones included
	$(PY) -m pytest -q $(PYTEST_WORKERS)

lint: install ## ruff: lint and import order
	$(VENV)/bin/ruff check src tests scripts

bench: install ## benchmarks -> BENCHMARKS.md (minutes; on a quiet machine); ARGS=--quick, --only SECTION...
	$(PY) scripts/bench.py $(ARGS)

gpu-check: install ## on a CUDA machine: every CUDA path (train, pinned batches, determinism, attacks, forked and vectorized sweeps, bench); prints PASS/FAIL per check
	$(PY) scripts/gpu_check.py $(ARGS)

clean: ## remove run outputs, caches and build files (keeps .venv and data/)
	rm -rf outputs multirun build dist .pytest_cache .ruff_cache src/*.egg-info
	find . -name __pycache__ -type d -not -path './.venv/*' -prune -exec rm -rf {} +

# --- seed experiments (issue 6): scripts/reproduce.py runs one, scripts/experiments/ holds them
reproduce: install ## list the seed experiments; `make reproduce-NAME [OUT=DIR] [FULL=1]` runs one
	$(PY) scripts/reproduce.py

reproduce-%: install
	$(PY) scripts/reproduce.py $* $(if $(OUT),--out $(OUT)) $(if $(FULL),--full)
