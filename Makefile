# `make demo` and `make test` set everything up from nothing: a virtual environment in .venv
# with this project installed (editable) and its test dependencies, plus the Debian packages
# they need (the offline Fashion-MNIST data; Chromium for the dashboard's browser tests).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_ARGS ?=
# Test processes (pytest-xdist): two halve the suite's time on a 2-core machine (BENCHMARKS §11).
WORKERS ?= 2
APT_GET := $(shell [ "$$(id -u)" = 0 ] && echo apt-get || echo sudo apt-get)

.PHONY: demo test test-fast zoo venv data browser clean

venv: $(VENV)/.installed

$(VENV)/.installed: setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,bench,pretrained,backends]"
	touch $@

# Fashion-MNIST as its original IDX files, from Debian (no other download is used or allowed).
data:
	@test -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz || \
		($(APT_GET) update -qq && DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -qq dataset-fashion-mnist >/dev/null)

# Debian's Chromium and its driver (browsers cannot be downloaded by pip here).
browser:
	@test -x /usr/bin/chromium -a -x /usr/bin/chromedriver || \
		($(APT_GET) update -qq && DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -qq chromium chromium-driver >/dev/null)

demo: venv data
	$(PY) -m demo $(DEMO_ARGS)

# Everything on TensorFlow, then the core suite (tests/core) on JAX and on PyTorch.
test: venv data browser
	$(PY) -m pytest -q -n $(WORKERS) tests
	KERAS_BACKEND=jax $(PY) -m pytest -q tests/core
	KERAS_BACKEND=torch $(PY) -m pytest -q tests/core

# The tests one runs while working: everything not marked browser, zoo, backends or slow
# (pytest.ini), on TensorFlow only (under 5 minutes on 2 cores).
test-fast: venv data
	$(PY) -m pytest -q -n $(WORKERS) -m "not browser and not zoo and not backends and not slow" tests

# The model zoo alone, with more AM steps and channels than in `make test`.
zoo: venv
	ZOO=full $(PY) -m pytest -q tests/test_zoo.py

clean:
	rm -rf $(VENV) build dist *.egg-info test-artifacts
