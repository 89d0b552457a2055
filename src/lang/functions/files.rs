//! File builtins: `fileexists`, `fileset`, `filebase64`, the file hashes,
//! and the path functions `dirname` and `basename` (Go's `filepath.Dir` and
//! `filepath.Base`, as Terraform uses them).
//!
//! Invariant: files are reached only through [`FunctionContext`], relative
//! to the module's folder; the path functions never touch the disk.

use super::{Call, FunctionContext, hex, invalid};
use crate::diag::{Code, Diagnostic};
use crate::lang::value::Value;
use base64::Engine as _;

/// The names this file answers for (checked against [`super::NAMES`]).
#[cfg(test)]
pub(super) const NAMES: &[&str] = &[
    "basename",
    "dirname",
    "filebase64",
    "filebase64sha256",
    "filebase64sha512",
    "fileexists",
    "filemd5",
    "fileset",
    "filesha1",
    "filesha256",
    "filesha512",
];

pub(super) fn call(
    call: &Call<'_>,
    context: &dyn FunctionContext,
) -> Option<Result<Value, Diagnostic>> {
    Some(match call.name {
        "basename" => call.string(0).map(|p| Value::string(basename(&p))),
        "dirname" => call.string(0).map(|p| Value::string(dirname(&p))),
        "fileexists" => fileexists(call, context),
        "fileset" => fileset(call, context),
        "filebase64" | "filebase64sha256" | "filebase64sha512" | "filemd5" | "filesha1"
        | "filesha256" | "filesha512" => read_bytes(call, context).map(|bytes| {
            Value::string(match call.name {
                "filebase64" => base64::engine::general_purpose::STANDARD.encode(bytes),
                "filebase64sha256" => super::hash::base64_digest::<sha2::Sha256>(&bytes),
                "filebase64sha512" => super::hash::base64_digest::<sha2::Sha512>(&bytes),
                "filemd5" => hex(&super::hash::digest::<md5::Md5>(&bytes)),
                "filesha1" => hex(&super::hash::digest::<sha1::Sha1>(&bytes)),
                "filesha256" => hex(&super::hash::digest::<sha2::Sha256>(&bytes)),
                _ => hex(&super::hash::digest::<sha2::Sha512>(&bytes)),
            })
        }),
        _ => return None,
    })
}

fn unreadable(call: &Call<'_>, path: &str, reason: String) -> Diagnostic {
    Diagnostic::error(
        Code::CheckFileNotReadable,
        call.arg(0).1,
        format!("cannot read `{path}`"),
    )
    .with_help(reason)
}

fn read_bytes(call: &Call<'_>, context: &dyn FunctionContext) -> Result<Vec<u8>, Diagnostic> {
    let path = call.string(0)?;
    context
        .read_file_bytes(&path)
        .map_err(|e| unreadable(call, &path, e))
}

fn fileexists(call: &Call<'_>, context: &dyn FunctionContext) -> Result<Value, Diagnostic> {
    let path = call.string(0)?;
    context
        .file_exists(&path)
        .map(Value::bool)
        .map_err(|e| unreadable(call, &path, e))
}

fn fileset(call: &Call<'_>, context: &dyn FunctionContext) -> Result<Value, Diagnostic> {
    let dir = call.string(0)?;
    let pattern = call.string(1)?;
    let matcher = glob_regex(&pattern).map_err(|reason| {
        invalid(
            call.arg(1).1,
            "this is not a valid file pattern",
            format!("{reason}; patterns use `*`, `**`, `?`, `[abc]` and `{{a,b}}`"),
        )
    })?;
    let files = context
        .list_files(&dir)
        .map_err(|e| unreadable(call, &dir, e))?;
    let mut found: Vec<String> = files.into_iter().filter(|f| matcher.is_match(f)).collect();
    found.sort();
    found.dedup();
    Ok(Value::list(found.into_iter().map(Value::string).collect()))
}

/// A glob pattern as an anchored regular expression: `*` and `?` stay inside
/// one path segment, `**` crosses segments, `[...]` is a class and `{a,b}`
/// an alternative.
fn glob_regex(pattern: &str) -> Result<regex::Regex, String> {
    let mut out = String::from("^");
    let mut chars = pattern.chars().peekable();
    let mut braces = 0usize;
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                if chars.peek() == Some(&'/') {
                    chars.next();
                    out.push_str("(?:[^/]*/)*");
                } else {
                    out.push_str(".*");
                }
            }
            '*' => out.push_str("[^/]*"),
            '?' => out.push_str("[^/]"),
            '[' => {
                out.push('[');
                if chars.peek() == Some(&'!') || chars.peek() == Some(&'^') {
                    chars.next();
                    out.push('^');
                }
                let mut closed = false;
                for c in chars.by_ref() {
                    if c == ']' {
                        closed = true;
                        break;
                    }
                    if c == '\\' || c == '[' {
                        out.push('\\');
                    }
                    out.push(c);
                }
                if !closed {
                    return Err(String::from("a `[` is not closed"));
                }
                out.push(']');
            }
            '{' => {
                braces += 1;
                out.push_str("(?:");
            }
            ',' if braces > 0 => out.push('|'),
            '}' if braces > 0 => {
                braces -= 1;
                out.push(')');
            }
            '\\' => {
                if let Some(next) = chars.next() {
                    out.push_str(&regex::escape(&next.to_string()));
                }
            }
            other => out.push_str(&regex::escape(&other.to_string())),
        }
    }
    if braces > 0 {
        return Err(String::from("a `{` is not closed"));
    }
    out.push('$');
    regex::RegexBuilder::new(&out)
        .size_limit(1 << 20)
        .build()
        .map_err(|_| String::from("the pattern is too complex"))
}

/// Go's `path.Clean` on slash-separated paths.
fn clean(path: &str) -> String {
    if path.is_empty() {
        return String::from(".");
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => String::from("."),
        (false, false) => joined,
    }
}

/// Go's `filepath.Base`: the last element, trailing slashes ignored.
fn basename(path: &str) -> String {
    if path.is_empty() {
        return String::from(".");
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return String::from("/");
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed).to_owned()
}

/// Go's `filepath.Dir`: all but the last element, cleaned.
fn dirname(path: &str) -> String {
    let dir = match path.rfind('/') {
        Some(i) => path.get(..=i).unwrap_or(""),
        None => "",
    };
    clean(dir)
}

#[cfg(test)]
mod tests {
    use super::{basename, dirname, glob_regex};

    #[test]
    fn paths_split_as_go_splits_them() {
        assert_eq!(basename("foo/bar/baz.txt"), "baz.txt");
        assert_eq!(basename("a/b/"), "b");
        assert_eq!(basename("/"), "/");
        assert_eq!(basename(""), ".");
        assert_eq!(dirname("foo/bar/baz.txt"), "foo/bar");
        assert_eq!(dirname("baz.txt"), ".");
        assert_eq!(dirname("/baz"), "/");
        assert_eq!(dirname("a//b/../c/d"), "a/c");
    }

    #[test]
    fn globs_keep_single_stars_inside_a_segment() {
        let re = glob_regex("*.txt").unwrap_or_else(|e| panic!("{e}"));
        assert!(re.is_match("a.txt") && !re.is_match("d/a.txt"));
        let re = glob_regex("**/*.{txt,md}").unwrap_or_else(|e| panic!("{e}"));
        assert!(re.is_match("a.md") && re.is_match("d/e/a.txt") && !re.is_match("a.rs"));
    }
}
