# `make run` and `make test` work on a fresh machine: they create .venv and install what they need.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/booking
export TEST_DATABASE_URL
PORT ?= 8000
SIM_PORT ?= 8001
SWEEP_WORKERS ?= 2
READERS := test-artifacts/clock-readers.txt
SWEEP := $(VENV)/bin/pytest -q --clock-sweep --clock-readers-in=$(READERS) -n $(SWEEP_WORKERS)

.PHONY: deploy-check chromium nginx services venv run test clock-sweep lint worker beat bench simulator install install-dev clean backup restore

# A .venv without a working pip (half-made, say python3-venv was missing) is rebuilt, not reused;
# a rebuilt one has a new pyvenv.cfg, so what was installed into the old one is installed again.
venv:
	@bash scripts/ensure_venv.sh $(PYTHON) $(VENV)

$(VENV)/pyvenv.cfg: venv
	@:

$(VENV)/.installed: requirements.txt $(VENV)/pyvenv.cfg
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PIP) install --quiet -r requirements-dev.txt
	@touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# `make run PORT=8100 SIM_PORT=8101` serves elsewhere; a port already taken is refused, never reused.
# DEBUG is off unless set: the demo (SQLite, memory cache, eager tasks, console email) runs with it on.
run: export DJANGO_DEBUG ?= 1
run: $(VENV)/.installed
	$(PY) manage.py rundemo --check-ports --port $(PORT) --sim-port $(SIM_PORT)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(PY) manage.py rundemo --port $(PORT) --sim-port $(SIM_PORT)

# The browser test (sessions_app/tests/test_browser.py) drives Debian's chromium; apt installs it when missing.
chromium:
	bash scripts/ensure_chromium.sh

nginx:
	bash scripts/ensure_nginx.sh

# PostgreSQL (installed, started, test role let in over 127.0.0.1), redis-server and wrk, from Debian's packages.
services:
	bash scripts/ensure_services.sh

# The suite with the clock pinned to Wednesday 13:30 Nairobi, noting which tests read it (on both
# cores); the slow tests (real workers, a browser) on two workers, the exclusive bursts alone; then the clock readers at the other
# seven instants (see conftest.py); then ruff. The system packages come first, so a machine that
# cannot get them fails in seconds rather than after pip's downloads.
test: services chromium $(VENV)/.installed-dev
	$(VENV)/bin/pytest -m "not slow and not exclusive" -n $(SWEEP_WORKERS) --clock-readers-out=$(READERS)
	$(VENV)/bin/pytest -m "slow and not exclusive" -n $(SWEEP_WORKERS)
	$(VENV)/bin/pytest -m "exclusive"
	$(SWEEP)
	$(VENV)/bin/ruff check .

# axe-core, which the real-browser tests inject into chromium (sessions_app/tests/a11y/axe.py): from npm,
# pinned by package-lock.json. A second `test:` line adds it to the test target's prerequisites.
node_modules/.package-lock.json: package.json package-lock.json
	@bash scripts/ensure_npm.sh
	npm ci --no-audit --no-fund
test: node_modules/.package-lock.json
# The deployment kit's test (booking_project/tests/test_deploy_kit.py, slow) runs Debian's nginx.
test: nginx

# Every test that reads the clock at 00:30, 06:00, 12:59 and 23:59 Nairobi on a weekday, a Sunday
# 10:00, a month's last day 23:30 and 31 December 23:59 (`make test` adds Wednesday 13:30). Without
# a readers list from an earlier `make test`, every non-slow test.
clock-sweep: services $(VENV)/.installed-dev
	$(SWEEP)

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

worker: $(VENV)/.installed
	$(VENV)/bin/celery -A booking_project worker --loglevel=info

# Exactly one beat per deployment (a second one sends nothing: booking_project/beat.py), apart from the workers.
beat: $(VENV)/.installed
	$(VENV)/bin/celery -A booking_project beat --loglevel=info

# The deployment kit (deploy/) on loopback from its own files: nginx (TLS, self-signed) in front of two
# gunicorn processes, a payments and a default Celery worker, one beat, the Daraja simulator; the booking
# and payment flow through nginx. apt installs nginx when missing. About a minute.
deploy-check: services nginx $(VENV)/.installed-dev
	$(VENV)/bin/pytest -q -p no:cacheprovider -s booking_project/tests/test_deploy_kit.py

simulator: $(VENV)/.installed
	$(PY) manage.py daraja_simulator --port $(SIM_PORT)

bench: $(VENV)/.installed-dev  # options: make bench BENCH_ARGS="--quick" (see benchmarks/run.py --help)
	$(PY) benchmarks/run.py $(BENCH_ARGS)

# `make backup [BACKUP=file]`: pg_dump (custom format) of DATABASE_URL into backups/ (or BACKUP).
backup:
	@bash scripts/backup.sh $(BACKUP)

# `make restore BACKUP=file RESTORE_DB=name`: into a new database on DATABASE_URL's server, never over one.
restore:
	@bash scripts/restore.sh "$(BACKUP)" "$(RESTORE_DB)"

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles test-artifacts
