# Two commands for a new user:
#   make demo   sets everything up and runs the offline end-to-end demo
#   make test   sets everything up and runs the linters and the test suite
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DIR ?= demo-study

.PHONY: setup demo test lint bench doctor clean

setup: $(VENV)/.setup-done

$(VENV)/.setup-done: pyproject.toml scripts/setup.sh
	bash scripts/setup.sh $(VENV)
	touch $@

demo: setup
	$(BIN)/valuesurvey demo --out $(DEMO_DIR)

lint: setup
	$(BIN)/ruff check valuesurvey tests benchmarks

test: setup lint
	$(BIN)/pytest -q -n 2 --dist loadfile --no-loadscope-reorder

bench: setup
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

doctor: setup
	$(BIN)/valuesurvey doctor

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
