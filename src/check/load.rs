//! Loading a stack folder: finding its `*.infra` files, reading them through the
//! host, decoding them as UTF-8 and parsing them.
//!
//! Invariant: files only through `host`; a file that cannot be read or decoded
//! is reported and left out, and the other files are still loaded.
//! Invariant: no diagnostic carries file content; an unreadable file is named by
//! its path and the system's words.

use super::Stack;
use crate::diag::{Code, Diagnostic, Diagnostics, FileId, SourceMap, Span};
use crate::host::{Host, HostError};
use crate::syntax;
use std::path::{Component, Path, PathBuf};

/// The extension of configuration files.
const EXTENSION: &str = "infra";

/// Reads every `*.infra` file directly in `dir` (not sub-folders), in file-name
/// order, and parses it. The files are parsed on several threads at once
/// (each file on one): a stack is usually many files of moderate size, each
/// below the size at which [`syntax::parse`] splits a file itself.
pub(super) fn load(host: &dyn Host, dir: &Path) -> (Stack, Diagnostics) {
    load_files(host, dir, &mut parse_files)
}

/// [`load`], each file parsed with `parse`, one after the other.
pub(super) fn load_parsed(
    host: &dyn Host,
    dir: &Path,
    parse: &mut dyn FnMut(FileId, &str) -> (syntax::ast::File, Diagnostics),
) -> (Stack, Diagnostics) {
    load_files(host, dir, &mut |sources, ids| {
        ids.iter()
            .map(|&id| parse(id, text_of(sources, id)))
            .collect()
    })
}

/// Parses what `parse_all` returns for the given files: one tree with its
/// diagnostics per file, in the order of `ids`.
type ParseAll<'a> = dyn FnMut(&SourceMap, &[FileId]) -> Vec<(syntax::ast::File, Diagnostics)> + 'a;

/// Reads the files first, then parses them all with `parse_all`; the
/// diagnostics come out in file order, as if each file had been read and
/// parsed in turn.
fn load_files(host: &dyn Host, dir: &Path, parse_all: &mut ParseAll<'_>) -> (Stack, Diagnostics) {
    let mut stack = Stack {
        dir: dir.to_path_buf(),
        ..Stack::default()
    };
    let mut diagnostics = Diagnostics::new();
    let shown_dir = display_path(dir);
    let entries = match host.list_dir(dir) {
        Ok(entries) => entries,
        Err(error) => {
            diagnostics.push(folder_error(&shown_dir, &error));
            return (stack, diagnostics);
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .into_iter()
        .map(|entry| entry.path)
        .filter(|path| is_infra_path(path) && !host.is_dir(path))
        .collect();
    paths.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    if paths.is_empty() {
        diagnostics.push(
            Diagnostic::error_at_path(Code::CliNoInfraFiles, Some(shown_dir))
                .with_help("create main.infra or run `infra init`"),
        );
        return (stack, diagnostics);
    }
    // Each file's reading problems, and its id when it is to be parsed.
    let read: Vec<(Diagnostics, Option<FileId>)> = paths
        .iter()
        .map(|path| {
            let mut read_diagnostics = Diagnostics::new();
            let id = read_source(host, path, &mut stack.sources, &mut read_diagnostics);
            (read_diagnostics, id)
        })
        .collect();
    let ids: Vec<FileId> = read.iter().filter_map(|(_, id)| *id).collect();
    let mut parsed = parse_all(&stack.sources, &ids).into_iter();
    for (read_diagnostics, id) in read {
        diagnostics.extend(read_diagnostics);
        if id.is_some()
            && let Some((file, parse_diagnostics)) = parsed.next()
        {
            diagnostics.extend(parse_diagnostics);
            stack.files.push(file);
        }
    }
    (stack, diagnostics)
}

/// The text of file `id` (empty for an unknown id).
fn text_of(sources: &SourceMap, id: FileId) -> &str {
    sources.get(id).map_or("", |file| file.text.as_str())
}

/// The most threads [`parse_files`] starts.
const MAX_PARSE_THREADS: usize = 8;

/// Parses the files `ids` with [`syntax::parse`], on as many threads as there
/// are cores (each thread takes the next file not yet taken), and returns the
/// results in the order of `ids`.
fn parse_files(sources: &SourceMap, ids: &[FileId]) -> Vec<(syntax::ast::File, Diagnostics)> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MAX_PARSE_THREADS)
        .min(ids.len());
    if threads <= 1 {
        return ids
            .iter()
            .map(|&id| syntax::parse(id, text_of(sources, id)))
            .collect();
    }
    let next = AtomicUsize::new(0);
    let mut slots: Vec<Option<(syntax::ast::File, Diagnostics)>> =
        std::iter::repeat_with(|| None).take(ids.len()).collect();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&id) = ids.get(index) else { break };
                        done.push((index, syntax::parse(id, text_of(sources, id))));
                    }
                    done
                })
            })
            .collect();
        for worker in workers {
            // A worker that panicked leaves its slots empty; they are parsed
            // again below, on this thread.
            if let Ok(done) = worker.join() {
                for (index, result) in done {
                    if let Some(slot) = slots.get_mut(index) {
                        *slot = Some(result);
                    }
                }
            }
        }
    });
    slots
        .into_iter()
        .zip(ids)
        .map(|(slot, &id)| slot.unwrap_or_else(|| syntax::parse(id, text_of(sources, id))))
        .collect()
}

/// Reads `path` through the host into `sources` and parses it; `None` (with
/// the problem in `diagnostics`) when it cannot be read or is not UTF-8.
fn read_and_parse(
    host: &dyn Host,
    path: &Path,
    sources: &mut SourceMap,
    diagnostics: &mut Diagnostics,
    parse: &mut dyn FnMut(FileId, &str) -> (syntax::ast::File, Diagnostics),
) -> Option<syntax::ast::File> {
    let id = read_source(host, path, sources, diagnostics)?;
    let (file, parse_diagnostics) = parse(id, text_of(sources, id));
    diagnostics.extend(parse_diagnostics);
    Some(file)
}

/// Reads `path` through the host into `sources`; its id, or `None` (with the
/// problem in `diagnostics`) when it cannot be read or is not UTF-8.
fn read_source(
    host: &dyn Host,
    path: &Path,
    sources: &mut SourceMap,
    diagnostics: &mut Diagnostics,
) -> Option<FileId> {
    let name = display_path(path);
    let bytes = match host.read(path) {
        Ok(bytes) => bytes,
        Err(error) => {
            diagnostics.push(unreadable_file(name, &error));
            return None;
        }
    };
    match add_source(sources, name, bytes) {
        Ok(id) => Some(id),
        Err(diagnostic) => {
            diagnostics.push(*diagnostic);
            None
        }
    }
}

/// Reads the variable files of the stack in `dir`, in precedence order
/// (later wins): `*.auto.vars` in `dir` by name, `environments/*.vars` by
/// name, then `extra` (`--var-file`) as given, and parses each into
/// `stack.var_files`. A missing `environments/` folder is no error; a
/// `--var-file` that cannot be read is.
pub(super) fn load_var_files(
    host: &dyn Host,
    dir: &Path,
    extra: &[PathBuf],
    stack: &mut Stack,
    diagnostics: &mut Diagnostics,
) {
    use crate::config::VarFileSource;
    let listed = |folder: &Path, keep: &dyn Fn(&Path) -> bool| -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = host
            .list_dir(folder)
            .map(|entries| entries.into_iter().map(|entry| entry.path).collect())
            .unwrap_or_default();
        paths.retain(|path| keep(path) && !host.is_dir(path));
        paths.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
        paths
    };
    let is_auto = |path: &Path| {
        path.file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| name.ends_with(".auto.vars") && name.len() > ".auto.vars".len())
    };
    let is_vars = |path: &Path| path.extension().is_some_and(|ext| ext == "vars");
    let mut found: Vec<(VarFileSource, PathBuf)> = listed(dir, &is_auto)
        .into_iter()
        .map(|path| (VarFileSource::Auto, path))
        .collect();
    for path in listed(&dir.join("environments"), &is_vars) {
        let environment = path
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_default();
        found.push((VarFileSource::Environment(environment), path));
    }
    found.extend(
        extra
            .iter()
            .map(|path| (VarFileSource::CommandLine, path.clone())),
    );
    for (source, path) in found {
        if let Some(file) = read_and_parse(
            host,
            &path,
            &mut stack.sources,
            diagnostics,
            &mut syntax::parse,
        ) {
            stack.var_files.push((source, file));
        }
    }
}

/// Adds a file's bytes to `sources` under `name`. Valid UTF-8 gives the file's
/// id; anything else is added with a lossy decoding (so the report can show a
/// caret at the first invalid byte) and comes back as an
/// `infra::parse::invalid_utf8` diagnostic: such a file must not be parsed.
pub fn add_source(
    sources: &mut SourceMap,
    name: String,
    bytes: Vec<u8>,
) -> Result<FileId, Box<Diagnostic>> {
    match String::from_utf8(bytes) {
        Ok(text) => Ok(sources.add(name, text)),
        Err(error) => {
            let utf8_error = error.utf8_error();
            let start = utf8_error.valid_up_to();
            let invalid_len = utf8_error.error_len().unwrap_or(1);
            let offending = error
                .as_bytes()
                .get(start..start + invalid_len)
                .unwrap_or_default()
                .iter()
                .map(|byte| format!("0x{byte:02x}"))
                .collect::<Vec<_>>()
                .join(" ");
            let text = String::from_utf8_lossy(error.as_bytes()).into_owned();
            // The valid prefix is kept as is by the lossy decoding, so the first
            // invalid byte becomes the replacement character at the same offset.
            let end = text
                .get(start..)
                .and_then(|rest| rest.chars().next())
                .map_or(start, |c| start + c.len_utf8());
            let id = sources.add(name, text);
            Err(Box::new(
                Diagnostic::error(
                    Code::ParseInvalidUtf8,
                    Span::new(id, start, end),
                    format!("byte {offending} is not valid utf-8"),
                )
                .with_help("save the file as UTF-8; .infra files must be UTF-8 text"),
            ))
        }
    }
}

/// The `infra::cli::unreadable_file` diagnostic for `name`.
pub fn unreadable_file(name: String, error: &HostError) -> Diagnostic {
    Diagnostic::error_at_path(Code::CliUnreadableFile, Some(name)).with_help(format!(
        "{error}; check that the file exists and can be read"
    ))
}

/// The diagnostic for a stack folder that cannot be listed.
fn folder_error(shown_dir: &str, error: &HostError) -> Diagnostic {
    let (code, help) = match error {
        HostError::NotFound => (
            Code::CliNoSuchDirectory,
            String::from("check the path, or pass the stack folder with `-C DIR`"),
        ),
        HostError::NotADirectory => (
            Code::CliNoSuchDirectory,
            String::from(
                "this is a file; pass the folder that holds the .infra files with `-C DIR`",
            ),
        ),
        HostError::Other(message) => (
            Code::CliUnreadableDirectory,
            format!(
                "the folder is there but could not be listed: {message}; check its permissions \
                 (and any links in the path)"
            ),
        ),
    };
    Diagnostic::error_at_path(code, Some(shown_dir.to_owned())).with_help(help)
}

/// Whether the path's name ends in `.infra` (a hidden `.infra` folder does not).
pub fn is_infra_path(path: &Path) -> bool {
    path.extension().is_some_and(|ext| ext == EXTENSION)
}

/// A path as users should see it: as given, without a leading `./`.
pub fn display_path(path: &Path) -> String {
    let stripped: PathBuf = path
        .components()
        .skip_while(|component| matches!(component, Component::CurDir))
        .collect();
    if stripped.as_os_str().is_empty() {
        String::from(".")
    } else {
        stripped.display().to_string()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

    use super::*;
    use crate::host::MemoryHost;

    fn codes(diagnostics: &Diagnostics) -> Vec<&'static str> {
        diagnostics.iter().map(|d| d.code.as_str()).collect()
    }

    #[test]
    fn loads_infra_files_in_name_order_and_skips_sub_folders() {
        let host = MemoryHost::new()
            .with_file("stack/b.infra", "")
            .with_file("stack/a.infra", "")
            .with_file("stack/notes.txt", "")
            .with_file("stack/modules/m.infra", "")
            .with_file("stack/dir.infra/inner.infra", "");
        let (stack, diagnostics) = load(&host, Path::new("stack"));
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        let names: Vec<_> = stack.sources.iter().map(|(_, f)| f.name.clone()).collect();
        assert_eq!(names, ["stack/a.infra", "stack/b.infra"]);
        assert_eq!(stack.files.len(), 2);
        assert_eq!(stack.files[0].id, FileId(0));
    }

    #[test]
    fn display_names_drop_a_leading_dot_folder() {
        let host = MemoryHost::new().with_file("./main.infra", "");
        let (stack, _) = load(&host, Path::new("."));
        assert_eq!(stack.sources.get(FileId(0)).unwrap().name, "main.infra");
        assert_eq!(display_path(Path::new("./a/./b.infra")), "a/b.infra");
        assert_eq!(display_path(Path::new(".")), ".");
    }

    #[test]
    fn missing_folder_is_no_such_directory() {
        let (stack, diagnostics) = load(&MemoryHost::new(), Path::new("nope"));
        assert_eq!(codes(&diagnostics), ["infra::cli::no_such_directory"]);
        let diagnostic = diagnostics.iter().next().unwrap();
        assert_eq!(diagnostic.path.as_deref(), Some("nope"));
        assert!(diagnostic.help.is_some());
        assert!(stack.files.is_empty());
    }

    #[test]
    fn a_file_given_as_folder_is_no_such_directory() {
        let host = MemoryHost::new().with_file("main.infra", "");
        let (_, diagnostics) = load(&host, Path::new("main.infra"));
        assert_eq!(codes(&diagnostics), ["infra::cli::no_such_directory"]);
    }

    #[test]
    fn folder_without_infra_files_is_no_infra_files() {
        let host = MemoryHost::new().with_file("stack/readme.md", "");
        let (_, diagnostics) = load(&host, Path::new("stack"));
        assert_eq!(codes(&diagnostics), ["infra::cli::no_infra_files"]);
        let help = diagnostics.iter().next().unwrap().help.clone().unwrap();
        assert_eq!(help, "create main.infra or run `infra init`");
    }

    #[test]
    fn invalid_utf8_points_at_the_first_bad_byte_and_is_not_parsed() {
        let host = MemoryHost::new()
            .with_file("s/a.infra", b"ok = 1\nx\xffy\n".to_vec())
            .with_file("s/b.infra", "");
        let (stack, diagnostics) = load(&host, Path::new("s"));
        assert_eq!(codes(&diagnostics), ["infra::parse::invalid_utf8"]);
        let label = diagnostics.iter().next().unwrap().primary.clone().unwrap();
        assert_eq!(label.span.start, 8);
        assert_eq!(label.span.end, 11);
        assert_eq!(label.text, "byte 0xff is not valid utf-8");
        // The bad file has a source for the caret but no tree.
        assert_eq!(stack.sources.len(), 2);
        assert_eq!(stack.files.len(), 1);
        assert_eq!(stack.files[0].id, FileId(1));
    }
}
