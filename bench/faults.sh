#!/usr/bin/env bash
# Injected faults at scale: applies N independent test-world resources (N
# creates), then runs drift, refresh and a plan (N reads each), with
# INFRA_TEST_FAULTS (default 0.1) of the calls answered by a timeout, a 429
# (with and without Retry-After) or a 503, from INFRA_TEST_FAULTS_SEED
# (default 1). Prints the calls, the faults injected by kind, the retries the
# apply reported, and whether each command converged (exit 0, nothing
# created twice, a final plan with no changes).
# Usage: bench/faults.sh [N]   (default 10000 resources: 10,000 creates and 30,000 reads)
set -euo pipefail
cd "$(dirname "$0")/.."

n=${1:-10000}
share=${INFRA_TEST_FAULTS:-0.1}
seed=${INFRA_TEST_FAULTS_SEED:-1}

cargo build --release --quiet
binary="$(pwd)/${CARGO_TARGET_DIR:-target}/release/infra"
dir="$(pwd)/bench/out/faults-$n"
rm -rf "$dir"
mkdir -p "$dir/world"
{
  echo 'stack "faults" {}'
  for ((i = 0; i < n; i++)); do
    printf 'resource "test_resource" "r%d" {\n  name  = "r%d"\n  value = "v%d"\n}\n\n' "$i" "$i" "$i"
  done
} >"$dir/main.infra"

export INFRA_TEST_WORLD="$dir/world" INFRA_TEST_FAULTS="$share" INFRA_TEST_FAULTS_SEED="$seed" NO_COLOR=1
unset INFRA_STATE_KEY

faults_so_far() { if [[ -f "$dir/world/faults.log" ]]; then wc -l <"$dir/world/faults.log"; else echo 0; fi; }

printf '%-10s %-8s %-8s %-8s %-6s\n' command calls faults retries exit
before=$(faults_so_far)
set +e
"$binary" -C "$dir" apply --auto-approve --retry-backoff 10ms >"$dir/apply.out" 2>"$dir/apply.err"
status=$?
set -e
retries=$(sed -n 's/^\([0-9]*\) retr.* after transient provider errors.*/\1/p' "$dir/apply.out")
printf '%-10s %-8s %-8s %-8s %-6s\n' apply "$n" "$(($(faults_so_far) - before))" "${retries:-0}" "$status"
for command in "drift" "refresh --auto-approve" "plan --detailed-exitcode"; do
  before=$(faults_so_far)
  set +e
  # shellcheck disable=SC2086
  "$binary" -C "$dir" $command >/dev/null 2>"$dir/last.err"
  status=$?
  set -e
  printf '%-10s %-8s %-8s %-8s %-6s\n' "${command%% *}" "$n" "$(($(faults_so_far) - before))" "-" "$status"
done

echo
echo "faults by kind:"
awk '{print $3}' "$dir/world/faults.log" | sort | uniq -c
duplicates=$(awk '{print $2}' "$dir/world/creates.log" | sort | uniq -d | wc -l)
echo "objects: $(wc -l <"$dir/world/creates.log") created, $duplicates created twice"
