#!/usr/bin/env bash
# Measures the engine end to end through the release binary: the create plan
# (no state), apply (creates; null resources in chains of 10), the no-op plan
# that follows (refresh through `null`), one deep chain (INFRA_CHAIN_SIZES),
# and 1,000 independent test-world resources with 100 ms per call at
# parallelism 64. Wall time and peak RSS from GNU time. Usage: bench/apply.sh [SIZES...]   (default 1000 10000 100000)
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ ! -x /usr/bin/time ]]; then
  echo "installing GNU time" >&2
  if [[ $(id -u) -eq 0 ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends time >&2
  else
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends time >&2
  fi
fi

cargo build --release --quiet
binary="$(pwd)/${CARGO_TARGET_DIR:-target}/release/infra"
out="$(pwd)/bench/out"

sizes=("$@")
if [[ ${#sizes[@]} -eq 0 ]]; then
  sizes=(1000 10000 100000)
fi

# measure LABEL ARGS...: runs the binary, prints one row.
measure() {
  local label=$1 n=$2
  shift 2
  local report
  report=$(mktemp)
  set +e
  /usr/bin/time -v "$binary" "$@" >/dev/null 2>"$report"
  local status=$?
  set -e
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$report" |
    awk -F: '{ if (NF == 3) print $1*3600 + $2*60 + $3; else print $1*60 + $2 }')
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$report")
  printf '%-28s %-9s %-8s %-12s %s\n' "$label" "$n" "$wall" "$((rss / 1024))" "$status"
  rm -f "$report"
}

printf '%-28s %-9s %-8s %-12s %s\n' case resources wall_s peak_rss_mb exit
for n in "${sizes[@]}"; do
  dir="$out/null-chains-$n"
  rm -rf "$dir"
  python3 bench/gen_null_chains.py "$n" "$dir"
  measure "plan (create, no state)" "$n" plan -C "$dir"
  measure "apply (create)" "$n" apply -C "$dir" --auto-approve
  measure "plan (no-op, refresh)" "$n" plan -C "$dir" --detailed-exitcode
  measure "plan (no-op, no refresh)" "$n" plan -C "$dir" --refresh=false
  measure "apply (no changes)" "$n" apply -C "$dir" --auto-approve
  measure "destroy" "$n" destroy -C "$dir" --auto-approve
done

# One chain of N (each link waits on the previous one's id): apply must grow
# linearly with the depth of the graph, not with its square. INFRA_CHAIN_SIZES
# picks the depths (default 1000 2000 10000); the ratio 10000/1000 should stay
# near 10.
read -r -a chain_sizes <<<"${INFRA_CHAIN_SIZES:-1000 2000 10000}"
for n in "${chain_sizes[@]}"; do
  dir="$out/null-chain-deep-$n"
  rm -rf "$dir"
  python3 bench/gen_null_chains.py "$n" "$dir" --chain "$n"
  measure "apply (one chain of N)" "$n" apply -C "$dir" --auto-approve
done

# 1,000 independent resources, 100 ms per call, parallelism 64: the bound is
# ceil(1000/64) × 0.1 s = 1.6 s.
dir="$out/world-latency"
rm -rf "$dir" "$dir-world"
python3 bench/gen_null_chains.py 1000 "$dir" --chain 1 --world
mkdir -p "$dir-world"
export INFRA_TEST_WORLD="$dir-world" INFRA_TEST_LATENCY_MS=100 INFRA_TEST_LATENCY_AFTER_MS=0
measure "apply 1000 x 100ms @64" 1000 apply -C "$dir" --auto-approve --refresh=false
