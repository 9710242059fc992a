# The two commands a fresh clone needs: `make demo` and `make test`.
UV := ./scripts/uv
export UV_PYTHON_DOWNLOADS := never

.PHONY: demo test lint format typecheck unit sync benchmark docs clean

sync:
	$(UV) sync --frozen

## demo: simulator, both connections, a backfill and a month-to-date summary
demo: sync
	$(UV) run spendscope demo

## test: lint, type-check and the whole test suite (what CI runs)
test: sync lint typecheck unit

lint:
	$(UV) run ruff check src tests benchmarks
	$(UV) run ruff format --check src tests benchmarks
	$(UV) run lint-imports

format:
	$(UV) run ruff format src tests benchmarks
	$(UV) run ruff check --fix src tests benchmarks

typecheck:
	$(UV) run mypy

unit:
	$(UV) run pytest -q -n auto --maxprocesses 4 --dist loadgroup

benchmark: sync
	$(UV) run python -m benchmarks.simulator
	$(UV) run python -m benchmarks.sync
	$(UV) run python -m benchmarks.forecast

## docs: regenerate the generated docs (schema, cli, api, configuration, architecture)
docs: sync
	$(UV) run python -m spendscope.docgen

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache
