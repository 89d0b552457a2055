#!/usr/bin/env bash
# Times what the tests used to assert with a stopwatch and now assert as
# behaviour (tests never time: a loaded 2-core machine makes any bound flaky).
# Release build; each row is the best wall time of three runs.
#
#   - `infra state rm` against a state lock held elsewhere: refused at once
#     (tests/state_cli.rs checks it never starts waiting);
#   - `infra drift` against a lock left by a process that is gone: it goes on
#     without waiting (tests/drift.rs checks there is no waiting line);
#   - `infra drift --lock-timeout 1s` against a live lock: gives up after 1 s;
#   - `infra plan` after the root of one long chain of null resources changed,
#     so every link is replaced and the impact analysis walks the whole chain
#     at N and 2N (src/plan/tests.rs counts the links it follows instead).
#
# Usage: bench/locks_and_impact.sh [N]   (chain length, default 20000)
set -euo pipefail
cd "$(dirname "$0")/.."

n=${1:-20000}
cargo build --release --quiet
target_dir=${CARGO_TARGET_DIR:-target}
[[ $target_dir == /* ]] || target_dir="$(pwd)/$target_dir"
binary="$target_dir/release/infra"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export NO_COLOR=1
unset INFRA_STATE_KEY

# best MS_VAR COMMAND...: the best wall time of three runs, in ms (any exit).
best() {
  local best="" start end took
  for _ in 1 2 3; do
    start=$(date +%s%N)
    "$@" > /dev/null 2>&1 || true
    end=$(date +%s%N)
    took=$(((end - start) / 1000000))
    if [[ -z "$best" || $took -lt $best ]]; then best=$took; fi
  done
  echo "$best"
}

# A one-resource stack with a state, and a lock file written by hand.
stack="$work/locks"
mkdir -p "$stack"
printf 'stack "b" {}\n\nresource "null_resource" "a" {\n  triggers = { x = "1" }\n}\n' > "$stack/main.infra"
"$binary" apply -C "$stack" --auto-approve > /dev/null 2>&1
lock="$stack/.infra/state/b/default.lock"
write_lock() { # HOST PID
  printf '{"id":"00000000-0000-4000-8000-000000000001","user":"bench","host":"%s","pid":%d,"operation":"apply","created_at":1700000000}' \
    "$1" "$2" > "$lock"
}

write_lock another-machine 1
printf '%-58s %6d ms\n' "state rm, lock held elsewhere (refused at once)" \
  "$(best "$binary" state rm -C "$stack" null_resource.a)"
printf '%-58s %6d ms\n' "drift --lock-timeout 1s, lock held elsewhere (gives up)" \
  "$(best "$binary" drift -C "$stack" --lock-timeout 1s)"
hostname=$(cat /proc/sys/kernel/hostname 2>/dev/null || hostname)
true & gone=$!
wait "$gone"
write_lock "$hostname" "$gone"
printf '%-58s %6d ms\n' "drift, lock of a process that is gone (no wait)" \
  "$(best "$binary" drift -C "$stack" --lock-timeout 20s)"
rm -f "$lock"

# One chain of N and of 2N: apply, change the root's trigger, time the plan
# (every link is replaced; the impact analysis walks the chain once).
for size in "$n" "$((2 * n))"; do
  dir="$work/chain-$size"
  python3 bench/gen_null_chains.py "$size" "$dir" --chain "$size"
  "$binary" apply -C "$dir" --auto-approve > /dev/null 2>&1
  sed -i 's/prev = "start"/prev = "restart"/' "$dir/r0000.infra"
  printf '%-58s %6d ms\n' "plan, root of a chain of $size changed" \
    "$(best "$binary" plan -C "$dir" --refresh=false)"
done
