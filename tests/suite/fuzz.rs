//! Robustness: no input makes the parser, the formatter or the checker panic.
//!
//! Three sources of input: random bytes (lossily decoded), strings built from
//! the language's own tokens (they get much deeper into the grammar than
//! random bytes), and every corpus and example file with bytes deleted,
//! duplicated or swapped. Each input goes through `syntax::parse`,
//! `fmt::format_source`, `check::check` and `diag::render_human`.
//!
//! The case count comes from `INFRA_FUZZ_CASES` (default 256, as in CI); run
//! `INFRA_FUZZ_CASES=20000 cargo test --release --test corpus fuzz` for a long
//! session. Failures are minimised by proptest and the seed is kept in
//! `tests/suite/fuzz.proptest-regressions`, which is committed.

use crate::harness;
use infra::diag::{FileId, RenderOptions, render_human};
use proptest::prelude::*;
use proptest::sample::Index;
use std::sync::OnceLock;

fn config() -> ProptestConfig {
    let cases = std::env::var("INFRA_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    ProptestConfig {
        cases,
        max_shrink_iters: 2_000,
        ..ProptestConfig::default()
    }
}

/// Runs the whole front end over `text`; a panic anywhere fails the test.
fn front_end(text: &str) {
    let file = FileId(0);
    let (tree, diagnostics) = infra::syntax::parse(file, text);
    let _ = infra::fmt::format_source(file, text);
    // The whole pipeline, as `infra validate` runs it: names, graph, expansion.
    let host =
        infra::host::MemoryHost::new().with_file("fuzz/main.infra", text.as_bytes().to_vec());
    let validated = infra::pipeline::validate(
        &host,
        std::path::Path::new("fuzz"),
        &infra::pipeline::ValidateRequest::default(),
    );
    let mut all = diagnostics;
    all.extend(validated.diagnostics);
    all.sort();
    let _ = tree;
    let _ = render_human(&all, &validated.sources, RenderOptions::default());
}

/// Files larger than this are left out of the mutation pool: the corpus runs
/// them directly, and mutating them costs time without reaching new code.
const MAX_SEED_FILE: usize = 8 * 1024;

/// Every corpus and example `.infra` file, as bytes.
fn seed_files() -> &'static [Vec<u8>] {
    static FILES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    FILES.get_or_init(|| {
        let mut paths = Vec::new();
        let mut folders = vec![
            harness::root().join("tests/corpus"),
            harness::root().join("examples"),
        ];
        while let Some(folder) = folders.pop() {
            let Ok(entries) = std::fs::read_dir(&folder) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    folders.push(path);
                } else if path.extension().is_some_and(|x| x == "infra") {
                    paths.push(path);
                }
            }
        }
        paths.sort();
        let mut files: Vec<Vec<u8>> = paths
            .iter()
            .filter_map(|p| std::fs::read(p).ok())
            .filter(|bytes| bytes.len() <= MAX_SEED_FILE)
            .collect();
        if files.is_empty() {
            files.push(b"resource \"null_resource\" \"a\" {}\n".to_vec());
        }
        files
    })
}

/// Pieces of the language, glued together at random.
const TOKENS: &[&str] = &[
    "resource",
    "variable",
    "environment",
    "secret",
    "provider",
    "data",
    "service",
    "module",
    "output",
    "locals",
    "moved",
    "import",
    "stack",
    "lifecycle",
    "validate",
    "\"null_resource\"",
    "\"a\"",
    "\"b\"",
    "name",
    "value",
    "for_each",
    "count",
    "var",
    "each",
    "self",
    "env",
    "local",
    ".",
    ",",
    "=",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "+",
    "-",
    "*",
    "/",
    "%",
    "&&",
    "||",
    "!",
    "?",
    ":",
    "=>",
    "...",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "[*]",
    "\"",
    "\"x\"",
    "\"${",
    "${",
    "$${",
    "%{",
    "\\",
    "\\n",
    "\\u263A",
    "\\U0001F600",
    "\\u{1F600}",
    "\\q",
    "<<EOT\n",
    "<<-EOT\n",
    "EOT\n",
    "  EOT\n",
    "#",
    "# c\n",
    "//",
    "// c\n",
    "/*",
    "*/",
    "/* c */",
    "\n",
    " ",
    "\t",
    "\r\n",
    "0",
    "1",
    "1.5",
    "1e3",
    "0x1F",
    "99999999999999999999999999",
    "true",
    "false",
    "null",
    "for",
    "in",
    "if",
    "string",
    "number",
    "bool",
    "any",
    "list(",
    "map(",
    "object({",
    "optional(",
    "type",
    "é",
    "→",
    "\u{0}",
    "\u{feff}",
];

fn token_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(TOKENS), 0..80)
        .prop_map(|tokens| tokens.concat())
}

/// One edit to a seed file.
#[derive(Debug, Clone)]
enum Edit {
    Delete(Index, usize),
    Duplicate(Index, usize),
    Swap(Index, Index),
    Insert(Index, u8),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<Index>(), 1usize..32).prop_map(|(at, n)| Edit::Delete(at, n)),
        (any::<Index>(), 1usize..64).prop_map(|(at, n)| Edit::Duplicate(at, n)),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Edit::Swap(a, b)),
        (any::<Index>(), any::<u8>()).prop_map(|(at, byte)| Edit::Insert(at, byte)),
    ]
}

fn apply(bytes: &mut Vec<u8>, edit: &Edit) {
    if bytes.is_empty() {
        if let Edit::Insert(_, byte) = edit {
            bytes.push(*byte);
        }
        return;
    }
    let len = bytes.len();
    match edit {
        Edit::Delete(at, n) => {
            let start = at.index(len);
            let end = (start + n).min(len);
            bytes.drain(start..end);
        }
        Edit::Duplicate(at, n) => {
            let start = at.index(len);
            let end = (start + n).min(len);
            let copy: Vec<u8> = bytes
                .get(start..end)
                .map(<[u8]>::to_vec)
                .unwrap_or_default();
            let tail = bytes.split_off(end);
            bytes.extend_from_slice(&copy);
            bytes.extend_from_slice(&tail);
        }
        Edit::Swap(a, b) => bytes.swap(a.index(len), b.index(len)),
        Edit::Insert(at, byte) => bytes.insert(at.index(len + 1), *byte),
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        front_end(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn token_soup_never_panics(text in token_text()) {
        front_end(&text);
    }

    #[test]
    fn mutated_corpus_never_panics(
        seed in any::<Index>(),
        edits in proptest::collection::vec(edit(), 1..6),
    ) {
        let files = seed_files();
        let mut bytes = files[seed.index(files.len())].clone();
        for edit in &edits {
            apply(&mut bytes, edit);
        }
        front_end(&String::from_utf8_lossy(&bytes));
    }
}
