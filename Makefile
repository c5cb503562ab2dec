# Two commands for a fresh Debian/Ubuntu machine: `make demo` and `make test`.
# Both install what is missing first (venv, the package, Chromium, Dovecot).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: setup system-deps demo test bench clean

setup: system-deps $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

system-deps:
	@bash scripts/install-system-deps.sh

demo: setup
	$(BIN)/chorus-bot demo

# Two workers, one per core: three overloaded 2 cores (load 30) and made timing-sensitive tests
# fail. Work stealing: xdist's default `load` hands each worker long runs of consecutive tests
# and never takes them back, so one worker could finish its share and idle for eight minutes
# while the other still held the whole fault suite; with `worksteal` an idle worker takes half
# of the other's queue.
PYTEST_ARGS ?= -n 2 --dist worksteal --durations=25
test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The speed issue's figures against their targets; writes docs/BENCHMARKS.md and docs/benchmarks.png.
# BENCH_ARGS="--profile live-like" runs the account-first journey instead.
BENCH_ARGS ?=
bench: setup
	$(BIN)/python bench/targets.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) artifacts .pytest_cache
