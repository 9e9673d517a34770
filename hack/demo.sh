#!/usr/bin/env bash
# Starts a local control plane with flinkgate (cmd/devcluster), applies the
# examples and shows what flinkgate does with them: the patched deployment,
# the FlinkDeployment flinkgate makes of it for the Apache Flink Kubernetes
# Operator (--flink-operator=on) and the state reported back, denials, and
# what an admin sees of them (the denial counters on /metrics and the audit
# log). The operator cannot run here: devcluster runs a pretend one that
# reports every FlinkDeployment RUNNING. The cluster keeps running until
# `make demo-down`.
#
#   FLINKGATE_DEMO_TIMEOUT         seconds to wait for the cluster (default 300)
#   FLINKGATE_DEMO_DIR             where the cluster keeps its files (default .demo/)
#   FLINKGATE_FLINK_OPERATOR_CRDS  the operator's CRDs (default ../shared/flink-operator/release-1.15.0)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
demo=${FLINKGATE_DEMO_DIR:-$root/.demo}
pidfile=$demo/devcluster.pid
ready_timeout=${FLINKGATE_DEMO_TIMEOUT:-300}

demo_name=demo
# shellcheck source=hack/demo-lib.sh
. "$root/hack/demo-lib.sh"

refuse_running
crds=${FLINKGATE_FLINK_OPERATOR_CRDS:-$root/../shared/flink-operator/release-1.15.0}
[ -f "$crds/flinkdeployments.flink.apache.org-v1.yml" ] ||
  die "the Flink operator's CRDs are not in $crds; set FLINKGATE_FLINK_OPERATOR_CRDS to the directory holding the release-1.15.0 CRDs"
crds=$(cd "$crds" && pwd)
rm -rf "$demo"
mkdir -p "$demo/bin"

say "building flinkgate and devcluster"
go build -o "$demo/bin/flinkgate" ./cmd/flinkgate
go build -o "$demo/bin/devcluster" ./cmd/devcluster

say "getting the pinned tools (hack/tools.sh; the first run builds them)"
tools=$(hack/tools.sh)

say "starting etcd, kube-apiserver, the Flink operator's CRDs and flinkgate --flink-operator=on (log: .demo/devcluster.log)"
nohup "$demo/bin/devcluster" up --state "$demo" --flinkgate "$demo/bin/flinkgate" --bin "$tools" \
  --flink-operator-crds "$crds" >"$demo/devcluster.log" 2>&1 &
echo $! >"$pidfile"
# From here on a failure leaves the cluster running, for inspection.
trap 'rc=$?; [ "$rc" -eq 0 ] || printf "demo: failed; the cluster is still running for inspection (logs in .demo/); stop it with make demo-down\n" >&2' EXIT

wait_ready

export KUBECONFIG=$demo/kubeconfig
kubectl() { "$tools/kubectl" "$@"; }

say "namespaces: flink-platform (targets and deployments) and staging (where Flink runs)"
# devcluster already created flink-platform: flinkgate serves it.
for ns in flink-platform staging; do
  kubectl get namespace "$ns" -o name 2>/dev/null || kubectl create namespace "$ns"
done

say "previewing offline what the target will do to the deployment: flinkgate check (no cluster needed)"
printf '$ flinkgate check --platform-namespace flink-platform --target examples/deployment-target.yaml -o diff examples/deployment.yaml\n'
"$demo/bin/flinkgate" check --platform-namespace flink-platform --target examples/deployment-target.yaml -o diff examples/deployment.yaml

say "a DeploymentTarget"
show apply -f examples/deployment-target.yaml

say "with the Flink operator reconciler on, a Deployment that cannot become a FlinkDeployment is denied"
expect_denied apply -f examples/deployment.yaml

say "the same Deployment with its Flink version: first the FlinkDeployment it becomes, offline"
printf '$ flinkgate check --flink-operator=on --platform-namespace flink-platform --target examples/deployment-target.yaml -o flinkdeployment examples/flink-deployment.yaml\n'
"$demo/bin/flinkgate" check --flink-operator=on --platform-namespace flink-platform --target examples/deployment-target.yaml -o flinkdeployment examples/flink-deployment.yaml
show apply -f examples/flink-deployment.yaml

say "the Deployment as stored: the target's deploymentPatchSet was applied"
show get configmap top-speed-windowing -n flink-platform -o yaml

# wait_for DESCRIPTION COMMAND...: polls COMMAND until it succeeds, for 30s.
wait_for() {
  local what=$1 deadline=$((SECONDS + 30))
  shift
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || die "waited 30s for $what"
    sleep 0.5
  done
}

say "flinkgate made a FlinkDeployment of it in the target's namespace, staging"
wait_for "the FlinkDeployment" kubectl get flinkdeployment top-speed-windowing -n staging
show get flinkdeployment top-speed-windowing -n staging -o yaml

say "written as the platform's ServiceAccount (flinkgate impersonates it), as the API server's audit log says"
printf '$ grep %s .demo/audit.log   # verb, who, as whom\n' "'\"resource\":\"flinkdeployments\"'"
grep '"resource":"flinkdeployments"' "$demo/audit.log" | grep -v '"verb":"\(get\|list\|watch\)"' | while IFS= read -r event; do
  printf '%s\n' "$event" | grep -o '"verb":"[a-z]*"\|"user":{"username":"[^"]*"\|"impersonatedUser":{"username":"[^"]*"' | paste -sd' ' -
done

say "a pretend operator in devcluster (the real one, and Flink, cannot run here) reports the job RUNNING; flinkgate reports the state back on the Deployment"
running() { [ "$(kubectl get configmap top-speed-windowing -n flink-platform -o 'jsonpath={.metadata.annotations.flinkgate\.io/state}')" = RUNNING ]; }
wait_for "flinkgate.io/state RUNNING" running
printf '$ kubectl get configmap top-speed-windowing -n flink-platform -o jsonpath=...   # its flinkgate.io/state and flinkgate.io/status annotations\n'
kubectl get configmap top-speed-windowing -n flink-platform \
  -o 'jsonpath=state: {.metadata.annotations.flinkgate\.io/state}{"\n"}status: {.metadata.annotations.flinkgate\.io/status}{"\n"}'

metrics_url=$(cat "$demo/metrics-url")
denial_counters() { curl -fsS "$metrics_url/metrics" | grep '^flinkgate_admission_denials_total' | sort || true; }
# Set-up probes denials too; the demo shows only what its own requests add.
denials_before=$(denial_counters)

say "changing the target's namespace is denied: targets are immutable"
expect_denied patch configmap staging -n flink-platform --type merge \
  -p '{"data":{"resource.yaml":"kind: DeploymentTarget\nspec:\n  kubernetes:\n    namespace: production\n"}}'

say "deleting the target is denied while a deployment references it"
expect_denied delete configmap staging -n flink-platform

say "what an admin sees: the denials just made, counted in flinkgate's metrics"
printf '$ curl -s %s/metrics | grep ^flinkgate_admission_denials_total   # the series the denials above changed\n' "$metrics_url"
denials=$(comm -13 <(printf '%s\n' "$denials_before") <(denial_counters))
printf '%s\n' "$denials"
for reason in immutable referenced; do
  case $denials in
    *"reason=\"$reason\""*) ;;
    *) die "flinkgate_admission_denials_total has no series with reason=\"$reason\"" ;;
  esac
done

say "and in the API server's audit log ($demo/audit.log): flinkgate's audit annotations"
# The audit backend writes in batches; wait for the last denial to arrive.
audit_deadline=$((SECONDS + 30))
until grep -q 'validate.flinkgate.io/reason":"referenced"' "$demo/audit.log" 2>/dev/null; do
  [ "$SECONDS" -lt "$audit_deadline" ] || die "the audit log shows no denial by flinkgate"
  sleep 0.5
done
printf '$ grep %s .demo/audit.log   # one line per denied request: verb, name, annotations\n' "'flinkgate.io/decision\":\"denied'"
grep 'flinkgate.io/decision":"denied"' "$demo/audit.log" | grep -v '"name":"flinkgate-webhook-probe"' | while IFS= read -r event; do
  printf '%s\n' "$event" | grep -o '"verb":"[a-z]*"\|"name":"[^"]*"\|"[a-z]*\.flinkgate\.io/[a-z]*":"[^"]*"' | paste -sd' ' -
done

say "the demo cluster is running"
cat <<EOF
Use it:   export KUBECONFIG=$demo/kubeconfig
          export PATH=$tools:\$PATH   # the pinned kubectl and helm
Logs:     .demo/flinkgate-1.log, .demo/kube-apiserver.log, .demo/audit.log
Metrics:  $metrics_url/metrics (also /healthz, /readyz)
Flink:    kubectl get flinkdeployments -n staging   # the pretend operator marks them RUNNING
Check:    .demo/bin/flinkgate check --platform-namespace flink-platform --target examples/deployment-target.yaml examples/deployment.yaml
Stop it:  make demo-down
EOF
