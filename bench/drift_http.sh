#!/usr/bin/env bash
# Measures `infra drift` through the release binary over N (default 1,000)
# `http_resource` instances against the rest-api example's JSON server
# (examples/rest-api/server.py, a real HTTP server on a free loopback port),
# started with every answer delayed by 20 ms, at the default parallelism
# (64). The issue's bound is 1.5 × ceil(N/64) × 20 ms (480 ms for 1,000);
# the whole command is timed (check, state read and unsealing included).
# A second server without delay shows the fixed cost.
# Usage: bench/drift_http.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."

n=${1:-1000}
latency=20
cargo build --release --quiet
target_dir=${CARGO_TARGET_DIR:-target}
[[ $target_dir == /* ]] || target_dir="$(pwd)/$target_dir"
binary="$target_dir/release/infra"
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_server PORT LATENCY_MS: starts a server and waits for it (not in a
# subshell, so that its pid is kept for the cleanup).
start_server() {
  python3 examples/rest-api/server.py --port "$1" --latency-ms "$2" --quiet \
    > "$work/server-$1.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    if grep -q listening "$work/server-$1.log" 2>/dev/null; then
      return
    fi
    sleep 0.05
  done
  echo "the test server did not start: $(cat "$work/server-$1.log")" >&2
  exit 1
}

# stack DIR PORT: N independent objects on the server at PORT.
stack() {
  mkdir -p "$1"
  {
    printf 'stack "drift_http_bench" {}\n\nprovider "http" {\n  base_url = "http://127.0.0.1:%s"\n}\n\n' "$2"
    for ((i = 0; i < n; i++)); do
      printf 'resource "http_resource" "r%d" {\n  create = {\n    path = "/items"\n    body = { name = "r%d", size = %d }\n  }\n  read_attributes = ["name", "size"]\n}\n\n' "$i" "$i" "$i"
    done
  } > "$1/main.infra"
}

# best DIR: the best wall time in ms of three `infra drift` runs (exit 0: in sync).
best() {
  local best=""
  for _ in 1 2 3; do
    local start end status=0
    start=$(date +%s%N)
    "$binary" drift -C "$1" > /dev/null || status=$?
    end=$(date +%s%N)
    if [[ $status -ne 0 ]]; then
      echo "infra drift exited $status (expected 0: in sync)" >&2
      exit 1
    fi
    local took=$(((end - start) / 1000000))
    if [[ -z "$best" || $took -lt $best ]]; then best=$took; fi
  done
  echo "$best"
}

export NO_COLOR=1
fast=$(free_port)
start_server "$fast" 0
slow=$(free_port)
start_server "$slow" "$latency"
stack "$work/fast" "$fast"
stack "$work/slow" "$slow"
"$binary" apply -C "$work/fast" --auto-approve > /dev/null 2>&1
"$binary" apply -C "$work/slow" --auto-approve > /dev/null 2>&1

baseline=$(best "$work/fast")
delayed=$(best "$work/slow")
rounds=$(((n + 63) / 64))
bound=$((rounds * latency * 3 / 2))
printf 'drift over %d http_resource, server without delay: %5d ms\n' "$n" "$baseline"
printf 'drift over %d http_resource, %d ms per answer:      %5d ms\n' "$n" "$latency" "$delayed"
printf 'bound: 1.5 x ceil(%d/64) x %d ms = %d ms: %s\n' "$n" "$latency" "$bound" \
  "$([[ $delayed -le $bound ]] && echo within || echo OVER)"
