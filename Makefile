# The two commands a newcomer needs: `make demo` and `make test`.
SHELL := /bin/bash
GO ?= go

.PHONY: all build test unit e2e tools demo demo-down demo-node image image-oci lint fmt vet bench

all: build

build:
	$(GO) build -o bin/flinkgate ./cmd/flinkgate

# tools builds (once) and caches the pinned etcd, kube-apiserver, kubectl and helm.
tools:
	@hack/tools.sh

# test runs everything: unit tests, chart template tests and the e2e suite
# against a real etcd and kube-apiserver, and the chart on a real node (as
# root; FLINKGATE_SKIP_NODE=1 skips it elsewhere). The tools are required,
# never skipped.
test: vet
	@bin=$$(hack/tools.sh node) && \
	export FLINKGATE_TOOLS_BIN=$$bin FLINKGATE_REQUIRE_TOOLS=1 && \
	$(GO) test -count=1 ./... && \
	$(GO) test -count=1 -tags e2e -timeout 20m ./e2e/...

unit:
	$(GO) test ./...

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) vet -tags e2e ./e2e/...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./webhook/ ./patchset/

demo:
	@hack/demo.sh

demo-down:
	@hack/demo-down.sh

# demo-node is the demo on a real one-node cluster, flinkgate installed with
# helm from the chart and the local image; needs root. make demo-down stops it.
demo-node:
	@hack/demo-node.sh

# image needs a Docker engine (none runs on the CI machines).
image:
	docker build -t flinkgate:dev .

# image-oci builds the same image without Docker, from a static binary, as an
# OCI image layout tarball (bin/flinkgate-image.tar) that `ctr images import`,
# `skopeo copy oci-archive:` or `crane push` take.
IMAGE_REF ?= flinkgate.local/flinkgate:dev
image-oci:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags="-s -w" -o bin/flinkgate-linux ./cmd/flinkgate
	$(GO) run ./cmd/ociimage -binary bin/flinkgate-linux -ref $(IMAGE_REF) -out bin/flinkgate-image.tar
