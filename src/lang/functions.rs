//! Builtin functions. Each takes values and returns a value; the marks
//! propagate: a result computed from a secret is secret, a result that depends
//! on an unknown is unknown. Structural functions (`concat`, `merge`, `keys`,
//! `lookup`, ...) move elements as they are, so an element's own mark stays on
//! that element only.
//!
//! Invariant: no function reads the machine except through [`FunctionContext`];
//! `timestamp` and other non-deterministic functions are refused, since a plan
//! must be reproducible.

mod collection;
mod convert;
mod encoding;
mod files;
mod hash;
mod network;
mod numeric;
mod text;

use super::number::Number;
use super::value::{Kind, Value};
use crate::diag::{Code, Diagnostic, Span, did_you_mean};
use crate::syntax::ast;
use base64::Engine as _;

/// What builtins may ask of the outside world.
pub trait FunctionContext {
    /// An environment variable.
    fn env_var(&self, name: &str) -> Option<String>;
    /// Reads a file relative to the folder of the module being evaluated.
    fn read_file(&self, path: &str) -> Result<String, String>;
    /// Reads a file's bytes (for `filebase64` and the file hashes); by
    /// default the UTF-8 text of [`FunctionContext::read_file`].
    fn read_file_bytes(&self, path: &str) -> Result<Vec<u8>, String> {
        self.read_file(path).map(String::into_bytes)
    }
    /// Whether a regular file exists at `path` (relative like
    /// [`FunctionContext::read_file`]); an error when the path cannot be
    /// checked or is a folder.
    fn file_exists(&self, path: &str) -> Result<bool, String> {
        Ok(self.read_file_bytes(path).is_ok())
    }
    /// The regular files under the folder `dir`, recursively, as paths
    /// relative to `dir` with `/` separators.
    fn list_files(&self, dir: &str) -> Result<Vec<String>, String> {
        let _ = dir;
        Err(String::from("folders cannot be listed here"))
    }
    /// Evaluates the text of a template file with `vars` as its only names.
    /// `span` is the call, for errors.
    fn render_template(
        &self,
        path: &str,
        text: &str,
        vars: &Value,
        span: Span,
    ) -> Result<Value, Diagnostic>;
}

/// A context for pure evaluation: no environment, no files.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoContext;

impl FunctionContext for NoContext {
    fn env_var(&self, _name: &str) -> Option<String> {
        None
    }
    fn read_file(&self, _path: &str) -> Result<String, String> {
        Err(String::from("files are not available here"))
    }
    fn render_template(
        &self,
        _path: &str,
        _text: &str,
        _vars: &Value,
        span: Span,
    ) -> Result<Value, Diagnostic> {
        Err(Diagnostic::error(
            Code::CheckInvalidArgument,
            span,
            "templates are not available here",
        )
        .with_help("templatefile needs a stack folder"))
    }
}

/// Every builtin name, for "did you mean" and completion.
pub const NAMES: &[&str] = &[
    "abs",
    "alltrue",
    "anytrue",
    "base64decode",
    "base64encode",
    "base64sha256",
    "base64sha512",
    "basename",
    "can",
    "ceil",
    "chomp",
    "chunklist",
    "cidrhost",
    "cidrnetmask",
    "cidrsubnet",
    "cidrsubnets",
    "coalesce",
    "coalescelist",
    "compact",
    "concat",
    "contains",
    "csvdecode",
    "dirname",
    "distinct",
    "element",
    "endswith",
    "env_var",
    "file",
    "filebase64",
    "filebase64sha256",
    "filebase64sha512",
    "fileexists",
    "filemd5",
    "fileset",
    "filesha1",
    "filesha256",
    "filesha512",
    "flatten",
    "floor",
    "format",
    "indent",
    "index",
    "join",
    "jsondecode",
    "jsonencode",
    "keys",
    "length",
    "log",
    "lookup",
    "lower",
    "matchkeys",
    "max",
    "md5",
    "merge",
    "min",
    "one",
    "parseint",
    "pow",
    "range",
    "regex",
    "regexall",
    "replace",
    "reverse",
    "setintersection",
    "setproduct",
    "setsubtract",
    "setunion",
    "sha1",
    "sha256",
    "sha512",
    "signum",
    "slice",
    "sort",
    "split",
    "startswith",
    "strcontains",
    "strrev",
    "substr",
    "sum",
    "templatefile",
    "title",
    "tobool",
    "tolist",
    "tomap",
    "tonumber",
    "toset",
    "tostring",
    "transpose",
    "trim",
    "trimprefix",
    "trimspace",
    "trimsuffix",
    "try",
    "upper",
    "urlencode",
    "uuidv5",
    "values",
    "yamldecode",
    "yamlencode",
    "zipmap",
];

/// Functions users know from Terraform that we refuse because they make plans
/// non-deterministic.
const NONDETERMINISTIC: &[&str] = &["timestamp", "uuid", "bcrypt", "plantimestamp", "uuidv4"];

type Args = Vec<(Value, Span)>;

struct Call<'a> {
    name: &'a str,
    span: Span,
    args: Args,
}

fn invalid(span: Span, label: impl Into<String>, help: impl Into<String>) -> Diagnostic {
    Diagnostic::error(Code::CheckInvalidArgument, span, label).with_help(help)
}

impl Call<'_> {
    fn arity(&self, min: usize, max: usize, shape: &str) -> Result<(), Diagnostic> {
        let n = self.args.len();
        if n < min || n > max {
            let expected = if min == max {
                format!("{min}")
            } else if max == usize::MAX {
                format!("at least {min}")
            } else {
                format!("{min} to {max}")
            };
            let noun = if max == 1 { "argument" } else { "arguments" };
            return Err(Diagnostic::error(
                Code::CheckWrongArgumentCount,
                self.span,
                format!("`{}` takes {expected} {noun}, {n} given", self.name),
            )
            .with_help(format!("call it as `{shape}`")));
        }
        Ok(())
    }

    fn arg(&self, i: usize) -> (&Value, Span) {
        match self.args.get(i) {
            Some((v, s)) => (v, *s),
            None => (&Value::NULL, self.span),
        }
    }

    fn string(&self, i: usize) -> Result<String, Diagnostic> {
        let (value, span) = self.arg(i);
        match value.kind() {
            Kind::String(s) => Ok(s.clone()),
            Kind::Number(n) => Ok(n.to_string()),
            Kind::Bool(b) => Ok(b.to_string()),
            _ => Err(invalid(
                span,
                format!("this is a {}, not a string", value.type_name()),
                format!("argument {} of `{}` is a string", i + 1, self.name),
            )),
        }
    }

    fn number(&self, i: usize) -> Result<Number, Diagnostic> {
        let (value, span) = self.arg(i);
        match value.kind() {
            Kind::Number(n) => Ok(*n),
            Kind::String(s) => Number::parse(s.trim()).ok_or_else(|| {
                invalid(
                    span,
                    "this string is not a number",
                    format!("argument {} of `{}` is a number", i + 1, self.name),
                )
            }),
            _ => Err(invalid(
                span,
                format!("this is a {}, not a number", value.type_name()),
                format!("argument {} of `{}` is a number", i + 1, self.name),
            )),
        }
    }

    fn integer(&self, i: usize) -> Result<i64, Diagnostic> {
        let (_, span) = self.arg(i);
        self.number(i)?.as_i64().ok_or_else(|| {
            invalid(
                span,
                "this is not a whole number",
                format!("argument {} of `{}` is a whole number", i + 1, self.name),
            )
        })
    }

    fn list(&self, i: usize) -> Result<&[Value], Diagnostic> {
        let (value, span) = self.arg(i);
        value.as_list().ok_or_else(|| {
            invalid(
                span,
                format!("this is a {}, not a list", value.type_name()),
                format!("argument {} of `{}` is a list", i + 1, self.name),
            )
        })
    }

    fn map(&self, i: usize) -> Result<&crate::lang::Map, Diagnostic> {
        let (value, span) = self.arg(i);
        value.as_map().ok_or_else(|| {
            invalid(
                span,
                format!("this is a {}, not a map", value.type_name()),
                format!("argument {} of `{}` is a map or object", i + 1, self.name),
            )
        })
    }

    fn strings(&self, i: usize) -> Result<Vec<String>, Diagnostic> {
        let (_, span) = self.arg(i);
        self.list(i)?
            .iter()
            .map(|v| match v.kind() {
                Kind::String(s) => Ok(s.clone()),
                Kind::Number(n) => Ok(n.to_string()),
                Kind::Bool(b) => Ok(b.to_string()),
                _ => Err(invalid(
                    span,
                    format!("this list holds a {}", v.type_name()),
                    format!("argument {} of `{}` is a list of strings", i + 1, self.name),
                )),
            })
            .collect()
    }
}

/// Whether the function only moves values around (marks stay on elements) or
/// looks at their content (marks and unknowns taint the whole result).
fn is_structural(name: &str) -> bool {
    matches!(
        name,
        "concat" | "merge" | "keys" | "values" | "length" | "lookup" | "flatten" | "zipmap"
    ) || collection::STRUCTURAL.contains(&name)
}

/// Whether the function keeps the marks inside its arguments: the structural
/// ones, and `templatefile`, whose template decides by what it uses.
fn keeps_inner_marks(name: &str) -> bool {
    is_structural(name) || name == "templatefile"
}

/// Collects the plaintext of every secret part of `value` (strings, numbers,
/// bools), to make sure none of it reaches a diagnostic.
fn secret_texts(value: &Value, inherited: bool, out: &mut Vec<String>) {
    let secret = inherited || value.is_secret();
    match value.kind() {
        Kind::String(s) if secret => out.push(s.clone()),
        Kind::Number(n) if secret => out.push(n.to_string()),
        Kind::Bool(b) if secret => out.push(b.to_string()),
        Kind::List(items) => items.iter().for_each(|v| secret_texts(v, secret, out)),
        Kind::Map(entries) => entries.iter().for_each(|(k, v)| {
            if secret {
                out.push(k.clone());
            }
            secret_texts(v, secret, out);
        }),
        _ => {}
    }
}

/// Hides the details of an error about a secret argument: when the error points
/// at an argument holding a secret, or its text quotes any secret plaintext,
/// label and help are replaced by fixed phrases (code and span stay).
fn hide_secrets(
    mut diagnostic: Diagnostic,
    secret_spans: &[Span],
    secret_texts: &[String],
) -> Diagnostic {
    let at_secret = diagnostic
        .primary
        .as_ref()
        .is_some_and(|label| secret_spans.contains(&label.span));
    let quotes_secret = |text: &str| {
        secret_texts
            .iter()
            .any(|s| !s.is_empty() && text.contains(s.as_str()))
    };
    let leaks = diagnostic
        .primary
        .as_ref()
        .is_some_and(|l| quotes_secret(&l.text))
        || diagnostic.secondary.iter().any(|l| quotes_secret(&l.text))
        || diagnostic.help.as_deref().is_some_and(quotes_secret);
    if !at_secret && !leaks {
        return diagnostic;
    }
    if let Some(label) = diagnostic.primary.as_mut() {
        label.text = String::from("this call fails on a secret value; the details are hidden");
    }
    for label in &mut diagnostic.secondary {
        if quotes_secret(&label.text) {
            label.text = String::from("(secret)");
        }
    }
    diagnostic.help = Some(String::from(
        "the message would show part of a secret; check the secret's value where it is defined",
    ));
    diagnostic
}

/// Calls the builtin `name`.
pub fn call(
    name: &ast::Ident,
    args: Args,
    span: Span,
    context: &dyn FunctionContext,
) -> Result<Value, Diagnostic> {
    let function = name.name.as_str();
    if NONDETERMINISTIC.contains(&function) {
        return Err(Diagnostic::error(
            Code::CheckNondeterministicFunction,
            name.span,
            format!("`{function}` gives a different result on every run"),
        )
        .with_help(
            "plans must be deterministic so that a saved plan applies exactly what was shown; \
             pass the value in with a variable (`--var`) or let a provider compute it",
        ));
    }
    if !NAMES.contains(&function) {
        let help = match did_you_mean(function, NAMES.iter().copied()) {
            Some(suggestion) => format!("did you mean `{suggestion}`?"),
            None => String::from("see docs/functions.md for the builtin functions"),
        };
        return Err(Diagnostic::error(
            Code::CheckUnknownFunction,
            name.span,
            format!("no function `{function}`"),
        )
        .with_help(help));
    }
    // Marks: top-level secrets and unknowns decide for the whole result;
    // content functions also look inside.
    let structural = keeps_inner_marks(function);
    let mut secret = false;
    let mut unknown = false;
    let mut plain = Vec::with_capacity(args.len());
    let mut plaintexts = Vec::new();
    let mut secret_spans = Vec::new();
    for (value, arg_span) in args {
        let before = plaintexts.len();
        secret_texts(&value, false, &mut plaintexts);
        if plaintexts.len() > before || value.contains_secret() {
            secret_spans.push(arg_span);
        }
        if structural {
            secret |= value.is_secret();
            unknown |= value.is_unknown();
            plain.push((value.with_secret(false), arg_span));
        } else {
            unknown |= value.contains_unknown();
            let (value, had_secret) = value.unmark_deep();
            secret |= had_secret;
            plain.push((value, arg_span));
        }
    }
    let call = Call {
        name: function,
        span,
        args: plain,
    };
    if unknown {
        // Still check the argument count, so mistakes show at plan time.
        check_arity(&call)?;
        return Ok(Value::UNKNOWN.mark_secret_if(secret));
    }
    let result =
        dispatch(&call, context).map_err(|e| hide_secrets(e, &secret_spans, &plaintexts))?;
    Ok(result.mark_secret_if(secret))
}

fn check_arity(call: &Call<'_>) -> Result<(), Diagnostic> {
    let (min, max, shape) = arity_of(call.name);
    call.arity(min, max, &shape)
}

/// How many arguments a builtin takes, and how to call it.
fn arity_of(name: &str) -> (usize, usize, String) {
    match name {
        "lower" | "upper" | "trimspace" | "length" | "keys" | "values" | "flatten" | "distinct"
        | "sort" | "jsonencode" | "jsondecode" | "base64encode" | "base64decode" | "sha256"
        | "md5" | "env_var" | "file" | "tonumber" | "tostring" | "tobool" | "tolist" | "toset"
        | "tomap" | "title" | "chomp" | "strrev" | "abs" | "ceil" | "floor" | "signum" | "sum"
        | "reverse" | "compact" | "alltrue" | "anytrue" | "one" | "transpose" | "cidrnetmask"
        | "fileexists" | "filebase64" | "filebase64sha256" | "filebase64sha512" | "filemd5"
        | "filesha1" | "filesha256" | "filesha512" | "dirname" | "basename" | "urlencode"
        | "yamlencode" | "yamldecode" | "csvdecode" | "sha1" | "sha512" | "base64sha256"
        | "base64sha512" | "can" => (1, 1, format!("{name}(value)")),
        "split" | "join" | "contains" | "zipmap" | "templatefile" | "regex" | "regexall"
        | "startswith" | "endswith" | "strcontains" | "trimprefix" | "trimsuffix" | "trim"
        | "indent" | "log" | "pow" | "parseint" | "element" | "index" | "chunklist"
        | "cidrhost" | "fileset" | "uuidv5" | "setsubtract" => (2, 2, format!("{name}(a, b)")),
        "replace" | "substr" | "cidrsubnet" | "slice" | "matchkeys" => {
            (3, 3, format!("{name}(a, b, c)"))
        }
        "lookup" => (2, 3, String::from("lookup(map, key, default)")),
        "range" => (1, 3, String::from("range(start, limit, step)")),
        "format" => (1, usize::MAX, String::from("format(spec, values...)")),
        "cidrsubnets" => (
            1,
            usize::MAX,
            String::from("cidrsubnets(prefix, newbits...)"),
        ),
        "setproduct" => (2, usize::MAX, String::from("setproduct(a, b, ...)")),
        "try" | "coalesce" | "coalescelist" | "min" | "max" | "setunion" | "setintersection" => {
            (1, usize::MAX, format!("{name}(a, ...)"))
        }
        _ => (0, usize::MAX, format!("{name}(...)")),
    }
}

fn dispatch(call: &Call<'_>, context: &dyn FunctionContext) -> Result<Value, Diagnostic> {
    check_arity(call)?;
    match call.name {
        "lower" => Ok(Value::string(call.string(0)?.to_lowercase())),
        "upper" => Ok(Value::string(call.string(0)?.to_uppercase())),
        "trimspace" => Ok(Value::string(call.string(0)?.trim().to_owned())),
        "replace" => {
            let text = call.string(0)?;
            let from = call.string(1)?;
            let to = call.string(2)?;
            // Terraform reads a search string wrapped in slashes as a
            // regular expression.
            if let Some(pattern) = from
                .strip_prefix('/')
                .and_then(|rest| rest.strip_suffix('/'))
            {
                return text::replace_regex(call, &text, pattern, &to);
            }
            if from.is_empty() {
                // Go's `strings.Replace`: the empty string occurs before
                // every character and at the end.
                let mut out = String::with_capacity(text.len() + to.len() * (text.len() + 1));
                for c in text.chars() {
                    out.push_str(&to);
                    out.push(c);
                }
                out.push_str(&to);
                return Ok(Value::string(out));
            }
            Ok(Value::string(text.replace(&from, &to)))
        }
        "split" => {
            let separator = call.string(0)?;
            let text = call.string(1)?;
            if separator.is_empty() {
                return Err(invalid(
                    call.arg(0).1,
                    "the separator is empty",
                    "split on a non-empty string",
                ));
            }
            if text.is_empty() {
                return Ok(Value::list(vec![Value::string("")]));
            }
            Ok(Value::list(
                text.split(separator.as_str()).map(Value::string).collect(),
            ))
        }
        "join" => {
            let separator = call.string(0)?;
            Ok(Value::string(call.strings(1)?.join(&separator)))
        }
        "format" => format_fn(call),
        "substr" => {
            let text = call.string(0)?;
            let offset = call.integer(1)?;
            let length = call.integer(2)?;
            let chars: Vec<char> = text.chars().collect();
            let len = i64::try_from(chars.len()).unwrap_or(i64::MAX);
            let start = if offset < 0 {
                (len + offset).max(0)
            } else {
                offset.min(len)
            };
            let end = if length < 0 {
                len
            } else {
                start.saturating_add(length).min(len)
            };
            let start = usize::try_from(start).unwrap_or(0);
            let end = usize::try_from(end).unwrap_or(0).max(start);
            Ok(Value::string(
                chars
                    .get(start..end)
                    .unwrap_or(&[])
                    .iter()
                    .collect::<String>(),
            ))
        }
        "length" => {
            let (value, span) = call.arg(0);
            let n = match value.kind() {
                Kind::String(s) => s.chars().count(),
                Kind::List(items) => items.len(),
                Kind::Map(entries) => entries.len(),
                _ => {
                    return Err(invalid(
                        span,
                        format!("this is a {}", value.type_name()),
                        "length takes a string, list or map",
                    ));
                }
            };
            Ok(Value::number(i64::try_from(n).unwrap_or(i64::MAX)))
        }
        "keys" => Ok(Value::list(
            call.map(0)?
                .keys()
                .map(|k| Value::string(k.clone()))
                .collect(),
        )),
        "values" => Ok(Value::list(call.map(0)?.values().cloned().collect())),
        "merge" => {
            let mut out = crate::lang::Map::new();
            let mut secret = false;
            for (i, (value, _)) in call.args.iter().enumerate() {
                if value.is_null() {
                    continue;
                }
                secret |= value.is_secret();
                // Appended and sorted once (later maps win), not inserted
                // one by one into the middle.
                out.extend(call.map(i)?.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            Ok(Value::map(out).mark_secret_if(secret))
        }
        "concat" => {
            let mut out = Vec::new();
            for i in 0..call.args.len() {
                out.extend(call.list(i)?.iter().cloned());
            }
            Ok(Value::list(out))
        }
        "contains" => {
            let list = call.list(0)?;
            let (needle, _) = call.arg(1);
            Ok(Value::bool(list.iter().any(|v| values_equal(v, needle))))
        }
        "lookup" => {
            let map = call.map(0)?;
            let key = call.string(1)?;
            match map.get(&key) {
                Some(v) => Ok(v.clone()),
                None if call.args.len() == 3 => Ok(call.arg(2).0.clone()),
                None => {
                    let keys: Vec<&str> = map.keys().map(String::as_str).collect();
                    Err(Diagnostic::error(
                        Code::CheckMissingKey,
                        call.arg(1).1,
                        format!("the key \"{key}\" is not in the map"),
                    )
                    .with_help(format!(
                        "give a default as the third argument; the keys are {}",
                        keys.join(", ")
                    )))
                }
            }
        }
        "flatten" => {
            fn flatten_into(items: &[Value], out: &mut Vec<Value>, depth: usize) {
                for item in items {
                    match item.as_list() {
                        Some(inner) if depth < 64 && item.is_secret() => {
                            // A secret list's elements each carry its mark.
                            let marked: Vec<Value> = inner
                                .iter()
                                .map(|v| v.clone().mark_secret_if(true))
                                .collect();
                            flatten_into(&marked, out, depth + 1);
                        }
                        Some(inner) if depth < 64 => flatten_into(inner, out, depth + 1),
                        _ => out.push(item.clone()),
                    }
                }
            }
            let mut out = Vec::new();
            flatten_into(call.list(0)?, &mut out, 0);
            // An unknown element may be a list: the length is not known yet.
            if out.iter().any(Value::is_unknown) {
                return Ok(Value::UNKNOWN);
            }
            Ok(Value::list(out))
        }
        "distinct" => {
            let mut out: Vec<Value> = Vec::new();
            for item in call.list(0)? {
                if !out.iter().any(|v| values_equal(v, item)) {
                    out.push(item.clone());
                }
            }
            Ok(Value::list(out))
        }
        "sort" => {
            let mut items = call.strings(0)?;
            items.sort();
            Ok(Value::list(items.into_iter().map(Value::string).collect()))
        }
        "zipmap" => {
            let key_list = call.list(0)?;
            if key_list.iter().any(Value::is_unknown) {
                return Ok(Value::UNKNOWN);
            }
            // A secret key would become a plain map key: the map is secret then.
            let secret_keys = key_list.iter().any(Value::contains_secret);
            let keys = call.strings(0)?;
            let values = call.list(1)?;
            if keys.len() != values.len() {
                return Err(invalid(
                    call.span,
                    format!("{} keys but {} values", keys.len(), values.len()),
                    "zipmap needs lists of the same length",
                ));
            }
            Ok(
                Value::map(keys.into_iter().zip(values.iter().cloned()).collect())
                    .mark_secret_if(secret_keys),
            )
        }
        "range" => range_fn(call),
        "jsonencode" => Ok(Value::string(go_json_escapes(
            &call.arg(0).0.to_json_revealed().to_string(),
        ))),
        "jsondecode" => {
            let text = call.string(0)?;
            serde_json::from_str::<serde_json::Value>(&text)
                .map(|json| Value::from_json(&json))
                .map_err(|e| {
                    invalid(
                        call.arg(0).1,
                        "this is not valid JSON",
                        format!("the JSON parser says: {}", redact_json_error(&e)),
                    )
                })
        }
        "base64encode" => Ok(Value::string(
            base64::engine::general_purpose::STANDARD.encode(call.string(0)?),
        )),
        "base64decode" => {
            let text = call.string(0)?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|_| {
                    invalid(
                        call.arg(0).1,
                        "this is not valid base64",
                        "base64decode takes standard base64 with padding",
                    )
                })?;
            String::from_utf8(bytes).map(Value::string).map_err(|_| {
                invalid(
                    call.arg(0).1,
                    "the decoded bytes are not UTF-8 text",
                    "strings are UTF-8; keep binary data base64-encoded",
                )
            })
        }
        "sha256" => {
            use sha2::Digest as _;
            Ok(Value::string(hex(&sha2::Sha256::digest(
                call.string(0)?.as_bytes(),
            ))))
        }
        "md5" => {
            use md5::Digest as _;
            Ok(Value::string(hex(&md5::Md5::digest(
                call.string(0)?.as_bytes(),
            ))))
        }
        "env_var" => {
            let name = call.string(0)?;
            context.env_var(&name).map(Value::string).ok_or_else(|| {
                Diagnostic::error(
                    Code::CheckMissingEnvVar,
                    call.arg(0).1,
                    format!("`{name}` is not set"),
                )
                .with_help(format!(
                    "set it in the environment, e.g. `export {name}=...`"
                ))
            })
        }
        "file" => {
            let path = call.string(0)?;
            context.read_file(&path).map(Value::string).map_err(|e| {
                Diagnostic::error(
                    Code::CheckFileNotReadable,
                    call.arg(0).1,
                    format!("cannot read `{path}`"),
                )
                .with_help(e)
            })
        }
        "templatefile" => {
            let path = call.string(0)?;
            let text = context.read_file(&path).map_err(|e| {
                Diagnostic::error(
                    Code::CheckFileNotReadable,
                    call.arg(0).1,
                    format!("cannot read `{path}`"),
                )
                .with_help(e)
            })?;
            let vars = call.arg(1).0.clone();
            if vars.as_map().is_none() {
                return Err(invalid(
                    call.arg(1).1,
                    "this is not a map",
                    "templatefile takes a map of the names the template uses",
                ));
            }
            context.render_template(&path, &text, &vars, call.span)
        }
        "cidrsubnet" => cidrsubnet(call),
        _ => convert::call(call)
            .or_else(|| text::call(call))
            .or_else(|| numeric::call(call))
            .or_else(|| collection::call(call))
            .or_else(|| network::call(call))
            .or_else(|| files::call(call, context))
            .or_else(|| encoding::call(call))
            .or_else(|| hash::call(call))
            .unwrap_or_else(|| unknown_name(call)),
    }
}

/// A name in [`NAMES`] that no dispatcher answers: a bug in this file, told
/// as the unknown-function diagnostic rather than a panic.
fn unknown_name(call: &Call<'_>) -> Result<Value, Diagnostic> {
    Err(Diagnostic::error(
        Code::CheckUnknownFunction,
        call.span,
        format!("no function `{}`", call.name),
    )
    .with_help("see docs/functions.md for the builtin functions"))
}

/// Go's JSON encoder (and so Terraform's `jsonencode`) writes `<`, `>`, `&`,
/// U+2028 and U+2029 as `\u` escapes. They can only occur inside strings,
/// so replacing them everywhere is safe.
fn go_json_escapes(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// serde_json errors never include input text, only line and column; keep it so.
fn redact_json_error(error: &serde_json::Error) -> String {
    format!(
        "{:?} error at line {} column {}",
        error.classify(),
        error.line(),
        error.column()
    )
}

fn values_equal(a: &Value, b: &Value) -> bool {
    let (a, _) = a.clone().unmark_deep();
    let (b, _) = b.clone().unmark_deep();
    match (a.as_number(), b.as_number()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn hex(bytes: &[u8]) -> String {
    crate::hex::lower(bytes)
}

fn range_fn(call: &Call<'_>) -> Result<Value, Diagnostic> {
    let (start, limit, step) = match call.args.len() {
        1 => (Number::Int(0), call.number(0)?, Number::Int(1)),
        2 => (call.number(0)?, call.number(1)?, Number::Int(1)),
        _ => (call.number(0)?, call.number(1)?, call.number(2)?),
    };
    if step.as_f64() == 0.0 {
        return Err(invalid(
            call.arg(2).1,
            "the step is zero",
            "range needs a non-zero step",
        ));
    }
    let mut out = Vec::new();
    let mut current = start;
    let ascending = step.as_f64() > 0.0;
    while (ascending && current < limit) || (!ascending && current > limit) {
        if out.len() >= 1024 * 1024 {
            return Err(invalid(
                call.span,
                "this range is too long",
                "range is limited to 1,048,576 elements",
            ));
        }
        out.push(Value::new(Kind::Number(current)));
        current = match current.checked_add(step) {
            Some(next) => next,
            None => break,
        };
    }
    Ok(Value::list(out))
}

fn format_fn(call: &Call<'_>) -> Result<Value, Diagnostic> {
    let spec = call.string(0)?;
    let mut out = String::new();
    let mut chars = spec.chars().peekable();
    let mut next_arg = 1;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'%') {
            chars.next();
            out.push('%');
            continue;
        }
        let mut left = false;
        let mut zero = false;
        let mut plus = false;
        while let Some(&flag) = chars.peek() {
            match flag {
                '-' => left = true,
                '0' => zero = true,
                '+' => plus = true,
                ' ' | '#' => {}
                _ => break,
            }
            chars.next();
        }
        let mut width = String::new();
        while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            width.push(d);
            chars.next();
        }
        let mut precision: Option<usize> = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut digits = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                digits.push(d);
                chars.next();
            }
            precision = Some(digits.parse().unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            return Err(invalid(
                call.arg(0).1,
                "the format ends in the middle of a `%` verb",
                "end the verb, or write `%%` for a percent sign",
            ));
        };
        if next_arg >= call.args.len() {
            return Err(invalid(
                call.span,
                "not enough values for the format",
                format!("the format uses at least {next_arg} values"),
            ));
        }
        let (value, span) = call.arg(next_arg);
        next_arg += 1;
        let text = match verb {
            's' | 'v' => match value.kind() {
                Kind::String(s) => s.clone(),
                Kind::Number(n) => n.to_string(),
                Kind::Bool(b) => b.to_string(),
                Kind::Null if verb == 'v' => String::from("null"),
                _ if verb == 'v' => value.to_json_revealed().to_string(),
                _ => {
                    return Err(invalid(
                        span,
                        format!("this is a {}", value.type_name()),
                        "`%s` formats strings, numbers and bools",
                    ));
                }
            },
            'q' => serde_json::Value::String(call.string(next_arg - 1)?).to_string(),
            't' => match value.as_bool() {
                Some(b) => b.to_string(),
                None => {
                    return Err(invalid(
                        span,
                        format!("this is a {}", value.type_name()),
                        "`%t` formats bools",
                    ));
                }
            },
            'd' | 'b' | 'o' | 'x' | 'X' => {
                let n = call.integer(next_arg - 1)?;
                let body = match verb {
                    'd' => n.unsigned_abs().to_string(),
                    'b' => format!("{:b}", n.unsigned_abs()),
                    'o' => format!("{:o}", n.unsigned_abs()),
                    'x' => format!("{:x}", n.unsigned_abs()),
                    _ => format!("{:X}", n.unsigned_abs()),
                };
                let sign = if n < 0 {
                    "-"
                } else if plus {
                    "+"
                } else {
                    ""
                };
                pad_number(sign, &body, &width, zero, left)
            }
            'f' | 'e' => {
                let n = call.number(next_arg - 1)?.as_f64();
                let p = precision.unwrap_or(6);
                let body = if verb == 'f' {
                    format!("{:.p$}", n.abs())
                } else {
                    go_exponent(&format!("{:.p$e}", n.abs()))
                };
                let sign = if n < 0.0 {
                    "-"
                } else if plus {
                    "+"
                } else {
                    ""
                };
                pad_number(sign, &body, &width, zero, left)
            }
            other => {
                return Err(invalid(
                    call.arg(0).1,
                    format!("`%{other}` is not a format verb"),
                    "use %s %q %d %f %e %t %v %b %o %x %X or %%",
                ));
            }
        };
        let text = match (verb, precision) {
            ('s' | 'v' | 'q', Some(p)) => text.chars().take(p).collect(),
            _ => text,
        };
        if matches!(verb, 'd' | 'b' | 'o' | 'x' | 'X' | 'f' | 'e') {
            out.push_str(&text);
        } else {
            out.push_str(&pad(&text, &width, left));
        }
    }
    if next_arg < call.args.len() {
        return Err(invalid(
            call.span,
            "more values than the format uses",
            format!("the format uses {} values", next_arg - 1),
        ));
    }
    Ok(Value::string(out))
}

/// Rust writes `1.5e3`; Go (and so Terraform's `format`) writes `1.5e+03`.
fn go_exponent(rust: &str) -> String {
    match rust.split_once('e') {
        Some((mantissa, exponent)) => {
            let (sign, digits) = match exponent.strip_prefix('-') {
                Some(digits) => ('-', digits),
                None => ('+', exponent),
            };
            format!("{mantissa}e{sign}{digits:0>2}")
        }
        None => rust.to_owned(),
    }
}

fn pad(text: &str, width: &str, left: bool) -> String {
    let width: usize = width.parse().unwrap_or(0);
    let len = text.chars().count();
    if len >= width {
        return text.to_owned();
    }
    let fill = " ".repeat(width - len);
    if left {
        format!("{text}{fill}")
    } else {
        format!("{fill}{text}")
    }
}

fn pad_number(sign: &str, body: &str, width: &str, zero: bool, left: bool) -> String {
    let width: usize = width.parse().unwrap_or(0);
    let len = sign.len() + body.len();
    if len >= width {
        return format!("{sign}{body}");
    }
    if left {
        format!("{sign}{body}{}", " ".repeat(width - len))
    } else if zero {
        format!("{sign}{}{body}", "0".repeat(width - len))
    } else {
        format!("{}{sign}{body}", " ".repeat(width - len))
    }
}

fn cidrsubnet(call: &Call<'_>) -> Result<Value, Diagnostic> {
    let prefix = call.string(0)?;
    let newbits = call.integer(1)?;
    let netnum = call.integer(2)?;
    let bad_prefix = || {
        invalid(
            call.arg(0).1,
            "this is not a CIDR prefix",
            "write it like \"10.0.0.0/16\" or \"fd00::/48\"",
        )
    };
    let (address, length) = prefix.split_once('/').ok_or_else(bad_prefix)?;
    let length: u32 = length.parse().map_err(|_| bad_prefix())?;
    let ip: std::net::IpAddr = address.parse().map_err(|_| bad_prefix())?;
    let (bits, base): (u32, u128) = match ip {
        std::net::IpAddr::V4(v4) => (32, u128::from(u32::from(v4))),
        std::net::IpAddr::V6(v6) => (128, u128::from(v6)),
    };
    if length > bits {
        return Err(bad_prefix());
    }
    let newbits = u32::try_from(newbits)
        .map_err(|_| invalid(call.arg(1).1, "this is negative", "newbits is zero or more"))?;
    let new_length = length + newbits;
    if new_length > bits {
        return Err(invalid(
            call.arg(1).1,
            format!("a /{length} prefix extended by {newbits} bits is longer than {bits} bits"),
            "use fewer new bits",
        ));
    }
    let netnum = u128::try_from(netnum)
        .map_err(|_| invalid(call.arg(2).1, "this is negative", "netnum is zero or more"))?;
    if newbits < 128 && netnum >= (1u128 << newbits) {
        return Err(invalid(
            call.arg(2).1,
            format!("{newbits} new bits allow {} subnets", 1u128 << newbits),
            "use a smaller netnum or more new bits",
        ));
    }
    let host_bits = bits - new_length;
    let mask = if length == 0 {
        0
    } else {
        (!0u128 << (128 - length)) >> (128 - bits)
    };
    let network = base & mask;
    let subnet = network | netnum.checked_shl(host_bits).unwrap_or(0);
    let text = match ip {
        std::net::IpAddr::V4(_) => {
            std::net::Ipv4Addr::from(u32::try_from(subnet).unwrap_or(0)).to_string()
        }
        std::net::IpAddr::V6(_) => std::net::Ipv6Addr::from(subnet).to_string(),
    };
    Ok(Value::string(format!("{text}/{new_length}")))
}

#[cfg(test)]
mod tests {
    use super::NAMES;

    #[test]
    fn every_name_of_every_group_is_a_builtin() {
        for group in [
            super::collection::NAMES,
            super::convert::NAMES,
            super::encoding::NAMES,
            super::files::NAMES,
            super::hash::NAMES,
            super::network::NAMES,
            super::numeric::NAMES,
            super::text::NAMES,
        ] {
            for name in group {
                assert!(NAMES.contains(name), "`{name}` is not in NAMES");
            }
        }
        let mut sorted = NAMES.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, NAMES, "NAMES is kept in alphabetical order");
    }
}
