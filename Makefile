# witnessbox: two commands do everything on a fresh machine.
#   make demo   the main job on the embedded default (local store, SQLite), with bundled samples
#   make test   lint and the whole test suite
# Both install what they need (Debian packages, the .venv) and are fast when it is there.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: test demo lint bench system venv clean-venv replay-assets airflow

system:
	@scripts/ensure-system.sh

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade "pip>=24"
	$(BIN)/python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[test]'
	@touch $(STAMP)

# pywb (replay checks in tests) pins redis-py 2.10, which Celery cannot use: its own venv.
PYWB := $(VENV)/pywb/.installed
$(PYWB): $(STAMP)
	@test -x $(VENV)/pywb/bin/python || $(PYTHON) -m venv $(VENV)/pywb
	$(VENV)/pywb/bin/python -m pip install -q --disable-pip-version-check -c constraints-pywb.txt "pywb>=2.8,<3"
	@touch $(PYWB)

venv: $(STAMP) $(PYWB) replay-assets

# ReplayWeb.page (npm package replaywebpage, pinned) for `witnessbox replay` and the UI
replay-assets:
	@scripts/fetch-replayweb.sh

lint: venv
	$(BIN)/ruff check .

test: system venv lint
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

demo: system venv
	$(BIN)/python -m demo

# One after another (never two at once: they compare timings); each prints its ratio last.
BENCHES := ingest phash keyframes similar link audit telegram video web search catalogue ledger commit

bench: system venv
	@set -e; for b in $(BENCHES); do echo "== bench/$$b.py"; $(BIN)/python bench/$$b.py; done

clean-venv:
	rm -rf $(VENV)

# Airflow on 127.0.0.1:$(AIRFLOW_PORT) with the witnessbox DAGs and pages; Ctrl-C stops it.
AIRFLOW_PORT ?= 8080
airflow: system venv
	AIRFLOW_PORT=$(AIRFLOW_PORT) $(BIN)/python -m witnessbox_airflow.launch
