#!/usr/bin/env bash
# Stops the demo cluster started by hack/demo.sh (or hack/demo-node.sh, whose
# devcluster tears its node down first), checks that none of its processes
# (etcd, kube-apiserver, flinkgate, the node's) is left, and removes .demo/.
#
#   FLINKGATE_DEMO_STOP_TIMEOUT   seconds to wait for a clean stop (default 60)
#   FLINKGATE_DEMO_DIR            the demo's directory (default .demo/)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
demo=${FLINKGATE_DEMO_DIR:-$root/.demo}
pidfile=$demo/devcluster.pid
stop_timeout=${FLINKGATE_DEMO_STOP_TIMEOUT:-60}

if [ ! -d "$demo" ]; then
  echo "no demo to stop (.demo/ does not exist)"
  exit 0
fi

# running PID NAME: the pid is a live (not zombie) process whose command name
# NAME starts with; checking the name keeps a reused pid from counting.
running() {
  local stat comm state
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  comm=${stat#*(}; comm=${comm%)*}
  state=${stat##*) }; state=${state%% *}
  [ "$state" != Z ] && [[ $2 == "$comm"* ]]
}

# Read the children's pids first: devcluster writes them next to its files.
children=()
for f in "$demo"/*.pid; do
  [ -e "$f" ] && [ "$f" != "$pidfile" ] || continue
  children+=("$(basename "$f" .pid):$(cat "$f")")
done

if [ -f "$pidfile" ]; then
  pid=$(cat "$pidfile")
  if running "$pid" devcluster; then
    kill -TERM "$pid"
    deadline=$((SECONDS + stop_timeout))
    while running "$pid" devcluster; do
      if [ "$SECONDS" -ge "$deadline" ]; then
        echo "devcluster did not stop within ${stop_timeout}s; killing it" >&2
        # Its children die with it (parent-death signal).
        kill -KILL "$pid" 2>/dev/null || true
        break
      fi
      sleep 0.2
    done
  fi
fi

left=()
deadline=$((SECONDS + 10))
for entry in ${children[@]+"${children[@]}"}; do
  name=${entry%%:*} pid=${entry##*:}
  while running "$pid" "$name"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      left+=("$name (pid $pid)")
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
done

rm -rf "$demo"
if [ ${#left[@]} -gt 0 ]; then
  echo "demo-down: these processes outlived devcluster and were killed: ${left[*]}" >&2
  exit 1
fi
echo "demo stopped; .demo/ removed"
