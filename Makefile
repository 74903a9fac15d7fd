# ulearn: `make demo` runs the main job on the virtual board, `make test` runs every test tier.
# Area-specific targets live in mk/*.mk (native kernels, data, docs ...) and are included below.

PYTHON3 ?= python3
VENV := .venv
PY := $(VENV)/bin/python
ULEARN := $(VENV)/bin/ulearn
VENV_STAMP := $(VENV)/.installed
APT_PACKAGES := gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm socat
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Fragments append to these.
SETUP_EXTRA :=
BENCH_TARGETS :=

-include mk/*.mk

.PHONY: setup apt venv demo test bench lint clean
.DEFAULT_GOAL := help

help:
	@echo "make demo   install everything, then run ulearn end to end on the virtual board"
	@echo "make test   install everything, then run all tests"
	@echo "make bench  print the benchmark ratios (backends, instructions/MAC, memory)"

setup: apt venv $(SETUP_EXTRA)

apt:
	@dpkg -s $(APT_PACKAGES) >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(APT_PACKAGES); }

venv: $(VENV_STAMP)
$(VENV_STAMP): requirements.txt pyproject.toml
	$(PYTHON3) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $@

demo: setup
	$(PY) -m ulearn_host.demo

test: setup
	$(PY) -m pytest tests

bench: setup $(BENCH_TARGETS)
	$(ULEARN) bench all

lint: venv
	$(VENV)/bin/ruff check host_tools tests

clean:
	rm -rf .cache build dist
