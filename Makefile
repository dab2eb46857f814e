# One way to run things, for people and CI alike.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: setup manual setup-test run worker test lint bench clean

# `make run` installs only what the service needs; `make test` adds the test tools.
setup: $(VENV)/.installed

setup-test: $(VENV)/.installed-test

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

# The Python manual for the knowledge base (Debian's python3.X-doc, unpacked into data/);
# without apt or network it says so and the built-in documentation is used instead.
manual: setup
	@# Not `python -m pipeline.manual`: the package imports that module first, and runpy would warn.
	$(PY) -c 'import sys; from pipeline.manual import main; sys.exit(main())'

test: setup-test manual
	$(PY) -m pytest

lint: setup-test
	$(PY) -m ruff check .
	$(PY) -m mypy

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache

# The service writes its own access log (with request and job ids); uvicorn waits at most
# SHUTDOWN_TIMEOUT seconds for open streams after SIGTERM/SIGINT.
SHUTDOWN_TIMEOUT ?= 10

# uvicorn's httptools protocol with HEADER_TIMEOUT and MAX_HEADER_BYTES (api/http_guard.py): served
# without a proxy, a client that never finishes its headers is answered 408 or 431 and closed.
HTTP_PROTOCOL ?= api.http_guard:GuardedHttpToolsProtocol

# Several worker processes share their jobs through Redis: WORKERS=n needs REDIS_URL.
WORKERS ?= 1

run: setup manual
	@if [ "$(WORKERS)" != "1" ] && [ -z "$$REDIS_URL" ]; then \
		echo "make run: WORKERS=$(WORKERS) needs REDIS_URL (without it each worker has its own jobs, and a" \
		     "reconnect that lands on another worker loses its stream)" >&2; exit 2; fi
	$(PY) -m uvicorn service:app --host $(HOST) --port $(PORT) --no-access-log --workers $(WORKERS) \
		--timeout-graceful-shutdown $(SHUTDOWN_TIMEOUT) --http $(HTTP_PROTOCOL)

# A process that only runs jobs (needs REDIS_URL): web processes started with JOB_WORKERS=remote
# enqueue jobs and serve their streams; WORKER_THREADS jobs run here at once. SIGTERM drains it.
worker: setup manual
	@if [ -z "$$REDIS_URL" ]; then echo "make worker: REDIS_URL must be set (the job queue lives in Redis)" >&2; \
		exit 2; fi
	$(PY) -m job_worker

# Both servers side by side; several minutes. Writes the results into BENCHMARKS.md.
bench: setup-test
	$(PY) -m bench.run --write
