#!/usr/bin/env bash
# Every figure of docs/performance.md in one run, through the release binary,
# under GNU time: wall, user and system CPU time (best of $RUNS, default 3)
# and peak RSS (the highest):
#   1. `infra validate` on the synthetic stack of bench/gen_stack.py;
#   2. null resources in chains of 10 (bench/gen_null_chains.py): validate,
#      plan (create), apply, no-op plan; with the ratio of the largest size
#      to the one ten times smaller (linearity);
#   3. one deep chain of N (CHAIN_SIZES, default "1000 10000"): apply;
#   4. history: what one more resource adds to `.infra/` after the largest
#      apply (one version more);
#   5. Terraform side by side (../shared/peers/side_by_side.sh, when it can
#      be set up; PEERS=0 skips it) at PEER_SIZE (default 10000), validate
#      and plan (PEER_APPLY=1 adds apply and the no-op plan: Terraform's
#      10k apply takes about 25 minutes);
#   and the targets beside the figures.
# Usage: bench/run.sh [SIZES...]   (default 1000 10000 100000)
# Stacks are written under bench/out/ (git-ignored). INFRA_BIN=path measures
# another build (to compare before and after).
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
  binary=$(realpath "$INFRA_BIN")
else
  cargo build --release --quiet
  binary="$(pwd)/${CARGO_TARGET_DIR:-target}/release/infra"
fi
runs=${RUNS:-3}
out="$(pwd)/bench/out"
mkdir -p "$out"

sizes=("$@")
if [[ ${#sizes[@]} -eq 0 ]]; then
  sizes=(1000 10000 100000)
fi
read -r -a chain_sizes <<<"${CHAIN_SIZES:-1000 10000}"

# Figures by "step size", for the ratios and targets at the end.
declare -A wall_of user_of rss_of

# measure STEP SIZE RESET ARGS...: runs `infra ARGS` $runs times (RESET, a
# command, runs before each: for apply, which changes what it measures),
# prints one row and files the figures.
measure() {
  local step=$1 n=$2 reset=$3
  shift 3
  local best_wall="" best_user="" best_sys="" peak_kb=0 status=0 run report
  for ((run = 0; run < runs; run++)); do
    eval "$reset"
    report=$(mktemp)
    set +e
    /usr/bin/time -f '%e %U %S %M' -o "$report" "$binary" "$@" >/dev/null 2>"$report.err"
    status=$?
    set -e
    read -r wall user sys rss_kb <"$report"
    if [[ $status -ne 0 && $status -ne 2 ]]; then
      echo "  (infra $* exited $status)" >&2
      head -20 "$report.err" >&2
    fi
    rm -f "$report" "$report.err"
    if [[ -z $best_wall ]] || awk -v a="$wall" -v b="$best_wall" 'BEGIN {exit !(a < b)}'; then best_wall=$wall; fi
    if [[ -z $best_user ]] || awk -v a="$user" -v b="$best_user" 'BEGIN {exit !(a < b)}'; then best_user=$user; fi
    if [[ -z $best_sys ]] || awk -v a="$sys" -v b="$best_sys" 'BEGIN {exit !(a < b)}'; then best_sys=$sys; fi
    ((rss_kb > peak_kb)) && peak_kb=$rss_kb
  done
  wall_of["$step $n"]=$best_wall
  user_of["$step $n"]=$best_user
  rss_of["$step $n"]=$((peak_kb / 1024))
  printf '%-26s %-8s %-8s %-8s %-8s %-8s %s\n' "$step" "$n" "$best_wall" "$best_user" "$best_sys" "$((peak_kb / 1024))" "$status"
}

echo "infra $("$binary" --version 2>/dev/null || true), git $(git rev-parse --short HEAD 2>/dev/null || echo ?), $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-26s %-8s %-8s %-8s %-8s %-8s %s\n' step size wall_s user_s sys_s rss_mb exit

# 1. The synthetic stack (every kind of block and expression).
for n in "${sizes[@]}"; do
  dir="$out/stack-$n"
  if [[ ! -f "$dir/.complete" ]]; then
    python3 bench/gen_stack.py "$n" "$dir"
    touch "$dir/.complete"
  fi
  measure "validate (synthetic)" "$n" : validate -C "$dir"
done

# 2. Null resources in chains of 10 (the shape Terraform is compared on).
for n in "${sizes[@]}"; do
  dir="$out/null-chains-$n"
  rm -rf "$dir"
  python3 bench/gen_null_chains.py "$n" "$dir"
  measure "validate" "$n" : validate -C "$dir"
  measure "plan (create)" "$n" : plan -C "$dir"
  measure "apply (create)" "$n" "rm -rf '$dir/.infra'" apply -C "$dir" --auto-approve
  measure "plan (no-op)" "$n" : plan -C "$dir"
done

# 3. One deep chain: apply must grow linearly with the depth.
for n in "${chain_sizes[@]}"; do
  dir="$out/null-chain-deep-$n"
  rm -rf "$dir"
  python3 bench/gen_null_chains.py "$n" "$dir" --chain "$n"
  measure "apply (one chain of N)" "$n" "rm -rf '$dir/.infra'" apply -C "$dir" --auto-approve
done

# 4. History: one resource more on the largest stack, one version more.
largest=${sizes[-1]}
dir="$out/null-chains-$largest"
before=$(du -sb "$dir/.infra" | cut -f1)
printf 'resource "null_resource" "one_more" {\n  triggers = { prev = "x" }\n}\n' >"$dir/one_more.infra"
"$binary" apply -C "$dir" --auto-approve >/dev/null 2>&1
after=$(du -sb "$dir/.infra" | cut -f1)
current=$(du -sb "$dir"/.infra/state/*/*.json | cut -f1 | head -1)
added_kb=$(((after - before) / 1024))
echo "history: one resource more on $largest adds ${added_kb} KB to .infra (the current state file is $((current / 1024)) KB)"
rm -f "$dir/one_more.infra"

# 5. Terraform, side by side, in the same run.
if [[ ${PEERS:-1} != 0 ]]; then
  peers="$(pwd)/../shared/peers"
  [[ -x $peers/side_by_side.sh ]] || peers="/work/shared/peers"
  if [[ -x $peers/side_by_side.sh ]] && "$peers/setup.sh" >/dev/null 2>&1; then
    echo "Terraform side by side, ${PEER_SIZE:-10000} resources in chains of 10 (wall, peak RSS):"
    "$peers/side_by_side.sh" "$binary" "${PEER_SIZE:-10000}" ${PEER_APPLY:+apply}
  else
    echo "(Terraform peer not available: ../shared/peers/side_by_side.sh could not be set up)"
  fi
fi

# Ratios and targets.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "-" }'; }
echo
echo "linearity (each size / ten times smaller, user CPU time; wall on a quiet machine):"
for step in "validate" "plan (create)" "apply (create)" "plan (no-op)"; do
  for n in "${sizes[@]}"; do
    small=$((n / 10))
    if [[ -n ${wall_of["$step $small"]:-} && -n ${wall_of["$step $n"]:-} ]]; then
      echo "  $step $n/$small: cpu $(ratio "${user_of["$step $n"]}" "${user_of["$step $small"]}"), wall $(ratio "${wall_of["$step $n"]}" "${wall_of["$step $small"]}")"
    fi
  done
done
if [[ -n ${wall_of["apply (one chain of N) 10000"]:-} && -n ${wall_of["apply (one chain of N) 1000"]:-} ]]; then
  echo "  one chain 10000/1000: cpu $(ratio "${user_of["apply (one chain of N) 10000"]}" "${user_of["apply (one chain of N) 1000"]}"), wall $(ratio "${wall_of["apply (one chain of N) 10000"]}" "${wall_of["apply (one chain of N) 1000"]}") (target <= 12)"
fi
echo
echo "targets (issue 14):"
target() { # STEP SIZE WALL_S [RSS_MB]
  local key="$1 $2"
  [[ -n ${wall_of[$key]:-} ]] || return 0
  printf '  %-22s %-7s wall %-6s user %-6s (<= %s s)' "$1" "$2" "${wall_of[$key]}" "${user_of[$key]}" "$3"
  [[ -n ${4:-} ]] && printf '  rss %-5s (<= %s MB)' "${rss_of[$key]}" "$4"
  echo
}
target "validate" 10000 0.065
target "plan (no-op)" 10000 0.25
target "validate" 100000 0.6 250
target "plan (no-op)" 100000 2 600
target "apply (create)" 100000 5 1024
target "apply (one chain of N)" 10000 1
echo "  history per small change: ${added_kb} KB (< 1024 KB)"
