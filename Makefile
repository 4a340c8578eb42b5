# Passline: `make run` serves the demo, `make test` runs lint and the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := wsgi

.PHONY: run test install lint bench clean

$(VENV)/installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/installed

# umask 077: the file holds the secret keys, so only its owner may read it.
instance/config.py: | $(VENV)/installed
	mkdir -p instance
	umask 077 && $(BIN)/python -m app.instance_config > $@
	@echo "wrote $@ with new random keys: keep it secret and backed up"

run: install instance/config.py
	FLASK_DEVELOPMENT=true $(BIN)/flask db upgrade
	@echo
	@FLASK_DEVELOPMENT=true $(BIN)/flask demo
	@echo "serving on http://127.0.0.1:5000 (Ctrl-C stops)"
	@echo
	FLASK_DEVELOPMENT=true $(BIN)/gunicorn --bind 127.0.0.1:5000 --workers 2 \
		--threads 4 --access-logfile - wsgi:app

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/pytest

bench: install
	$(BIN)/python -m bench.signing
	$(BIN)/python -m bench.push
	$(BIN)/python -m bench.pass_list
	$(BIN)/python -m bench.template_update
	$(BIN)/python -m bench.csv_issue
	$(BIN)/python -m bench.mail_batch

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
