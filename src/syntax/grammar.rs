//! The pest parser generated from `grammar/infra.pest`, the human name of
//! every rule, and the conversion of pest errors into diagnostics.
//!
//! Invariant: nothing here is public outside `syntax`; users never see a rule
//! name, only the phrases of [`human_name`].

use crate::diag::{Code, Diagnostic, FileId, Span};
use pest::error::{Error, ErrorVariant, InputLocation};

/// The generated parser.
#[derive(pest_derive::Parser)]
#[grammar = "grammar/infra.pest"]
pub(crate) struct InfraParser;

/// What a rule is called in "expected ..." labels. Exhaustive on purpose: a new
/// rule must be given a name.
pub(crate) fn human_name(rule: Rule) -> &'static str {
    match rule {
        Rule::EOI => "the end of the file",
        Rule::WHITESPACE => "whitespace",
        Rule::comment => "a comment",
        Rule::operator_char => "an operator",
        Rule::chunk | Rule::item | Rule::top_item => "an attribute or a block",
        Rule::attribute | Rule::type_attribute => "an attribute",
        Rule::assign => "`=`",
        Rule::block => "a block",
        Rule::block_label => "a block label",
        Rule::block_body => "`{`",
        Rule::expr
        | Rule::unary
        | Rule::prefix_op
        | Rule::postfix_expr
        | Rule::primary
        | Rule::paren
        | Rule::variable
        | Rule::number
        | Rule::bool_lit
        | Rule::null_lit
        | Rule::list
        | Rule::object
        | Rule::call
        | Rule::call_name
        | Rule::for_list
        | Rule::for_object
        | Rule::for_intro
        | Rule::heredoc => "an expression",
        Rule::string => "a string",
        Rule::infix | Rule::binary_op | Rule::conditional_op => "an operator",
        Rule::postfix | Rule::get_attr | Rule::splat | Rule::index => "`.` or `[`",
        Rule::attr_number => "an attribute name",
        Rule::object_entry | Rule::object_key => "an object entry `key = value`",
        Rule::comma => "`,`",
        Rule::ellipsis => "`...`",
        Rule::for_cond | Rule::IF_KW => "`if`",
        Rule::FOR_KW => "`for`",
        Rule::IN_KW => "`in`",
        Rule::string_text | Rule::string_char | Rule::escape | Rule::escaped_dollar => {
            "string text"
        }
        Rule::interpolation => "`${`",
        Rule::escaped_percent => "string text",
        Rule::strip_left | Rule::strip_right => "`~`",
        Rule::directive
        | Rule::directive_if
        | Rule::directive_else
        | Rule::directive_endif
        | Rule::directive_for
        | Rule::directive_endfor => "`%{`",
        Rule::ELSE_KW => "`else`",
        Rule::ENDIF_KW => "`endif`",
        Rule::ENDFOR_KW => "`endfor`",
        Rule::heredoc_indent_flag
        | Rule::heredoc_marker
        | Rule::heredoc_body
        | Rule::heredoc_end
        | Rule::heredoc_part
        | Rule::heredoc_text
        | Rule::heredoc_char
        | Rule::heredoc_newline
        | Rule::heredoc_closing_indent => "heredoc text",
        Rule::type_expr
        | Rule::type_primitive
        | Rule::type_list
        | Rule::type_set
        | Rule::type_map
        | Rule::type_optional
        | Rule::type_tuple
        | Rule::type_object
        | Rule::TYPE_KW => "a type",
        Rule::type_field => "a field `name = type`",
        Rule::ident | Rule::ident_char => "a name",
    }
}

/// The token at `pos`: a word, or one character, or an empty span at the end.
fn token_at(text: &str, pos: usize) -> (usize, usize) {
    let Some(rest) = text.get(pos..) else {
        return (text.len(), text.len());
    };
    let word = rest
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count();
    if word > 0 {
        return (pos, pos + word);
    }
    match rest.chars().next() {
        Some(c) => (pos, pos + c.len_utf8()),
        None => (pos, pos),
    }
}

/// When the token at `start` is the first on its line, the code of the
/// nearest line above that holds some (blank and comment-only lines skipped),
/// as a byte range without surrounding spaces or a trailing comment.
fn line_before(text: &str, start: usize) -> Option<(usize, usize)> {
    let before = text.get(..start)?;
    let this_line = before.rfind('\n').map_or(0, |at| at + 1);
    if !before.get(this_line..)?.trim().is_empty() {
        return None;
    }
    let mut end = this_line.checked_sub(1)?;
    loop {
        let line_start = text.get(..end)?.rfind('\n').map_or(0, |at| at + 1);
        let line = text.get(line_start..end)?;
        let line = line.get(..code_len(line)).unwrap_or(line);
        let code = line.trim();
        if !code.is_empty() && !code.starts_with('#') && !code.starts_with("//") {
            let lead = line.len() - line.trim_start().len();
            return Some((line_start + lead, line_start + lead + code.len()));
        }
        end = line_start.checked_sub(1)?;
    }
}

/// How much of `line` comes before a trailing `#` or `//` comment (one
/// outside a quoted string).
fn code_len(line: &str) -> usize {
    let mut in_string = false;
    let mut escaped = false;
    let mut previous = ' ';
    for (at, c) in line.char_indices() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
        } else if c == '#' {
            return at;
        } else if c == '/' && previous == '/' {
            return at - 1;
        }
        previous = c;
    }
    line.len()
}

/// `a`, `a or b`, `a, b or c`.
fn join(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// Converts a pest error on the chunk that starts at `offset` into one diagnostic.
pub(crate) fn diagnostic(
    file: FileId,
    text: &str,
    offset: usize,
    error: &Error<Rule>,
) -> Diagnostic {
    let pos = offset
        + match error.location {
            InputLocation::Pos(p) => p,
            InputLocation::Span((s, _)) => s,
        };
    // At the end of the input, point just after the last token rather than
    // past the trailing newline, where no source line would show the caret.
    let rest_is_blank = text.get(pos..).is_none_or(|rest| rest.trim().is_empty());
    let (start, end) = if rest_is_blank {
        let end_of_code = text
            .get(..pos)
            .map_or(pos, |before| before.trim_end().len());
        (end_of_code, end_of_code)
    } else {
        token_at(text, pos)
    };
    let span = Span::new(file, start, end);
    match &error.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            let mut names: Vec<&str> = Vec::new();
            for rule in positives {
                let name = human_name(*rule);
                if !names.contains(&name) {
                    names.push(name);
                }
            }
            // A string or a name in an expression position is just an expression.
            if names.contains(&"an expression") {
                names.retain(|n| *n != "a string" && *n != "a name");
            }
            // Between top-level items, a name starts an attribute or a block.
            if names == ["the end of the file", "a name"]
                || names == ["a name", "the end of the file"]
            {
                names = vec!["an attribute or a block", "the end of the file"];
            }
            // A block header's `{` or an attribute's `=` was wanted, and the
            // token found starts a later line: the mistake is on the line
            // before (`name "web"` alone reads as a block header), so point
            // there and say what it most likely is.
            let wants_header_end = !names.is_empty()
                && names
                    .iter()
                    .all(|n| matches!(*n, "`=`" | "`{`" | "a string" | "a block label"));
            if wants_header_end && let Some((line_start, line_end)) = line_before(text, start) {
                let line = text.get(line_start..line_end).unwrap_or_default();
                let label = if line.contains('"') {
                    "missing `=`, or `{` for a block"
                } else {
                    "missing `=` and a value, or `{` for a block"
                };
                return Diagnostic::error(
                    Code::ParseUnexpectedToken,
                    Span::new(file, line_start, line_end),
                    label,
                )
                .with_help(
                    "an attribute is `name = value` on one line; a block's `{` goes on the same \
                     line as its header: `kind \"label\" {`",
                );
            }
            let found = match text.get(start..end) {
                Some("") | None => "the end of the file".to_owned(),
                Some(token) => format!("`{token}`"),
            };
            let label = if names.is_empty() {
                format!("unexpected {found}")
            } else {
                format!("expected {}, found {found}", join(&names))
            };
            let after_space = start > 0
                && text
                    .get(..start)
                    .is_some_and(|b| b.ends_with([' ', '\t', '\n']));
            let help = if text.get(start..end) == Some("(") && after_space {
                "a function call has no space before `(`: write `name(arguments)`"
            } else if names
                .iter()
                .any(|n| *n == "`=`" || *n == "`{`" || *n == "a block label")
            {
                "an attribute is `name = value`; a block is `kind \"label\" { ... }`"
            } else if names.contains(&"an expression") {
                "a value is a string, number, bool, null, list, object, reference, function call or `for` expression"
            } else if names.contains(&"an attribute or a block") || names.contains(&"an attribute")
            {
                "a body holds attributes `name = value` and blocks `kind \"label\" { ... }`"
            } else {
                "check the syntax just before this point"
            };
            Diagnostic::error(Code::ParseUnexpectedToken, span, label).with_help(help)
        }
        ErrorVariant::CustomError { .. } => Diagnostic::error(
            Code::ParseNestingTooDeep,
            span,
            "the parser gave up here: the input nests or repeats too deeply",
        )
        .with_help("split the value into smaller parts, for example with locals"),
    }
}
