#!/usr/bin/env bash
# Regenerates the parser from grammar.js: src/parser.c, src/grammar.json,
# src/node-types.json and src/tree_sitter/*.h, all committed so that building
# and testing the grammar needs no tree-sitter CLI. Then records the sha256 of
# grammar.js and src/scanner.c in src/generated-from.sha256, which
# tests/tree_sitter.rs compares with the files to catch a grammar edited
# without regenerating.
#
# The CLI is built from the tree-sitter-cli crate into the repository's
# .ci-tools/ (gitignored) when it is missing, which takes a few minutes once.
# Its npm package downloads a binary while it installs, which fails offline.
#
# Usage: editors/tree-sitter-infra/generate.sh [--test]
#   --test  also runs `tree-sitter test` (the corpus in test/corpus/).
set -euo pipefail
grammar_dir="$(cd "$(dirname "$0")" && pwd)"
repo_root="$(cd "$grammar_dir/../.." && pwd)"
cli_version="0.25.10"
cli="$repo_root/.ci-tools/bin/tree-sitter"

if [[ ! -x "$cli" ]] || [[ "$("$cli" --version)" != *"$cli_version"* ]]; then
  echo "generate.sh: building tree-sitter-cli $cli_version into .ci-tools/ (a few minutes, once)" >&2
  cargo install tree-sitter-cli --version "=$cli_version" --locked --root "$repo_root/.ci-tools"
fi

cd "$grammar_dir"
"$cli" generate --abi 15
sha256sum grammar.js src/scanner.c > src/generated-from.sha256
echo "generate.sh: regenerated src/ with $("$cli" --version)"

if [[ "${1:-}" == "--test" ]]; then
  "$cli" test
fi
