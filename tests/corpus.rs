//! The corpus integration binary: one test binary for every data-driven area.
//!
//! - `harness` runs one corpus case (a single `.infra` file or a folder of them)
//!   through the library exactly as `infra validate` does, checks the inline
//!   `# error: [code]` marks and snapshots the rendered diagnostics.
//! - `cases` lists the cases, one generated `#[test]` each, and checks the list
//!   against `tests/corpus/` and `tests/snapshots/`.
//! - `diagnostics_doc` ties `docs/diagnostics.md` to the code registry.
//! - `functions_doc` ties `docs/functions.md` to the builtin function table.
//! - `language_doc` ties every code block of `docs/language.md` to a tested
//!   file.
//! - `docs_refs` checks that the docs point only to files that exist and show
//!   only flags the commands take.
//! - `examples` validates and format-checks every stack under `examples/`.
//! - `fuzz` feeds random and mutated input to the parser, formatter and checker.
//! - `fuzz_grammar` generates valid and almost-valid stacks from the grammar.
//! - `fmt` holds the formatter's own tests.
//! - `parity` compares the values of expressions with Terraform's recorded ones.
//!
//! Modules use `#[path]` because `tests/corpus/` is the data folder, not a
//! module folder.
//!
//! Invariant: tests go through public entry points only (`check::load`,
//! `check::check`, `syntax::parse`, `fmt::format_source`, `diag::render_human`).

#[path = "suite/harness.rs"]
mod harness;

#[path = "suite/cases.rs"]
mod cases;

#[path = "suite/diagnostics_doc.rs"]
mod diagnostics_doc;

#[path = "suite/functions_doc.rs"]
mod functions_doc;

#[path = "suite/language_doc.rs"]
mod language_doc;

#[path = "suite/docs_refs.rs"]
mod docs_refs;

#[path = "suite/examples.rs"]
mod examples;

#[path = "suite/fuzz.rs"]
mod fuzz;

#[path = "suite/fuzz_grammar.rs"]
mod fuzz_grammar;

#[path = "suite/fmt.rs"]
mod fmt;

#[path = "suite/parity.rs"]
mod parity;
