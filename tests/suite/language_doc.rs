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
//!
//! The values the examples state are checked too: in a `locals` block of a
//! `language_*` case, `# => VALUE` (at the end of a local's line, or on a line
//! of its own after a multi-line value) is what `infra plan` shows for that
//! local, written in the language's own syntax, with `(secret)` for what is
//! secret.

use super::harness;
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
            return Err(format!(
                "{PAGE}:{}: a fence that is never closed",
                index + 1
            ));
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

/// The `# => VALUE` annotations of the `locals` blocks of `text`, as
/// `(local name, value text)`. A local starts on a line indented by two
/// spaces inside the block; an annotation belongs to the last one started.
fn annotated_values(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut inside = false;
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line.starts_with("locals {") {
            inside = true;
            current = None;
            continue;
        }
        if !inside {
            continue;
        }
        if line == "}" {
            inside = false;
            continue;
        }
        if let Some(rest) = line.strip_prefix("  ")
            && !rest.starts_with(' ')
        {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let after = rest.get(name.len()..).unwrap_or_default().trim_start();
            if !name.is_empty() && after.starts_with('=') && !after.starts_with("==") {
                current = Some(name);
            }
        }
        if let (Some((_, value)), Some(name)) = (line.split_once("# => "), &current) {
            out.push((name.clone(), value.trim().to_owned()));
        }
    }
    out
}

/// What `infra plan` shows for each local in `names`, evaluated in the stack
/// of the single file `case_path`: the file is copied to a fresh folder with
/// a `null_resource` per local, whose `inputs` is the local (a resource
/// attribute, so that the plan shows each secret part as `(secret)`), and the
/// plan's `inputs` lines are read.
fn planned_values(case_path: &str, names: &[&str]) -> Result<Vec<(String, String)>, String> {
    let dir = std::env::temp_dir().join(format!(
        "infra-language-doc-{}-{}",
        std::process::id(),
        case_path.replace('/', "_")
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let text = std::fs::read_to_string(harness::root().join(case_path))
        .map_err(|e| format!("{case_path}: {e}"))?;
    let mut outputs = String::new();
    for name in names {
        outputs.push_str(&format!(
            "resource \"null_resource\" \"value_of_{name}\" {{\n  inputs = local.{name}\n}}\n"
        ));
    }
    let written = std::fs::write(dir.join("main.infra"), text)
        .and_then(|()| std::fs::write(dir.join("values.infra"), outputs));
    let output = written.and_then(|()| {
        std::process::Command::new(env!("CARGO_BIN_EXE_infra"))
            .arg("plan")
            .arg("-C")
            .arg(&dir)
            .env("NO_COLOR", "1")
            .output()
    });
    let _ = std::fs::remove_dir_all(&dir);
    let output = output.map_err(|e| format!("{case_path}: cannot run infra plan: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "{case_path}: infra plan failed:\n{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let mut values = Vec::new();
    let mut current: Option<&str> = None;
    for line in stdout.lines() {
        let line = line.trim_start();
        if let Some(rest) = line.strip_prefix("+ null_resource.value_of_") {
            current = rest.split_whitespace().next();
        } else if let (Some(value), Some(name)) = (line.strip_prefix("+ inputs = "), current) {
            values.push((name.to_owned(), value.to_owned()));
            current = None;
        }
    }
    Ok(values)
}

#[test]
fn the_values_the_language_examples_state_are_what_plan_shows() {
    let mut checked = 0;
    let mut wrong = Vec::new();
    for (area, name) in harness::cases_on_disk() {
        let path = format!("tests/corpus/{area}/{name}.infra");
        if !name.starts_with("language_") || !harness::root().join(&path).is_file() {
            continue;
        }
        let text = std::fs::read_to_string(harness::root().join(&path))
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        let expected = annotated_values(&text);
        if expected.is_empty() {
            continue;
        }
        let names: Vec<&str> = expected.iter().map(|(n, _)| n.as_str()).collect();
        let planned = planned_values(&path, &names).unwrap_or_else(|e| panic!("{e}"));
        for (local, value) in &expected {
            checked += 1;
            let shown = planned.iter().find(|(n, _)| n == local).map(|(_, v)| v);
            if shown != Some(value) {
                wrong.push(format!(
                    "{path}: local.{local} is {} in the plan, the example says {value}",
                    shown.map_or("(not shown)", String::as_str)
                ));
            }
        }
    }
    assert!(checked > 20, "only {checked} values checked");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn annotations_belong_to_the_local_they_follow() {
    let text = "locals {\n  a = 1 # => 1\n  b = <<EOT\nx\nEOT\n  # => \"x\\n\"\n  c = {\n    d = 1\n  } # => { d = 1 }\n}\n# => 9\n";
    let found = annotated_values(text);
    let pairs: Vec<(&str, &str)> = found
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    assert_eq!(pairs, [("a", "1"), ("b", "\"x\\n\""), ("c", "{ d = 1 }")]);
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
