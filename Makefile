# Two newcomer commands: `make demo` and `make test`. Both create .venv on first use.
PY ?= python3
PORT ?= 8080
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install demo serve train evaluate test bench lint clean

$(BIN)/activate: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first and pinned: 2.13.0 is the CPU build on this machine's disk.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $(BIN)/activate

install: $(BIN)/activate

demo: install
	$(BIN)/python main.py --mode demo --port $(PORT)

serve: install
	$(BIN)/python main.py --mode serve --port $(PORT)

train: install
	$(BIN)/python main.py --mode train

evaluate: install
	$(BIN)/python main.py --mode evaluate --report-dir docs/evaluation

test: install
	# 2 workers, each taking whole test files (module fixtures stay in one process): the live
	# servers' start-up and waits overlap; 540 s against 666 s serial on this 2-core box
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

bench: install
	$(BIN)/python -m bench --devices 1000 --rate 1 --seconds 20

lint: install
	$(BIN)/ruff check app bench tests main.py
	$(BIN)/ruff format --check app bench tests main.py
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache
