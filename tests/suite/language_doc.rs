//! `docs/language.md` shows only tested code: every fenced code block in it is
//! the content of a tested file, so the reference cannot drift from what the
//! tool accepts.
//!
//! Each fence is preceded (blank lines aside) by a marker naming its file:
//!
//! ```text
//! <!-- snippet: tests/corpus/check/language_strings.infra -->
//! <!-- snippet: tests/corpus/check/language_modules/main.infra#inputs -->
//! ```
//!
//! The file is a corpus case (or a file of a folder case), which
//! `cases.rs` runs with its `# error:` marks, or a file under `examples/`,
//! which `examples.rs` validates. The block must equal the whole file, or,
//! after `#NAME`, the lines between `# region: NAME` and `# endregion: NAME`
//! in it (the marker lines themselves left out). Every `language_*` corpus
//! case is shown somewhere on the page, so none is left behind when the page
//! changes.

use crate::harness;
use std::collections::BTreeSet;

/// The page checked.
const PAGE: &str = "docs/language.md";

/// How a marker line starts and ends.
const MARKER_START: &str = "<!-- snippet:";
const MARKER_END: &str = "-->";

/// One fenced block of the page.
#[derive(Debug)]
struct Block {
    /// The 1-based line of the opening fence.
    line: usize,
    /// The marker's target (`path` or `path#region`), if a marker precedes it.
    target: Option<String>,
    /// The lines between the fences, each with its newline.
    content: String,
}

/// The fenced blocks of `text`, each with the marker before it.
fn blocks(text: &str) -> Result<Vec<Block>, String> {
    let mut out = Vec::new();
    let mut last_non_blank: Option<&str> = None;
    let mut lines = text.lines().enumerate();
    while let Some((index, line)) = lines.next() {
        let trimmed = line.trim();
        if !trimmed.starts_with("```") {
            if !trimmed.is_empty() {
                last_non_blank = Some(trimmed);
            }
            continue;
        }
        let target = last_non_blank
            .and_then(|l| l.strip_prefix(MARKER_START))
            .and_then(|l| l.strip_suffix(MARKER_END))
            .map(|t| t.trim().to_owned());
        let mut content = String::new();
        let mut closed = false;
        for (_, inner) in lines.by_ref() {
            if inner.trim() == "```" {
                closed = true;
                break;
            }
            content.push_str(inner);
            content.push('\n');
        }
        if !closed {
            return Err(format!("{PAGE}:{}: a fence that is never closed", index + 1));
        }
        out.push(Block {
            line: index + 1,
            target,
            content,
        });
        last_non_blank = None;
    }
    Ok(out)
}

/// The lines of `text` between `# region: name` and `# endregion: name`.
fn region(text: &str, name: &str) -> Option<String> {
    let start = format!("# region: {name}");
    let end = format!("# endregion: {name}");
    let mut out = String::new();
    let mut inside = false;
    for line in text.lines() {
        if line.trim() == start {
            inside = true;
        } else if line.trim() == end {
            return inside.then_some(out);
        } else if inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    None
}

/// Whether `path` is a tested file: a corpus case (or in a folder case) or
/// under `examples/`.
fn is_tested(path: &str) -> bool {
    if path.starts_with("examples/") {
        return true;
    }
    harness::cases_on_disk().iter().any(|(area, name)| {
        let single = format!("tests/corpus/{area}/{name}.infra");
        let folder = format!("tests/corpus/{area}/{name}/");
        path == single || path.starts_with(&folder)
    })
}

/// What is wrong with one block, if anything; `shown` collects the files.
fn problem(block: &Block, shown: &mut BTreeSet<String>) -> Option<String> {
    let at = format!("{PAGE}:{}", block.line);
    let Some(target) = &block.target else {
        return Some(format!(
            "{at}: no `{MARKER_START} FILE {MARKER_END}` line before this fence"
        ));
    };
    let (path, region_name) = match target.split_once('#') {
        Some((path, name)) => (path, Some(name)),
        None => (target.as_str(), None),
    };
    if !is_tested(path) {
        return Some(format!(
            "{at}: {path} is not a corpus case file or under examples/"
        ));
    }
    let text = match std::fs::read_to_string(harness::root().join(path)) {
        Ok(text) => text,
        Err(e) => return Some(format!("{at}: cannot read {path}: {e}")),
    };
    shown.insert(path.to_owned());
    let expected = match region_name {
        None => text,
        Some(name) => match region(&text, name) {
            Some(part) => part,
            None => return Some(format!("{at}: {path} has no region `{name}`")),
        },
    };
    (block.content != expected).then(|| {
        format!(
            "{at}: the block differs from {target}; copy the file's text into the page\n\
             --- page\n{}--- file\n{expected}",
            block.content
        )
    })
}

#[test]
fn every_code_block_of_the_language_reference_is_a_tested_file() {
    let text = std::fs::read_to_string(harness::root().join(PAGE))
        .unwrap_or_else(|e| panic!("cannot read {PAGE}: {e}"));
    let blocks = blocks(&text).unwrap_or_else(|e| panic!("{e}"));
    assert!(blocks.len() > 20, "only {} code blocks found", blocks.len());
    let mut shown = BTreeSet::new();
    let problems: Vec<String> = blocks
        .iter()
        .filter_map(|block| problem(block, &mut shown))
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn every_language_case_of_the_corpus_is_shown_in_the_language_reference() {
    let text = std::fs::read_to_string(harness::root().join(PAGE))
        .unwrap_or_else(|e| panic!("cannot read {PAGE}: {e}"));
    let missing: Vec<String> = harness::cases_on_disk()
        .into_iter()
        .filter(|(_, name)| name.starts_with("language_"))
        .map(|(area, name)| format!("tests/corpus/{area}/{name}"))
        .filter(|case| {
            !text.contains(&format!("{MARKER_START} {case}.infra"))
                && !text.contains(&format!("{MARKER_START} {case}/"))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "these language cases are not shown in {PAGE}: {missing:?}"
    );
}

#[test]
fn a_region_is_the_lines_between_its_markers() {
    let text = "a\n# region: x\nb\nc\n# endregion: x\nd\n";
    assert_eq!(region(text, "x").as_deref(), Some("b\nc\n"));
    assert_eq!(region(text, "y"), None);
    assert_eq!(region("# region: x\nb\n", "x"), None);
}

#[test]
fn a_fence_without_a_marker_or_with_other_text_is_found() {
    let page = "<!-- snippet: a.infra -->\n\n```infra\nx = 1\n```\n\n```infra\ny\n```\n";
    let found = blocks(page).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].target.as_deref(), Some("a.infra"));
    assert_eq!(found[0].content, "x = 1\n");
    assert_eq!(found[1].target, None);
    assert!(blocks("```infra\nx\n").is_err());
}
