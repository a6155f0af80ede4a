# alpaca-lc developer commands. `make install` then `make test` on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SHARED ?= ../shared/data/alpaca_eval_2

.PHONY: install check test test-fast bench leaderboards calibration subsets protocols clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# AlpacaEval's evaluator files (configs and prompt templates, not its code) for the default, official judge.
install: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps alpaca-eval==0.6.6

check:
	$(BIN)/ruff check alpaca_lc tests benchmarks
	$(BIN)/ruff format --check alpaca_lc tests benchmarks
	$(BIN)/mypy

test:
	$(BIN)/pytest -q

test-fast:
	$(BIN)/pytest -q -m "not slow"

bench:
	$(BIN)/python benchmarks/lc_speed.py
	$(BIN)/python benchmarks/annotate_throughput.py
	$(BIN)/python benchmarks/throttled_judging.py
	$(BIN)/python benchmarks/command_speed.py
	$(BIN)/python benchmarks/generate_throughput.py
	$(BIN)/python benchmarks/compare_alpaca_eval.py
	$(BIN)/python benchmarks/subset_accuracy.py

# The bundled AlpacaEval 2.0 calibration, fitted by our own command from the shared annotations.
calibration:
	$(BIN)/alpaca-lc calibrate $(SHARED)/annotations.parquet --gamed $(SHARED)/gamed_baselines.parquet \
		-o alpaca_lc/data/alpaca_eval_2_calibration.json

# The bundled subsets (`--subset tiny|small`), fitted by our own command on the shared annotations (a test checks
# the command reproduces them).
subsets:
	$(BIN)/alpaca-lc subset fit $(SHARED)/annotations.parquet --size 100 --name tiny -o alpaca_lc/data/subset_tiny.json
	$(BIN)/alpaca-lc subset fit $(SHARED)/annotations.parquet --size 200 --name small -o alpaca_lc/data/subset_small.json

# The committed leaderboard, regenerated from the shared annotations (a test checks it is up to date).
leaderboards:
	$(BIN)/alpaca-lc leaderboard $(SHARED)/annotations.parquet --seed 0 --bootstrap 1000 \
		-o leaderboards/alpaca_eval_2_gpt4_turbo.csv
	$(BIN)/python -c "import pandas as pd; pd.read_csv('$(SHARED)/arena_elo.csv').to_csv('leaderboards/arena_elo.csv', index=False)"

# Protocol hashes of AlpacaEval 0.6.6's evaluators (figures only), read from its installed files.
protocols:
	$(BIN)/python -c "import json; from alpaca_lc.annotation import judge, official; \
		print(json.dumps({'alpaca_eval_version': official.VERSION, \
		'protocols': judge.official_protocols(official.locate())}, indent=2))" > alpaca_lc/data/alpaca_eval_protocols.json

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
