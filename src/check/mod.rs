//! Checking: loading a stack's files (and, later, modules), then ordered passes
//! that fill side tables and never stop at the first problem.
//!
//! Invariant: no live provider calls; no printing; files only through `host`.

#[allow(dead_code)]
mod model;
mod names;

use crate::diag::{Diagnostics, SourceMap};
use crate::host::Host;
use crate::syntax::ast;
use std::path::Path;

/// The parsed files of one stack folder.
#[derive(Debug, Default)]
pub struct Stack {
    /// Every loaded file's text.
    pub sources: SourceMap,
    /// The syntax tree of each file that could be read, in file-name order.
    pub files: Vec<ast::File>,
}

/// Reads every `*.infra` file directly in `dir` (not sub-folders) and parses it.
pub fn load(host: &dyn Host, dir: &Path) -> (Stack, Diagnostics) {
    let _ = (host, dir);
    (Stack::default(), Diagnostics::new())
}

/// Runs every check over a loaded stack.
pub fn check(stack: &Stack) -> Diagnostics {
    let _ = stack;
    Diagnostics::new()
}
