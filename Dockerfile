# syntax=docker/dockerfile:1

# Build stage: a static binary, so the final image needs no libc.
# Runs on the build platform and cross-compiles, which keeps multi-arch builds fast.
ARG GO_VERSION=1.26.8
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src

# Dependencies first: this layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

COPY . .
ARG TARGETOS
ARG TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w" -o /out/flinkgate ./cmd/flinkgate

# Final stage: no shell, no package manager, non-root (UID/GID 65532), matching
# the chart's securityContext and the restricted Pod Security Standard.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/flinkgate /flinkgate
USER 65532:65532
# The same labels, user, ports and entrypoint as `make image-oci` (ociimage/), which
# builds this image without Docker; ociimage's tests check the two agree.
LABEL org.opencontainers.image.title="flinkgate" \
      org.opencontainers.image.description="Ververica-Platform-style DeploymentTargets for Flink on Kubernetes: an admission webhook"
# Webhook (TLS) and metrics/health ports; see `flinkgate serve --help`.
EXPOSE 8443 8080
ENTRYPOINT ["/flinkgate"]
CMD ["serve"]
