# Every target sets up .venv itself, so each works on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# llama-cpp-python builds from source; for this CPU (GGML_NATIVE, its default) it crashed on its first
# answer on a Xeon with AMX and AVX-512, so it is built for any x86-64 (README, Troubleshooting).
# No slower there: a 588-token prompt and 60 tokens out took 1.44 s built so, 1.45 s with AVX-512 on.

.PHONY: run test lint dev setup clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	CMAKE_ARGS="$${CMAKE_ARGS:--DGGML_NATIVE=OFF}" $(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

## Generate sample data if there is none, materialise the whole pipeline, print what landed.
run: $(STAMP)
	$(BIN)/ai-assets demo

## Run the test suite (offline; includes one end-to-end test on the embedded model).
test: $(STAMP)
	$(BIN)/python -m pytest

## Lint and format check (what CI runs before the tests); `ruff format` fixes the formatting.
lint: $(STAMP)
	$(BIN)/ruff check ai_assets ai_assets_tests benchmarks
	$(BIN)/ruff format --check ai_assets ai_assets_tests benchmarks

## Start the Dagster UI on http://127.0.0.1:3000 (DAGSTER_HOME under the data directory).
dev: $(STAMP)
	$(BIN)/ai-assets dev

## Delete the data directory and dbt's parsed project (in the user's cache, one per checkout).
clean:
	rm -rf data dbt_project/target dbt_project/logs
	-test -x $(BIN)/python && $(BIN)/python -c "import shutil; from ai_assets.load.dbt import manifest_dir; shutil.rmtree(manifest_dir(), ignore_errors=True)"
