# Eddy build and test entry points. `make test` is what CI runs.
GO        ?= go
FUZZTIME  ?= 4
PKGS      := ./...

.PHONY: all build test deps vet lint gotest race fuzz-smoke fuzz bench-smoke bench generate check-generate js-test clean

all: build

build:
	$(GO) build -o bin/eddy ./cmd/eddy
	$(GO) build -o bin/eddy-bench ./cmd/eddy-bench

## test: everything CI checks, from a fresh clone.
test: deps vet lint check-generate race js-test fuzz-smoke bench-smoke
	@echo "make test: all checks passed"

deps:
	@./scripts/deps.sh

vet:
	$(GO) vet $(PKGS)

lint: vet
	@./scripts/lint.sh

## race: the Go test suite with the race detector.
race:
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

gotest:
	$(GO) test -count=1 $(PKGS)

## fuzz-smoke: every fuzz target for FUZZTIME seconds.
fuzz-smoke:
	./fuzz/run.sh $(FUZZTIME)

fuzz:
	./fuzz/run.sh 60

## bench-smoke: a few seconds per scenario plus one pass of every Go benchmark.
bench-smoke:
	@out=$$($(GO) test -run '^$$' -bench . -benchtime 50x $(PKGS) 2>&1) || { echo "$$out" | grep -v '^Benchmark'; exit 1; }
	@if [ -d cmd/eddy-bench ]; then ./bench/smoke.sh; fi

## bench: every scenario against Eddy and the NATS baseline; writes bench/results/.
bench: deps
	./bench/run.sh

## generate: regenerate protocol code (FlatBuffers Go and TypeScript, error tables).
generate:
	$(GO) generate ./protocol

## check-generate: generated code must match the schema.
check-generate: generate
	@git diff --exit-code --stat -- protocol sdk-js/src/gen || (echo "generated code is stale: run make generate and commit"; exit 1)

js-test:
	@if [ -f sdk-js/package.json ]; then $(MAKE) -C sdk-js test; fi

clean:
	rm -rf bin
