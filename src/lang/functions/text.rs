//! String builtins beyond the basic ones: regular expressions (`regex`,
//! `regexall`, and `replace` with a `/pattern/`), prefixes and suffixes,
//! `title`, `indent`, `chomp`, `trim`, `strrev`.
//!
//! Regular expressions are the `regex` crate's syntax, which is RE2's (as in
//! Terraform) for everything but a few rarely used classes.
//!
//! Invariant: a pattern is compiled with the crate's size limits, so no
//! pattern makes evaluation run away.

use super::{Call, invalid};
use crate::diag::Diagnostic;
use crate::lang::value::Value;

/// The names this file answers for (checked against [`super::NAMES`]).
#[cfg(test)]
pub(super) const NAMES: &[&str] = &[
    "chomp",
    "endswith",
    "indent",
    "regex",
    "regexall",
    "startswith",
    "strcontains",
    "strrev",
    "title",
    "trim",
    "trimprefix",
    "trimsuffix",
];

pub(super) fn call(call: &Call<'_>) -> Option<Result<Value, Diagnostic>> {
    Some(match call.name {
        "regex" => regex_fn(call, false),
        "regexall" => regex_fn(call, true),
        "startswith" => two(call).map(|(s, p)| Value::bool(s.starts_with(&p))),
        "endswith" => two(call).map(|(s, p)| Value::bool(s.ends_with(&p))),
        "strcontains" => two(call).map(|(s, p)| Value::bool(s.contains(&p))),
        "trimprefix" => two(call)
            .map(|(s, p)| Value::string(s.strip_prefix(p.as_str()).unwrap_or(&s).to_owned())),
        "trimsuffix" => two(call)
            .map(|(s, p)| Value::string(s.strip_suffix(p.as_str()).unwrap_or(&s).to_owned())),
        "trim" => {
            two(call).map(|(s, cut)| Value::string(s.trim_matches(|c| cut.contains(c)).to_owned()))
        }
        "title" => call.string(0).map(|s| Value::string(title(&s))),
        "strrev" => call
            .string(0)
            .map(|s| Value::string(s.chars().rev().collect::<String>())),
        "chomp" => call
            .string(0)
            .map(|s| Value::string(s.trim_end_matches(['\r', '\n']).to_owned())),
        "indent" => indent(call),
        _ => return None,
    })
}

fn two(call: &Call<'_>) -> Result<(String, String), Diagnostic> {
    Ok((call.string(0)?, call.string(1)?))
}

/// Go's `strings.Title`: the first letter of each word upper-cased, where a
/// word starts after anything but a letter, a digit or `_`.
fn title(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut previous_separates = true;
    for c in text.chars() {
        if previous_separates {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        previous_separates = if c.is_ascii() {
            !(c.is_ascii_alphanumeric() || c == '_')
        } else {
            !c.is_alphanumeric() && c.is_whitespace()
        };
    }
    out
}

/// `indent(spaces, text)`: every line but the first gets `spaces` spaces.
fn indent(call: &Call<'_>) -> Result<Value, Diagnostic> {
    let spaces = call.integer(0)?;
    let text = call.string(1)?;
    let spaces = usize::try_from(spaces)
        .ok()
        .filter(|n| *n <= 1024)
        .ok_or_else(|| {
            invalid(
                call.arg(0).1,
                "this is not a number of spaces from 0 to 1024",
                "indent takes the number of spaces first, then the text",
            )
        })?;
    let pad = format!("\n{}", " ".repeat(spaces));
    Ok(Value::string(text.replace('\n', &pad)))
}

/// Compiles `pattern` (argument `index` of `call`).
pub(super) fn compile(
    call: &Call<'_>,
    index: usize,
    pattern: &str,
) -> Result<regex::Regex, Diagnostic> {
    regex::RegexBuilder::new(pattern)
        .size_limit(1 << 22)
        .build()
        .map_err(|error| {
            let reason = match error {
                regex::Error::CompiledTooBig(_) => String::from("the pattern is too large"),
                regex::Error::Syntax(text) => text
                    .lines()
                    .last()
                    .unwrap_or("the pattern is not valid")
                    .trim()
                    .to_owned(),
                _ => String::from("the pattern is not valid"),
            };
            invalid(
                call.arg(index).1,
                "this is not a valid regular expression",
                format!("the regex parser says: {reason}"),
            )
        })
}

/// What one match gives: the matched text when the pattern has no groups,
/// a list of the groups when they are unnamed, a map when they are named.
/// A group that did not take part is `null`.
fn captures_value(re: &regex::Regex, captures: &regex::Captures<'_>) -> Value {
    let group = |i: usize| {
        captures
            .get(i)
            .map_or(Value::NULL, |m| Value::string(m.as_str()))
    };
    if re.captures_len() == 1 {
        return group(0);
    }
    let named = re.capture_names().skip(1).any(|name| name.is_some());
    if named {
        Value::map(
            re.capture_names()
                .enumerate()
                .skip(1)
                .filter_map(|(i, name)| name.map(|n| (n.to_owned(), group(i))))
                .collect(),
        )
    } else {
        Value::list((1..re.captures_len()).map(group).collect())
    }
}

fn regex_fn(call: &Call<'_>, all: bool) -> Result<Value, Diagnostic> {
    let pattern = call.string(0)?;
    let text = call.string(1)?;
    let re = compile(call, 0, &pattern)?;
    let names = re.capture_names().skip(1);
    let named = names.clone().filter(Option::is_some).count();
    if named > 0 && named != re.captures_len() - 1 {
        return Err(invalid(
            call.arg(0).1,
            "this pattern mixes named and unnamed groups",
            "name every group, or none; `(?:...)` groups without capturing",
        ));
    }
    if all {
        return Ok(Value::list(
            re.captures_iter(&text)
                .map(|c| captures_value(&re, &c))
                .collect(),
        ));
    }
    match re.captures(&text) {
        Some(captures) => Ok(captures_value(&re, &captures)),
        None => Err(invalid(
            call.span,
            "the pattern does not match the text",
            "use `regexall` (an empty list when nothing matches), or guard with `can(regex(...))`",
        )),
    }
}

/// `replace(text, "/pattern/", replacement)`: replaces every match, with
/// `$1` or `${name}` in the replacement standing for a group, as Terraform
/// does when the search string is wrapped in slashes.
pub(super) fn replace_regex(
    call: &Call<'_>,
    text: &str,
    pattern: &str,
    to: &str,
) -> Result<Value, Diagnostic> {
    let re = compile(call, 1, pattern)?;
    Ok(Value::string(re.replace_all(text, to).into_owned()))
}
