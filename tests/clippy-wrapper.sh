#!/usr/bin/env bash
# tests/run.sh builds infra's own targets through this (RUSTC_WORKSPACE_WRAPPER):
# clippy-driver is rustc with clippy's lints added, so the one build that
# the tests run also lints every target, and warnings (clippy's and
# rustc's) are errors, as `cargo clippy --all-targets -- -D warnings`
# would report them. Cargo passes the real rustc's path first, then its
# arguments; the [lints] table of Cargo.toml arrives among them.
exec clippy-driver "$@" -D warnings
