//! Robustness: no input makes the parser, the formatter or the checker panic
//! or report a bug (`infra::internal`), and formatting round-trips.
//!
//! Three sources of input: random bytes (lossily decoded), strings built from
//! the language's own tokens (they get much deeper into the grammar than
//! random bytes), and every corpus and example file with bytes deleted,
//! duplicated or swapped. Each input goes through `syntax::parse`,
//! `fmt::format_source`, `check::check` and `diag::render_human`. Every input
//! that parses must format, its formatted text must parse and format to
//! itself, and no stage may report `infra::internal`.
//!
//! The files infra reads back from disk are fuzzed too: a state file, an
//! apply journal and a saved plan file, each written by infra and then
//! mutated. A corrupted one is refused with an `infra::state::*` or
//! `infra::plan::*` diagnostic, never a panic or `infra::internal`.
//!
//! The case count comes from `INFRA_FUZZ_CASES` (default 256, as in CI; 0 is
//! refused); run `INFRA_FUZZ_CASES=20000 cargo test --release --test all corpus::
//! fuzz` for a long session. Failures are minimised by proptest, which writes
//! the failing seed to `tests/suite/fuzz.proptest-regressions`; that file is
//! committed and its seeds are replayed first on every run.
//!
//! The grammar-aware fuzzer, which builds whole valid and almost-valid stacks
//! and checks that formatting keeps their meaning, is `fuzz_grammar.rs`.

use super::harness;
use infra::diag::{Code, Diagnostics, FileId, RenderOptions, render_human};
use proptest::prelude::*;
use proptest::sample::Index;
use std::sync::OnceLock;

pub(crate) fn config() -> ProptestConfig {
    let cases = match std::env::var("INFRA_FUZZ_CASES") {
        Err(_) => 256,
        Ok(text) => match text.parse() {
            Ok(0) | Err(_) => {
                panic!("INFRA_FUZZ_CASES={text:?}: give a number of cases, at least 1")
            }
            Ok(cases) => cases,
        },
    };
    ProptestConfig {
        cases,
        max_shrink_iters: 2_000,
        ..ProptestConfig::default()
    }
}

/// Fails when any diagnostic is a bug report.
fn assert_no_internal(stage: &str, text: &str, diagnostics: &Diagnostics) {
    let internal: Vec<String> = diagnostics
        .iter()
        .filter(|d| d.code == Code::Internal)
        .map(|d| format!("{d:?}"))
        .collect();
    assert!(
        internal.is_empty(),
        "{stage} reported infra::internal for {text:?}: {internal:#?}"
    );
}

/// Formats `text` and checks the round trip: an input that parses formats,
/// and its formatted text parses and is its own format.
fn format_round_trips(file: FileId, text: &str, parsed: &Diagnostics) {
    match infra::fmt::format_source(file, text) {
        Err(diagnostics) => {
            assert_no_internal("fmt", text, &diagnostics);
            assert!(
                parsed.has_errors(),
                "{text:?} parses but does not format: {diagnostics:?}"
            );
        }
        Ok(formatted) => {
            let (_, reparsed) = infra::syntax::parse(file, &formatted);
            assert!(
                !reparsed.has_errors(),
                "the format of {text:?} does not parse: {formatted:?}"
            );
            match infra::fmt::format_source(file, &formatted) {
                Ok(again) => assert_eq!(
                    again, formatted,
                    "formatting is not idempotent for {text:?}"
                ),
                Err(diagnostics) => {
                    panic!("the format of {text:?} does not format: {diagnostics:?}")
                }
            }
        }
    }
}

/// Runs the whole front end over `text`; a panic anywhere fails the test.
fn front_end(text: &str) {
    let file = FileId(0);
    let (tree, diagnostics) = infra::syntax::parse(file, text);
    assert_no_internal("parse", text, &diagnostics);
    format_round_trips(file, text, &diagnostics);
    // The whole pipeline, as `infra validate` runs it: names, graph, expansion.
    let host =
        infra::host::MemoryHost::new().with_file("fuzz/main.infra", text.as_bytes().to_vec());
    let validated = infra::pipeline::validate(
        &host,
        std::path::Path::new("fuzz"),
        &infra::pipeline::ValidateRequest::default(),
    );
    assert_no_internal("validate", text, &validated.diagnostics);
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
        let files: Vec<Vec<u8>> = paths
            .iter()
            .filter_map(|p| std::fs::read(p).ok())
            .filter(|bytes| bytes.len() <= MAX_SEED_FILE)
            .collect();
        // Without them the mutation fuzzer would test next to nothing.
        assert!(
            files.len() >= 10,
            "only {} seed files under tests/corpus/ and examples/ (from {})",
            files.len(),
            harness::root().display()
        );
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

/// The files infra writes and reads back, one valid example of each: a state
/// file, an apply journal and a saved plan file, all sealed with `key`.
struct WrittenFiles {
    key: infra::state::Key,
    state: Vec<u8>,
    journal: Vec<u8>,
    plan: Vec<u8>,
}

fn written_files() -> &'static WrittenFiles {
    use infra::addr::{InstanceKey, ResourceAddr};
    use infra::lang::Value;
    use infra::state::{JournalRecord, Key, KeySource, OutputState, State, StateFile};
    static FILES: OnceLock<WrittenFiles> = OnceLock::new();
    FILES.get_or_init(|| {
        let host = infra::host::MemoryHost::new();
        let key = Key::from_bytes([7; 32], KeySource::Env);
        let seal = |value: Value| key.seal(&host, &value).unwrap_or_else(|e| panic!("{e:?}"));
        let mut state = State::new(&host);
        state.outputs.insert(
            "url".to_owned(),
            OutputState {
                value: seal(Value::string("https://example.test")),
                sensitive: false,
            },
        );
        state.outputs.insert(
            "token".to_owned(),
            OutputState {
                value: seal(Value::string("s3cret").with_secret(true)),
                sensitive: true,
            },
        );
        let state = StateFile::new(&state, 3, 1_700_000_000, "fuzz seed", &key.id()).to_bytes();

        let instance = ResourceAddr::managed("null_resource", "a").instance(InstanceKey::Int(1));
        let journal_path = std::path::Path::new("/j/default.journal");
        let mut journal = infra::state::Journal::new(&host, journal_path);
        journal
            .append_all(&[
                JournalRecord::Pending(infra::state::PendingCall::new(
                    instance.clone(),
                    "null_resource".to_owned(),
                    infra::addr::ProviderAddr::named("null"),
                    seal(Value::string("planned")),
                    infra::state::CallKind::Create,
                )),
                JournalRecord::Remove { instance },
            ])
            .unwrap_or_else(|e| panic!("{e:?}"));
        let journal = infra::host::Host::read(&host, journal_path).unwrap_or_default();

        let environment = infra::expand::EnvironmentInfo {
            name: "default".to_owned(),
            protected: false,
        };
        let plan = infra::plan::Plan {
            stack: "fuzz".to_owned(),
            environment,
            prior: None,
            changes: vec![infra::plan::Change {
                addr: ResourceAddr::managed("null_resource", "b").instance(InstanceKey::None),
                resource_type: "null_resource".to_owned(),
                provider: infra::addr::ProviderAddr::named("null"),
                action: infra::plan::Action::Create,
                before: None,
                after: [("id".to_owned(), Value::string("x"))]
                    .into_iter()
                    .collect(),
                replace_paths: Vec::new(),
                reason: None,
                import_id: None,
                moved_from: None,
                deploy: None,
            }],
            drift: Vec::new(),
            output_changes: Vec::new(),
            config_digest: "digest".to_owned(),
            impact: Default::default(),
            targets: Vec::new(),
            policy: None,
        };
        let plan = infra::plan::PlanFile::new(&plan, &key, &host)
            .unwrap_or_else(|e| panic!("{e:?}"))
            .to_bytes();
        WrittenFiles {
            key,
            state,
            journal,
            plan,
        }
    })
}

/// Checks one refusal: a user-facing code of the expected area, not a bug.
fn assert_refused_with(area: &str, what: &str, code: Code, bytes: &[u8]) {
    assert!(
        code != Code::Internal && code.as_str().starts_with(area),
        "a damaged {what} was refused with {code}, not an {area}* diagnostic: {:?}",
        String::from_utf8_lossy(bytes)
    );
}

/// Reads damaged copies of infra's own files the way the commands do.
fn read_back(bytes: &[u8], which: usize) {
    let files = written_files();
    let path = std::path::Path::new("/fuzz/file");
    match which % 3 {
        0 => match infra::state::StateFile::parse(bytes, path) {
            Ok(file) => {
                let _ = file.to_state();
                let _ = file.to_bytes();
            }
            Err(error) => assert_refused_with("infra::state::", "state file", error.code, bytes),
        },
        1 => {
            let host = infra::host::MemoryHost::new().with_file(path, bytes.to_vec());
            let journal = infra::state::Journal::new(&host, path);
            if let Err(error) = journal.read::<infra::state::JournalRecord>() {
                assert_refused_with("infra::state::", "journal", error.code, bytes);
            }
        }
        _ => match infra::plan::PlanFile::parse(bytes, &files.key) {
            Ok(file) => {
                if let Err(error) = file.to_plan(&files.key) {
                    assert_refused_with("infra::plan::", "plan file", error.code, bytes);
                }
            }
            Err(error) => assert_refused_with("infra::plan::", "plan file", error.code, bytes),
        },
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn damaged_state_journal_and_plan_files_are_refused_never_panic(
        which in 0usize..3,
        edits in proptest::collection::vec(edit(), 1..6),
    ) {
        let files = written_files();
        let mut bytes = [&files.state, &files.journal, &files.plan][which].clone();
        for edit in &edits {
            apply(&mut bytes, edit);
        }
        read_back(&bytes, which);
    }
}

#[test]
fn the_written_files_read_back_as_written() {
    // The seeds themselves are valid, so the fuzzer above starts from files
    // infra accepts and mutates them, not from garbage.
    let files = written_files();
    let path = std::path::Path::new("/fuzz/file");
    assert!(infra::state::StateFile::parse(&files.state, path).is_ok());
    let host = infra::host::MemoryHost::new().with_file(path, files.journal.clone());
    let read = infra::state::Journal::new(&host, path)
        .read::<infra::state::JournalRecord>()
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(read.records.len(), 2);
    let plan = infra::plan::PlanFile::parse(&files.plan, &files.key)
        .and_then(|file| file.to_plan(&files.key))
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(plan.changes.len(), 1);
}
