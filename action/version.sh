#!/usr/bin/env bash
# The cache key and install folder of the infra that this action carries:
# the crate version plus a digest of the sources, so a new commit of the
# action builds once and every later job on any runner restores it.
# Writes `key` and `dir` to $GITHUB_OUTPUT.
set -euo pipefail
src="${GITHUB_ACTION_PATH:-$(cd "$(dirname "$0")/.." && pwd)}"
cd "$src"
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
digest=$(find Cargo.toml Cargo.lock src grammar stdlib -type f -print0 \
  | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
key="infra-${RUNNER_OS:-$(uname -s)}-${RUNNER_ARCH:-$(uname -m)}-${version}-${digest}"
dir="${RUNNER_TOOL_CACHE:-${RUNNER_TEMP:-/tmp}}/infra/${version}-${digest}"
echo "infra $version (sources $digest): cache key $key"
{
  echo "key=$key"
  echo "dir=$dir"
} >> "${GITHUB_OUTPUT:-/dev/stdout}"
