# LiveSec Studio. `make run` starts everything on SQLite with an on-disk task queue;
# `make test` runs the whole suite (PostgreSQL/Redis when DATABASE_URL/CELERY_BROKER_URL are set).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test messages lint check-deploy worker clean-demo

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) scripts/requirements.py > $(VENV)/requirements.txt
	$(PY) -m pip install --quiet -r $(VENV)/requirements.txt
	touch $(STAMP)

run: install
	@mkdir -p var
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(PY) manage.py compilemessages --ignore=.venv >/dev/null 2>&1 || true
	$(PY) scripts/run_dev.py --host $(HOST) --port $(PORT)

test: install
	@mkdir -p var
	$(PY) -m pytest $(PYTEST_ARGS)

messages: install
	$(PY) manage.py makemessages -l zh_Hans --ignore=.venv --ignore=var --no-obsolete
	$(PY) manage.py makemessages -d djangojs -l zh_Hans --ignore=.venv --ignore=var --ignore=static/vendor --no-obsolete
	$(PY) manage.py compilemessages --ignore=.venv

lint: install
	$(VENV)/bin/ruff check .

worker: install
	$(VENV)/bin/celery -A config worker -l info --concurrency 2
