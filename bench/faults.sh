#!/usr/bin/env bash
# Injected faults at scale, through the release binary. N independent
# resources are applied (N creates), then drift, refresh and a plan read them
# (N reads each), then destroy deletes them (N deletes), while a share of the
# calls (INFRA_TEST_FAULTS, default 0.1) is answered by a timeout, a 429 with
# and without Retry-After, or a 503, from a seed (INFRA_TEST_FAULTS_SEED,
# default 1). Prints, per command, the calls, the faults injected, the
# retries the command reported (apply and destroy), its exit code (0 =
# converged) and wall time; then the faults by kind and whether anything was
# created twice.
#
# Target `world` (default): the file-backed test world (INFRA_TEST_FAULTS).
# Target `http`: examples/rest-api/server.py --faults (timeouts of 1.5 s
# against a provider timeout of 1 s).
# Usage: bench/faults.sh [N] [world|http]   (default 10000 world)
set -euo pipefail
cd "$(dirname "$0")/.."

n=${1:-10000}
target=${2:-world}
share=${INFRA_TEST_FAULTS:-0.1}
seed=${INFRA_TEST_FAULTS_SEED:-1}

cargo build --release --quiet
binary="$(pwd)/${CARGO_TARGET_DIR:-target}/release/infra"
dir="$(pwd)/bench/out/faults-$target-$n"
rm -rf "$dir"
mkdir -p "$dir/world"
export NO_COLOR=1
unset INFRA_STATE_KEY
server_pid=""
trap '[[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null; true' EXIT

case $target in
world)
  export INFRA_TEST_WORLD="$dir/world" INFRA_TEST_FAULTS="$share" INFRA_TEST_FAULTS_SEED="$seed"
  {
    echo 'stack "faults" {}'
    for ((i = 0; i < n; i++)); do
      printf 'resource "test_resource" "r%d" {\n  name  = "r%d"\n  value = "v%d"\n}\n\n' "$i" "$i" "$i"
    done
  } >"$dir/main.infra"
  faults_so_far() { if [[ -f "$dir/world/faults.log" ]]; then wc -l <"$dir/world/faults.log"; else echo 0; fi; }
  faults_by_kind() { awk '{print $3}' "$dir/world/faults.log" | sort | uniq -c; }
  duplicates() { awk '{print $2}' "$dir/world/creates.log" | sort | uniq -d | wc -l; }
  ;;
http)
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  python3 examples/rest-api/server.py --port "$port" --quiet --faults "$share" --seed "$seed" \
    --fault-timeout-ms 1500 >"$dir/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do
    grep -q listening "$dir/server.log" 2>/dev/null && break
    sleep 0.05
  done
  {
    printf 'stack "faults" {}\n\nprovider "http" {\n  base_url = "http://127.0.0.1:%s"\n  timeout  = 1\n}\n\n' "$port"
    for ((i = 0; i < n; i++)); do
      printf 'resource "http_resource" "r%d" {\n  create = {\n    path = "/items"\n    body = { name = "r%d", size = %d }\n  }\n  read_attributes = ["name", "size"]\n}\n\n' "$i" "$i" "$i"
    done
  } >"$dir/main.infra"
  counts() { curl -s "http://127.0.0.1:$port/_faults"; }
  faults_so_far() { counts | python3 -c 'import json, sys; print(sum(json.load(sys.stdin).values()))'; }
  faults_by_kind() { counts | python3 -c 'import json, sys; [print("%7d %s" % (v, k)) for k, v in json.load(sys.stdin).items()]'; }
  duplicates() { curl -s "http://127.0.0.1:$port/items" | python3 -c 'import json, sys; d = json.load(sys.stdin); print(len(d) - len({o["name"] for o in d}))'; }
  ;;
*)
  echo "usage: bench/faults.sh [N] [world|http]" >&2
  exit 1
  ;;
esac

printf '%-8s %-7s %-7s %-8s %-5s %s\n' command calls faults retries exit wall_s
# step NAME ARGS...: runs one command and prints its row.
step() {
  local name=$1
  shift
  local before start end status=0
  before=$(faults_so_far)
  start=$(date +%s%N)
  "$binary" -C "$dir" "$@" >"$dir/$name.out" 2>"$dir/$name.err" || status=$?
  end=$(date +%s%N)
  local retries
  retries=$(sed -n 's/^\([0-9]*\) retr.* after transient provider errors.*/\1/p' "$dir/$name.out")
  printf '%-8s %-7s %-7s %-8s %-5s %s\n' "$name" "$n" "$(($(faults_so_far) - before))" \
    "${retries:--}" "$status" "$(awk "BEGIN { printf \"%.1f\", ($end - $start) / 1e9 }")"
}
step apply apply --auto-approve --retry-backoff 10ms
step drift drift
step refresh refresh --auto-approve
step plan plan --detailed-exitcode
dupes=$(duplicates)
step destroy destroy --auto-approve --retry-backoff 10ms

echo
echo "faults by kind:"
faults_by_kind
echo "objects created twice: $dupes"
