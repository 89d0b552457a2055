//! The tree-sitter grammar of `.infra` files, for editors and for the
//! grammar's own tests.
//!
//! ```
//! let mut parser = tree_sitter::Parser::new();
//! parser
//!     .set_language(&tree_sitter_infra::LANGUAGE.into())
//!     .expect("the grammar's ABI matches the runtime");
//! let tree = parser.parse("locals { a = 1 }", None).expect("a tree");
//! assert!(!tree.root_node().has_error());
//! ```

use tree_sitter_language::LanguageFn;

extern "C" {
    fn tree_sitter_infra() -> *const ();
}

/// The language function of the grammar; convert it with
/// `tree_sitter::Language::from` or `.into()`.
pub const LANGUAGE: LanguageFn = unsafe { LanguageFn::from_raw(tree_sitter_infra) };

/// The content of `src/node-types.json`.
pub const NODE_TYPES: &str = include_str!("../../src/node-types.json");

/// The highlight query (`queries/highlights.scm`).
pub const HIGHLIGHTS_QUERY: &str = include_str!("../../queries/highlights.scm");

/// The locals query (`queries/locals.scm`).
pub const LOCALS_QUERY: &str = include_str!("../../queries/locals.scm");
