//! Providers: the schemas of the resource types they offer (and, in later
//! stages, the create/read/update/delete calls behind them).
//!
//! Invariant: no state or configuration files; typed values in, typed errors out.

pub mod registry;
pub mod schema;

pub use registry::Registry;
pub use schema::{AttributeSchema, Presence, ResourceSchema};
