//! Tests of evaluation and the builtins, through source text: each expression
//! is parsed as `x = <expr>` and evaluated with a fixed test scope and a test
//! function context (environment variables and files in memory).
//!
//! Every evaluation is also checked for leaks: the planted secrets (`hunter2`,
//! `4242`) must not appear in the result's `Display`/`Debug`, nor in any label
//! or help of an error.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod builtins;
mod operators;
mod secrets;
mod templates;

use super::functions::FunctionContext;
use super::{Scope, Value, eval};
use crate::diag::{Code, Diagnostic, FileId, Span};
use crate::syntax::{self, ast};

/// The plaintexts planted as secrets in the test scope.
const PLANTED: &[&str] = &["hunter2", "4242"];

/// What `x = ` puts before the expression.
const PREFIX: &str = "x = ";

fn secret(value: Value) -> Value {
    value.with_secret(true)
}

fn map(entries: Vec<(&str, Value)>) -> Value {
    Value::map(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    )
}

/// `var.*` of the test scope.
fn variables() -> Value {
    map(vec![
        // A secret string, number, bool, prefix and JSON document.
        ("s", secret(Value::string("hunter2"))),
        ("sn", secret(Value::number(4242))),
        ("sb", secret(Value::bool(true))),
        ("sc", secret(Value::string("10.0.0.0/16"))),
        ("sj", secret(Value::string(r#"{"k":"hunter2"}"#))),
        // Unknown.
        ("u", Value::UNKNOWN),
        // Plain collections.
        (
            "m",
            map(vec![("a", Value::number(1)), ("b", Value::string("two"))]),
        ),
        ("l", Value::list(vec!["x".into(), "y".into(), "z".into()])),
        (
            "lm",
            Value::list(vec![
                map(vec![("name", "a".into()), ("port", 1.into())]),
                map(vec![("name", "b".into()), ("port", 2.into())]),
            ]),
        ),
        // A map with one secret entry; a secret list; a secret map (keys too).
        (
            "sm",
            map(vec![("a", secret("hunter2".into())), ("b", "plain".into())]),
        ),
        (
            "sl",
            secret(Value::list(vec!["hunter2".into(), "b".into()])),
        ),
        ("ms", secret(map(vec![("hunter2", Value::number(1))]))),
        // A list with an unknown element.
        ("ul", Value::list(vec!["a".into(), Value::UNKNOWN])),
    ])
}

struct TestScope;

impl Scope for TestScope {
    fn root(&self, name: &str, span: Span) -> Result<Value, Diagnostic> {
        match name {
            "var" => Ok(variables()),
            _ => Err(Diagnostic::error(
                Code::CheckUnknownReference,
                span,
                format!("no `{name}` here"),
            )
            .with_help("the test scope only has `var`")),
        }
    }
}

/// The test scope again, lending `var.NAME` (and any attributes after it)
/// through [`Scope::root_attr_ref`] instead of building `var` whole: every
/// test expression is evaluated both ways and must give the same result.
struct LendingScope {
    variables: Value,
}

impl Scope for LendingScope {
    fn root(&self, name: &str, span: Span) -> Result<Value, Diagnostic> {
        TestScope.root(name, span)
    }

    fn root_attr_ref(&self, name: &str, attr: &ast::Ident) -> Option<Result<&Value, Diagnostic>> {
        if name != "var" {
            return None;
        }
        let found = self.variables.as_map()?.get(&attr.name)?;
        Some(Ok(found))
    }
}

/// Environment variables and files in memory.
struct TestContext;

impl FunctionContext for TestContext {
    fn env_var(&self, name: &str) -> Option<String> {
        match name {
            "HOME_DIR" => Some(String::from("/home/infra")),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn read_file(&self, path: &str) -> Result<String, String> {
        match path {
            "hello.txt" => Ok(String::from("hi\n")),
            "app.tpl" => Ok(String::from("port=${port}")),
            _ => Err(String::from(
                "no such file (the path is relative to the module's folder)",
            )),
        }
    }

    fn list_files(&self, dir: &str) -> Result<Vec<String>, String> {
        match dir {
            "." => Ok(vec![
                String::from("hello.txt"),
                String::from("app.tpl"),
                String::from("conf/d/e.tpl"),
            ]),
            _ => Err(String::from("no such folder")),
        }
    }

    fn render_template(
        &self,
        path: &str,
        text: &str,
        vars: &Value,
        _span: Span,
    ) -> Result<Value, Diagnostic> {
        let names = vars.as_map().map_or(0, crate::lang::Map::len);
        Ok(Value::string(format!(
            "{path}: {} bytes, {names} vars",
            text.len()
        )))
    }
}

/// The source and result of one evaluation.
struct Outcome {
    source: String,
    result: Result<Value, Diagnostic>,
}

/// Parses `x = <expr>` and evaluates the expression.
fn run(expr: &str) -> Outcome {
    let source = format!("{PREFIX}{expr}\n");
    let (file, diagnostics) = syntax::parse(FileId(0), &source);
    assert!(
        diagnostics.is_empty(),
        "`{expr}` does not parse: {diagnostics:?}"
    );
    let value = match file.body.items.first() {
        Some(ast::Item::Attribute(attribute)) => attribute.value.clone(),
        other => panic!("`{expr}` parsed to {other:?}"),
    };
    let result = eval(&value, &TestScope, &TestContext);
    let lending = LendingScope {
        variables: variables(),
    };
    let lent = eval(&value, &lending, &TestContext);
    match (&result, &lent) {
        (Ok(a), Ok(b)) => assert!(
            a == b && a.is_secret() == b.is_secret(),
            "`{expr}`: {a:?} copied, {b:?} lent"
        ),
        (Err(a), Err(b)) => assert_eq!(format!("{a:?}"), format!("{b:?}"), "`{expr}`"),
        (a, b) => panic!("`{expr}`: {a:?} copied, {b:?} lent"),
    }
    let outcome = Outcome { source, result };
    outcome.assert_no_leak();
    outcome
}

impl Outcome {
    fn assert_no_leak(&self) {
        let shown = match &self.result {
            Ok(value) => vec![value.to_string(), format!("{value:?}")],
            Err(error) => {
                let mut texts: Vec<String> = error.primary.iter().map(|l| l.text.clone()).collect();
                texts.extend(error.secondary.iter().map(|l| l.text.clone()));
                texts.extend(error.help.clone());
                texts.push(error.to_string());
                texts
            }
        };
        for text in shown {
            for planted in PLANTED {
                assert!(
                    !text.contains(planted),
                    "`{}` shows a secret: {text}",
                    self.source.trim()
                );
            }
        }
    }

    /// The value; fails the test on an error.
    fn value(self) -> Value {
        match self.result {
            Ok(value) => value,
            Err(error) => panic!("`{}` failed: {error:?}", self.source.trim()),
        }
    }

    /// The error; fails the test on a value.
    fn error(&self) -> &Diagnostic {
        match &self.result {
            Ok(value) => panic!("`{}` gave {value} instead of an error", self.source.trim()),
            Err(error) => error,
        }
    }

    /// The source text under the error's primary label.
    fn at(&self) -> &str {
        let span = self
            .error()
            .primary
            .as_ref()
            .map(|l| l.span)
            .unwrap_or_default();
        span.slice(&self.source)
    }

    fn label(&self) -> &str {
        self.error()
            .primary
            .as_ref()
            .map_or("", |l| l.text.as_str())
    }

    fn help(&self) -> &str {
        self.error().help.as_deref().unwrap_or("")
    }
}

/// Asserts that `expr` evaluates to a value displayed as `expected`.
fn ok(expr: &str, expected: &str) -> Value {
    let value = run(expr).value();
    assert_eq!(value.to_string(), expected, "`{expr}`");
    value
}

/// Asserts that `expr` evaluates to the string `expected`.
fn ok_str(expr: &str, expected: &str) {
    let value = run(expr).value();
    assert_eq!(value.as_str(), Some(expected), "`{expr}` gave {value}");
}

/// Asserts that `expr` fails with `code`, its primary label over `at`.
fn fails(expr: &str, code: Code, at: &str) -> Outcome {
    let outcome = run(expr);
    let error = outcome.error();
    assert_eq!(error.code, code, "`{expr}`: {error:?}");
    assert_eq!(outcome.at(), at, "`{expr}`: {error:?}");
    outcome
}

/// Asserts a wrong argument count, pointing at the whole call.
fn wrong_count(expr: &str) {
    let outcome = fails(expr, Code::CheckWrongArgumentCount, expr);
    assert!(outcome.help().contains("call it as"), "{}", outcome.help());
}

/// Asserts an invalid argument pointing at `at`.
fn invalid(expr: &str, at: &str) -> Outcome {
    fails(expr, Code::CheckInvalidArgument, at)
}

/// Asserts that `expr` gives a value whose top node is secret.
fn is_secret(expr: &str) -> Value {
    let value = run(expr).value();
    assert!(
        value.is_secret(),
        "`{expr}` gave {value}, not marked secret"
    );
    value
}

/// Asserts that `expr` gives an unknown value.
fn is_unknown(expr: &str) -> Value {
    let value = run(expr).value();
    assert!(value.is_unknown(), "`{expr}` gave {value}, not unknown");
    value
}

/// Element `i` of a list value.
fn element(value: &Value, i: usize) -> &Value {
    value.as_list().and_then(|items| items.get(i)).unwrap()
}

/// Entry `key` of a map value.
fn entry<'a>(value: &'a Value, key: &str) -> &'a Value {
    value.as_map().and_then(|entries| entries.get(key)).unwrap()
}
