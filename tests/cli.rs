//! The `infra` binary end to end: `validate` and `fmt` on temporary folders,
//! checking exit codes, the streams and the files left behind.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use crate::common;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{TempDir, code, stderr, stdout};

/// Runs `infra ARGS` in `dir`, with colour forbidden and stdin empty.
fn infra(dir: &Path, args: &[&str]) -> Output {
    infra_with_stdin(dir, args, "")
}

fn infra_with_stdin(dir: &Path, args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_infra"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

const VALID: &str = r#"stack "shop" {
  state = "local"
}

variable "replicas" {
  type    = number
  default = 1
  validate {
    condition = var.replicas >= 1
    message   = "replicas must be at least 1"
  }
}

resource "local_file" "config" {
  path    = "out/${env.name}.env"
  content = "PORT=8080"
  lifecycle {
    create_before_destroy = true
  }
}

output "path" {
  value = local_file.config.path
}
"#;

// ---- validate ---------------------------------------------------------------

#[test]
fn validate_a_valid_stack_exits_0() {
    let dir = TempDir::new("valid");
    dir.write("main.infra", VALID);
    let output = infra(&dir.path, &["validate"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(stdout(&output).contains("Success!"));
    assert_eq!(stderr(&output), "");
}

#[test]
fn validate_takes_the_folder_with_dash_c_before_or_after_the_command() {
    let dir = TempDir::new("chdir");
    dir.write("stack/main.infra", VALID);
    assert_eq!(code(&infra(&dir.path, &["validate", "-C", "stack"])), 0);
    assert_eq!(code(&infra(&dir.path, &["-C", "stack", "validate"])), 0);
}

#[test]
fn validate_reports_every_error_in_every_file_with_the_count_line() {
    let dir = TempDir::new("two-files");
    dir.write("a.infra", "resourse \"local_file\" \"x\" {}\n");
    dir.write("b.infra", "variable \"v\" {\n  defualt = 1\n}\n");
    let output = infra(&dir.path, &["validate", "-C", "."]);
    assert_eq!(code(&output), 1);
    let err = stderr(&output);
    assert!(err.contains("infra::check::unknown_block"), "{err}");
    assert!(err.contains("infra::check::unknown_attribute"), "{err}");
    assert!(err.contains("a.infra:1:1"), "{err}");
    assert!(err.contains("b.infra:2:3"), "{err}");
    assert!(err.contains("did you mean `resource`?"), "{err}");
    assert!(err.trim_end().ends_with("2 errors in 2 files"), "{err}");
    assert!(!stdout(&output).contains("Success"));
}

#[test]
fn validate_reports_duplicates_across_files_with_both_places() {
    let dir = TempDir::new("duplicate");
    dir.write("a.infra", "variable \"v\" {}\n");
    dir.write("b.infra", "variable \"v\" {}\n");
    let output = infra(&dir.path, &["validate"]);
    assert_eq!(code(&output), 1);
    let err = stderr(&output);
    assert!(err.contains("infra::check::duplicate_block"), "{err}");
    assert!(err.contains("b.infra:1:1"), "{err}");
    assert!(err.contains("a.infra:1:1"), "{err}");
    assert!(err.contains("first defined here"), "{err}");
    assert!(err.trim_end().ends_with("1 error in 1 file"), "{err}");
}

#[test]
fn validate_json_has_the_documented_fields() {
    let dir = TempDir::new("json");
    dir.write("main.infra", "output \"o\" {\n  description = \"x\"\n}\n");
    let output = infra(&dir.path, &["validate", "--format", "json"]);
    assert_eq!(code(&output), 1);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["valid"], false);
    assert_eq!(json["error_count"], 1);
    let diagnostic = &json["diagnostics"][0];
    assert_eq!(diagnostic["code"], "infra::check::missing_attribute");
    assert_eq!(diagnostic["severity"], "error");
    assert_eq!(diagnostic["message"], "missing required attribute");
    assert_eq!(diagnostic["file"], "main.infra");
    assert_eq!(diagnostic["line"], 1);
    assert_eq!(diagnostic["column"], 1);
    assert_eq!(diagnostic["end"]["line"], 1);
    assert_eq!(diagnostic["end"]["column"], 11);
    assert!(diagnostic["help"].as_str().unwrap().contains("value = ..."));
    assert_eq!(stderr(&output), "");
}

#[test]
fn validate_json_is_printed_when_clean() {
    let dir = TempDir::new("json-clean");
    dir.write("main.infra", VALID);
    let output = infra(&dir.path, &["validate", "--format", "json"]);
    assert_eq!(code(&output), 0);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["valid"], true);
    assert_eq!(json["diagnostics"].as_array().unwrap().len(), 0);
}

#[test]
fn output_has_no_escape_bytes_without_a_terminal() {
    let dir = TempDir::new("no-colour");
    dir.write("main.infra", "resourse \"a\" \"b\" {}\n");
    for no_color in ["1", ""] {
        let output = Command::new(env!("CARGO_BIN_EXE_infra"))
            .args(["validate"])
            .current_dir(&dir.path)
            .env("NO_COLOR", no_color)
            .output()
            .unwrap();
        assert_eq!(code(&output), 1);
        assert!(!output.stderr.contains(&0x1b), "{}", stderr(&output));
        assert!(!output.stdout.contains(&0x1b));
    }
}

#[test]
fn validate_reports_invalid_utf8() {
    let dir = TempDir::new("utf8");
    dir.write("main.infra", b"variable \"v\" {\n  default = \"\xff\"\n}\n");
    let output = infra(&dir.path, &["validate"]);
    assert_eq!(code(&output), 1);
    let err = stderr(&output);
    assert!(err.contains("infra::parse::invalid_utf8"), "{err}");
    assert!(err.contains("main.infra:2:14"), "{err}");
    assert!(err.contains("0xff"), "{err}");
}

#[test]
fn validate_reports_an_unreadable_file_by_path() {
    // A dangling symlink fails to read even as root (chmod 000 would not).
    let dir = TempDir::new("unreadable");
    dir.write("main.infra", VALID);
    std::os::unix::fs::symlink(dir.path.join("gone"), dir.path.join("x.infra")).unwrap();
    let output = infra(&dir.path, &["validate"]);
    assert_eq!(code(&output), 1);
    let err = stderr(&output);
    assert!(err.contains("infra::cli::unreadable_file"), "{err}");
    assert!(err.contains("x.infra"), "{err}");
    assert!(err.contains("not found"), "{err}");
}

#[test]
fn validate_skips_folders_named_like_infra_files_and_sub_folders() {
    let dir = TempDir::new("folders");
    dir.write("main.infra", VALID);
    dir.write("odd.infra/inner.infra", "this is not parsed {");
    dir.write("modules/x/main.infra", "this is not parsed either {");
    let output = infra(&dir.path, &["validate"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
}

#[test]
fn validate_an_empty_folder_is_no_infra_files() {
    let dir = TempDir::new("empty");
    let output = infra(&dir.path, &["validate"]);
    assert_eq!(code(&output), 1);
    let err = stderr(&output);
    assert!(err.contains("infra::cli::no_infra_files"), "{err}");
    assert!(
        err.contains("create main.infra or run `infra init`"),
        "{err}"
    );
}

#[test]
fn validate_a_missing_folder_is_no_such_directory() {
    let dir = TempDir::new("missing");
    let output = infra(&dir.path, &["validate", "-C", "nope"]);
    assert_eq!(code(&output), 1);
    let err = stderr(&output);
    assert!(err.contains("infra::cli::no_such_directory"), "{err}");
    assert!(err.contains("nope"), "{err}");
}

#[test]
fn a_stack_folder_that_cannot_be_listed_is_unreadable_not_missing() {
    // A link to itself exists but cannot be listed, by root too (ELOOP);
    // mode bits would not stop root.
    let dir = TempDir::new("unreadable-folder");
    std::os::unix::fs::symlink("loop", dir.path.join("loop")).unwrap();
    let output = infra(&dir.path, &["validate", "-C", "loop"]);
    assert_eq!(code(&output), 1);
    let err = stderr(&output);
    assert!(err.contains("infra::cli::unreadable_directory"), "{err}");
    assert!(
        err.contains("stack folder could not be read: loop"),
        "{err}"
    );
    assert!(!err.contains("not found"), "{err}");
}

#[test]
fn validate_reports_syntax_errors() {
    let dir = TempDir::new("syntax");
    dir.write("main.infra", "variable \"v\" {\n  default = \n}\n");
    let output = infra(&dir.path, &["validate"]);
    assert_eq!(code(&output), 1);
    assert!(
        stderr(&output).contains("infra::parse::"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn usage_errors_exit_1_and_version_exits_0() {
    let dir = TempDir::new("usage");
    let output = infra(&dir.path, &["validate", "--format", "xml"]);
    assert_eq!(code(&output), 1);
    assert!(stderr(&output).contains("xml"));
    let output = infra(&dir.path, &["--version"]);
    assert_eq!(code(&output), 0);
    assert!(stdout(&output).starts_with("infra "));
}

// ---- fmt ----------------------------------------------------------------------

const UNFORMATTED: &str = "variable \"v\" {\n    default=1\n  description   =  \"d\"\n}\n";

#[test]
fn fmt_check_lists_unformatted_files_and_writes_nothing() {
    let dir = TempDir::new("fmt-check");
    dir.write("a.infra", UNFORMATTED);
    dir.write("b.infra", VALID);
    let output = infra(&dir.path, &["fmt", "--check"]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    assert_eq!(stdout(&output), "a.infra\n");
    assert_eq!(dir.read("a.infra"), UNFORMATTED.as_bytes());
}

#[test]
fn fmt_rewrites_files_in_place_and_is_then_clean() {
    let dir = TempDir::new("fmt-write");
    dir.write("a.infra", UNFORMATTED);
    dir.write("b.infra", VALID);
    let output = infra(&dir.path, &["fmt"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(stdout(&output), "a.infra\n");
    let rewritten = String::from_utf8(dir.read("a.infra")).unwrap();
    assert_ne!(rewritten, UNFORMATTED);
    assert!(rewritten.contains("default     = 1"), "{rewritten}");
    assert_eq!(dir.read("b.infra"), VALID.as_bytes());
    let again = infra(&dir.path, &["fmt", "--check"]);
    assert_eq!(code(&again), 0, "{}", stdout(&again));
    assert_eq!(stdout(&again), "");
}

#[test]
fn fmt_never_rewrites_a_file_with_syntax_errors() {
    let dir = TempDir::new("fmt-broken");
    let broken = "variable \"v\" {\n    default=\n}\n";
    dir.write("broken.infra", broken);
    dir.write("ok.infra", UNFORMATTED);
    let output = infra(&dir.path, &["fmt"]);
    assert_eq!(code(&output), 1);
    assert_eq!(dir.read("broken.infra"), broken.as_bytes());
    assert!(
        stderr(&output).contains("infra::parse::"),
        "{}",
        stderr(&output)
    );
    assert!(stderr(&output).contains("broken.infra"));
    // The other file is still formatted.
    assert_eq!(stdout(&output), "ok.infra\n");
    assert_ne!(dir.read("ok.infra"), UNFORMATTED.as_bytes());
}

#[test]
fn fmt_diff_shows_a_unified_diff() {
    let dir = TempDir::new("fmt-diff");
    dir.write("a.infra", UNFORMATTED);
    let output = infra(&dir.path, &["fmt", "--check", "--diff", "a.infra"]);
    assert_eq!(code(&output), 1);
    let out = stdout(&output);
    assert!(out.contains("--- a/a.infra"), "{out}");
    assert!(out.contains("+++ b/a.infra"), "{out}");
    assert!(out.contains("\n-    default=1\n"), "{out}");
    assert!(out.lines().any(|l| l.starts_with("+  default")), "{out}");
    assert_eq!(dir.read("a.infra"), UNFORMATTED.as_bytes());
    // Without --check, --diff also writes.
    let output = infra(&dir.path, &["fmt", "--diff", "a.infra"]);
    assert_eq!(code(&output), 0);
    assert!(stdout(&output).contains("+++ b/a.infra"));
    assert_ne!(dir.read("a.infra"), UNFORMATTED.as_bytes());
}

#[test]
fn fmt_reads_stdin_and_writes_stdout() {
    let dir = TempDir::new("fmt-stdin");
    let output = infra_with_stdin(&dir.path, &["fmt", "-"], UNFORMATTED);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let formatted = stdout(&output);
    assert!(formatted.contains("default     = 1"), "{formatted}");
    let output = infra_with_stdin(&dir.path, &["fmt", "--check", "-"], UNFORMATTED);
    assert_eq!(code(&output), 1);
    let output = infra_with_stdin(&dir.path, &["fmt", "--check", "-"], &formatted);
    assert_eq!(code(&output), 0);
}

#[test]
fn fmt_folders_only_recurse_with_recursive() {
    let dir = TempDir::new("fmt-recursive");
    dir.write("top.infra", UNFORMATTED);
    dir.write("sub/inner.infra", UNFORMATTED);
    dir.write(".hidden/skip.infra", UNFORMATTED);
    let output = infra(&dir.path, &["fmt", "--check"]);
    assert_eq!(stdout(&output), "top.infra\n");
    let output = infra(&dir.path, &["fmt", "--check", "--recursive"]);
    assert_eq!(stdout(&output), "sub/inner.infra\ntop.infra\n");
    let output = infra(&dir.path, &["fmt", "--check", "--recursive", "sub"]);
    assert_eq!(stdout(&output), "sub/inner.infra\n");
}

#[test]
fn fmt_a_missing_path_is_an_error() {
    let dir = TempDir::new("fmt-missing");
    let output = infra(&dir.path, &["fmt", "nope.infra"]);
    assert_eq!(code(&output), 1);
    assert!(stderr(&output).contains("infra::cli::no_such_path"));
}

/// Whether `text` holds a control character other than a line feed.
fn has_raw_controls(text: &str) -> bool {
    text.chars().any(|c| c.is_control() && c != '\n')
}

#[test]
fn control_characters_from_files_and_providers_never_reach_the_terminal_raw() {
    // In the source: an error snippet shows them escaped.
    let dir = TempDir::new("controls");
    dir.write(
        "main.infra",
        "stack \"x\" {}\nlocals {\n  a = \"\u{1b}]0;pwned\u{7}\"\n  b\u{1b}[2J = 1\n}\n",
    );
    let output = infra(&dir.path, &["validate"]);
    assert_eq!(code(&output), 1);
    let text = stderr(&output);
    assert!(!has_raw_controls(&text), "{text:?}");
    assert!(text.contains("b\\u{1b}[2J = 1"), "{text}");

    // From the world: a file changed outside infra shows up in the drift,
    // and a provider error names a path holding an escape.
    dir.write(
        "main.infra",
        "stack \"x\" {}\nresource \"local_file\" \"f\" {\n  path    = \"out/f.txt\"\n  content = \"a\\nb\\n\"\n}\n",
    );
    let output = infra(&dir.path, &["apply", "--auto-approve"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    dir.write("out/f.txt", "a\n\u{1b}]0;pwned\u{7}\nb\n");
    let output = infra(&dir.path, &["plan"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let text = stdout(&output);
    assert!(!has_raw_controls(&text), "{text:?}");
    assert!(text.contains("\\u{1b}]0;pwned\\u{7}"), "{text}");
    // JSON stays valid and keeps the value.
    let output = infra(&dir.path, &["plan", "--format", "json"]);
    assert!(!has_raw_controls(&stdout(&output)));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert!(doc.to_string().contains("pwned"));

    dir.write("blocker", "a file, not a folder");
    dir.write(
        "main.infra",
        "stack \"x\" {}\nresource \"local_file\" \"g\" {\n  path    = \"blocker/g\u{1b}[2J.txt\"\n  content = \"x\"\n}\n",
    );
    let output = infra(&dir.path, &["apply", "--auto-approve"]);
    assert_eq!(code(&output), 1);
    let (out, err) = (stdout(&output), stderr(&output));
    assert!(err.contains("infra::apply::provider_error"), "{err}");
    assert!(!has_raw_controls(&out), "{out:?}");
    assert!(!has_raw_controls(&err), "{err:?}");
}

#[test]
fn fmt_a_file_that_cannot_be_written_back_is_unwritable_file() {
    // Root may write any file whatever its mode, so a chmod 0444 file proves
    // nothing here. `/proc/self/fd/0` reads as the file on stdin, but no
    // file can be created in `/proc/self/fd/`, so writing it back fails for
    // every user.
    let dir = TempDir::new("fmt-unwritable");
    let file = dir.write("a.infra", UNFORMATTED);
    let output = Command::new(env!("CARGO_BIN_EXE_infra"))
        .args(["fmt", "/proc/self/fd/0"])
        .current_dir(&dir.path)
        .env("NO_COLOR", "1")
        .stdin(std::fs::File::open(&file).unwrap())
        .output()
        .unwrap();
    let err = stderr(&output);
    assert_eq!(code(&output), 1, "{err}");
    assert!(err.contains("infra::cli::unwritable_file"), "{err}");
    assert!(err.contains("the file was left as it was"), "{err}");
    assert_eq!(dir.read("a.infra"), UNFORMATTED.as_bytes());
}

#[test]
fn fmt_a_stdin_that_cannot_be_read_is_unreadable_stdin() {
    // A folder opened as standard input: every read fails (EISDIR).
    let dir = TempDir::new("fmt-unreadable-stdin");
    let output = Command::new(env!("CARGO_BIN_EXE_infra"))
        .args(["fmt", "-"])
        .current_dir(&dir.path)
        .env("NO_COLOR", "1")
        .stdin(std::fs::File::open(&dir.path).unwrap())
        .output()
        .unwrap();
    let err = stderr(&output);
    assert_eq!(code(&output), 1, "{err}");
    assert!(err.contains("infra::cli::unreadable_stdin"), "{err}");
    assert_eq!(stdout(&output), "");
}
