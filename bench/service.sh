#!/usr/bin/env bash
# Services benchmark (issue 16).
#
# Parts: INFRA_BENCH_PARTS="router deploy" (the default) or either one.
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
parts=${INFRA_BENCH_PARTS:-router deploy}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

if [[ " $parts " == *" router "* ]]; then
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
fi
[[ " $parts " == *" deploy "* ]] || exit 0

# Deploy part: blue-green deploys of one service (the app in
# examples/shop/services, health every 50 ms, a smoke test, no watch), DEPLOYS
# times (default 5, alternating v1 and v2), from a release build
# (INFRA_BENCH_DEBUG=1: the debug build; INFRA_BENCH_BIN: that binary). Each is broken into its phases from
# the audit record's phase timestamps (millisecond resolution):
#   process start  from "start green-0" to "green-0 runs as pid N"
#   health         from then to "green-0 healthy after K tries"; of which the
#                  health checks' own intervals are (K - 1) x 50 ms of sleep
#   reload, drain  as the router reports them ("router switched (reload X,
#                  drain Y)"): write, `nginx -t`, `nginx -s reload`,
#                  verification; then the old workers finishing
#   smoke          "smoke" to "smoke passed"
#   stop           "stop blue-0" to "blue stopped"
#   total          the provider call, as the engine timed it (journal
#                  checkpoints included)
#   overhead       total - health intervals - drain wait (issue 16: < 200 ms)
# It also prints the user+sys CPU time of each `infra apply` (from
# /usr/bin/time when there, else bash's `times`).
echo
echo "== deploy: blue-green of one service, start to old stopped"
deploys=${DEPLOYS:-5}
if [ -n "${INFRA_BENCH_BIN:-}" ]; then
  bin=$INFRA_BENCH_BIN
elif [ "${INFRA_BENCH_DEBUG:-0}" = 1 ]; then
  cargo build --quiet; bin="$PWD/target/debug/infra"
else
  cargo build --release --quiet; bin="$PWD/target/release/infra"
fi
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
cpu_log="$stack/cpu.log"
for i in $(seq 1 "$deploys"); do
  version=v$(( i % 2 + 1 ))
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -f "%U %S %e" -a -o "$cpu_log" \
      "$bin" apply -C "$stack" --auto-approve --var "version=$version" >/dev/null 2>&1
  else
    "$bin" apply -C "$stack" --auto-approve --var "version=$version" >/dev/null 2>&1
  fi
done
python3 - "$stack" "$deploys" <<'PY'
import json, pathlib, re, statistics, sys
stack, count = pathlib.Path(sys.argv[1]), int(sys.argv[2])
audit = next(pathlib.Path(stack, ".infra/state").rglob("audit.jsonl"))
records = [json.loads(line) for line in audit.read_text().splitlines()][-count:]
INTERVAL = 50
rows = []
for record in records:
    action = next(a for a in record["actions"] if a["address"] == "service.api")
    phases = [(p["at_ms"], p["phase"]) for p in action["phases"]]
    def at(pattern):
        return next((t, m) for t, text in phases if (m := re.match(pattern, text)))
    start, _ = at(r"start \w+-0")
    runs, _ = at(r"\w+-0 runs as pid")
    healthy, m = at(r"\w+-0 healthy after (\d+) tr")
    tries = int(m.group(1))
    switched, m = at(r"router switched \(reload ([\d.]+)(ms|s), drain ([\d.]+)(ms|s)\)")
    ms = lambda v, unit: float(v) * (1000 if unit == "s" else 1)
    reload, drain = ms(m.group(1), m.group(2)), ms(m.group(3), m.group(4))
    smoke, _ = at(r"smoke$")
    smoked, _ = at(r"smoke passed")
    stop, _ = at(r"stop \w+-0")
    stopped, _ = at(r"\w+ stopped")
    total = action["duration_ms"]
    sleeps = (tries - 1) * INTERVAL
    rows.append({
        "process start": runs - start,
        "health": healthy - runs,
        "  health intervals (sleep)": sleeps,
        "  health tries": tries,
        "reload": reload,
        "drain": drain,
        "smoke": smoked - smoke,
        "stop old": stopped - stop,
        "total (the call)": total,
        "overhead": total - sleeps - drain,
    })
print(f"{count} deploys; median (min..max), ms unless said:")
for key in rows[0]:
    values = [r[key] for r in rows]
    print(f"  {key:28s} {statistics.median(values):8.1f}   ({min(values):.0f}..{max(values):.0f})")
over = statistics.median(r["overhead"] for r in rows)
print(f"overhead beyond health intervals and drain: {over:.0f} ms (target < 200 ms)")
cpu = pathlib.Path(stack, "cpu.log")
if cpu.exists():
    lines = [l.split() for l in cpu.read_text().splitlines() if re.match(r"^[\d.]+ [\d.]+ [\d.]+$", l)]
    if lines:
        user = statistics.median(float(l[0]) for l in lines)
        system = statistics.median(float(l[1]) for l in lines)
        wall = statistics.median(float(l[2]) for l in lines)
        print(f"infra apply (whole command), median: user {user*1000:.0f} ms, sys {system*1000:.0f} ms, wall {wall*1000:.0f} ms")
PY
