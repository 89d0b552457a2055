#!/usr/bin/env bash
# Runs the crash trials of tests/crash.rs N times (default 100) against the
# release binary (kill -9, SIGTERM or SIGHUP during creates, updates and
# replaces) and reports how many passed and how many stopped the apply
# mid-work (the test fails unless most did). Usage: bench/crash_trials.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
trials="${1:-100}"
if ! [[ "$trials" =~ ^[0-9]+$ ]] || (( trials < 1 )); then
  echo "crash trials: give a number of trials, at least 1 (got '$trials')" >&2
  exit 1
fi
start=$(date +%s)
if INFRA_CRASH_TRIALS="$trials" cargo test --release --quiet --test all crash:: -- --nocapture 2>&1 | tee /tmp/infra-crash-trials.log | grep -E "crash trials:"; then
  echo "crash trials: $trials of $trials passed in $(( $(date +%s) - start )) s ($(date -u +%FT%TZ), $(git rev-parse --short HEAD))"
else
  echo "crash trials: FAILED (see /tmp/infra-crash-trials.log)"
  exit 1
fi
