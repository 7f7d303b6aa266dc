# The two commands of the README: `make report` (parity report on the zoo) and `make test`.
# Both set everything up first; with everything in place, setup does nothing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PY_STAMP := $(VENV)/.installed
NPM_STAMP := web/node_modules/.installed
REPORT_DIR ?= reports
PYTEST_ARGS ?=
# pytest-xdist workers for `make test`: one per core, at most 4 (each runs its own browsers). On 2 cores, 2 took
# the suite from 14 min 34 s to 10 min 20 s (docs/speed.md). `--dist loadgroup` keeps each module marked
# `xdist_group` on one worker, so its module fixtures (test_user_models' 110 s run) are built once, not per worker.
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); [ $$n -gt 4 ] && n=4; echo $$n)
# Extra `tfjs-parity run` options, e.g. RUN_ARGS="--matrix nightly --baseline old/parity.json".
RUN_ARGS ?=

.PHONY: setup report test test-fast bench lint clean dist

setup: $(PY_STAMP) $(NPM_STAMP)
	@$(PY) -m harness.browser.executables --ensure chromium,firefox,webkit >/dev/null

$(PY_STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test,onnx]'
	$(PY) -m pip install --quiet -c constraints.txt --no-deps onnx2tf
	$(PY) -m pip install --quiet -c constraints.txt --no-deps torch && \
		$(PY) -m pip install --quiet -c constraints.txt filelock networkx jinja2 fsspec || \
		echo "torch (CPU build) not installed: the PyTorch tests skip (docs/onnx.md says how to install it)"
	@touch $@

$(NPM_STAMP): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

report: setup
	$(VENV)/bin/tfjs-parity run --out $(REPORT_DIR) $(RUN_ARGS)

test: setup
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# The developers' loop, under 3 minutes (docs/speed.md): every test that needs no browser and builds no Keras model
# (markers browser and keras, conftest.py), and one browser smoke test per engine on the mlp (the one zoo reference it
# builds). `make test` runs everything.
test-fast: setup
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadgroup -m "smoke or not (browser or keras)" --parity-models mlp \
		$(PYTEST_ARGS)

clean:
	rm -rf $(VENV) web/node_modules fixtures $(REPORT_DIR) test-results build dist

# The wheel: the harness, the page and the default tfjs bundles with their licences (see web_assets.py).
dist: $(PY_STAMP) $(NPM_STAMP)
	rm -rf build dist
	$(PY) -m pip wheel --quiet --no-deps --no-build-isolation --wheel-dir dist .
	@ls -l dist/*.whl

lint: $(PY_STAMP)
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test,lint]'
	$(VENV)/bin/ruff check harness tests conftest.py
	$(VENV)/bin/mypy --ignore-missing-imports harness

bench: setup
	$(PY) -m harness.run.bench --out $(REPORT_DIR)/bench.json
