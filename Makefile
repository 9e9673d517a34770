# The two commands a newcomer needs: `make demo` and `make test`.
# `make help` lists every target with the line after its `##`.
SHELL := /bin/bash
GO ?= go
# The pinned tools (etcd, kube-apiserver, kubectl, helm, staticcheck), built
# once by hack/tools.sh; expanded only by the targets that use it.
TOOLS = $$(hack/tools.sh)
# The same plus the node's binaries (kubelet, kube-proxy, kube-controller-manager,
# kube-scheduler) for the node e2e and demo-node.
NODE_TOOLS = $$(hack/tools.sh node)
# The packages whose tests need the e2e build tag: the suites and the local
# control plane's own tests.
E2E_PKGS = ./e2e/... ./internal/cluster/...

.PHONY: help all build tools test unit e2e e2e-oldest fmt fmt-check vet lint bench bench-scale demo demo-down demo-node image image-oci

all: build ## build bin/flinkgate (the default)

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z0-9-]+):.*## (.*)/  \1\t\2/' | expand -t 14

build: ## build bin/flinkgate
	$(GO) build -o bin/flinkgate ./cmd/flinkgate

tools: ## build (once) and cache the pinned tools; prints their directory
	@hack/tools.sh

# test is the CI entry (.ci/run): the tools are required, never skipped. The
# e2e suite includes the chart on a real node, as root (FLINKGATE_SKIP_NODE=1
# skips it elsewhere).
test: fmt-check lint ## CI: fmt-check, lint, unit and chart tests (race detector), the e2e suite on Kubernetes v1.37, then on v1.30
	@bin=$(NODE_TOOLS) && \
	export FLINKGATE_TOOLS_BIN=$$bin FLINKGATE_REQUIRE_TOOLS=1 && \
	$(GO) test -race -count=1 ./... && \
	$(GO) test -count=1 -p 1 -tags e2e -timeout 20m $(E2E_PKGS)
	@$(MAKE) --no-print-directory e2e-oldest

unit: ## unit tests only, with the race detector (chart and tool-backed tests skip without the tools)
	$(GO) test -race ./...

# -p 1: each e2e package starts its own control plane; two at once on a
# two-core machine only make both slow.
e2e: ## the e2e suite against a real kube-apiserver (RUN=regexp selects tests)
	@bin=$(NODE_TOOLS) && \
	export FLINKGATE_TOOLS_BIN=$$bin FLINKGATE_REQUIRE_TOOLS=1 && \
	$(GO) test -count=1 -p 1 -tags e2e -timeout 20m $(if $(RUN),-run '$(RUN)') $(E2E_PKGS)

# e2e-oldest runs the suite against the oldest Kubernetes the chart claims:
# kube-apiserver and kubectl v1.30 (hack/tools.sh oldest), etcd and helm shared.
# The node and load tests stay on the newest (testenv.NewestOnly says why).
e2e-oldest: ## the e2e suite against the oldest Kubernetes the chart claims, v1.30 (RUN=regexp selects tests)
	@bin=$$(hack/tools.sh oldest) && \
	export FLINKGATE_TOOLS_BIN=$$bin FLINKGATE_REQUIRE_TOOLS=1 FLINKGATE_KUBE_VERSION=1.30 && \
	$(GO) test -count=1 -p 1 -tags e2e -timeout 20m $(if $(RUN),-run '$(RUN)') $(E2E_PKGS)

fmt: ## rewrite every Go file with gofmt
	gofmt -w $$(git ls-files '*.go')

fmt-check: ## fail if a Go file is not gofmt-clean
	@files=$$(gofmt -l $$(git ls-files '*.go')); \
	test -z "$$files" || { echo "gofmt needed (run make fmt):"; echo "$$files"; exit 1; }

vet: ## go vet, with and without the e2e build tag
	$(GO) vet ./...
	$(GO) vet -tags e2e $(E2E_PKGS)

lint: vet ## go vet plus the pinned staticcheck (its default checks)
	@bin=$(TOOLS) && \
	$$bin/staticcheck ./... && \
	$$bin/staticcheck -tags e2e $(E2E_PKGS)

# Neither bench target is part of `make test`: they need minutes and a quiet machine.
bench: build ## every Go benchmark, then flinkgate against a bare TLS webhook under load, the minimal document and the corpus, then through the API server against a do-nothing webhook pair and one that makes the read and the patch flinkgate must (profiles, text and an HTML page in bench-out/)
	$(GO) test -run '^$$' -bench . -benchmem ./...
	$(GO) build -o bin/loadbench ./cmd/loadbench
	@bin=$(TOOLS) && bin/loadbench --bin "$$bin" --flinkgate bin/flinkgate --out bench-out

bench-scale: build ## flinkgate's cache sync, memory and delete check at 10,000 and 100,000 deployments
	$(GO) build -o bin/loadbench ./cmd/loadbench
	@bin=$(TOOLS) && bin/loadbench --bin "$$bin" --flinkgate bin/flinkgate --scale 10000,100000

demo: ## a local control plane with flinkgate and the examples
	@hack/demo.sh

demo-down: ## stop the demo cluster (either demo)
	@hack/demo-down.sh

demo-node: ## the demo on a real one-node cluster, flinkgate installed by helm (root)
	@hack/demo-node.sh

# image needs a Docker engine (none runs on the CI machines).
image: ## build the container image flinkgate:dev (needs Docker)
	docker build -t flinkgate:dev .

# image-oci builds the same image without Docker, from a static binary, as an
# OCI image layout tarball that `ctr images import`, `skopeo copy oci-archive:`
# or `crane push` take.
IMAGE_REF ?= flinkgate.local/flinkgate:dev
image-oci: ## build the image without Docker: bin/flinkgate-image.tar (OCI layout)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags="-s -w" -o bin/flinkgate-linux ./cmd/flinkgate
	$(GO) run ./cmd/ociimage -binary bin/flinkgate-linux -ref $(IMAGE_REF) -out bin/flinkgate-image.tar
