//! Every integration test, in one test binary.
//!
//! Each `tests/<area>.rs` is a module of this crate rather than a binary of
//! its own: the shared helpers in `tests/common/` are compiled once instead of
//! once per area, one binary is linked instead of 28, and the slow tests of one
//! area (real servers, real processes) run beside the quick ones of the others
//! instead of one area after another. Run one area with
//! `cargo test --test all <area>::` (e.g. `cargo test --test all services::`).
//!
//! An area is still a separate module: a test names its helpers through
//! `crate::common`, and no area reaches into another's.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

mod apply;
mod aws_provider;
mod ci_examples;
mod cli;
mod corpus;
mod crash;
mod drift;
mod editors;
mod faults;
mod local_provider;
mod lock_trials;
mod lsp;
mod plan;
mod plan_scenarios;
mod policy;
mod postgres_backend;
mod postgres_provider;
mod provider_http;
mod results;
mod router;
mod s3_backend;
mod secrets;
mod semantics;
mod services;
mod signals;
mod ssh;
mod ssh_services;
mod state_cli;
mod state_core;
mod tree_sitter;
