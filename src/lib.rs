//! `infra`: an infrastructure-as-code compiler and engine.
//!
//! A stack is a folder of `.infra` files describing environments, services,
//! secrets and provider resources. The pipeline, one stage per module, data
//! flowing one way:
//!
//! ```text
//! source files ─► syntax::parse ─► check::check ─► graph::build ─► expand::expand ─► plan::plan ─► apply::apply ─► state
//!                 (AST + spans)    (config model)   (DAG)           (instances of     (Plan)         (provider calls)
//!                                                                    one environment)
//! ```
//!
//! `pipeline` runs the stages in this order, one entry point per command.
//!
//! `diag` (spans, diagnostics, codes), `host` (files, env, clock) and `addr`
//! are shared by every stage. `aws` (credentials, SigV4 signing, the AWS wire
//! client) is a leaf used by `providers::aws` and `state::s3`; `postgres_tls`
//! (libpq's `sslmode` over rustls) is shared by the `postgres` provider and the
//! `postgres` state backend. `fmt` prints the syntax tree canonically. `cli` is
//! the only module that prints or exits.

pub mod addr;
pub mod apply;
pub mod aws;
pub mod check;
pub mod cli;
pub mod config;
pub mod diag;
pub mod expand;
pub mod fmt;
pub mod graph;
pub mod hex;
pub mod host;
pub mod lang;
pub mod lsp;
pub mod pipeline;
pub mod plan;
pub mod policy;
pub mod postgres_tls;
pub mod providers;
pub mod render;
pub mod state;
pub mod syntax;
