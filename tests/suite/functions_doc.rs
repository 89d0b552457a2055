//! `docs/functions.md` documents every builtin function and nothing else: the
//! unknown-function help points users there, so it must hold the table.
//!
//! Each builtin has a `## name` section; each section names a builtin.

use super::harness;
use infra::lang::functions::NAMES;
use std::collections::BTreeSet;

#[test]
fn every_builtin_function_is_documented_and_every_documented_one_exists() {
    let path = harness::root().join("docs/functions.md");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let documented: BTreeSet<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("## "))
        .map(|heading| heading.trim().trim_matches('`'))
        .collect();
    let builtins: BTreeSet<&str> = NAMES.iter().copied().collect();
    let undocumented: Vec<&&str> = builtins.difference(&documented).collect();
    let unknown: Vec<&&str> = documented.difference(&builtins).collect();
    assert!(
        undocumented.is_empty() && unknown.is_empty(),
        "docs/functions.md is out of step with src/lang/functions.rs NAMES\n\
         builtins without a `## name` section: {undocumented:?}\n\
         sections naming no builtin: {unknown:?}"
    );
}
