#!/usr/bin/env bash
# Runs the lock trials of tests/lock_trials.rs N times (default 100) against
# the release binary: each trial starts 2 to 4 `infra apply` processes at once
# on one environment, mixed with `state rm`, `refresh` and `import`, then
# checks the state (checksum, lineage, growing serials) and convergence.
# Reports the trials, processes, waits seen and failures.
# Usage: bench/lock_trials.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
trials="${1:-100}"
if ! [[ "$trials" =~ ^[0-9]+$ ]] || (( trials < 1 )); then
  echo "lock trials: give a number of trials, at least 1 (got '$trials')" >&2
  exit 1
fi
start=$(date +%s)
if INFRA_LOCK_TRIALS="$trials" cargo test --release --quiet --test all lock_trials:: -- --nocapture 2>&1 | tee /tmp/infra-lock-trials.log | grep -E "lock trials:"; then
  echo "lock trials: $trials of $trials passed in $(( $(date +%s) - start )) s ($(date -u +%FT%TZ), $(git rev-parse --short HEAD))"
else
  echo "lock trials: FAILED (see /tmp/infra-lock-trials.log)"
  exit 1
fi
