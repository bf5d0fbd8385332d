# Two commands on a fresh machine: `make run` (the installation) and `make test` (the tests).
# Both create .venv on first use. torch is installed first and pinned to the local CPU wheel so a
# plain `torch` requirement never pulls a multi-GB CUDA build.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CONFIG ?= configs/default.yaml
.DEFAULT_GOAL := run

.PHONY: run test bench clean browser

# Headless Chromium + ChromeDriver for the browser tests (Debian packages). Best effort: without them
# those tests skip and say why.
browser:
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || \
	  { command -v apt-get >/dev/null 2>&1 && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq chromium chromium-driver >/dev/null) ; } || \
	  echo "chromium/chromedriver not installed: browser tests will be skipped"

$(STAMP): pyproject.toml Makefile
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m installation.prompts.embedding  # the sentence model to ONNX once: prompts work ~1 s after start
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/laterna run $(CONFIG)

test: $(STAMP) browser
	$(PY) -m pytest -q -p no:cacheprovider

bench: $(STAMP)
	$(VENV)/bin/laterna bench

clean:
	rm -rf $(VENV) build *.egg-info
