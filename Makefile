# Two entry points (README): `make showcase` and `make test`. Both create .venv and install
# the project into it first, so they work on a fresh clone with only python3 and make.
# The editable install is setuptools' `compat` mode where it exists: a plain path in a .pth
# file, where the default mode imports a finder (pathlib, urllib...) at every interpreter
# start, 12 ms each for the CLI, the master and the agent (bench/profile.py phase 1).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: showcase test test-fast lint bench docs system-tools reliability

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]' --config-settings editable_mode=compat \
	  2>/dev/null || $(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

showcase: $(STAMP)
	$(BIN)/eggscripts start --workers=2 --port=7001 examples/showcase

# The man-page tests render with `man -l`: install man-db/groff where they are missing;
# tests/process/eggscripts/test_packaging.py completes in a login bash through
# bash-completion's loader. tests/process/runtime/master/test_production.py runs the
# cluster under `systemd-socket-activate` (Debian package systemd) and as PID 1 under
# `unshare` (util-linux); those tests skip, saying why, when the tools cannot be installed
# (no root, no apt).
system-tools:
	@command -v man >/dev/null && command -v groff >/dev/null || \
	  (apt-get update -qq && apt-get install -y -qq man-db groff-base >/dev/null)
	@test -f /usr/share/bash-completion/bash_completion || \
	  (apt-get update -qq && apt-get install -y -qq bash-completion >/dev/null)
	@command -v systemd-socket-activate >/dev/null && command -v unshare >/dev/null || \
	  (apt-get update -qq && apt-get install -y -qq --no-install-recommends systemd util-linux \
	   >/dev/null) || echo "systemd/util-linux unavailable: their tests will be skipped"

# noxfile.py: the whole suite in .venv, then the fast layer and a start/stop smoke test on
# each other supported Python (3.10-3.13), in virtualenvs kept under .nox/ between runs.
test: lint system-tools
	$(BIN)/nox

# The fast layer alone: every test not marked `process` (tests/conftest.py marks
# tests/process/ and tests/reliability/), no cluster started.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not process"

# The reliability suite (tests/reliability/, issue 9) with its long load variants; its fast
# cases already run in `make test`. Needs root for the tmpfs cases (skipped otherwise).
reliability: $(STAMP)
	EGGSCRIPTS_RELIABILITY_LONG=1 $(BIN)/python -m pytest -q -s -m reliability tests/reliability
	EGGSCRIPTS_RELIABILITY_LONG=1 $(BIN)/python -m pytest -q -s -m long tests/process/eggscripts/test_reload_cli.py

# Static checks, also the first step of `make test`: lint, formatting, types (mypy reads
# its file list and settings from pyproject.toml; the CLI and the contract are strict).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# First where start time, memory and CPU per request go (bench/profile.py, beside raw uvicorn),
# then side by side with the peers (bench/run.py): wrk drives the load; egg-scripts comes from npm
# (installed by the bench into a temp dir; skipped when npm is missing), gunicorn from pip;
# last, FastAPI through `--app` beside `uvicorn --workers 2` and Flask beside `gunicorn --threads`
# (bench/asgi_compare.py).
bench: $(STAMP)
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk >/dev/null)
	@command -v npm >/dev/null || (apt-get install -y -qq nodejs npm >/dev/null 2>&1) || \
	  echo "npm unavailable: egg-scripts will be skipped"
	@test -x $(BIN)/gunicorn || $(BIN)/python -m pip install -q gunicorn
	$(BIN)/python bench/profile.py
	$(BIN)/python bench/run.py
	$(BIN)/python bench/asgi_compare.py
