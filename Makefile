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

# mypy checks what [tool.mypy] in pyproject.toml names, strictly.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

# The translation catalogues: every marked text of Python code and templates (see babel.cfg).
# English is the source language; each other language has one .po a native speaker reviews.
# Add a language in one command: `make messages ADD=hr` creates its .po beside the others.
CATALOGUE := subscribers/translations
FIXED_DATE := "POT-Creation-Date: 2026-12-01 00:00+0000\\n"
LANGUAGES := $(sort en $(ADD) $(patsubst $(CATALOGUE)/%/LC_MESSAGES/messages.po,%,\
	$(wildcard $(CATALOGUE)/*/LC_MESSAGES/messages.po)))
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k lazy_pgettext:1c,2 --sort-output --no-location \
		--project network-newsletter -o $(CATALOGUE)/messages.pot .
	# A fixed creation date and no line numbers: the catalogues (and the compiled .mo files)
	# change only when a text does, so two branches that each add a sentence merge cleanly.
	sed -i 's/^"POT-Creation-Date: .*/$(FIXED_DATE)/' $(CATALOGUE)/messages.pot
	for lang in $(LANGUAGES); do \
		test -f $(CATALOGUE)/$$lang/LC_MESSAGES/messages.po \
			|| $(BIN)/pybabel init -i $(CATALOGUE)/messages.pot -d $(CATALOGUE) -l $$lang || exit 1; \
		$(BIN)/pybabel update --no-fuzzy-matching -i $(CATALOGUE)/messages.pot \
			-d $(CATALOGUE) -l $$lang || exit 1; \
		sed -i 's/^"POT-Creation-Date: .*/$(FIXED_DATE)/' $(CATALOGUE)/$$lang/LC_MESSAGES/messages.po; \
	done
	$(BIN)/pybabel compile --statistics -d $(CATALOGUE)

# The web app under load while a 20,000-member campaign drains: SQLite, and PostgreSQL too when
# BENCH_POSTGRES_URL names a database the bench may empty (its tables are dropped).
bench: $(STAMP)
	$(BIN)/python bench/send.py
	$(BIN)/python bench/serve_while_draining.py
	test -z "$(BENCH_POSTGRES_URL)" || \
		$(BIN)/python bench/serve_while_draining.py --database-url "$(BENCH_POSTGRES_URL)"

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
