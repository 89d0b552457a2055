//! Checking: loading a stack's files (and, later, modules), then ordered passes
//! that fill side tables and never stop at the first problem.
//!
//! The passes, in order (each in its own file, each reading the shape table in
//! [`shape`]):
//!
//! 1. `structure`: each block against the shape of its kind (labels,
//!    attributes, nested blocks, required attributes).
//! 2. `duplicates`: blocks and local values defined twice across the stack.
//!
//! Invariant: no live provider calls; no printing; files only through `host`.

mod duplicates;
mod load;
pub mod shape;
mod structure;

#[cfg(test)]
mod tests;

pub use load::{add_source, display_path, is_infra_path, unreadable_file};

use crate::diag::{Diagnostics, SourceMap};
use crate::host::Host;
use crate::syntax::ast;
use std::path::Path;

/// The parsed files of one stack folder.
#[derive(Debug, Default)]
pub struct Stack {
    /// Every loaded file's text (also the files that could not be parsed, so
    /// their diagnostics can show a caret).
    pub sources: SourceMap,
    /// The syntax tree of each file that could be read and decoded, in
    /// file-name order.
    pub files: Vec<ast::File>,
}

/// Reads every `*.infra` file directly in `dir` (not sub-folders), in file-name
/// order, and parses it. Display names are the paths as given, without a
/// leading `./`. A missing folder, a folder without `.infra` files, an
/// unreadable file and a file that is not UTF-8 are reported; the rest still loads.
pub fn load(host: &dyn Host, dir: &Path) -> (Stack, Diagnostics) {
    load::load(host, dir)
}

/// One pass over the loaded stack.
type Pass = fn(&Stack, &mut Diagnostics);

/// The passes in the order they run.
const PASSES: &[Pass] = &[structure::check, duplicates::check];

/// Runs every check over a loaded stack.
pub fn check(stack: &Stack) -> Diagnostics {
    let mut diagnostics = Diagnostics::new();
    for pass in PASSES {
        pass(stack, &mut diagnostics);
    }
    diagnostics
}
