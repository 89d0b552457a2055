//! The language's values and their evaluation: [`Value`] with the unknown and
//! secret marks, [`Number`]s that stay exact, [`Type`]s and conversion, the
//! evaluator and the builtin functions.
//!
//! Invariant: no state, no providers, no printing; the machine is reached only
//! through [`FunctionContext`].

pub mod eval;
pub mod functions;
pub mod map;
pub mod number;
pub mod refs;
pub mod types;
pub mod value;

#[cfg(test)]
mod tests;

pub use eval::{Scope, eval};
pub use functions::FunctionContext;
pub use map::VecMap;
pub use number::Number;
pub use types::{Type, TypeMismatch, convert};
pub use value::{Kind, Map, Value};
