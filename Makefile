# Two commands on a fresh machine: `make run` (the installation) and `make test` (the tests).
# Both create .venv on first use. torch is installed first and pinned to the local CPU wheel so a
# plain `torch` requirement never pulls a multi-GB CUDA build. Elsewhere, name the CPU wheel index:
#   make test TORCH_INDEX=https://download.pytorch.org/whl/cpu
# `make test` = `make lint` (ruff check, ruff format --check, mypy: strict on engine/) + `make pytest`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CONFIG ?= configs/default.yaml
.DEFAULT_GOAL := run

TORCH_INDEX ?=

.PHONY: run test pytest lint bench soak clean browser xvfb triton redis compiler

# Headless Chromium + ChromeDriver for the browser tests (Debian packages), and Meta's IWER (npm `iwer`,
# a WebXR runtime emulator, test-only: tools/browser/package-lock.json) for the /xr tests. Best effort:
# without them those tests skip and say why.
browser:
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || \
	  { command -v apt-get >/dev/null 2>&1 && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq chromium chromium-driver >/dev/null) ; } || \
	  echo "chromium/chromedriver not installed: browser tests will be skipped"
	@test -f tools/browser/node_modules/iwer/build/iwer.min.js || \
	  { command -v npm >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null ; } ; \
	    command -v npm >/dev/null 2>&1 && (cd tools/browser && npm ci --no-audit --no-fund --loglevel=error) ; } || \
	  echo "npm's iwer not installed (tools/browser): the WebXR viewer's browser tests will be skipped"

# A C compiler and Python's headers, so that `pip install` builds engine/_frames.c (the frame path's one-pass
# conversions and smoothing). Best effort: without them the install goes on and OpenCV does that work.
compiler:
	@{ command -v cc >/dev/null 2>&1 && \
	   test -f "$$($(PYTHON) -c 'import sysconfig; print(sysconfig.get_paths()["include"])')/Python.h" ; } || \
	  { command -v apt-get >/dev/null 2>&1 && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq gcc python3-dev >/dev/null) ; } || \
	  echo "no C compiler or Python headers: engine/_frames.c will not be built (OpenCV runs instead, ~1.5 ms a frame slower)"

# Debian's redis-server for the cluster tests (each test starts its own child on a unix socket). Best
# effort: without it those tests skip and say why.
redis:
	@command -v redis-server >/dev/null 2>&1 || \
	  { command -v apt-get >/dev/null 2>&1 && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq redis-server >/dev/null) ; } || \
	  echo "redis-server not installed: cluster tests will be skipped"

# A virtual X server and xwd for the projector-window tests (two real windows, X screenshots), and Xorg
# with the dummy driver (two heads, xrandr) for the `monitor: N` test. Best effort: without them those
# tests skip and say why.
xvfb:
	@command -v Xvfb >/dev/null 2>&1 && command -v xwd >/dev/null 2>&1 || \
	  { command -v apt-get >/dev/null 2>&1 && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq xvfb x11-apps >/dev/null) ; } || \
	  echo "Xvfb/xwd not installed: the projector-window tests will be skipped"
	@{ command -v Xorg >/dev/null 2>&1 && test -f /usr/lib/xorg/modules/drivers/dummy_drv.so && \
	   command -v xrandr >/dev/null 2>&1 ; } || \
	  { command -v apt-get >/dev/null 2>&1 && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends xserver-xorg-core xserver-xorg-video-dummy \
	    x11-xserver-utils >/dev/null) ; } || \
	  echo "Xorg's dummy driver not installed: the two-display (monitor: N) test will be skipped"

# A real Triton Inference Server for the Triton tests and `laterna bench --tables triton`: PyPI's
# nvidia-pytriton bundles a CPU-only tritonserver (Python backend). It pins numpy<2, so it lives in its
# own environment, .venv-triton (~55 MB wheel, ~450 MB installed). Best effort: without it those tests
# skip and say why.
TRITON_VENV := .venv-triton
TRITON_STAMP := $(TRITON_VENV)/.installed
triton: $(TRITON_STAMP)

$(TRITON_STAMP):
	@{ test -x $(TRITON_VENV)/bin/python || $(PYTHON) -m venv $(TRITON_VENV); } && \
	  $(TRITON_VENV)/bin/python -m pip install -q 'nvidia-pytriton>=0.7,<0.8' 'onnxruntime>=1.18' && \
	  touch $(TRITON_STAMP) || \
	  echo "nvidia-pytriton not installed: the Triton server tests will be skipped"

$(STAMP): pyproject.toml Makefile engine/_frames.c | compiler
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PY) -m pip install -q -e '.[dev,triton,xr,ndi]'
	$(PY) -m installation.prompts.embedding  # the sentence model to ONNX once: prompts work ~1 s after start
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/laterna run $(CONFIG)

# lint runs first; any finding fails `make test` (after the tests have still run, so one run shows both).
test: $(STAMP)
	@status=0; \
	$(MAKE) --no-print-directory lint || status=1; \
	$(MAKE) --no-print-directory pytest || status=1; \
	exit $$status

pytest: $(STAMP) browser xvfb triton redis
	$(PY) -m pytest -q -p no:cacheprovider

# All three checks run even when one fails, so one run shows every finding; the target fails if any did.
lint: $(STAMP)
	@status=0; \
	$(VENV)/bin/ruff check . || status=1; \
	$(VENV)/bin/ruff format --check . || status=1; \
	$(VENV)/bin/mypy || status=1; \
	exit $$status

bench: $(STAMP)
	$(VENV)/bin/laterna bench

# One hour of the show with 20 visitors cycling: RSS, fds, threads, fps, log size (docs/kiosk-pc.md).
soak: $(STAMP)
	$(PY) tools/soak.py --minutes 60 --visitors 20 --out runs/soak

clean:
	rm -rf $(VENV) $(TRITON_VENV) build *.egg-info .mypy_cache .ruff_cache tools/browser/node_modules
