//! Providers: the [`Provider`] trait the engine calls, the schemas of the
//! resource types providers offer, the schema [`Registry`] that `check` reads,
//! the [`ProviderSet`] of live providers, and one folder per builtin.
//!
//! Invariant: no state or configuration files; typed values in, typed errors
//! ([`ProviderError`], with attribute paths) out.

pub mod aws;
pub(crate) mod batch;
pub mod builtin;
pub mod http;
pub mod local;
pub mod null;
pub mod operation;
pub mod postgres;
pub mod process;
pub mod provider;
pub mod registry;
pub mod retry;
pub mod router;
pub mod schema;
pub mod set;
pub mod ssh;
pub mod test;
pub mod world;

pub use operation::{DeploySteps, Operation, OperationSink, Resumed};
pub use provider::{
    AttributePath, Attributes, ObjectState, PlannedChange, Provider, ProviderError,
    ProviderErrorKind,
};
pub use registry::Registry;
pub use schema::{AttributeSchema, Presence, ResourceSchema};
pub use set::ProviderSet;
