#!/usr/bin/env bash
# The postgres provider at scale: N (default 500) `postgres_role` resources,
# each logging in with a generated password, applied to a throwaway local
# PostgreSQL cluster at --parallelism 64 and, after a destroy, at 10
# (Terraform's default); then a no-op `infra plan` and an `infra drift` of
# them, best of three (the issue's bound for the plan: under 1 s, which
# needs the batched catalog reads). Whole commands are timed.
# Usage: bench/postgres.sh [N]. INFRA_BIN=path uses that binary instead of
# building the release one; INFRA_PG_BIN names the folder of initdb.
set -euo pipefail
cd "$(dirname "$0")/.."

n=${1:-500}
if [[ -n ${INFRA_BIN:-} ]]; then
  binary=$INFRA_BIN
else
  cargo build --release --quiet
  target_dir=${CARGO_TARGET_DIR:-target}
  [[ $target_dir == /* ]] || target_dir="$(pwd)/$target_dir"
  binary="$target_dir/release/infra"
fi
pgbin=${INFRA_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
if [[ ! -x $pgbin/initdb ]]; then
  echo "needs PostgreSQL's server binaries: apt-get install -y postgresql, or set INFRA_PG_BIN" >&2
  exit 1
fi

# The server must traverse every parent: a 0755 folder under /tmp.
work=$(mktemp -d /tmp/infra-pg-bench.XXXXXX)
chmod 755 "$work"
as_server() {
  if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}
cleanup() {
  as_server "$pgbin/pg_ctl" -D "$work/data" -m immediate -w stop > /dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/data" "$work/stack"
chmod 700 "$work/data"
[[ $(id -u) == 0 ]] && chown -R postgres:postgres "$work/data"
as_server "$pgbin/initdb" -D "$work/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
  --no-sync > /dev/null
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_server "$pgbin/pg_ctl" -D "$work/data" -l "$work/data/server.log" -w -o \
  "-p $port -h 127.0.0.1 -k $work/data -c fsync=off -c synchronous_commit=off -c max_connections=200" \
  start > /dev/null

{
  printf 'stack "pg_bench" {}\n\nsecret "pw" {\n  generate = { length = 24 }\n}\n\n'
  printf 'provider "postgres" {\n  url = "postgres://postgres@127.0.0.1:%s/postgres?sslmode=disable"\n}\n\n' "$port"
  for ((i = 0; i < n; i++)); do
    printf 'resource "postgres_role" "r%d" {\n  name             = "bench_role_%d"\n  login            = true\n  password         = secret.pw\n  connection_limit = %d\n}\n\n' \
      "$i" "$i" "$((i % 10))"
  done
} > "$work/stack/main.infra"

ms() { date +%s%3N; }
# timed LABEL EXPECTED_EXIT ARGS...: runs infra once and prints the wall time.
timed() {
  local label=$1 expected=$2
  shift 2
  local start end status=0
  start=$(ms)
  "$binary" -C "$work/stack" "$@" > "$work/out.log" 2>&1 || status=$?
  end=$(ms)
  if [[ $status != "$expected" ]]; then
    echo "$label: exit $status, expected $expected" >&2
    tail -20 "$work/out.log" >&2
    exit 1
  fi
  echo "$((end - start))"
}

roles() {
  as_server "$pgbin/psql" -X -tA -h 127.0.0.1 -p "$port" -U postgres -d postgres \
    -c "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'bench_role_%'"
}

echo "postgres provider: $n postgres_role (login, password, connection_limit), $(nproc) cores"
t64=$(timed "apply -parallelism 64" 0 apply --auto-approve --parallelism 64)
echo "apply at parallelism 64: ${t64} ms ($(roles) roles)"
timed "destroy" 0 destroy --auto-approve > /dev/null
t10=$(timed "apply -parallelism 10" 0 apply --auto-approve --parallelism 10)
echo "apply at parallelism 10: ${t10} ms ($(roles) roles)"
best_plan=""
best_drift=""
best_offline=""
for _ in 1 2 3; do
  t=$(timed "no-op plan" 0 plan --detailed-exitcode)
  [[ -z $best_plan || $t -lt $best_plan ]] && best_plan=$t
  t=$(timed "drift" 0 drift)
  [[ -z $best_drift || $t -lt $best_drift ]] && best_drift=$t
  t=$(timed "plan without refresh" 0 plan --detailed-exitcode --refresh=false)
  [[ -z $best_offline || $t -lt $best_offline ]] && best_offline=$t
done
echo "no-op plan: ${best_plan} ms (best of 3; bound 1000 ms)"
echo "drift: ${best_drift} ms (best of 3)"
echo "plan --refresh=false: ${best_offline} ms (best of 3: what the reads add is the difference)"
