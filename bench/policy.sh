#!/usr/bin/env bash
# Measures policy evaluation through the release binary: `infra plan` over N
# (default 10,000) `null_resource`s with and without ten policies (the five
# std policies and five written below), best of RUNS (default 5) runs each;
# the difference is the policies' cost (building the input document,
# converting it for the engine and evaluating every rule). The issue's target
# is under 1 s for ten policies over 10,000 resources.
#
# It prints the wall time and the user CPU time of both plans, and the
# policies' cost and cost per resource in each. Read the user CPU time on a
# shared machine: it moves far less than the wall time (another process's
# build takes the cores, not this process's instructions); it counts both
# threads the rules run on, so on an idle 2-core machine the wall cost is
# below it. Instruction counts (steadier still) are in docs/performance.md,
# taken with `valgrind --tool=callgrind` on the same two plans.
# Usage: bench/policy.sh [N]   (INFRA_BIN=path: time that binary, no build;
# RUNS=n: best of n)
set -euo pipefail
cd "$(dirname "$0")/.."

n=${1:-10000}
runs=${RUNS:-5}
if [[ -n ${INFRA_BIN:-} ]]; then
  binary=$INFRA_BIN
else
  cargo build --release --quiet
  target_dir=${CARGO_TARGET_DIR:-target}
  [[ $target_dir == /* ]] || target_dir="$(pwd)/$target_dir"
  binary="$target_dir/release/infra"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/policy"
{
  echo 'stack "policy_bench" {}'
  for ((i = 0; i < n; i++)); do
    printf 'resource "null_resource" "r%d" {\n  triggers = { owner = "team-%d", name = "r%d", size = "%d" }\n}\n\n' \
      "$i" "$((i % 7))" "$i" "$i"
  done
} > "$work/main.infra"
cat > "$work/policy/ownership.rego" <<'REGO'
package bench.ownership
import rego.v1
deny contains {"msg": "no owner", "address": c.address} if {
	some c in input.plan.resource_changes
	c.type == "null_resource"
	not c.after.triggers.owner
}
REGO
cat > "$work/policy/naming.rego" <<'REGO'
package bench.naming
import rego.v1
deny contains {"msg": "bad name", "address": c.address} if {
	some c in input.plan.resource_changes
	not regex.match(`^[a-z][a-z0-9_]*$`, c.name)
}
REGO
cat > "$work/policy/size.rego" <<'REGO'
package bench.size
import rego.v1
warn contains "a very large plan" if count(input.plan.resource_changes) > 50000
REGO
cat > "$work/policy/teams.rego" <<'REGO'
package bench.teams
import rego.v1
allowed := {sprintf("team-%d", [i]) | some i in numbers.range(0, 9)}
deny contains {"msg": "unknown team", "address": r.address} if {
	some r in input.config.resources
	not r.attributes.triggers.owner in allowed
}
REGO
cat > "$work/policy/deletes.rego" <<'REGO'
package bench.deletes
import rego.v1
warn contains sprintf("%d deletes", [n]) if {
	n := count([c | some c in input.plan.resource_changes; "delete" in c.actions])
	n > 0
}
REGO

export NO_COLOR=1
# best_ms ARGS...: the best wall time and the best user CPU time (ms, "WALL
# USER") of RUNS `infra plan` runs.
best_ms() {
  local best="" best_user=""
  for ((run = 0; run < runs; run++)); do
    local took user times
    # bash's `time` prints "REAL USER" (seconds, 3 decimals) to stderr.
    times=$( { TIMEFORMAT='%3R %3U'; time "$binary" plan -C "$work" --refresh=false "$@" \
      > /dev/null 2>&1 || true; } 2>&1)
    took=$(echo "$times" | awk '{ printf "%d", $1 * 1000 }')
    user=$(echo "$times" | awk '{ printf "%d", $2 * 1000 }')
    if [[ -z "$best" || $took -lt $best ]]; then best=$took; fi
    if [[ -z "$best_user" || $user -lt $best_user ]]; then best_user=$user; fi
  done
  echo "$best $best_user"
}

policies=(--policy policy --policy std/policy/tagging --policy std/policy/destroy_guard
  --policy std/policy/no_plaintext --policy std/policy/postgres --policy std/policy/s3)
# Every policy passes: the run must end with exit 0 and no denial.
"$binary" plan -C "$work" --refresh=false "${policies[@]}" > "$work/check.txt"
grep -q "10 policies checked, 0 denials" "$work/check.txt" || {
  echo "bench/policy.sh: the ten policies did not all pass:" >&2
  tail -20 "$work/check.txt" >&2
  exit 1
}
read -r without without_user < <(best_ms)
read -r with with_user < <(best_ms "${policies[@]}")
cost=$((with - without))
cost_user=$((with_user - without_user))
per() { awk -v ms="$1" -v n="$n" 'BEGIN { printf "%.1f", ms * 1000 / n }'; }
printf 'plan of %d resources, no policy:    %6d ms wall, %6d ms user CPU (best of %d)\n' \
  "$n" "$without" "$without_user" "$runs"
printf 'plan of %d resources, ten policies: %6d ms wall, %6d ms user CPU (best of %d)\n' \
  "$n" "$with" "$with_user" "$runs"
printf 'ten policies, wall:     %6d ms, %s µs per resource (target: under 1000 ms)\n' \
  "$cost" "$(per "$cost")"
printf 'ten policies, user CPU: %6d ms, %s µs per resource (both policy threads)\n' \
  "$cost_user" "$(per "$cost_user")"
