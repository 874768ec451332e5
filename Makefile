# Setup is part of every target: a fresh clone needs only `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup app test test-all bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,eval,app,train,video]'
	touch $@

app: setup  ## the pygame app on the shipped model
	$(BIN)/physics-llm app --model gpt:assets/checkpoints/gpt-contact

test: setup  ## the default (fast) test suite
	$(BIN)/python -m pytest -q

test-all: setup  ## every test, slow ones included
	$(BIN)/python -m pytest -q -m "slow or not slow"

bench: setup  ## speed/size targets, printed as ratios
	$(BIN)/python benchmarks/bench_sim.py
	$(BIN)/python benchmarks/bench_storage.py
	$(BIN)/python benchmarks/bench_generate.py
	$(BIN)/python benchmarks/bench_eval.py

clean:
	rm -rf $(VENV) .pytest_cache *.egg-info
