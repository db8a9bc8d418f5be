# Two commands for a newcomer: `make run` and `make test`. Everything installs into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean install messages

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/newsletter db upgrade
	$(BIN)/newsletter demo
	$(BIN)/newsletter -v serve

# One test process per core (pytest-xdist); each has its own databases and servers.
test: $(STAMP)
	$(BIN)/python -m pytest -n auto

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The translation catalogue: every marked text of Python code and templates (see babel.cfg).
# English is the source language; a translator starts with `pybabel init -l pl` on the .pot.
CATALOGUE := subscribers/translations
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext --sort-by-file \
		--project network-newsletter -o $(CATALOGUE)/messages.pot .
	test -f $(CATALOGUE)/en/LC_MESSAGES/messages.po \
		|| $(BIN)/pybabel init -i $(CATALOGUE)/messages.pot -d $(CATALOGUE) -l en
	$(BIN)/pybabel update -i $(CATALOGUE)/messages.pot -d $(CATALOGUE) -l en
	$(BIN)/pybabel compile -d $(CATALOGUE) -l en

bench: $(STAMP)
	$(BIN)/python bench/send.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
