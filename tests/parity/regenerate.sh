#!/bin/bash
# Records Terraform's value of every expression in tests/parity/exprs.txt into
# tests/parity/expected.json, and the names Terraform rejects into
# tests/parity/terraform_rejected.txt. Needs the offline Terraform peer
# (INFRA_PEERS, default /work/shared/peers: setup.sh and tf_exprs.py).
# CI does not run this; it compares with the committed files.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
peers=${INFRA_PEERS:-/work/shared/peers}
venv=$(bash "$peers/setup.sh")
lines=$(mktemp)
trap 'rm -f "$lines"' EXIT
grep -v '^#' "$here/exprs.txt" | sed "s|@FILES@|$here/files|g" > "$lines"
"$venv/bin/python" "$peers/tf_exprs.py" "$lines" > "$here/expected.json" 2> "$here/.stderr" || {
  cat "$here/.stderr" >&2; rm -f "$here/.stderr"; exit 1; }
sed -n 's/^dropped by terraform: //p' "$here/.stderr" | tr ',' '\n' | sed 's/^ *//' | grep -v '^$' > "$here/terraform_rejected.txt" || true
rm -f "$here/.stderr"
echo "recorded $(grep -c '^ "' "$here/expected.json") values; Terraform rejected $(wc -l < "$here/terraform_rejected.txt")"
