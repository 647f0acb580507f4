# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PLUGINS := ./plugins/dmb-uuid-names ./plugins/dmb-sniff-content-type

.PHONY: venv test test-ceph lint typecheck demo demo-ci clean readme

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The package (editable, with the devserver extra), the developer tools of requirements-dev.txt
# (not a published extra) and the two plugin distributions.
venv: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[devserver]" -r requirements-dev.txt $(PLUGINS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy --strict with django-stubs on the package (settings in pyproject.toml [tool.mypy]).
typecheck: venv
	$(BIN)/mypy django_minio_backend

test: venv lint typecheck
	cd plugins/dmb-uuid-names && ../../$(BIN)/python -m pytest -q -p no:cacheprovider
	cd plugins/dmb-sniff-content-type && ../../$(BIN)/python -m pytest -q -p no:cacheprovider
	$(MAKE) --no-print-directory test-ceph
	$(BIN)/python -m pytest

# The server-facing tests again on a second real server, Ceph RADOS Gateway (Debian's radosgw;
# .ci/install-ceph installs it). Without it they are skipped with a note, unless DMB_REQUIRE_CEPH=1.
CEPH_TESTS := tests/test_storage.py tests/test_no_data_loss.py tests/test_create_only.py \
	tests/test_reads.py tests/test_urls.py tests/test_commands.py tests/test_django.py \
	tests/test_object_parameters.py tests/test_properties.py tests/test_faults.py \
	tests/test_direct.py tests/test_direct_limits.py tests/test_cors.py tests/test_collectstatic.py \
	tests/test_orphans.py
test-ceph: venv
	@if command -v radosgw >/dev/null 2>&1 || [ "$${DMB_REQUIRE_CEPH:-}" = 1 ]; then \
		DMB_TEST_SERVER=ceph $(BIN)/python -m pytest -q -p no:cacheprovider $(CEPH_TESTS); \
	else \
		echo "!!! Ceph RGW tests NOT RUN: radosgw not installed (bash .ci/install-ceph) !!!"; \
	fi

# The example project of examples/ on an embedded SeaweedFS: checks, then runserver until Ctrl-C.
demo: venv
	$(BIN)/python examples/run_demo.py

# The same checks without serving (CI).
demo-ci: venv
	$(BIN)/python examples/run_demo.py --no-serve

# The README's settings table, generated from the SETTINGS table of django_minio_backend/conf.py.
readme: venv
	$(BIN)/python -c "from django.conf import settings; settings.configure(); \
	from django_minio_backend.conf import write_readme_table; write_readme_table('README.md')"

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache

# Benchmarks against django-storages, django-minio-storage and the raw minio SDK
# (see benchmarks/README.md): own venv in benchmarks/.env, SeaweedFS on loopback.
BENCH_PYTHON ?= python3.11
BENCH_ENV := benchmarks/.env
BENCH_BIN := $(BENCH_ENV)/bin

$(BENCH_ENV)/.installed: benchmarks/requirements.txt pyproject.toml
	test -x $(BENCH_BIN)/python || $(BENCH_PYTHON) -m venv $(BENCH_ENV)
	$(BENCH_BIN)/python -m pip install --quiet --upgrade pip
	$(BENCH_BIN)/python -m pip install --quiet -r benchmarks/requirements.txt -e .
	touch $@

.PHONY: bench bench-smoke
bench: $(BENCH_ENV)/.installed
	$(BENCH_BIN)/python benchmarks/run.py --docs docs/benchmarks.md

bench-smoke: $(BENCH_ENV)/.installed
	$(BENCH_BIN)/python benchmarks/run.py --smoke
