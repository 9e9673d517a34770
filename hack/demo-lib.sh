# Shared by hack/demo.sh and hack/demo-node.sh (sourced, not run): the
# messages, the wait for devcluster, and the kubectl helpers. The caller sets
# demo_name, demo, pidfile and ready_timeout, and defines kubectl.

if [ -t 1 ]; then bold=$'\033[1m' reset=$'\033[0m'; else bold='' reset=''; fi
say() { printf '\n%s== %s%s\n' "$bold" "$*" "$reset"; }
die() { printf '%s: %s\n' "$demo_name" "$*" >&2; exit 1; }

# refuse_running fails when a demo cluster already runs.
refuse_running() {
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    die "a demo cluster is already running (pid $(cat "$pidfile")); run 'make demo-down' first"
  fi
}

# wait_ready waits until devcluster says the cluster is ready, failing with
# the end of its log if it exits or ready_timeout passes.
wait_ready() {
  local deadline=$((SECONDS + ready_timeout))
  until [ -f "$demo/ready" ]; do
    if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      tail -n 40 "$demo/devcluster.log" >&2
      die "devcluster exited before it was ready"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail -n 40 "$demo/devcluster.log" >&2
      die "devcluster was not ready after ${ready_timeout}s"
    fi
    sleep 0.5
  done
}

show() { printf '$ kubectl %s\n' "$*"; kubectl "$@"; }

# expect_denied runs kubectl, which must fail with a denial from flinkgate's
# webhooks: it prints the denial and goes on, and fails the demo if the
# request was allowed or refused by anyone else.
expect_denied() {
  printf '$ kubectl %s\n' "$*"
  local out
  if out=$(kubectl "$@" 2>&1); then
    printf '%s\n' "$out"
    die "expected flinkgate to deny this request, but it was allowed"
  fi
  printf '%s\n' "$out"
  case $out in
    *'admission webhook "'*'" denied the request'*) ;;
    *) die "the request failed, but not with a denial from flinkgate" ;;
  esac
}
