# The two commands of the README:
#   make run   set everything up and serve the suite on http://127.0.0.1:8000
#              (make run HOST=0.0.0.0:8080 serves elsewhere; the demo prints the URLs there)
#   make test  lint and run the whole test suite
# Only Python 3.11 and make are needed; everything else goes into .venv, but
# for the Chromium the browser tests drive, which `make test` installs with
# apt when it runs as root on Debian/Ubuntu and asks for otherwise.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1:8000

.PHONY: run test lint browser secret-key worker beat clean load

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamps: reinstall only when a requirements file changes.
# The project itself is installed in editable mode (no copy) for its entry
# points, e.g. the Pygments lexer `orchestration-sheet`.
$(VENV)/.installed: requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps --editable .
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps --editable .
	touch $@ $(VENV)/.installed

# With DJANGO_DEBUG off the settings refuse to start without DJANGO_SECRET_KEY: give
# this checkout a key of its own, written once into the git-ignored .env (which the
# settings read), unless the environment or .env already has one.
secret-key:
	@if [ -z "$$DJANGO_SECRET_KEY" ] && ! grep -Eqs '^[[:space:]]*(export[[:space:]]+)?DJANGO_SECRET_KEY=' .env; then \
	  if [ -s .env ] && [ -n "$$(tail -c 1 .env)" ]; then echo >> .env; fi; \
	  echo "DJANGO_SECRET_KEY=$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))')" >> .env; \
	  echo "Wrote a new DJANGO_SECRET_KEY into .env"; \
	fi

run: $(VENV)/.installed secret-key
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python manage.py demo --host $(HOST)
	DJANGO_DEBUG=1 $(BIN)/python manage.py runserver $(HOST)

# mypy twice: the language, the engine and the plans' core at --strict, then the whole
# configured project ([tool.mypy] in pyproject.toml) at the default level with the Django and
# DRF plugins (which load the settings: hence the secret key, as for run and test).
lint: $(VENV)/.installed-dev secret-key
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict orchestration/language orchestration/engine orchestration/plans orchestration/benchmarks/worlds.py
	$(BIN)/mypy

# The browser tests drive the system's Chromium (never `playwright install`):
# installed here when missing and we may (root with apt), else we stop at once.
CHROMIUM_HINT := make test needs Chromium for the browser tests: install it (Debian/Ubuntu: sudo apt-get install chromium) and run make test again
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing Chromium for the browser tests (apt-get install chromium)"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
			|| { echo "$(CHROMIUM_HINT)" >&2; exit 1; }; \
	else \
		echo "$(CHROMIUM_HINT)" >&2; exit 1; \
	fi

# pytest exits 5 when it collects no test: make fails then too.
test: browser lint secret-key
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/pytest

# With CELERY_BROKER_URL set (e.g. redis://127.0.0.1:6379/0): a worker and beat.
worker: $(VENV)/.installed secret-key
	$(BIN)/celery -A orchestration worker --loglevel=INFO

beat: $(VENV)/.installed secret-key
	$(BIN)/celery -A orchestration beat --loglevel=INFO --scheduler django

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache .test-db.sqlite3*

# POST /api/orders/ under load (docs/performance.md, "Orders in"): locust, headless, posts
# LOAD_RATE orders a second for LOAD_SECONDS against gunicorn while two Celery workers
# orchestrate them. Needs PostgreSQL and a broker, as deployed:
#   DATABASE_URL=postgres://... CELERY_BROKER_URL=redis://... make load
LOAD_RATE ?= 100
LOAD_SECONDS ?= 60
load: $(VENV)/.installed-dev secret-key
	@test -n "$$DATABASE_URL" -a -n "$$CELERY_BROKER_URL" || \
		{ echo "make load needs DATABASE_URL (PostgreSQL) and CELERY_BROKER_URL set" >&2; exit 1; }
	$(BIN)/python manage.py migrate --noinput --verbosity 0
	DATABASE_CONN_MAX_AGE=$${DATABASE_CONN_MAX_AGE:-60} $(BIN)/python manage.py bench load \
		--rate $(LOAD_RATE) --seconds $(LOAD_SECONDS) --spawn 2
