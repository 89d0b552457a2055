#!/usr/bin/env bash
# Measures `infra drift` through the release binary over N (default 1,000)
# file-backed test-world resources (`INFRA_TEST_WORLD`), with every provider
# call delayed by 20 ms, at the default parallelism (64). The issue's bound
# for the reads is 1.5 × ceil(N/64) × 20 ms; the baseline run (no delay)
# shows the fixed cost (check, state read and unsealing) that comes on top.
# Usage: bench/drift.sh [N]   Prints one row per run and the bound.
set -euo pipefail
cd "$(dirname "$0")/.."

n=${1:-1000}
latency=20
cargo build --release --quiet
target_dir=${CARGO_TARGET_DIR:-target}
[[ $target_dir == /* ]] || target_dir="$(pwd)/$target_dir"
binary="$target_dir/release/infra"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/stack" "$work/world"
{
  echo 'stack "drift_bench" {}'
  for ((i = 0; i < n; i++)); do
    printf 'resource "test_resource" "r%d" {\n  name  = "r%d"\n  value = "v%d"\n}\n\n' "$i" "$i" "$i"
  done
} > "$work/stack/main.infra"
export INFRA_TEST_WORLD="$work/world" NO_COLOR=1
"$binary" apply -C "$work/stack" --auto-approve > /dev/null 2>&1

# seconds LATENCY_MS: the best wall time of three `infra drift` runs.
seconds() {
  local best=""
  for _ in 1 2 3; do
    local start end
    start=$(date +%s%N)
    INFRA_TEST_LATENCY_MS=$1 "$binary" drift -C "$work/stack" > /dev/null
    end=$(date +%s%N)
    local took=$(((end - start) / 1000000))
    if [[ -z "$best" || $took -lt $best ]]; then best=$took; fi
  done
  echo "$best"
}

baseline=$(seconds 0)
delayed=$(seconds "$latency")
rounds=$(((n + 63) / 64))
bound=$((rounds * latency * 3 / 2))
printf 'drift over %d resources, no delay:      %5d ms\n' "$n" "$baseline"
printf 'drift over %d resources, %d ms per read: %5d ms (reads: %d ms)\n' \
  "$n" "$latency" "$delayed" "$((delayed - baseline))"
printf 'bound for the reads: 1.5 x ceil(%d/64) x %d ms = %d ms: %s\n' "$n" "$latency" "$bound" \
  "$([[ $((delayed - baseline)) -le $bound ]] && echo within || echo OVER)"
