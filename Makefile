# `make run` and `make test` work on a fresh machine: they create .venv and install what they need.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/booking
export TEST_DATABASE_URL

.PHONY: chromium run test lint worker bench simulator install install-dev clean

$(VENV)/.installed: requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PIP) install --quiet -r requirements-dev.txt
	@touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: $(VENV)/.installed
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(PY) manage.py rundemo

# The browser test (sessions_app/tests/test_browser.py) drives Debian's chromium; apt installs it when missing.
chromium:
	bash scripts/ensure_chromium.sh

test: $(VENV)/.installed-dev chromium
	$(VENV)/bin/pytest
	$(VENV)/bin/ruff check .

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

worker: $(VENV)/.installed
	$(VENV)/bin/celery -A booking_project worker --beat --loglevel=info

simulator: $(VENV)/.installed
	$(PY) manage.py daraja_simulator --port 8001

bench: $(VENV)/.installed-dev  # options: make bench BENCH_ARGS="--quick" (see benchmarks/run.py --help)
	$(PY) benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles test-artifacts
