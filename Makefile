# Two commands set everything up on a fresh machine (Python >= 3.11 with venv):
#   make run    the server, embedded default (SQLite + ./mlartifacts) on 127.0.0.1:5555
#   make test   the test suite, against real server processes
PYTHON ?= python3
SERVER_VENV := .venv
TEST_VENV := .venv-test
CLIENT2_VENV := .venv-client2
OFFICIAL_VENV := .venv-official
PYTEST_ARGS ?=
TEST_WORKERS ?= 2

.PHONY: run test bench clean

$(SERVER_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(SERVER_VENV)
	$(SERVER_VENV)/bin/pip install --quiet --upgrade "pip>=25.1"
	$(SERVER_VENV)/bin/pip install --quiet -e .
	touch $@

$(TEST_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(TEST_VENV)
	$(TEST_VENV)/bin/pip install --quiet --upgrade "pip>=25.1"
	$(TEST_VENV)/bin/pip install --quiet --group test
	touch $@

$(CLIENT2_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(CLIENT2_VENV)
	$(CLIENT2_VENV)/bin/pip install --quiet --upgrade "pip>=25.1"
	$(CLIENT2_VENV)/bin/pip install --quiet --group client2
	touch $@

# the official server: the import and export tests build and read official databases with it
$(OFFICIAL_VENV)/.installed: pyproject.toml
	bash bench/official_server.sh --setup

run: $(SERVER_VENV)/.installed
	./run.sh

test: $(SERVER_VENV)/.installed $(TEST_VENV)/.installed $(CLIENT2_VENV)/.installed $(OFFICIAL_VENV)/.installed
	$(TEST_VENV)/bin/pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

bench: $(SERVER_VENV)/.installed $(TEST_VENV)/.installed
	$(TEST_VENV)/bin/python bench/bench.py --start-ours --start-official

clean:
	rm -rf $(SERVER_VENV) $(TEST_VENV) $(CLIENT2_VENV) $(OFFICIAL_VENV)
