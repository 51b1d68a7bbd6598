# `make test` and `make demo` set everything up from nothing: a virtual environment in .venv
# with this project installed (editable) and its test dependencies.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: test venv browser clean example

venv: $(VENV)/.installed

$(VENV)/.installed: setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

# The browser tests drive Debian's Chromium headless (browsers cannot be downloaded by pip here).
APT_GET := $(shell [ "$$(id -u)" = 0 ] && echo apt-get || echo sudo apt-get)

browser:
	@test -x /usr/bin/chromium -a -x /usr/bin/chromedriver || \
		($(APT_GET) update -qq && DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -qq chromium chromium-driver >/dev/null)

test: venv browser
	$(PY) -m pytest -q tests

example: venv
	@test -d /usr/share/datasets/fashion-mnist || (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist)
	$(PY) examples/quickstart.py

clean:
	rm -rf $(VENV) build dist *.egg-info
