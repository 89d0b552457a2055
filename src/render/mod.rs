//! Views as pure `String` functions: the dependency graph (DOT, Mermaid) and
//! environment comparisons (human, JSON). Plans and drift come with their stages.
//!
//! Invariant: no terminal detection, no I/O; secrets are shown as `(secret)`.

pub mod drift;
pub mod envdiff;
pub mod graph;
pub mod plan;
pub mod policy;
pub mod state;
