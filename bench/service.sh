#!/usr/bin/env bash
# Services benchmark (issue 16).
#
# Router part: a release build of tests/router.rs switches a real nginx router
# between two upstreams SWITCHES times (default 50) while the load loop (20
# concurrent clients on loopback, each request on its own connection) sends
# requests through it, and reports the reload time (from `ensure` called to
# the new configuration serving with no old worker accepting: write, `nginx
# -t`, `nginx -s reload`, verification) and the requests the load loop saw
# fail, which must be 0.
#
# Needs nginx (Debian `nginx-light`; tests/run.sh installs it).
# Usage: bench/service.sh [SWITCHES]
set -euo pipefail
cd "$(dirname "$0")/.."

switches=${1:-50}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

echo "== router: $switches reloads under the load loop (20 clients)"
INFRA_ROUTER_SWITCHES="$switches" INFRA_ROUTER_BENCH_OUT="$out" \
  cargo test --release --quiet --test router switching_upstreams_under_load_drops_no_request \
  > /dev/null
awk '
  /^switches/ { printf "reloads:             %d\n", $2 }
  /^reload_ms_median/ { printf "reload, median:      %.1f ms\n", $2 }
  /^reload_ms_max/ { printf "reload, worst:       %.1f ms\n", $2 }
  /^requests/ { printf "requests sent:       %d\n", $2 }
  /^failed/ { printf "requests failed:     %d\n", $2; failed = $2 }
  END { if (failed != 0) { print "FAIL: the router dropped requests" > "/dev/stderr"; exit 1 } }
' "$out"
