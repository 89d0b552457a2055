//! Runs one corpus case the way `infra validate` does and checks it.
//!
//! A case is `tests/corpus/<area>/<name>.infra` (a stack of that one file) or a
//! folder `tests/corpus/<area>/<name>/` (a stack of every `.infra` file in it;
//! files in sub-folders are served too, for local modules such as
//! `modules/a/main.infra`). Its files are served from memory at their real
//! relative paths, so `check::load` sees a folder holding exactly the case's
//! files and the rendered file names are the repository paths.
//!
//! `check` cases run the whole of `infra validate` (load, check, graph, expand
//! for every environment). `parse` cases only load and parse: they pin down the
//! syntax, and a showcase of every block kind need not name real providers or
//! set real environment variables.
//!
//! Inline marks, in the manner of ruff's `ty_test`:
//!
//! - `# error: [infra::parse::unexpected_token]` expects a diagnostic with that
//!   code whose primary span starts on this line;
//! - `# error: 12 [code]` also pins the 1-based column (in characters);
//! - `# error: [code] "text"` also needs `text` in the label, a secondary label
//!   or the help line;
//! - a mark alone on its line applies to the next line that is not itself a
//!   mark line (for lines that cannot hold a comment: heredoc bodies,
//!   unterminated strings, the end of the file);
//! - `# file-error: [code]`, anywhere, expects a diagnostic without a span.
//!
//! Marks are found by scanning raw text lines for `# error:` and
//! `# file-error:`, so they work inside strings and comments too. Every mark
//! must be met by exactly one diagnostic and every diagnostic by one mark; a
//! case without marks must produce no diagnostics at all.
//!
//! Invariant: only public entry points are used; snapshots are written by
//! insta, never by hand.

use infra::diag::{Code, Diagnostic, Diagnostics, RenderOptions, SourceMap, render_human};
use infra::host::MemoryHost;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The corpus areas, each a folder under `tests/corpus/`.
pub const AREAS: &[&str] = &["parse", "check"];

/// Codes that have no corpus case, with the reason. Everything else in
/// `Code::ALL` must be expected by a mark somewhere in the corpus. A reason
/// names the test files that raise the code (`tests/….rs`, `src/…/tests.rs`);
/// `cases::every_exemption_names_tests_that_raise_the_code` checks that each
/// named file exists and mentions the code.
pub const EXEMPT_FROM_CORPUS: &[(&str, &str)] = &[
    (
        "infra::ssh::nginx_missing",
        "raised by a deploy to a server (apply, not validate); exercised against a real sshd by \
         tests/ssh_services.rs",
    ),
    (
        "infra::ssh::command_not_found",
        "raised by a deploy to a server (apply, not validate); exercised against a real sshd by \
         tests/ssh_services.rs",
    ),
    (
        "infra::ssh::host_key_mismatch",
        "raised when connecting to a server (plan or apply, never validate); exercised against \
         a real sshd by tests/ssh.rs",
    ),
    (
        "infra::ssh::key_refused",
        "raised when connecting to a server (plan or apply, never validate); exercised against \
         a real sshd by tests/ssh.rs",
    ),
    (
        "infra::ssh::connect_timeout",
        "raised when connecting to a server (plan or apply, never validate); exercised against \
         a real sshd by tests/ssh.rs",
    ),
    (
        "infra::cli::unreadable_file",
        "needs a file the process cannot read; exercised by tests/cli.rs and tests/state_cli.rs",
    ),
    (
        "infra::cli::no_such_directory",
        "about the -C argument, not file contents; exercised by tests/cli.rs",
    ),
    (
        "infra::cli::unreadable_directory",
        "about the -C argument, not file contents; exercised by tests/cli.rs",
    ),
    (
        "infra::cli::no_infra_files",
        "an empty folder has no file to carry a mark; exercised by tests/cli.rs",
    ),
    (
        "infra::cli::unwritable_file",
        "raised by `infra fmt` writing back; exercised by tests/cli.rs",
    ),
    (
        "infra::cli::no_such_path",
        "about a path argument of `infra fmt`; exercised by tests/cli.rs",
    ),
    (
        "infra::cli::unreadable_stdin",
        "about standard input, not a stack; exercised by tests/cli.rs",
    ),
    (
        "infra::check::environment_required",
        "`infra validate` without `--env` checks every environment, so it never needs one to be \
         chosen; commands that act on one environment raise it, tested in tests/semantics.rs \
         (evaluating_one_environment_without_env_or_default_is_environment_required)",
    ),
    (
        "infra::plan::provider_error",
        "raised by planning against state, providers or a plan file; tested in src/plan/tests.rs, tests/drift.rs and tests/provider_http.rs",
    ),
    (
        "infra::plan::prevent_destroy",
        "raised by planning against state, providers or a plan file; tested in src/plan/tests.rs",
    ),
    (
        "infra::plan::protected_environment",
        "raised by apply, destroy and rollback, not by a plan; tested in tests/results.rs",
    ),
    (
        "infra::plan::moved_conflict",
        "needs a prior state; tested in src/plan/tests.rs and tests/plan_scenarios.rs",
    ),
    (
        "infra::plan::invalid_file",
        "raised by planning against state, providers or a plan file; tested in src/plan/tests.rs",
    ),
    (
        "infra::plan::tampered",
        "raised by planning against state, providers or a plan file; tested in src/plan/tests.rs",
    ),
    (
        "infra::plan::stale_state",
        "raised by planning against state, providers or a plan file; tested in src/plan/tests.rs and tests/apply.rs",
    ),
    (
        "infra::plan::stale_configuration",
        "raised by planning against state, providers or a plan file; tested in src/plan/tests.rs",
    ),
    (
        "infra::plan::wrong_environment",
        "raised by planning against state, providers or a plan file; tested in src/plan/tests.rs and tests/apply.rs",
    ),
    (
        "infra::apply::provider_error",
        "raised while applying, not by stack files; tested in src/apply/tests.rs and tests/apply.rs",
    ),
    (
        "infra::apply::provider_panicked",
        "raised while applying, not by stack files; tested in src/apply/tests.rs",
    ),
    (
        "infra::apply::invalid_result",
        "raised while applying, not by stack files; tested in src/apply/tests.rs",
    ),
    (
        "infra::apply::inconsistent_final_plan",
        "raised while applying, not by stack files; tested in src/apply/tests.rs",
    ),
    (
        "infra::apply::unresolved",
        "raised while applying, not by stack files; tested in src/apply/tests.rs",
    ),
    (
        "infra::apply::order_cycle",
        "raised while applying, not by stack files; tested in src/apply/tests.rs",
    ),
    (
        "infra::apply::import_target_missing",
        "about the `infra import` command line; tested in tests/apply.rs",
    ),
    (
        "infra::state::invalid_json",
        "about recorded state, not stack files; tested in src/state/tests.rs and tests/state_cli.rs",
    ),
    (
        "infra::state::invalid_format",
        "about recorded state, not stack files; tested in src/state/tests.rs and tests/state_cli.rs",
    ),
    (
        "infra::state::unsupported_version",
        "about recorded state, not stack files; tested in src/state/tests.rs",
    ),
    (
        "infra::state::checksum_mismatch",
        "about recorded state, not stack files; tested in src/state/tests.rs and tests/state_cli.rs",
    ),
    (
        "infra::state::serial_backwards",
        "about recorded state, not stack files; tested in src/state/tests.rs and tests/state_cli.rs",
    ),
    (
        "infra::state::foreign_lineage",
        "about recorded state, not stack files; tested in src/state/tests.rs and tests/state_cli.rs",
    ),
    (
        "infra::state::wrong_key",
        "about recorded state, not stack files; tested in src/state/tests.rs and tests/state_cli.rs",
    ),
    (
        "infra::state::missing_key",
        "about recorded state, not stack files; tested in src/state/tests.rs and tests/state_cli.rs",
    ),
    (
        "infra::state::invalid_key",
        "about recorded state, not stack files; tested in src/state/tests.rs",
    ),
    (
        "infra::state::locked",
        "about recorded state, not stack files; tested in src/state/tests.rs, tests/state_cli.rs and tests/drift.rs",
    ),
    (
        "infra::state::lock_mismatch",
        "about recorded state, not stack files; tested in src/state/tests.rs and tests/state_cli.rs",
    ),
    (
        "infra::state::no_such_version",
        "about recorded state, not stack files; tested in src/state/tests.rs",
    ),
    (
        "infra::state::version_pruned",
        "about recorded state, not stack files; tested in src/state/tests.rs and \
         tests/state_cli.rs",
    ),
    (
        "infra::state::corrupted_journal",
        "about recorded state, not stack files; tested in src/state/tests.rs",
    ),
    (
        "infra::state::journal_stale",
        "about recorded state, not stack files; tested in tests/state_core.rs",
    ),
    (
        "infra::state::journal_foreign_lineage",
        "about recorded state, not stack files; tested in tests/state_core.rs",
    ),
    (
        "infra::state::unknown_backend",
        "about the state storage the stack names, raised when a command opens it; tested in tests/state_core.rs",
    ),
    (
        "infra::state::unrecorded_actions",
        "about recorded state, not stack files; tested in tests/state_core.rs",
    ),
    (
        "infra::state::io",
        "about recorded state, not stack files; tested in src/apply/tests.rs",
    ),
    (
        "infra::state::no_state",
        "about recorded state, not stack files; exercised by tests/state_cli.rs",
    ),
    (
        "infra::state::missing_current",
        "about recorded state, not stack files; exercised by tests/state_cli.rs",
    ),
    (
        "infra::check::unknown_variable",
        "about the --var argument, not file contents; exercised by tests/plan.rs",
    ),
    (
        "infra::plan::unknown_target",
        "about the --target argument, not file contents; exercised by tests/plan.rs",
    ),
    (
        "infra::state::no_such_address",
        "about recorded state, not stack files; exercised by tests/state_cli.rs",
    ),
    (
        "infra::state::address_exists",
        "about recorded state, not stack files; exercised by tests/state_cli.rs",
    ),
    (
        "infra::state::move_type_mismatch",
        "about recorded state, not stack files; exercised by tests/state_cli.rs",
    ),
    (
        "infra::state::no_such_output",
        "about recorded state, not stack files; exercised by tests/state_cli.rs",
    ),
    (
        "infra::cli::confirmation_required",
        "about the terminal, not stack files; exercised by tests/state_cli.rs and tests/apply.rs",
    ),
    (
        "infra::cli::file_exists",
        "raised by `infra init` on files already there; exercised by tests/state_cli.rs",
    ),
    (
        "infra::policy::parse",
        "about .rego files, not .infra ones; exercised by tests/policy.rs",
    ),
    (
        "infra::policy::eval",
        "raised by evaluating a policy against a plan; exercised by tests/policy.rs",
    ),
    (
        "infra::policy::timeout",
        "raised by evaluating a policy against a plan; exercised by tests/policy.rs",
    ),
    (
        "infra::policy::denied",
        "raised by apply refusing a plan a policy denies; exercised by tests/policy.rs",
    ),
    (
        "infra::policy::not_found",
        "about policy folders and --policy; exercised by tests/policy.rs",
    ),
    (
        "infra::internal",
        "a bug, not a user error; no input should produce it",
    ),
    (
        "infra::check::invalid_var_file",
        "raised on .vars files (`*.auto.vars`, `environments/ENV.vars`, `--var-file`), which corpus cases do not hold; tested in tests/plan.rs (bad_variable_files_are_refused_with_the_file_and_line)",
    ),
    (
        "infra::state::backend_config",
        "about the state backend's URL, read when state is opened, not by check; tested in tests/postgres_backend.rs",
    ),
    (
        "infra::state::backend_unreachable",
        "needs a state database that cannot be reached; tested in tests/postgres_backend.rs",
    ),
    (
        "infra::state::backend_denied",
        "needs a state bucket or database that refuses the credentials (moto with signature checking, PostgreSQL with a password); tested in tests/s3_backend.rs and tests/postgres_backend.rs",
    ),
    (
        "infra::state::backend_tls",
        "needs a state database with TLS and certificates; tested in tests/postgres_backend.rs",
    ),
];

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One file of a case: its path relative to the repository root, and bytes.
#[derive(Debug, Clone)]
pub struct CaseFile {
    /// E.g. `tests/corpus/parse/unterminated_string.infra`.
    pub path: String,
    /// The raw contents (a case may hold invalid UTF-8 on purpose).
    pub bytes: Vec<u8>,
}

/// A case's stack folder (relative to the root) and its files.
#[derive(Debug, Clone)]
pub struct Case {
    /// `tests/corpus/<area>` for a single-file case, the case folder otherwise.
    pub dir: String,
    /// The files, sorted by path.
    pub files: Vec<CaseFile>,
}

/// Reads the case `name` of `area` from disk.
pub fn read_case(area: &str, name: &str) -> Result<Case, String> {
    let area_dir = format!("tests/corpus/{area}");
    let single = format!("{area_dir}/{name}.infra");
    let folder = format!("{area_dir}/{name}");
    if root().join(&single).is_file() {
        let bytes = std::fs::read(root().join(&single)).map_err(|e| format!("{single}: {e}"))?;
        return Ok(Case {
            dir: area_dir,
            files: vec![CaseFile {
                path: single,
                bytes,
            }],
        });
    }
    if root().join(&folder).is_dir() {
        let mut files = Vec::new();
        read_folder(&folder, &mut files)?;
        files.sort_by(|a, b| a.path.cmp(&b.path));
        return Ok(Case { dir: folder, files });
    }
    Err(format!("no corpus case {single} or {folder}/"))
}

/// Reads every file under `folder` (relative to the root), sub-folders too.
fn read_folder(folder: &str, files: &mut Vec<CaseFile>) -> Result<(), String> {
    let entries = std::fs::read_dir(root().join(folder)).map_err(|e| format!("{folder}: {e}"))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("{folder}: {e}"))?;
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let path = format!("{folder}/{file_name}");
        if entry.path().is_dir() {
            read_folder(&path, files)?;
        } else if entry.path().is_file() {
            let bytes = std::fs::read(entry.path()).map_err(|e| format!("{path}: {e}"))?;
            files.push(CaseFile { path, bytes });
        }
    }
    Ok(())
}

/// Every case on disk, as `(area, name)`, sorted.
pub fn cases_on_disk() -> Vec<(String, String)> {
    let mut cases = Vec::new();
    for area in AREAS {
        let Ok(entries) = std::fs::read_dir(root().join("tests/corpus").join(area)) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let file_name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                cases.push(((*area).to_owned(), file_name));
            } else if let Some(stem) = file_name.strip_suffix(".infra") {
                cases.push(((*area).to_owned(), stem.to_owned()));
            }
        }
    }
    cases.sort();
    cases
}

/// What a mark expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// Index into the case's files.
    pub file: usize,
    /// The 1-based line the mark is written on (for messages).
    pub mark_line: usize,
    /// The 1-based line the diagnostic must start on; `None` for `# file-error:`.
    pub line: Option<usize>,
    /// The 1-based column, when pinned.
    pub column: Option<usize>,
    /// The code.
    pub code: Code,
    /// A substring of the label, a secondary label or the help.
    pub text: Option<String>,
}

const ERROR_MARK: &str = "# error:";
const FILE_ERROR_MARK: &str = "# file-error:";

/// Finds every mark in one file's text.
pub fn parse_marks(file: usize, text: &str) -> Result<Vec<Mark>, String> {
    let lines: Vec<&str> = text.split('\n').collect();
    let is_mark_line = |line: &str| {
        let trimmed = line.trim_start();
        trimmed.starts_with(ERROR_MARK) || trimmed.starts_with(FILE_ERROR_MARK)
    };
    let mut marks = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let mark_line = index + 1;
        let target = if is_mark_line(line) {
            // Alone on its line: the next line that is not a mark line (the line
            // after the last one stands for the end of the file).
            lines
                .iter()
                .enumerate()
                .skip(index + 1)
                .find(|(_, l)| !is_mark_line(l))
                .map_or(lines.len() + 1, |(i, _)| i + 1)
        } else {
            mark_line
        };
        let mut rest = *line;
        while let Some((position, file_level)) = next_mark(rest) {
            let after = if file_level {
                &rest[position + FILE_ERROR_MARK.len()..]
            } else {
                &rest[position + ERROR_MARK.len()..]
            };
            let (column, code, text, remaining) = parse_mark_body(after)
                .map_err(|problem| format!("line {mark_line}: {problem} in `{}`", line.trim()))?;
            if file_level && column.is_some() {
                return Err(format!("line {mark_line}: `# file-error:` takes no column"));
            }
            marks.push(Mark {
                file,
                mark_line,
                line: (!file_level).then_some(target),
                column,
                code,
                text,
            });
            rest = remaining;
        }
    }
    Ok(marks)
}

fn next_mark(text: &str) -> Option<(usize, bool)> {
    let error = text.find(ERROR_MARK).map(|p| (p, false));
    let file_error = text.find(FILE_ERROR_MARK).map(|p| (p, true));
    match (error, file_error) {
        (Some(a), Some(b)) => Some(if a.0 < b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

type MarkBody<'a> = (Option<usize>, Code, Option<String>, &'a str);

fn parse_mark_body(text: &str) -> Result<MarkBody<'_>, String> {
    let text = text.trim_start();
    let digits = text.chars().take_while(char::is_ascii_digit).count();
    let column = if digits > 0 {
        Some(
            text[..digits]
                .parse::<usize>()
                .map_err(|e| format!("bad column: {e}"))?,
        )
    } else {
        None
    };
    let text = text[digits..].trim_start();
    let Some(text) = text.strip_prefix('[') else {
        return Err(String::from("expected `[code]`"));
    };
    let Some(close) = text.find(']') else {
        return Err(String::from("no `]` after the code"));
    };
    let code_text = &text[..close];
    let code = Code::from_str_code(code_text)
        .ok_or_else(|| format!("`{code_text}` is not a code in the registry"))?;
    let text = text[close + 1..].trim_start();
    if let Some(quoted) = text.strip_prefix('"') {
        let Some(end) = quoted.find('"') else {
            return Err(String::from("no closing `\"` after the expected text"));
        };
        return Ok((
            column,
            code,
            Some(quoted[..end].to_owned()),
            &quoted[end + 1..],
        ));
    }
    Ok((column, code, None, text))
}

/// The outcome of running a case: the loaded sources and every diagnostic,
/// sorted, as `infra validate` reports them.
pub struct Outcome {
    /// What was loaded.
    pub sources: SourceMap,
    /// Load and check diagnostics, sorted.
    pub diagnostics: Diagnostics,
}

/// Runs the case's stack through the library: `parse` cases are loaded and
/// parsed, every other area runs `infra validate`.
pub fn validate(area: &str, case: &Case) -> Outcome {
    let mut host = MemoryHost::new();
    for file in &case.files {
        host = host.with_file(PathBuf::from(&file.path), file.bytes.clone());
    }
    if area == "parse" {
        let (stack, mut diagnostics) = infra::check::load(&host, Path::new(&case.dir));
        diagnostics.sort();
        return Outcome {
            sources: stack.sources,
            diagnostics,
        };
    }
    let validated = infra::pipeline::validate(
        &host,
        Path::new(&case.dir),
        &infra::pipeline::ValidateRequest::default(),
    );
    Outcome {
        sources: validated.sources,
        diagnostics: validated.diagnostics,
    }
}

/// Renders diagnostics as the snapshots and the CLI show them.
pub fn render(outcome: &Outcome) -> String {
    render_human(
        &outcome.diagnostics,
        &outcome.sources,
        RenderOptions {
            colour: false,
            width: 100,
            unicode: true,
        },
    )
}

/// Where a diagnostic is: the index of the case file and the 1-based line and
/// column of its primary span start. `None` when it has no span.
fn locate(
    case: &Case,
    sources: &SourceMap,
    diagnostic: &Diagnostic,
) -> Option<(Option<usize>, usize, usize)> {
    let label = diagnostic.primary.as_ref()?;
    let source = sources.get(label.span.file)?;
    let position = source.line_col(label.span.start());
    // By the whole path: a case with modules has several `main.infra` files.
    let file = case.files.iter().position(|f| f.path == source.name);
    Some((file, position.line, position.column))
}

fn diagnostic_texts(diagnostic: &Diagnostic) -> Vec<&str> {
    let mut texts: Vec<&str> = Vec::new();
    if let Some(label) = &diagnostic.primary {
        texts.push(&label.text);
    }
    texts.extend(diagnostic.secondary.iter().map(|l| l.text.as_str()));
    if let Some(help) = &diagnostic.help {
        texts.push(help);
    }
    texts
}

fn describe_diagnostic(case: &Case, sources: &SourceMap, diagnostic: &Diagnostic) -> String {
    let location = match locate(case, sources, diagnostic) {
        Some((file, line, column)) => {
            let name = file
                .and_then(|i| case.files.get(i))
                .map_or("<unknown file>", |f| f.path.as_str());
            format!("{name}:{line}:{column}")
        }
        None => String::from("(no span)"),
    };
    let label = diagnostic
        .primary
        .as_ref()
        .map(|l| l.text.as_str())
        .unwrap_or_default();
    let help = diagnostic.help.as_deref().unwrap_or_default();
    format!(
        "{location} [{}] label: {label:?} help: {help:?}",
        diagnostic.code
    )
}

fn describe_mark(case: &Case, mark: &Mark) -> String {
    let name = case.files.get(mark.file).map_or("?", |f| f.path.as_str());
    let mut out = format!("{name}:{} ", mark.mark_line);
    match mark.line {
        Some(line) => {
            let _ = write!(out, "expects on line {line}");
        }
        None => out.push_str("expects without a span"),
    }
    if let Some(column) = mark.column {
        let _ = write!(out, ", column {column}");
    }
    let _ = write!(out, ": [{}]", mark.code);
    if let Some(text) = &mark.text {
        let _ = write!(out, " containing {text:?}");
    }
    out
}

fn matches(case: &Case, sources: &SourceMap, mark: &Mark, diagnostic: &Diagnostic) -> bool {
    if mark.code != diagnostic.code {
        return false;
    }
    let place_ok = match (mark.line, locate(case, sources, diagnostic)) {
        (None, None) => true,
        (Some(line), Some((Some(file), at_line, at_column))) => {
            file == mark.file && line == at_line && mark.column.is_none_or(|c| c == at_column)
        }
        _ => false,
    };
    place_ok
        && mark.text.as_ref().is_none_or(|text| {
            diagnostic_texts(diagnostic)
                .iter()
                .any(|t| t.contains(text.as_str()))
        })
}

/// Checks marks against diagnostics; `Err` lists what went wrong.
pub fn check_marks(case: &Case, outcome: &Outcome) -> Result<(), String> {
    let mut marks = Vec::new();
    for (index, file) in case.files.iter().enumerate() {
        let text = String::from_utf8_lossy(&file.bytes);
        marks.extend(parse_marks(index, &text).map_err(|e| format!("{}: {e}", file.path))?);
    }
    let mut used = vec![false; marks.len()];
    let mut unexpected = Vec::new();
    for diagnostic in &outcome.diagnostics {
        let found = marks
            .iter()
            .enumerate()
            .find(|(i, mark)| !used[*i] && matches(case, &outcome.sources, mark, diagnostic));
        match found {
            Some((i, _)) => used[i] = true,
            None => unexpected.push(describe_diagnostic(case, &outcome.sources, diagnostic)),
        }
    }
    let unmatched: Vec<String> = marks
        .iter()
        .zip(&used)
        .filter(|(_, used)| !**used)
        .map(|(mark, _)| describe_mark(case, mark))
        .collect();
    if unexpected.is_empty() && unmatched.is_empty() {
        return Ok(());
    }
    let mut report = String::new();
    if !unmatched.is_empty() {
        report.push_str("marks with no matching diagnostic:\n");
        for line in &unmatched {
            let _ = writeln!(report, "  {line}");
        }
    }
    if !unexpected.is_empty() {
        report.push_str("diagnostics no mark expects:\n");
        for line in &unexpected {
            let _ = writeln!(report, "  {line}");
        }
    }
    let _ = write!(report, "\nrendered:\n{}", render(outcome));
    Err(report)
}

/// The longest source line shown in a snapshot; longer lines are elided so a
/// generated 10,000-character line does not drown the output.
const MAX_SNAPSHOT_LINE: usize = 200;

/// Files longer than this many lines show only their first
/// `SHOWN_HEAD_LINES` and last `SHOWN_TAIL_LINES` lines in a snapshot.
const MAX_SNAPSHOT_LINES: usize = 120;
const SHOWN_HEAD_LINES: usize = 40;
const SHOWN_TAIL_LINES: usize = 10;

/// The snapshot text: a SOURCE section per file, then the rendered output.
pub fn snapshot_text(case: &Case, outcome: &Outcome) -> String {
    let mut out = String::new();
    for file in &case.files {
        let _ = writeln!(out, "──── SOURCE {} ────", file.path);
        let text = String::from_utf8_lossy(&file.bytes);
        let lines: Vec<&str> = text.split('\n').collect();
        let count = if text.ends_with('\n') {
            lines.len().saturating_sub(1)
        } else {
            lines.len()
        };
        for (index, line) in lines.iter().take(count).enumerate() {
            if count > MAX_SNAPSHOT_LINES && index == SHOWN_HEAD_LINES {
                let hidden = count - SHOWN_HEAD_LINES - SHOWN_TAIL_LINES;
                let _ = writeln!(out, "     (… {hidden} lines not shown …)");
            }
            if count > MAX_SNAPSHOT_LINES
                && index >= SHOWN_HEAD_LINES
                && index < count - SHOWN_TAIL_LINES
            {
                continue;
            }
            let characters = line.chars().count();
            if characters > MAX_SNAPSHOT_LINE {
                let shown: String = line.chars().take(MAX_SNAPSHOT_LINE).collect();
                let _ = writeln!(
                    out,
                    "{:>4} │ {shown}… ({} more characters)",
                    index + 1,
                    characters - MAX_SNAPSHOT_LINE
                );
            } else {
                let _ = writeln!(out, "{:>4} │ {line}", index + 1);
            }
        }
        if !text.ends_with('\n') && !text.is_empty() {
            out.push_str("     (no newline at the end of the file)\n");
        }
    }
    out.push_str("──── OUTPUT ────\n");
    if outcome.diagnostics.is_empty() {
        out.push_str("(no diagnostics)\n");
    } else {
        out.push_str(&render(outcome));
    }
    out
}

/// The snapshot name of a case (`tests/snapshots/<area>__<name>.snap`).
pub fn snapshot_name(area: &str, name: &str) -> String {
    format!("{area}__{name}")
}

/// Runs one case: snapshot first (so it is written even when marks fail under
/// `INSTA_UPDATE=always`), then the marks.
pub fn run_case(area: &str, name: &str) {
    let case = match read_case(area, name) {
        Ok(case) => case,
        Err(problem) => panic!("{problem}"),
    };
    let outcome = validate(area, &case);
    let snapshot = snapshot_text(&case, &outcome);
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../snapshots");
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.set_description(format!("corpus case {}", case_path(&case, area, name)));
    settings.bind(|| {
        insta::assert_snapshot!(snapshot_name(area, name), snapshot);
    });
    if let Err(report) = check_marks(&case, &outcome) {
        panic!("corpus case {area}/{name} failed:\n{report}");
    }
}

fn case_path(case: &Case, area: &str, name: &str) -> String {
    match case.files.as_slice() {
        [only] if only.path.ends_with(".infra") && case.dir.ends_with(area) => only.path.clone(),
        _ => format!("tests/corpus/{area}/{name}/"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marks(text: &str) -> Vec<Mark> {
        parse_marks(0, text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn trailing_mark_applies_to_its_own_line() {
        let found = marks("a = 1\nb = # error: [infra::parse::unexpected_token]\n");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].line, Some(2));
        assert_eq!(found[0].code, Code::ParseUnexpectedToken);
        assert_eq!(found[0].column, None);
        assert_eq!(found[0].text, None);
    }

    #[test]
    fn column_and_text_are_read() {
        let found = marks("x # error: 12 [infra::check::unknown_attribute] \"did you mean\"");
        assert_eq!(found[0].column, Some(12));
        assert_eq!(found[0].text.as_deref(), Some("did you mean"));
    }

    #[test]
    fn standalone_marks_apply_to_the_next_code_line() {
        let text = "# error: [infra::parse::unexpected_token]\n  # error: [infra::parse::invalid_escape]\nx\n";
        let found = marks(text);
        assert_eq!(found.len(), 2);
        assert!(found.iter().all(|m| m.line == Some(3)));
    }

    #[test]
    fn standalone_mark_at_the_end_points_past_the_last_line() {
        let found = marks("a\n# error: [infra::parse::unterminated_comment]");
        assert_eq!(found[0].line, Some(3));
    }

    #[test]
    fn file_error_has_no_line() {
        let found = marks("x\n# file-error: [infra::parse::invalid_utf8]\n");
        assert_eq!(found[0].line, None);
    }

    #[test]
    fn marks_inside_unterminated_strings_are_found() {
        let found = marks("  path = \"abc # error: [infra::parse::unterminated_string]\n");
        assert_eq!(found[0].line, Some(1));
    }

    #[test]
    fn unknown_codes_and_bad_marks_are_rejected() {
        assert!(parse_marks(0, "# error: [infra::parse::nope]").is_err());
        assert!(parse_marks(0, "# error: infra::parse::unexpected_token").is_err());
        assert!(parse_marks(0, "# error: [infra::parse::unexpected_token] \"open").is_err());
        assert!(parse_marks(0, "# file-error: 3 [infra::parse::invalid_utf8]").is_err());
    }
}
