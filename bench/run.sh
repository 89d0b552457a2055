#!/usr/bin/env bash
# Measures `infra validate` on generated stacks of 1k, 10k and 100k resources:
# wall time, user + system CPU time and peak RSS, from GNU time, best of
# $RUNS runs (3; the highest peak is shown). Usage: bench/run.sh [SIZES...]
# Stacks are written under bench/out/ (git-ignored) and reused when present.
# INFRA_BIN=path measures another build (to compare before and after).
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

if [[ -n ${INFRA_BIN:-} ]]; then
  binary=$INFRA_BIN
else
  cargo build --release --quiet
  binary="${CARGO_TARGET_DIR:-target}/release/infra"
fi
runs=${RUNS:-3}

sizes=("$@")
if [[ ${#sizes[@]} -eq 0 ]]; then
  sizes=(1000 10000 100000)
fi

printf '%-10s %-12s %-8s %-8s %-12s %s\n' resources bytes wall_s cpu_s peak_rss_mb exit
for n in "${sizes[@]}"; do
  dir="bench/out/stack-$n"
  if [[ ! -f "$dir/.complete" ]]; then
    python3 bench/gen_stack.py "$n" "$dir"
    touch "$dir/.complete"
  fi
  bytes=$(cat "$dir"/*.infra | wc -c)
  best_wall="" best_cpu="" peak_kb=0 status=0
  for ((run = 0; run < runs; run++)); do
    report=$(mktemp)
    set +e
    /usr/bin/time -v "$binary" validate -C "$dir" >/dev/null 2>"$report"
    status=$?
    set -e
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$report" |
      awk -F: '{ if (NF == 3) print $1*3600 + $2*60 + $3; else print $1*60 + $2 }')
    cpu=$(awk -F': ' '/User time|System time/ {sum += $2} END {printf "%.2f", sum}' "$report")
    rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$report")
    if [[ -z $best_wall ]] || awk -v a="$wall" -v b="$best_wall" 'BEGIN {exit !(a < b)}'; then
      best_wall=$wall
    fi
    if [[ -z $best_cpu ]] || awk -v a="$cpu" -v b="$best_cpu" 'BEGIN {exit !(a < b)}'; then
      best_cpu=$cpu
    fi
    ((rss_kb > peak_kb)) && peak_kb=$rss_kb
    if [[ $status -ne 0 ]]; then
      echo "  (infra validate exited $status; its stderr is below)" >&2
      grep -v -E '^\s+(Command|User|System|Percent|Elapsed|Average|Maximum|Major|Minor|Voluntary|Involuntary|Swaps|File|Socket|Signals|Page|Exit)' "$report" | head -20 >&2 || true
    fi
    rm -f "$report"
  done
  printf '%-10s %-12s %-8s %-8s %-12s %s\n' "$n" "$bytes" "$best_wall" "$best_cpu" "$((peak_kb / 1024))" "$status"
done
