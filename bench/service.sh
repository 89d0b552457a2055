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
  cargo test --release --quiet --test all router::switching_upstreams_under_load_drops_no_request \
  > /dev/null
awk '
  /^switches/ { printf "reloads:             %d\n", $2 }
  /^reload_ms_median/ { printf "reload, median:      %.1f ms\n", $2 }
  /^reload_ms_max/ { printf "reload, worst:       %.1f ms\n", $2 }
  /^requests/ { printf "requests sent:       %d\n", $2 }
  /^failed/ { printf "requests failed:     %d\n", $2; failed = $2 }
  END { if (failed != 0) { print "FAIL: the router dropped requests" > "/dev/stderr"; exit 1 } }
' "$out"

# Deploy part: a blue-green deploy of one service (the app in
# examples/shop/services, health every 50 ms, a smoke test, no watch) from
# the call to the old colour stopped, broken into its phases from the audit
# record's phase timestamps: process start + health (start → switch), router
# reload + drain of the old workers (switch → smoke), smoke, and stopping the
# old colour. Uses the debug build unless INFRA_BENCH_RELEASE=1.
echo
echo "== deploy: blue-green of one service, start to old stopped"
profile=debug
if [ "${INFRA_BENCH_RELEASE:-0}" = 1 ]; then profile=release; cargo build --release --quiet; else cargo build --quiet; fi
bin="$PWD/target/$profile/infra"
stack=$(mktemp -d)
trap 'rm -f "$out"; "$bin" destroy -C "$stack" --auto-approve >/dev/null 2>&1 || true; rm -rf "$stack"' EXIT
cp examples/shop/services/app.py "$stack/"
read -r port listen < <(python3 -c 'import socket
s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1",0)) for x in s]
print(*[x.getsockname()[1] for x in s])')
cat > "$stack/main.infra" <<INFRA
stack "bench" {}
variable "version" {
  default = "v1"
}
service "api" {
  run    = ["python3", "app.py", "\${self.port}"]
  port   = $port
  env    = { VERSION = var.version }
  health = { http = "http://127.0.0.1:\${self.port}/health", interval = "50ms", timeout = "2s" }
  smoke  = { http = "http://127.0.0.1:$listen/smoke" }
  router = { listen = $listen }
  deploy = { strategy = "blue_green" }
}
INFRA
"$bin" apply -C "$stack" --auto-approve >/dev/null 2>&1
"$bin" apply -C "$stack" --auto-approve --var version=v2 >/dev/null 2>&1
python3 - "$stack" <<'PY'
import json, pathlib, sys
audit = next(pathlib.Path(sys.argv[1], ".infra/state").rglob("audit.jsonl"))
record = json.loads(audit.read_text().splitlines()[-1])
action = next(a for a in record["actions"] if a["address"] == "service.api")
phases = action["phases"]
first = phases[0]["at_ms"]
end = first + action["duration_ms"]  # close enough: the call starts at its first phase
def at(prefix):
    return next(p["at_ms"] for p in phases if p["phase"].startswith(prefix))
start, switch, smoke, stop = at("start "), at("switch router"), at("smoke"), at("stop ")
print(f"deploy, start to old stopped: {action['duration_ms']} ms")
print(f"  process start + health:     {switch - start} ms (health every 50 ms)")
print(f"  router reload + drain:      {smoke - switch} ms")
print(f"  smoke:                      {stop - smoke} ms")
print(f"  stop the old colour:        {end - stop} ms")
for p in phases:
    print(f"    +{p['at_ms'] - first:5d} ms  {p['phase']}")
PY
