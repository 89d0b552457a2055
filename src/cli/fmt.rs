//! `infra fmt [--check] [--diff] [--recursive] [PATH...]`: rewrite `.infra`
//! files in the canonical format.
//!
//! PATHs are files or folders (default `.`, taken relative to `-C DIR`); a folder
//! means its `*.infra` files, and with `--recursive` those of its sub-folders
//! too (hidden ones, such as `.infra` or `.git`, are skipped). `-` reads stdin
//! and writes the result to stdout.
//!
//! Invariant: a file with syntax errors is reported and never rewritten; the
//! other files are still processed. `--check` writes nothing.

use super::{Ctx, Exit};
use crate::check::{add_source, display_path, is_infra_path, unreadable_file};
use crate::diag::{Code, Diagnostic, Diagnostics, SourceMap};
use crate::host::{Host, HostError};
use std::path::{Path, PathBuf};

/// Rewrite .infra files in the canonical format.
#[derive(Debug, clap::Args)]
pub(super) struct Fmt {
    /// Write nothing; list the files that are not formatted and exit 1 if any.
    #[arg(long)]
    check: bool,
    /// Print a unified diff of the changes (files are still rewritten unless --check).
    #[arg(long)]
    diff: bool,
    /// Also format the .infra files in sub-folders of folder PATHs.
    #[arg(long)]
    recursive: bool,
    /// Files or folders to format (default: the current folder); `-` formats
    /// stdin to stdout.
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
}

/// What one run found, across every path.
#[derive(Default)]
struct Outcome {
    sources: SourceMap,
    diagnostics: Diagnostics,
    /// Whether any input was not in the canonical format.
    changed: bool,
}

impl Fmt {
    pub(super) fn run(self, ctx: &mut Ctx<'_>) -> Exit {
        let paths = if self.paths.is_empty() {
            vec![PathBuf::from(".")]
        } else {
            self.paths.clone()
        };
        let mut outcome = Outcome::default();
        for path in paths {
            if path.as_os_str() == "-" {
                self.format_stdin(ctx, &mut outcome);
                continue;
            }
            let path = ctx.resolve(&path);
            for file in collect(ctx.host, &path, self.recursive) {
                self.format_file(ctx, &file, &mut outcome);
            }
        }
        outcome.diagnostics.sort();
        ctx.report(&outcome.diagnostics, &outcome.sources);
        if outcome.diagnostics.has_errors() || (self.check && outcome.changed) {
            Exit::Failure
        } else {
            Exit::Success
        }
    }

    fn format_file(&self, ctx: &mut Ctx<'_>, path: &Path, outcome: &mut Outcome) {
        let name = display_path(path);
        let bytes = match ctx.host.read(path) {
            Ok(bytes) => bytes,
            Err(HostError::NotFound) => {
                outcome.diagnostics.push(
                    Diagnostic::error_at_path(Code::CliNoSuchPath, Some(name))
                        .with_help("check the path; `infra fmt` takes .infra files and folders"),
                );
                return;
            }
            Err(error) => {
                outcome.diagnostics.push(unreadable_file(name, &error));
                return;
            }
        };
        let Some((text, formatted)) = format(bytes, name.clone(), outcome) else {
            return;
        };
        if formatted == text {
            return;
        }
        outcome.changed = true;
        if !self.check {
            if let Err(error) = ctx.host.write_atomic(path, formatted.as_bytes()) {
                outcome.diagnostics.push(
                    Diagnostic::error_at_path(Code::CliUnwritableFile, Some(name))
                        .with_help(format!("{error}; the file was left as it was")),
                );
                return;
            }
        }
        ctx.out(&format!("{name}\n"));
        if self.diff {
            ctx.out(&unified_diff(&name, &text, &formatted));
        }
    }

    fn format_stdin(&self, ctx: &mut Ctx<'_>, outcome: &mut Outcome) {
        let mut bytes = Vec::new();
        if let Err(error) = ctx.stdin.read_to_end(&mut bytes) {
            outcome.diagnostics.push(
                Diagnostic::error_at_path(Code::CliUnreadableStdin, Some(String::from("-")))
                    .with_help(format!("{error}")),
            );
            return;
        }
        let name = String::from("<stdin>");
        let Some((text, formatted)) = format(bytes, name.clone(), outcome) else {
            return;
        };
        if formatted != text {
            outcome.changed = true;
        }
        if self.diff {
            if formatted != text {
                ctx.out(&unified_diff(&name, &text, &formatted));
            }
        } else if !self.check {
            ctx.out_exact(&formatted);
        }
    }
}

/// Decodes and formats one input: the text and its canonical form, or `None`
/// when it is not UTF-8 or has syntax errors (reported into `outcome`).
fn format(bytes: Vec<u8>, name: String, outcome: &mut Outcome) -> Option<(String, String)> {
    let id = match add_source(&mut outcome.sources, name, bytes) {
        Ok(id) => id,
        Err(diagnostic) => {
            outcome.diagnostics.push(*diagnostic);
            return None;
        }
    };
    let text = outcome.sources.get(id)?.text.clone();
    match crate::fmt::format_source(id, &text) {
        Ok(formatted) => Some((text, formatted)),
        Err(diagnostics) => {
            outcome.diagnostics.extend(diagnostics);
            None
        }
    }
}

/// The files a PATH stands for: itself when it is not a folder (a missing one
/// is reported when read), else the folder's `*.infra` files, sorted, and with
/// `recursive` those of its non-hidden sub-folders.
fn collect(host: &dyn Host, path: &Path, recursive: bool) -> Vec<PathBuf> {
    if !host.is_dir(path) {
        return vec![path.to_path_buf()];
    }
    let mut files = Vec::new();
    let Ok(entries) = host.list_dir(path) else {
        return vec![path.to_path_buf()];
    };
    for entry in entries {
        let hidden = entry
            .path
            .file_name()
            .is_some_and(|name| name.to_string_lossy().starts_with('.'));
        if host.is_dir(&entry.path) {
            if recursive && !hidden {
                files.extend(collect(host, &entry.path, recursive));
            }
        } else if is_infra_path(&entry.path) {
            files.push(entry.path);
        }
    }
    files
}

/// A unified diff with `a/NAME` and `b/NAME` headers.
fn unified_diff(name: &str, old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .header(&format!("a/{name}"), &format!("b/{name}"))
        .to_string()
}
