//! The builtin functions' signatures and documentation for completion and
//! hover, read from `docs/functions.md`: one `## name` section per builtin,
//! whose first paragraph opens with the signature in backquotes. The page is
//! the one place the functions are described (a test keeps it in step with
//! `lang::functions::NAMES`), so the editor shows what the reference says.
//!
//! Invariant: every name of `lang::functions::NAMES` gets an entry, with a
//! bare `name(...)` signature when the page lacks a section for it.

use crate::lang::functions::NAMES;

/// The reference page, compiled in.
const PAGE: &str = include_str!("../../docs/functions.md");

/// One builtin function as the editor shows it.
#[derive(Debug, Clone)]
pub(crate) struct FunctionDoc {
    /// The name (`join`).
    pub name: &'static str,
    /// The call form (`join(separator, list)`).
    pub signature: String,
    /// The section's text, Markdown, without its heading.
    pub documentation: String,
}

/// Every builtin, in `NAMES` order.
pub(crate) fn all() -> Vec<FunctionDoc> {
    NAMES.iter().map(|name| document(name)).collect()
}

/// The entry for one builtin.
fn document(name: &'static str) -> FunctionDoc {
    let heading = format!("## {name}\n");
    let section = PAGE
        .split_inclusive('\n')
        .skip_while(|line| *line != heading)
        .skip(1)
        .take_while(|line| !line.starts_with("## "))
        .collect::<String>();
    let section = section.trim().to_owned();
    // The signature is the backquoted text that opens the section.
    let signature = section
        .strip_prefix('`')
        .and_then(|rest| rest.split_once('`'))
        .map(|(signature, _)| signature.to_owned())
        .filter(|signature| signature.starts_with(name))
        .unwrap_or_else(|| format!("{name}(...)"));
    FunctionDoc {
        name,
        signature,
        documentation: section,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_has_a_signature_from_the_reference() {
        let docs = all();
        assert_eq!(docs.len(), NAMES.len());
        for doc in &docs {
            assert!(
                doc.signature.starts_with(&format!("{}(", doc.name))
                    && doc.signature != format!("{}(...)", doc.name),
                "{}: {}",
                doc.name,
                doc.signature
            );
            assert!(!doc.documentation.is_empty(), "{}", doc.name);
        }
        let join = docs
            .iter()
            .find(|d| d.name == "lookup")
            .map(|d| d.signature.as_str());
        assert_eq!(join, Some("lookup(map, key, default)"));
    }
}
