//! Verus's proof annotations, erased as a build without Verus erases them:
//! see Cargo.toml.
#![no_std]

/// What `use vstd::prelude::*` brings into regorus's number module.
pub mod prelude {
    pub use vstd_erased_macros::{proof, proof_with, verus_spec, verus_verify};
}
