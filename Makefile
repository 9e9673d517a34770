# The two commands a newcomer needs: `make demo` and `make test`.
SHELL := /bin/bash
GO ?= go

.PHONY: all build test unit e2e tools demo demo-down image lint fmt vet bench bench-scale

all: build

build:
	$(GO) build -o bin/flinkgate ./cmd/flinkgate

# tools builds (once) and caches the pinned etcd, kube-apiserver, kubectl and helm.
tools:
	@hack/tools.sh

# test runs everything: unit tests, chart template tests and the e2e suite
# against a real etcd and kube-apiserver. The tools are required, never skipped.
test: vet
	@bin=$$(hack/tools.sh) && \
	export FLINKGATE_TOOLS_BIN=$$bin FLINKGATE_REQUIRE_TOOLS=1 && \
	$(GO) test -count=1 ./... && \
	$(GO) test -count=1 -tags e2e -timeout 20m ./e2e/...

unit:
	$(GO) test ./...

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) vet -tags e2e ./e2e/...

# bench runs the Go micro-benchmarks, then the load benchmark: flinkgate
# against a bare TLS AdmissionReview server, alternating, on a local control
# plane; profiles go to bench-out/. Not part of `make test`.
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./webhook/ ./patchset/
	$(GO) build -o bin/loadbench ./cmd/loadbench
	@bin=$$(hack/tools.sh) && bin/loadbench --bin "$$bin" --flinkgate bin/flinkgate --out bench-out

# bench-scale fills a served namespace with 10,000 then 100,000 deployment
# ConfigMaps and measures flinkgate's cache sync, memory and delete check.
bench-scale: build
	$(GO) build -o bin/loadbench ./cmd/loadbench
	@bin=$$(hack/tools.sh) && bin/loadbench --bin "$$bin" --flinkgate bin/flinkgate --scale 10000,100000

demo:
	@hack/demo.sh

demo-down:
	@hack/demo-down.sh

# image needs a Docker engine (none runs on the CI machines).
image:
	docker build -t flinkgate:dev .
