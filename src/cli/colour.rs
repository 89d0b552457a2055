//! Colour for plan and drift diffs on a terminal: the action symbol that
//! starts a line (`+`, `-`, `~`, `-/+`, `+/-`, `<=`) is coloured as Terraform
//! colours it, and nothing else changes.
//!
//! Invariant: only called for a terminal that takes colour (not with
//! `NO_COLOR` or `--no-color`, never off a TTY); the text is escaped before
//! the colour codes are added, so the codes are the only escape sequences.

const GREEN: &str = "\u{1b}[32m";
const RED: &str = "\u{1b}[31m";
const YELLOW: &str = "\u{1b}[33m";
const CYAN: &str = "\u{1b}[36m";
const BOLD: &str = "\u{1b}[1m";
const RESET: &str = "\u{1b}[0m";

/// `text` with the symbol at the start of each line coloured, and the
/// `Plan:` summary line in bold.
pub(super) fn diff_symbols(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for line in text.split_inclusive('\n') {
        let body = line.trim_start_matches(' ');
        let indent = line.len() - body.len();
        let symbol = ["-/+ ", "+/- ", "<= ", "+ ", "- ", "~ "]
            .into_iter()
            .find(|symbol| body.starts_with(symbol));
        match symbol {
            Some(symbol) => {
                let colour = match symbol {
                    "+ " => GREEN,
                    "- " => RED,
                    "~ " => YELLOW,
                    "<= " => CYAN,
                    _ => RED,
                };
                let word = symbol.trim_end();
                out.push_str(&line[..indent]);
                out.push_str(colour);
                out.push_str(word);
                out.push_str(RESET);
                out.push_str(&body[word.len()..]);
            }
            None if body.starts_with("Plan: ") => {
                let (content, newline) = match body.strip_suffix('\n') {
                    Some(content) => (content, "\n"),
                    None => (body, ""),
                };
                out.push_str(&line[..indent]);
                out.push_str(BOLD);
                out.push_str(content);
                out.push_str(RESET);
                out.push_str(newline);
            }
            None => out.push_str(line),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_action_symbol_is_coloured_and_the_rest_is_unchanged() {
        let plan = "  + a will be created\n      ~ x = 1 -> 2\n  -/+ b must be replaced\n  - c will be destroyed\n  <= data.d will be read\n  note: + not a symbol here\n\nPlan: 1 to add, 1 to change, 2 to destroy.\n";
        let coloured = diff_symbols(plan);
        assert!(coloured.contains("  \u{1b}[32m+\u{1b}[0m a will be created\n"));
        assert!(coloured.contains("      \u{1b}[33m~\u{1b}[0m x = 1 -> 2\n"));
        assert!(coloured.contains("  \u{1b}[31m-/+\u{1b}[0m b must be replaced\n"));
        assert!(coloured.contains("  \u{1b}[31m-\u{1b}[0m c will be destroyed\n"));
        assert!(coloured.contains("  \u{1b}[36m<=\u{1b}[0m data.d will be read\n"));
        assert!(coloured.contains("  note: + not a symbol here\n"));
        assert!(
            coloured.ends_with("\u{1b}[1mPlan: 1 to add, 1 to change, 2 to destroy.\u{1b}[0m\n")
        );
        let stripped = coloured
            .replace(GREEN, "")
            .replace(RED, "")
            .replace(YELLOW, "")
            .replace(CYAN, "")
            .replace(BOLD, "")
            .replace(RESET, "");
        assert_eq!(stripped, plan);
    }
}
