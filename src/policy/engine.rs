//! The Rego engine: compiling a policy set with `regorus`, finding the
//! `deny`/`warn`/`test_*` rule definitions, evaluating one definition at a
//! time (so each message is traced to its rule's file and line), and the
//! diagnostics for syntax and evaluation errors.
//!
//! Invariant: an evaluation error is an error, never an empty result.

use super::load::{PolicyFile, PolicySet};
use crate::diag::{Code, Diagnostic, Diagnostics, Span};
use regorus::unstable::{Expr, Module, Rule, RuleHead};
use regorus::{Engine, Value};

/// A rule definition to evaluate.
#[derive(Debug, Clone)]
pub(super) struct RuleDef {
    /// Index of its module in the engine.
    pub module: usize,
    /// Index of the rule in its module.
    pub rule: usize,
    /// The package, without `data.` (`tagging`).
    pub package: Vec<String>,
    /// The rule's name (`deny`, `warn`, `test_tagged`).
    pub name: String,
    /// Its file, as shown.
    pub file: String,
    /// The line of its head (1-based).
    pub line: u32,
    /// Its head, in the command's `SourceMap`.
    pub span: Span,
}

impl RuleDef {
    /// `package.rule`, as a policy author writes it after `data.`.
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.package.join("."), self.name)
    }
}

/// Parses every file into a new engine; a file that does not parse is one
/// `infra::policy::parse` error at regorus's line and column. A file is
/// read as Rego v1 (OPA 1.0's default) and, when that fails, as v0 (the
/// `deny[msg] { ... }` form older policies use).
pub(super) fn compile(set: &PolicySet, tests: bool) -> (Option<Engine>, Diagnostics) {
    let mut engine = Engine::new();
    // `print` goes to a buffer nobody reads, never to the terminal (only
    // `cli` prints).
    engine.set_gather_prints(true);
    let mut diagnostics = Diagnostics::new();
    if let Err(error) = engine.add_extension("regex.match".into(), 2, RegexMatch::extension()) {
        diagnostics.push(
            Diagnostic::error_at_path(Code::Internal, None)
                .with_help(format!("could not set up `regex.match`: {error}")),
        );
        return (None, diagnostics);
    }
    for file in set.files.iter().filter(|f| tests || !f.test) {
        if let Err(v1_error) = engine.add_policy(file.name.clone(), file.text.clone()) {
            engine.set_rego_v0(true);
            let v0 = engine.add_policy(file.name.clone(), file.text.clone());
            engine.set_rego_v0(false);
            if v0.is_err() {
                diagnostics.push(parse_error(file, &v1_error.to_string()));
            }
        }
    }
    for data in &set.data {
        if let Err(error) = engine.add_data(data.value.clone()) {
            diagnostics.push(
                Diagnostic::error_at_path(Code::PolicyParse, Some(data.name.clone())).with_help(
                    format!(
                        "this data file conflicts with another one: {}",
                        located(&error.to_string()).1
                    ),
                ),
            );
        }
    }
    if diagnostics.has_errors() {
        return (None, diagnostics);
    }
    // Analysis (unsafe variables, unknown functions, recursion) happens when
    // the engine first evaluates: do it now, so such a mistake is reported
    // as the file's, not as every rule's evaluation error.
    if let Err(error) = engine.eval_query(String::from("true"), false) {
        let text = error.to_string();
        let (location, _) = located(&text);
        let file = location
            .as_deref()
            .and_then(|l| l.rsplitn(3, ':').nth(2))
            .and_then(|name| set.files.iter().find(|f| f.name == name));
        diagnostics.push(match file {
            Some(file) => parse_error(file, &text),
            None => {
                Diagnostic::error_at_path(Code::PolicyParse, location).with_help(located(&text).1)
            }
        });
        return (None, diagnostics);
    }
    (Some(engine), diagnostics)
}

/// `regex.match(pattern, value)` as regorus's builtin does it (the same
/// size limit on a compiled pattern, the same messages), but compiling each
/// pattern once per engine instead of once per call: a policy matching one
/// pattern against 10,000 resource names compiled it 10,000 times (regorus
/// caches compiled patterns only with its `cache` feature, which needs a
/// crate not in the lock file). Registered as an extension, which regorus
/// looks up before its builtins; `with regex.match as ...` still applies.
#[derive(Clone, Default)]
struct RegexMatch {
    /// Compiled patterns by their text; emptied when it holds
    /// [`RegexMatch::MAX_PATTERNS`], so patterns built at run time cannot
    /// grow it without bound.
    compiled: std::collections::HashMap<String, regex::Regex>,
}

impl RegexMatch {
    /// regorus's limit on a compiled pattern (`REGEX_SIZE_LIMIT`).
    const SIZE_LIMIT: usize = 100 * 1024;
    const MAX_PATTERNS: usize = 256;

    /// The extension: a closure owning its own cache (each engine copy
    /// gets its own copy of it).
    fn extension() -> Box<dyn regorus::Extension> {
        let mut cache = RegexMatch::default();
        Box::new(move |args: Vec<Value>| cache.call(&args))
    }

    fn call(&mut self, args: &[Value]) -> anyhow::Result<Value> {
        let text = |value: &Value| match value {
            Value::String(s) => Ok(s.clone()),
            other => Err(anyhow::anyhow!(
                "`regex.match` expects string argument. Got `{other}` instead"
            )),
        };
        let (Some(pattern), Some(value)) = (args.first(), args.get(1)) else {
            anyhow::bail!("`regex.match` expects 2 arguments");
        };
        let (pattern, value) = (text(pattern)?, text(value)?);
        if let Some(regex) = self.compiled.get(pattern.as_ref()) {
            return Ok(Value::Bool(regex.is_match(&value)));
        }
        let regex = regex::RegexBuilder::new(&pattern)
            .size_limit(Self::SIZE_LIMIT)
            .build()
            .map_err(|error| match error {
                regex::Error::CompiledTooBig(_) => {
                    anyhow::Error::new(regorus::LimitError::RegexSizeLimitExceeded {
                        limit: Self::SIZE_LIMIT,
                    })
                }
                _ => anyhow::anyhow!("invalid regex"),
            })?;
        let matched = regex.is_match(&value);
        if self.compiled.len() >= Self::MAX_PATTERNS {
            self.compiled.clear();
        }
        self.compiled.insert(pattern.to_string(), regex);
        Ok(Value::Bool(matched))
    }
}

/// The rule definitions whose name `wanted` accepts, in module and rule order.
pub(super) fn rules(
    engine: &mut Engine,
    set: &PolicySet,
    wanted: &dyn Fn(&str, &PolicyFile) -> bool,
) -> Vec<RuleDef> {
    let packages = engine.get_policy_package_components().unwrap_or_default();
    let modules: Vec<regorus::unstable::Ref<Module>> = engine.get_modules().clone();
    let mut found = Vec::new();
    for (module_index, module) in modules.iter().enumerate() {
        let Some(package) = packages.get(module_index) else {
            continue;
        };
        let Some(file) = set.files.iter().find(|f| f.name == package.source_file) else {
            continue;
        };
        for (rule_index, rule) in module.policy.iter().enumerate() {
            let Some((name, head)) = head_name(rule) else {
                continue;
            };
            if !wanted(&name, file) {
                continue;
            }
            found.push(RuleDef {
                module: module_index,
                rule: rule_index,
                package: package.components.clone(),
                name,
                file: file.name.clone(),
                line: head.line,
                span: Span::new(file.file, head.start as usize, head.end as usize),
            });
        }
    }
    found
}

/// The name of a rule's head (`deny` in `deny contains msg if …` and in
/// `deny[msg] { … }`), and the head's span.
fn head_name(rule: &Rule) -> Option<(String, regorus::unstable::Span)> {
    let refr = match rule {
        Rule::Spec { head, .. } => match head {
            RuleHead::Compr { refr, .. } | RuleHead::Set { refr, .. } => refr,
            RuleHead::Func { .. } => return None,
        },
        Rule::Default { .. } => return None,
    };
    let var = match refr.as_ref() {
        Expr::Var { span, .. } => span,
        Expr::RefBrack { refr, .. } => match refr.as_ref() {
            Expr::Var { span, .. } => span,
            _ => return None,
        },
        _ => return None,
    };
    Some((var.text().to_owned(), var.clone()))
}

/// Evaluates one rule definition alone; the value it gives its rule.
pub(super) fn eval(engine: &mut Engine, def: &RuleDef) -> Result<Value, String> {
    let modules = engine.get_modules().clone();
    let module = modules
        .get(def.module)
        .ok_or_else(|| String::from("the module is gone"))?;
    let rule = module
        .policy
        .get(def.rule)
        .ok_or_else(|| String::from("the rule is gone"))?;
    let data = engine
        .eval_rule_in_module(module, rule, false)
        .map_err(|error| error.to_string())?;
    let mut value = &data;
    for component in &def.package {
        value = &value[component.as_str()];
    }
    Ok(value[def.name.as_str()].clone())
}

/// Whether a regorus error is its execution time limit.
pub(super) fn is_time_limit(error: &str) -> bool {
    let lower = error.to_lowercase();
    lower.contains("time limit") || lower.contains("execution exceeded")
}

/// An evaluation error of one rule: `infra::policy::eval` at the rule's head.
pub(super) fn eval_error(def: &RuleDef, error: &str) -> Diagnostic {
    let (location, message) = located(error);
    let at = location.map_or_else(String::new, |l| format!(" (at {l})"));
    Diagnostic::error(Code::PolicyEval, def.span, "this rule failed to evaluate").with_help(
        format!(
            "`{}` failed: {message}{at}; the plan is not checked until every rule evaluates",
            def.qualified()
        ),
    )
}

/// `infra::policy::parse` at the line and column regorus names.
fn parse_error(file: &PolicyFile, error: &str) -> Diagnostic {
    let (location, message) = located(error);
    let offset = location
        .as_deref()
        .and_then(line_col)
        .and_then(|(line, col)| offset_of(&file.text, line, col))
        .unwrap_or(0);
    let end = file.text[offset..]
        .chars()
        .next()
        .map_or(offset, |c| offset + c.len_utf8());
    Diagnostic::error(
        Code::PolicyParse,
        Span::new(file.file, offset, end),
        "the Rego parser stopped here",
    )
    .with_help(format!(
        "{message}; see https://www.openpolicyagent.org/docs/policy-language"
    ))
}

/// Splits a regorus error into its `file:line:col` (after `-->`) and its
/// message (after `error:`).
pub(super) fn located(error: &str) -> (Option<String>, String) {
    let location = error
        .lines()
        .find_map(|line| line.trim().strip_prefix("--> "))
        .map(|l| l.trim().to_owned());
    let message = error
        .lines()
        .find_map(|line| line.trim().strip_prefix("error: "))
        .map_or_else(
            || {
                error
                    .lines()
                    .map(str::trim)
                    .find(|l| !l.is_empty())
                    .unwrap_or("unknown error")
                    .to_owned()
            },
            |m| m.trim().to_owned(),
        );
    (location, message)
}

/// `(line, column)` of `file:line:col`.
fn line_col(location: &str) -> Option<(usize, usize)> {
    let mut parts = location.rsplitn(3, ':');
    let col = parts.next()?.parse().ok()?;
    let line = parts.next()?.parse().ok()?;
    Some((line, col))
}

/// The byte offset of a 1-based line and column (in characters).
fn offset_of(text: &str, line: usize, col: usize) -> Option<usize> {
    let file = crate::diag::SourceFile::new("", text);
    let start = file.line_start(line)?;
    let rest = text.get(start..)?;
    let within: usize = rest
        .chars()
        .take(col.saturating_sub(1))
        .take_while(|c| *c != '\n')
        .map(char::len_utf8)
        .sum();
    Some(start + within)
}
