# Gureum — see README.md. Every target installs what it needs first.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
GO ?= go
BIN := bin/gureum
DATA_DIR ?= $(if $(filter 0,$(shell id -u)),/var/lib/gureum,$(HOME)/.local/share/gureum)

.PHONY: all build deps up down test test-unit test-integration test-e2e bench conformance fuzz clean

all: build

deps:
	@hack/install-deps.sh

build:
	$(GO) build -o $(BIN) ./cmd/gureum

# Starts a single-machine cloud in the background and prints how to use it.
up: deps build
	@hack/up.sh "$(DATA_DIR)"

down:
	@hack/down.sh "$(DATA_DIR)"

# Every test tier: unit, integration (embedded etcd + API server + kubectl),
# end-to-end (the built binary, as root).
test: deps build
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 30m ./...

fuzz: build
	hack/fuzz.sh

bench: deps build
	bench/run.sh

conformance: deps build
	hack/conformance.sh

clean:
	rm -rf bin
