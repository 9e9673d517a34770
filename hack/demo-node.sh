#!/usr/bin/env bash
# The demo on a real one-node cluster (as root): etcd, kube-apiserver,
# containerd, kubelet, kube-proxy, kube-controller-manager and kube-scheduler
# (cmd/devcluster --node), flinkgate's image built without Docker (make
# image-oci) and installed with `helm install` from the chart, the examples
# applied. The cluster keeps running until `make demo-down`.
#
#   FLINKGATE_DEMO_TIMEOUT   seconds to wait for the cluster and the pods (default 300)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
demo=$root/.demo
pidfile=$demo/devcluster.pid
ready_timeout=${FLINKGATE_DEMO_TIMEOUT:-300}
image_repo=flinkgate.local/flinkgate
image_tag=dev

demo_name=demo-node
# shellcheck source=hack/demo-lib.sh
. "$root/hack/demo-lib.sh"

[ "$(id -u)" -eq 0 ] || die "the node needs root (containerd, kubelet, iptables, mounts); 'make demo' runs without it"
refuse_running
rm -rf "$demo"
mkdir -p "$demo/bin"

say "building flinkgate's image without Docker (make image-oci) and devcluster"
make --no-print-directory image-oci IMAGE_REF="$image_repo:$image_tag" >/dev/null
go build -o "$demo/bin/devcluster" ./cmd/devcluster

say "getting the pinned tools and the node's binaries (hack/tools.sh node; the first run builds them)"
tools=$(hack/tools.sh node)

say "starting the control plane and the node (log: .demo/devcluster.log)"
nohup "$demo/bin/devcluster" up --state "$demo" --bin "$tools" --node --image bin/flinkgate-image.tar \
  >"$demo/devcluster.log" 2>&1 &
echo $! >"$pidfile"
trap 'rc=$?; [ "$rc" -eq 0 ] || printf "demo-node: failed; the cluster is still running for inspection (logs in .demo/); stop it with make demo-down\n" >&2' EXIT

wait_ready

export KUBECONFIG=$demo/kubeconfig HELM_CACHE_HOME=$demo/helm/cache HELM_CONFIG_HOME=$demo/helm/config HELM_DATA_HOME=$demo/helm/data
kubectl() { "$tools/kubectl" "$@"; }
helm() { "$tools/helm" "$@"; }

say "helm install flinkgate from the chart, with the local image"
kubectl get namespace staging -o name 2>/dev/null || kubectl create namespace staging
printf '$ helm install flinkgate charts/flinkgate -n flink-platform --set image.repository=%s --set image.tag=%s --set image.pullPolicy=Never --set appmanager.rbac.additionalNamespaces={staging} --wait\n' "$image_repo" "$image_tag"
helm install flinkgate charts/flinkgate -n flink-platform \
  --set image.repository="$image_repo" --set image.tag="$image_tag" --set image.pullPolicy=Never \
  --set 'appmanager.rbac.additionalNamespaces={staging}' --wait --timeout "${ready_timeout}s"
show get pods -n flink-platform -o wide

# Ready pods precede kube-proxy's rules for their Service by a moment: wait
# until a probe (a kind flinkgate does not know) is denied by flinkgate.
probe='{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"probe","namespace":"flink-platform","labels":{"flinkgate.io/kind":"Bogus"}},"data":{"resource.yaml":"kind: Bogus\nspec: {}\n"}}'
deadline=$((SECONDS + 60))
while :; do
  out=$(kubectl apply --dry-run=server -f - <<<"$probe" 2>&1 || true)
  case $out in *'flinkgate.io" denied the request'*) break ;; esac
  [ "$SECONDS" -lt "$deadline" ] || die "flinkgate's webhooks did not answer through the Service within 60s: $out"
  sleep 0.5
done

say "a DeploymentTarget and a Deployment that references it"
show apply -f examples/deployment-target.yaml
show apply -f examples/deployment.yaml

say "the Deployment as stored: the target's deploymentPatchSet was applied"
show get configmap top-speed-windowing -n flink-platform -o yaml

say "deleting the target is denied while a deployment references it"
expect_denied delete configmap staging -n flink-platform

say "the chart's own test: a pod running flinkgate probe through the Service"
printf '$ helm test flinkgate -n flink-platform\n'
helm test flinkgate -n flink-platform --timeout "${ready_timeout}s" | sed -n '/^TEST SUITE/,$p'

say "the one-node cluster is running, with flinkgate from the chart"
cat <<EOF
Use it:   export KUBECONFIG=$demo/kubeconfig
          kubectl: $tools/kubectl
          helm:    $tools/helm   (HELM_*_HOME under .demo/helm)
Logs:     .demo/kubelet.log, .demo/containerd.log, .demo/kube-apiserver.log, kubectl logs -n flink-platform deploy/flinkgate
Stop it:  make demo-down   (with the chart installed or not: removes the pods, containers,
          mounts, bridge and iptables chains)
EOF
