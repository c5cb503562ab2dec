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

# Two workers: most of a test's time is the sandbox's latency, autofill and mail delays, not
# CPU (two workers used 0.75 of the 2 cores on average); three overloaded the 2 cores (load 30)
# and made timing-sensitive tests fail.
PYTEST_ARGS ?= -n 2 --durations=25
test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The speed issue's figures against their targets; writes docs/BENCHMARKS.md and docs/benchmarks.png.
# BENCH_ARGS="--profile live-like" runs the account-first journey instead.
BENCH_ARGS ?=
bench: setup
	$(BIN)/python bench/targets.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) artifacts .pytest_cache
