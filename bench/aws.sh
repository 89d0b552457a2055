#!/usr/bin/env bash
# The aws provider at scale against moto: P (default 200) `aws_ssm_parameter`
# and Q (default 50) `aws_sqs_queue` resources applied to a throwaway moto
# server at --parallelism 64 and, after a destroy, at 10 (Terraform's
# default), side by side, after an untimed warm-up; then a no-op `infra plan` (every read). Whole
# commands are timed, and moto's CPU time is sampled around each apply: moto
# is one Python process (Flask's threaded dev server under the GIL), so
# when it is busy the whole time more parallelism cannot help.
# Usage: bench/aws.sh [P] [Q]. INFRA_BIN=path uses that binary instead of
# building the release one; INFRA_MOTO_VENV names a venv with
# moto[server]==5.2.5 (default .venv-moto, as tests/run.sh makes it).
set -euo pipefail
cd "$(dirname "$0")/.."

parameters=${1:-200}
queues=${2:-50}
if [[ -n ${INFRA_BIN:-} ]]; then
  binary=$INFRA_BIN
else
  cargo build --release --quiet
  target_dir=${CARGO_TARGET_DIR:-target}
  [[ $target_dir == /* ]] || target_dir="$(pwd)/$target_dir"
  binary="$target_dir/release/infra"
fi
venv=${INFRA_MOTO_VENV:-$(pwd)/.venv-moto}
if [[ ! -x $venv/bin/moto_server ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q 'moto[server]==5.2.5'
fi

work=$(mktemp -d /tmp/infra-aws-bench.XXXXXX)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" > "$work/moto.log" 2>&1 &
moto_pid=$!
cleanup() {
  kill "$moto_pid" 2> /dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
until curl -sf "http://127.0.0.1:$port/moto-api/" > /dev/null; do sleep 0.1; done

mkdir -p "$work/stack"
{
  printf 'stack "aws_bench" {}\n\n'
  printf 'provider "aws" {\n  region   = "eu-west-1"\n  endpoint = "http://127.0.0.1:%s"\n}\n\n' "$port"
  for ((i = 0; i < parameters; i++)); do
    printf 'resource "aws_ssm_parameter" "p%d" {\n  name  = "/bench/app/p%d"\n  value = "value-%d"\n  tags  = { n = "%d" }\n}\n\n' \
      "$i" "$i" "$i" "$i"
  done
  for ((i = 0; i < queues; i++)); do
    printf 'resource "aws_sqs_queue" "q%d" {\n  name               = "bench-queue-%d"\n  visibility_timeout = %d\n  tags               = { n = "%d" }\n}\n\n' \
      "$i" "$i" "$((30 + i))" "$i"
  done
} > "$work/stack/main.infra"

export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
ms() { date +%s%3N; }
# moto's CPU time so far, in ms (user + system, from /proc).
moto_cpu() {
  awk -v hz="$(getconf CLK_TCK)" '{ print int(($14 + $15) * 1000 / hz) }' "/proc/$moto_pid/stat"
}
# timed LABEL EXPECTED_EXIT ARGS...: runs infra once; prints "wall moto_cpu".
timed() {
  local label=$1 expected=$2
  shift 2
  local start end cpu_start cpu_end status=0
  cpu_start=$(moto_cpu)
  start=$(ms)
  "$binary" -C "$work/stack" "$@" > "$work/out.log" 2>&1 || status=$?
  end=$(ms)
  cpu_end=$(moto_cpu)
  if [[ $status != "$expected" ]]; then
    echo "$label: exit $status, expected $expected" >&2
    tail -20 "$work/out.log" >&2
    exit 1
  fi
  echo "$((end - start)) $((cpu_end - cpu_start))"
}

total=$((parameters + queues))
echo "aws provider against moto 5.2.5: $parameters aws_ssm_parameter + $queues aws_sqs_queue, $(nproc) cores"
# moto loads each service's backend on its first request (seconds): one
# untimed apply and destroy first, so neither timed run pays for it.
timed "warm-up apply" 0 apply --auto-approve --parallelism 64 > /dev/null
timed "warm-up destroy" 0 destroy --auto-approve --parallelism 64 > /dev/null
read -r w64 c64 < <(timed "apply --parallelism 64" 0 apply --auto-approve --parallelism 64)
timed "destroy" 0 destroy --auto-approve --parallelism 64 > /dev/null
read -r w10 c10 < <(timed "apply --parallelism 10" 0 apply --auto-approve --parallelism 10)
read -r wplan cplan < <(timed "no-op plan" 0 plan --detailed-exitcode --parallelism 64)
printf '%-26s %10s %14s %12s\n' "" "wall (ms)" "moto CPU (ms)" "moto busy"
printf '%-26s %10s %14s %11s%%\n' "apply, parallelism 64" "$w64" "$c64" "$((c64 * 100 / (w64 > 0 ? w64 : 1)))"
printf '%-26s %10s %14s %11s%%\n' "apply, parallelism 10" "$w10" "$c10" "$((c10 * 100 / (w10 > 0 ? w10 : 1)))"
printf '%-26s %10s %14s %11s%%\n' "no-op plan (every read)" "$wplan" "$cplan" "$((cplan * 100 / (wplan > 0 ? wplan : 1)))"
echo "per resource at 64: $((w64 / total)) ms; moto answers one request at a time under"
echo "the GIL, so 'moto busy' near 100% means moto is the limit, not infra's parallelism."
