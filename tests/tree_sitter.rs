//! The tree-sitter grammar in `editors/tree-sitter-infra/`, tested without the
//! tree-sitter CLI: its generated parser is committed and compiled here through
//! the grammar's Rust binding.
//!
//! - Every `.infra` file of `examples/`, `stdlib/` and the corpus cases that
//!   expect no parse error parses with no `ERROR` or `MISSING` node.
//! - The grammar's own corpus (`test/corpus/*.txt`, the format `tree-sitter
//!   test` reads) matches the parser's trees.
//! - `queries/highlights.scm` captures the hard cases as intended, and
//!   `queries/locals.scm` compiles.
//! - `src/parser.c` is generated from the committed `grammar.js` (recorded
//!   hashes); when the CLI is in `.ci-tools/`, `tree-sitter test` runs too.
//!
//! Invariant: nothing here needs the CLI; building it takes minutes.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tree_sitter::{
    InputEdit, Language, Node, Parser, Point, Query, QueryCursor, StreamingIterator, Tree,
};

const GENERATE_HINT: &str = "run editors/tree-sitter-infra/generate.sh";

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn grammar_dir() -> PathBuf {
    repo_root().join("editors/tree-sitter-infra")
}

fn language() -> Language {
    tree_sitter_infra::LANGUAGE.into()
}

fn parse(source: &str) -> Tree {
    let mut parser = Parser::new();
    parser
        .set_language(&language())
        .unwrap_or_else(|error| panic!("the grammar's ABI does not match the runtime: {error}"));
    parser
        .parse(source, None)
        .unwrap_or_else(|| panic!("tree-sitter returned no tree for:\n{source}"))
}

/// A file's text, with invalid UTF-8 replaced: some parse cases are broken
/// on purpose.
fn read_lossy(path: &Path) -> String {
    let bytes =
        fs::read(path).unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    String::from_utf8_lossy(&bytes).into_owned()
}

fn read(path: &Path) -> String {
    fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
}

/// Every `.infra` file under `dir`, sorted.
fn infra_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = fs::read_dir(&dir)
            .unwrap_or_else(|error| panic!("cannot list {}: {error}", dir.display()));
        for entry in entries {
            let path = entry
                .unwrap_or_else(|error| panic!("cannot list {}: {error}", dir.display()))
                .path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "infra") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// The `ERROR` and `MISSING` nodes of a tree, as `line:column kind` lines.
fn syntax_errors(tree: &Tree) -> Vec<String> {
    fn walk(node: Node<'_>, found: &mut Vec<String>) {
        if node.is_error() || node.is_missing() {
            let at = node.start_position();
            let what = if node.is_missing() {
                format!("MISSING {}", node.kind())
            } else {
                "ERROR".to_owned()
            };
            found.push(format!("{}:{} {what}", at.row + 1, at.column + 1));
        }
        if node.has_error() {
            let mut cursor = node.walk();
            for child in node.children(&mut cursor) {
                walk(child, found);
            }
        }
    }
    let mut found = Vec::new();
    walk(tree.root_node(), &mut found);
    found
}

#[test]
fn every_example_stdlib_module_and_valid_corpus_case_parses_without_error() {
    let root = repo_root();
    let mut files = infra_files(&root.join("examples"));
    files.extend(infra_files(&root.join("stdlib")));
    // Cases that expect a parse error are meant to be broken; the others
    // (including every check, plan, apply and drift case) are valid syntax.
    files.extend(
        infra_files(&root.join("tests/corpus"))
            .into_iter()
            .filter(|path| !read_lossy(path).contains("[infra::parse::")),
    );
    assert!(files.len() > 50, "found only {} .infra files", files.len());

    let mut report = String::new();
    for path in &files {
        let errors = syntax_errors(&parse(&read(path)));
        for error in errors {
            let relative = path.strip_prefix(root).unwrap_or(path);
            let _ = writeln!(report, "{}:{error}", relative.display());
        }
    }
    assert!(
        report.is_empty(),
        "the tree-sitter grammar rejects valid files:\n{report}"
    );
}

/// An editor reparses after every keystroke, reusing the old tree: typing a
/// file one character at a time (heredocs included, whose scanner state is
/// saved and restored between tokens) gives the same tree at every step as
/// parsing the text afresh, and the finished file parses cleanly.
#[test]
fn typing_a_file_one_character_at_a_time_reparses_like_a_fresh_parse() {
    let mut parser = Parser::new();
    parser
        .set_language(&language())
        .unwrap_or_else(|error| panic!("the grammar's ABI does not match the runtime: {error}"));
    for file in [
        "examples/shop/main.infra",
        "tests/corpus/parse/heredocs.infra",
        "tests/corpus/check/language_templates.infra",
    ] {
        let text = read(&repo_root().join(file));
        let mut typed = String::new();
        let mut tree: Option<Tree> = None;
        for character in text.chars() {
            let at = typed.len();
            let position = point_at(&typed);
            typed.push(character);
            if let Some(old) = tree.as_mut() {
                old.edit(&InputEdit {
                    start_byte: at,
                    old_end_byte: at,
                    new_end_byte: typed.len(),
                    start_position: position,
                    old_end_position: position,
                    new_end_position: point_at(&typed),
                });
            }
            let reparsed = parser
                .parse(&typed, tree.as_ref())
                .unwrap_or_else(|| panic!("{file}: no tree after {} bytes", typed.len()));
            let fresh = parse(&typed);
            assert_eq!(
                reparsed.root_node().to_sexp(),
                fresh.root_node().to_sexp(),
                "{file}: the incremental tree differs after typing:\n{typed}"
            );
            tree = Some(reparsed);
        }
        let errors = tree.map(|tree| syntax_errors(&tree)).unwrap_or_default();
        assert!(errors.is_empty(), "{file}: {errors:?}");
    }
}

/// The row and column (in bytes) of the end of `text`.
fn point_at(text: &str) -> Point {
    let row = text.matches('\n').count();
    let column = text.len() - text.rfind('\n').map_or(0, |newline| newline + 1);
    Point { row, column }
}

/// The broken parse cases give a tree (with errors) and do not crash the
/// external scanner.
#[test]
fn broken_files_parse_to_a_tree_with_errors() {
    let broken: Vec<PathBuf> = infra_files(&repo_root().join("tests/corpus/parse"))
        .into_iter()
        .filter(|path| read_lossy(path).contains("[infra::parse::"))
        .collect();
    assert!(
        broken.len() >= 10,
        "found only {} broken parse cases",
        broken.len()
    );
    let mut parser = Parser::new();
    parser
        .set_language(&language())
        .unwrap_or_else(|error| panic!("the grammar's ABI does not match the runtime: {error}"));
    for path in &broken {
        let bytes = fs::read(path)
            .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
        let tree = parser
            .parse(&bytes, None)
            .unwrap_or_else(|| panic!("no tree for {}", path.display()));
        assert_eq!(
            tree.root_node().end_byte(),
            bytes.len(),
            "{}",
            path.display()
        );
    }
}

/// One case of a `test/corpus/*.txt` file.
struct CorpusCase {
    file: String,
    name: String,
    input: String,
    expected: String,
}

fn is_rule(line: &str, mark: char) -> bool {
    line.len() >= 3 && line.chars().all(|c| c == mark)
}

/// Reads the format of `tree-sitter test`: a name between two `===` lines,
/// the input, a `---` line, then the expected S-expression.
fn corpus_cases(file: &str, text: &str) -> Vec<CorpusCase> {
    let lines: Vec<&str> = text.lines().collect();
    let mut cases = Vec::new();
    let mut at = 0;
    while at < lines.len() {
        if !is_rule(lines[at], '=') {
            at += 1;
            continue;
        }
        let name_start = at + 1;
        let mut name_end = name_start;
        while name_end < lines.len() && !is_rule(lines[name_end], '=') {
            name_end += 1;
        }
        let name = lines[name_start..name_end].join(" ").trim().to_owned();
        let input_start = name_end + 1;
        let mut divider = input_start;
        while divider < lines.len() && !is_rule(lines[divider], '-') {
            divider += 1;
        }
        let mut next = divider + 1;
        while next < lines.len() && !is_rule(lines[next], '=') {
            next += 1;
        }
        assert!(
            divider < lines.len(),
            "{file}: case {name:?} has no `---` line"
        );
        cases.push(CorpusCase {
            file: file.to_owned(),
            name,
            input: lines[input_start..divider].join("\n").trim().to_owned() + "\n",
            expected: lines[divider + 1..next].join("\n"),
        });
        at = next;
    }
    cases
}

/// S-expressions compared as `tree-sitter test` does: whitespace runs are one
/// space, there is none before a `)`, and field names (`name: `) are dropped
/// unless the expected tree shows them.
fn normalise_sexp(sexp: &str, keep_fields: bool) -> String {
    let words = sexp
        .split_whitespace()
        .filter(|word| keep_fields || !is_field_name(word))
        .collect::<Vec<_>>();
    words.join(" ").replace(" )", ")")
}

/// `name:`, as `to_sexp` writes a field name before its node.
fn is_field_name(word: &str) -> bool {
    word.strip_suffix(':').is_some_and(|name| {
        !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '_')
    })
}

#[test]
fn the_grammar_corpus_matches_the_parser() {
    let corpus_dir = grammar_dir().join("test/corpus");
    let mut files: Vec<PathBuf> = fs::read_dir(&corpus_dir)
        .unwrap_or_else(|error| panic!("cannot list {}: {error}", corpus_dir.display()))
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "txt"))
        .collect();
    files.sort();

    let mut count = 0;
    let mut report = String::new();
    for path in &files {
        let file = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        for case in corpus_cases(&file, &read(path)) {
            count += 1;
            let keep_fields = case.expected.split_whitespace().any(is_field_name);
            let actual = normalise_sexp(&parse(&case.input).root_node().to_sexp(), keep_fields);
            let expected = normalise_sexp(&case.expected, keep_fields);
            if actual != expected {
                let _ = writeln!(
                    report,
                    "{} / {}:\n  expected: {expected}\n  actual:   {actual}\n",
                    case.file, case.name
                );
            }
        }
    }
    assert!(
        count >= 40,
        "found only {count} corpus cases in {}",
        corpus_dir.display()
    );
    assert!(
        report.is_empty(),
        "corpus cases differ from the parser:\n{report}"
    );
}

/// The `(capture, text)` pairs `highlights.scm` yields over `source`.
fn highlight_captures(source: &str) -> Vec<(String, String)> {
    let query = Query::new(&language(), tree_sitter_infra::HIGHLIGHTS_QUERY)
        .unwrap_or_else(|error| panic!("highlights.scm does not compile: {error}"));
    let tree = parse(source);
    assert_eq!(
        syntax_errors(&tree),
        Vec::<String>::new(),
        "the hard case does not parse:\n{source}"
    );
    let mut cursor = QueryCursor::new();
    let mut captures = cursor.captures(&query, tree.root_node(), source.as_bytes());
    let mut found = Vec::new();
    while let Some((query_match, index)) = captures.next() {
        let capture = query_match.captures[*index];
        let name = query.capture_names()[capture.index as usize];
        if name.starts_with('_') {
            continue;
        }
        let text = capture
            .node
            .utf8_text(source.as_bytes())
            .unwrap_or_default();
        found.push((name.to_owned(), text.to_owned()));
    }
    found
}

fn assert_captured(captures: &[(String, String)], name: &str, text: &str) {
    assert!(
        captures.iter().any(|(n, t)| n == name && t == text),
        "expected @{name} on {text:?}; captures: {captures:#?}"
    );
}

fn assert_not_captured(captures: &[(String, String)], name: &str) {
    assert!(
        captures.iter().all(|(n, _)| n != name),
        "expected no @{name}; captures: {captures:#?}"
    );
}

#[test]
fn highlights_mark_code_inside_nested_interpolations() {
    let captures = highlight_captures("a = \"outer-${\"inner-${var.name}\"}-${x}\"\n");
    assert_captured(
        &captures,
        "string",
        "\"outer-${\"inner-${var.name}\"}-${x}\"",
    );
    assert_captured(&captures, "variable", "x");
    assert_captured(&captures, "string", "\"inner-${var.name}\"");
    assert_captured(&captures, "punctuation.special", "${");
    assert_captured(&captures, "variable.builtin", "var");
    assert_captured(&captures, "variable.member", "name");
}

#[test]
fn highlights_mark_code_inside_a_heredoc_interpolation() {
    let source = "locals {\n  a = <<-EOT\n    PORT=${var.port}\n    literal $${x}\n    EOT\n}\n";
    let captures = highlight_captures(source);
    assert_captured(&captures, "label", "<<-EOT");
    assert_captured(&captures, "label", "EOT");
    assert_captured(&captures, "variable.builtin", "var");
    assert_captured(&captures, "variable.member", "port");
    assert_captured(&captures, "string.escape", "$${");
}

#[test]
fn highlights_keep_a_hash_inside_a_string_out_of_comments() {
    let captures =
        highlight_captures("a = \"http://x.test/#not-a-comment\"\nb = \"// nor this\"\n");
    assert_not_captured(&captures, "comment");
    assert_captured(&captures, "string", "\"http://x.test/#not-a-comment\"");
}

#[test]
fn highlights_mark_a_comment_after_an_attribute() {
    let captures = highlight_captures("locals {\n  a = 1 # one\n  b = \"#\" // two\n}\n");
    assert_captured(&captures, "comment", "# one");
    assert_captured(&captures, "comment", "// two");
    assert_captured(&captures, "property", "a");
    assert_captured(&captures, "number", "1");
    assert_captured(&captures, "keyword", "locals");
}

#[test]
fn highlights_mark_for_expressions() {
    let captures =
        highlight_captures("a = { for k, v in local.m : k => upper(v)... if v != null }\n");
    assert_captured(&captures, "keyword.repeat", "for");
    assert_captured(&captures, "keyword.repeat", "in");
    assert_captured(&captures, "keyword.conditional", "if");
    assert_captured(&captures, "variable.parameter", "k");
    assert_captured(&captures, "variable.parameter", "v");
    assert_captured(&captures, "function.call", "upper");
    assert_captured(&captures, "operator", "=>");
    assert_captured(&captures, "constant.builtin", "null");
}

#[test]
fn highlights_mark_template_directives() {
    let source = "a = \"%{~ if c ~}x%{ else }y%{ endif }%{ for k, v in local.m }${~ k ~}%{ endfor }%%{\"\n\
                  b = <<EOT\n%{ for s in var.l ~}\n${s}\n%{ endfor ~}\nEOT\n";
    let captures = highlight_captures(source);
    for keyword in ["if", "else", "endif"] {
        assert_captured(&captures, "keyword.conditional", keyword);
    }
    for keyword in ["for", "in", "endfor"] {
        assert_captured(&captures, "keyword.repeat", keyword);
    }
    assert_captured(&captures, "punctuation.special", "%{");
    assert_captured(&captures, "punctuation.special", "~");
    assert_captured(&captures, "punctuation.special", "}");
    assert_captured(&captures, "variable.parameter", "k");
    assert_captured(&captures, "variable.parameter", "s");
    assert_captured(&captures, "variable.builtin", "local");
    assert_captured(&captures, "string.escape", "%%{");
}

#[test]
fn highlights_mark_block_labels_and_types() {
    let source = "resource \"local_file\" \"config\" {\n  path = \"x\"\n}\n\
                  variable \"v\" {\n  type = object({ a = list(string), b = optional(number) })\n}\n";
    let captures = highlight_captures(source);
    assert_captured(&captures, "keyword", "resource");
    assert_captured(&captures, "type", "local_file");
    assert_captured(&captures, "string.special", "\"config\"");
    assert_captured(&captures, "type.builtin", "object");
    assert_captured(&captures, "type.builtin", "list");
    assert_captured(&captures, "type.builtin", "string");
    assert_captured(&captures, "type.builtin", "optional");
    assert_captured(&captures, "property", "type");
}

#[test]
fn the_locals_query_compiles() {
    let query = Query::new(&language(), tree_sitter_infra::LOCALS_QUERY)
        .unwrap_or_else(|error| panic!("locals.scm does not compile: {error}"));
    assert!(query.capture_names().contains(&"local.definition.var"));
}

/// `src/generated-from.sha256` as `(hash, file)` pairs.
fn recorded_hashes() -> Vec<(String, String)> {
    let path = grammar_dir().join("src/generated-from.sha256");
    read(&path)
        .lines()
        .filter_map(|line| {
            let (hash, file) = line.split_once("  ")?;
            Some((hash.to_owned(), file.to_owned()))
        })
        .collect()
}

#[test]
fn the_committed_parser_is_generated_from_the_committed_grammar() {
    let recorded = recorded_hashes();
    let files: Vec<&str> = recorded.iter().map(|(_, file)| file.as_str()).collect();
    assert_eq!(files, ["grammar.js", "src/scanner.c"], "{GENERATE_HINT}");
    for (hash, file) in &recorded {
        let bytes = fs::read(grammar_dir().join(file))
            .unwrap_or_else(|error| panic!("cannot read {file}: {error}"));
        let actual = format!("{:x}", Sha256::digest(&bytes));
        assert_eq!(
            &actual, hash,
            "editors/tree-sitter-infra/{file} changed since src/parser.c was generated: {GENERATE_HINT}"
        );
    }
}
