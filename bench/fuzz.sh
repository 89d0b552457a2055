#!/usr/bin/env bash
# Runs the grammar-aware fuzzer (tests/suite/fuzz_grammar.rs) for N cases of
# each property — valid stacks (format round trip, same plan after
# formatting, plan never reports infra::internal) and almost-valid stacks
# (diagnostics, never a panic) — in release, and prints the cases, the time
# taken and the failures.
#
#   bench/fuzz.sh 1000000
#
# A failure is minimised by proptest and its seed written to
# tests/suite/fuzz_grammar.proptest-regressions; commit that file (or turn the
# minimal input into a tests/corpus/ case) with the fix.
set -euo pipefail
cd "$(dirname "$0")/.."
cases="${1:?usage: bench/fuzz.sh N (cases of each property)}"
cargo test --release --test all corpus:: --no-run >/dev/null 2>&1 \
  || cargo test --release --test all corpus:: --no-run
log="$(mktemp)"
start=$(date +%s)
status=0
INFRA_FUZZ_CASES="$cases" RUST_BACKTRACE=0 \
  cargo test --release --test all corpus::fuzz_grammar >"$log" 2>&1 || status=$?
end=$(date +%s)
failures=$(grep -c '^    fuzz_grammar::' "$log" || true)
echo "fuzz_grammar: $cases cases of each of 2 properties ($((2 * cases)) stacks)"
echo "time: $((end - start)) s on $(nproc) cores, revision $(git rev-parse --short HEAD)"
echo "failures: $failures"
if [[ $status -ne 0 ]]; then
  grep -A40 'minimal failing input' "$log" || tail -40 "$log"
  rm -f "$log"
  exit 1
fi
rm -f "$log"
