# Two commands on a fresh machine with Python 3.11+ and make: `make demo` and `make test`.
# Each installs what it needs: uv (into .tools/ when it is not on PATH), then the locked .venv.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.tools/bin/uv)
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
export UV_PROJECT_ENVIRONMENT := $(VENV)
# The tests build the product's wheel with it (tests/test_product_boundary.py).
export UV

.PHONY: install prepare lint format browser test demo ui api bench clean

$(CURDIR)/.tools/bin/uv:
	$(PYTHON) -m venv $(CURDIR)/.tools
	$(CURDIR)/.tools/bin/python -m pip install --quiet uv

$(BIN)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	touch $@

install: $(BIN)/.installed

# The dbt manifest is generated, never committed: parse the project before anything loads Definitions.
# Our own modules are compiled too (pyproject.toml compiles the installed ones): with PYTHONDONTWRITEBYTECODE
# set, every process would compile them again; a module edited since is compiled again on import as usual.
prepare: install
	$(BIN)/python -m compileall -q -j 0 ekino_pipeline simulator/ekino_sim benchmarks tests
	$(BIN)/python -m ekino_pipeline.transformation.project

# The dbt SQL is linted offline by sqlfluff's jinja templater (dbt_project/.sqlfluff): no warehouse, no
# dbt parse; `make format` applies its fixes.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/sqlfluff lint --processes 2 dbt_project

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
	$(BIN)/sqlfluff fix dbt_project

# The box office report is tested in a real headless browser, Debian's chromium: installed when missing.
# Under CI (CI=true) a failed install fails the build; elsewhere the browser test is then skipped.
browser:
	@command -v chromium >/dev/null || { \
	  echo "installing chromium for the report's browser test"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
	  || { [ "$$CI" != "true" ] && echo "chromium could not be installed: the browser test will be skipped"; }; }

# Test files run in parallel, one file per worker at a time (a file's tests share its fixtures); one
# worker more than the cores, since the longest files (the demo through dagster dev, the live bench on
# the simulator's clock) spend much of their time waiting. PYTEST_WORKERS=0 runs them in one process.
# What the tests need is made side by side: the lint and the dbt parse use the cores while the browser
# is being downloaded.
PYTEST_WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))
test:
	$(MAKE) --no-print-directory -j 3 --output-sync=target lint prepare browser
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile

# demo and ui parse the dbt project again only when one of its files changed since the last parse.
MANIFEST := $(CURDIR)/dbt_project/target/manifest.json
DBT_SOURCES := $(shell find $(CURDIR)/dbt_project \( -name target -o -name logs -o -name dbt_packages \) \
	-prune -o -type f -print)
$(MANIFEST): $(BIN)/.installed $(DBT_SOURCES)
	$(BIN)/python -m ekino_pipeline.transformation.project
	touch $@

demo: $(MANIFEST)
	$(BIN)/ekino-sim demo

# The benchmarks need dlt, the tool we measure ourselves against: its group is installed here only.
bench: prepare
	$(UV) sync --frozen --group bench --python $(PYTHON)
	$(BIN)/python -m benchmarks.run

ui: $(MANIFEST)
	$(BIN)/ekino-sim ui

# The open data API over the exports of $EKINO_HOME, else the demo's home once the demo has run, else ./.ekino.
api: install
	EKINO_HOME=$${EKINO_HOME:-$$([ -f .ekino/demo/environment.json ] && echo .ekino/demo || echo .ekino)} \
		$(BIN)/ekino api

# dbt docs as one page that opens offline: dbt_project/target/docs/static_index.html. The catalog (the
# columns' types) is read from a scratch copy of the analysts' read-only warehouse when there is one
# ($EKINO_HOME, else ./.ekino, else the demo's ./.ekino/demo), so the pipeline's warehouse is never
# opened; without one the page has the descriptions only.
.PHONY: docs
docs: prepare
	@scratch=$$(mktemp -d); catalog=--empty-catalog; \
	for home in $${EKINO_HOME:-} $(CURDIR)/.ekino $(CURDIR)/.ekino/demo; do \
		if [ -f "$$home/exports/warehouse.duckdb" ]; then \
			cp "$$home/exports/warehouse.duckdb" "$$scratch/warehouse.duckdb"; catalog=; \
			echo "catalog from $$home/exports/warehouse.duckdb"; break; \
		fi; \
	done; \
	cd dbt_project && $(BIN)/dbt docs generate --static --quiet $$catalog --target-path target/docs \
		--vars "{\"warehouse_path\": \"$$scratch/warehouse.duckdb\"}"; \
	status=$$?; rm -rf "$$scratch"; \
	[ $$status -eq 0 ] && echo "open dbt_project/target/docs/static_index.html in a browser"; exit $$status

clean:
	rm -rf .ekino .pytest_cache .ruff_cache dbt_project/target
