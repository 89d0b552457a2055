//! The values computed so far during expansion, and the [`lang::Scope`] an
//! expression in one module sees.
//!
//! Invariant: lookups are by key (no scanning), so evaluation stays linear in
//! the size of the stack.

use super::EnvironmentInfo;
use crate::addr::{Mode, ModulePath, ResourceAddr, ResourceAddrRef};
use crate::diag::{Code, Diagnostic, FileId, Severity, SourceFile, Span};
use crate::graph::hash::{FastMap, FastTable};
use crate::host::Host;
use crate::lang::functions::FunctionContext;
use crate::lang::{self, Scope, Value};
use crate::syntax::{self, ast};
use std::collections::BTreeMap;
use std::path::Path;

/// Everything evaluated so far.
pub(super) struct Values {
    pub env: Value,
    pub variables: FastMap<(ModulePath, String), Value>,
    pub locals: FastMap<(ModulePath, String), Value>,
    pub secrets: FastMap<(ModulePath, String), Value>,
    /// By address; looked up by [`ResourceAddrRef`], without building one.
    pub resources: FastTable<ResourceAddr, Value>,
    pub outputs: FastMap<(ModulePath, String), Value>,
    /// Module call results (objects of outputs), by calling module and call name.
    pub modules: FastMap<(ModulePath, String), Value>,
}

impl Values {
    pub fn new(environment: &EnvironmentInfo) -> Self {
        let mut env = crate::lang::Map::new();
        env.insert(
            String::from("name"),
            Value::string(environment.name.clone()),
        );
        env.insert(
            String::from("protected"),
            Value::bool(environment.protected),
        );
        Values {
            env: Value::map(env),
            variables: FastMap::default(),
            locals: FastMap::default(),
            secrets: FastMap::default(),
            resources: FastTable::default(),
            outputs: FastMap::default(),
            modules: FastMap::default(),
        }
    }
}

/// `each`, `count` and `self` for the expression being evaluated.
#[derive(Debug, Clone, Default)]
pub(super) struct Binding {
    pub each: Option<(Value, Value)>,
    pub count: Option<i64>,
    pub self_value: Option<Value>,
}

/// The scope of one module.
pub(super) struct ModuleScope<'a> {
    pub values: &'a Values,
    pub module: &'a ModulePath,
    pub binding: &'a Binding,
}

fn internal(span: Span, what: &str) -> Diagnostic {
    Diagnostic::error(
        Code::CheckUnknownReference,
        span,
        format!("`{what}` has no value here"),
    )
    .with_help("it may have failed to evaluate earlier; fix the errors above first")
}

impl ModuleScope<'_> {
    fn key(&self, name: &str) -> (ModulePath, String) {
        (self.module.clone(), name.to_owned())
    }

    fn collect(&self, map: &FastMap<(ModulePath, String), Value>) -> Value {
        Value::map(
            map.iter()
                .filter(|((m, _), _)| m == self.module)
                .map(|((_, n), v)| (n.clone(), v.clone()))
                .collect(),
        )
    }

    fn resources_of_type(&self, mode: Mode, resource_type: &str) -> Value {
        Value::map(
            self.values
                .resources
                .iter()
                .filter(|(a, _)| {
                    &a.module == self.module && a.mode == mode && a.resource_type == resource_type
                })
                .map(|(a, v)| (a.name.clone(), v.clone()))
                .collect(),
        )
    }
}

impl Scope for ModuleScope<'_> {
    fn root(&self, name: &str, span: Span) -> Result<Value, Diagnostic> {
        match name {
            "env" => Ok(self.values.env.clone()),
            "var" => Ok(self.collect(&self.values.variables)),
            "local" => Ok(self.collect(&self.values.locals)),
            "secret" => Ok(self.collect(&self.values.secrets)),
            "each" => {
                let (key, value) = self
                    .binding
                    .each
                    .clone()
                    .ok_or_else(|| internal(span, "each"))?;
                let mut object = crate::lang::Map::new();
                object.insert(String::from("key"), key);
                object.insert(String::from("value"), value);
                Ok(Value::map(object))
            }
            "count" => {
                let index = self.binding.count.ok_or_else(|| internal(span, "count"))?;
                let mut object = crate::lang::Map::new();
                object.insert(String::from("index"), Value::number(index));
                Ok(Value::map(object))
            }
            "self" => self
                .binding
                .self_value
                .clone()
                .ok_or_else(|| internal(span, "self")),
            "module" => Ok(self.collect(&self.values.modules)),
            "data" => {
                let mut types: BTreeMap<String, crate::lang::Map> = BTreeMap::new();
                for (addr, value) in &self.values.resources {
                    if &addr.module == self.module && addr.mode == Mode::Data {
                        types
                            .entry(addr.resource_type.clone())
                            .or_default()
                            .insert(addr.name.clone(), value.clone());
                    }
                }
                Ok(Value::map(
                    types.into_iter().map(|(t, m)| (t, Value::map(m))).collect(),
                ))
            }
            resource_type => Ok(self.resources_of_type(Mode::Managed, resource_type)),
        }
    }

    fn root_attr_ref(&self, name: &str, attr: &ast::Ident) -> Option<Result<&Value, Diagnostic>> {
        let key = || self.key(&attr.name);
        let found = match name {
            "var" => self.values.variables.get(&key()),
            "local" => self.values.locals.get(&key()),
            "secret" => self.values.secrets.get(&key()),
            "module" => self.values.modules.get(&key()),
            "data" | "env" | "each" | "count" | "self" => return None,
            resource_type => self.values.resources.get(&ResourceAddrRef {
                module: self.module,
                mode: Mode::Managed,
                resource_type,
                name: &attr.name,
            }),
        };
        Some(found.ok_or_else(|| internal(attr.span, &format!("{name}.{}", attr.name))))
    }

    fn root_attr(&self, name: &str, attr: &ast::Ident) -> Option<Result<Value, Diagnostic>> {
        let key = self.key(&attr.name);
        let found = match name {
            "var" => self.values.variables.get(&key),
            "local" => self.values.locals.get(&key),
            "secret" => self.values.secrets.get(&key),
            "module" => self.values.modules.get(&key),
            "data" => return Some(Ok(self.resources_of_type(Mode::Data, &attr.name))),
            "env" | "each" | "count" | "self" => return None,
            resource_type => self.values.resources.get(&ResourceAddrRef {
                module: self.module,
                mode: Mode::Managed,
                resource_type,
                name: &attr.name,
            }),
        };
        Some(
            found
                .cloned()
                .ok_or_else(|| internal(attr.span, &format!("{name}.{}", attr.name))),
        )
    }
}

/// What builtins may read: environment variables and files in the module's folder.
pub(super) struct Functions<'a> {
    pub host: &'a dyn Host,
    pub dir: Option<&'a Path>,
}

impl Functions<'_> {
    fn folder(&self) -> Result<&Path, String> {
        self.dir
            .ok_or_else(|| String::from("a stdlib module has no folder to read files from"))
    }
}

impl FunctionContext for Functions<'_> {
    fn env_var(&self, name: &str) -> Option<String> {
        self.host.env_var(name)
    }

    fn read_file(&self, path: &str) -> Result<String, String> {
        let bytes = self.read_file_bytes(path)?;
        String::from_utf8(bytes).map_err(|_| String::from("the file is not UTF-8 text"))
    }

    fn read_file_bytes(&self, path: &str) -> Result<Vec<u8>, String> {
        self.host
            .read(&self.folder()?.join(path))
            .map_err(|e| format!("{e} (the path is relative to the module's folder)"))
    }

    fn file_exists(&self, path: &str) -> Result<bool, String> {
        let full = self.folder()?.join(path);
        if self.host.is_dir(&full) {
            return Err(String::from(
                "this is a folder; fileexists checks for a file",
            ));
        }
        Ok(self.host.read(&full).is_ok())
    }

    fn list_files(&self, dir: &str) -> Result<Vec<String>, String> {
        let root = self.folder()?.join(dir);
        let mut out = Vec::new();
        let mut pending = vec![(root.clone(), 0usize)];
        while let Some((folder, depth)) = pending.pop() {
            let entries = self
                .host
                .list_dir(&folder)
                .map_err(|e| format!("{e} (the path is relative to the module's folder)"))?;
            for entry in entries {
                if entry.is_file {
                    if let Ok(relative) = entry.path.strip_prefix(&root) {
                        let parts: Vec<String> = relative
                            .components()
                            .map(|c| c.as_os_str().to_string_lossy().into_owned())
                            .collect();
                        out.push(parts.join("/"));
                    }
                } else if depth < 32 && self.host.is_dir(&entry.path) {
                    pending.push((entry.path, depth + 1));
                }
                if out.len() > 100_000 {
                    return Err(String::from("the folder holds more than 100,000 files"));
                }
            }
        }
        Ok(out)
    }

    fn render_template(
        &self,
        path: &str,
        text: &str,
        vars: &Value,
        span: Span,
    ) -> Result<Value, Diagnostic> {
        render_template(self, path, text, vars, span)
    }
}

/// The file id given to a template's own spans. They never leave this module:
/// every error is moved onto the `templatefile` call (see [`relocate`]).
const TEMPLATE_FILE: FileId = FileId(u32::MAX);

/// Parses `text` as a template and evaluates it with the entries of `vars` as
/// its only names. The result is secret when a secret went into it and unknown
/// when an unknown did (the evaluator's marks); errors point at `call_span`,
/// with the template's own line and column in the label.
pub(super) fn render_template(
    functions: &dyn FunctionContext,
    path: &str,
    text: &str,
    vars: &Value,
    call_span: Span,
) -> Result<Value, Diagnostic> {
    let (parts, diagnostics) = syntax::template::parse_template(TEMPLATE_FILE, text);
    if let Some(first) = diagnostics.iter().find(|d| d.severity == Severity::Error) {
        return Err(relocate(first.clone(), path, text, call_span));
    }
    let empty = crate::lang::Map::new();
    let scope = TemplateScope {
        vars: vars.as_map().unwrap_or(&empty),
        secret: vars.is_secret(),
    };
    let whole = Span::new(TEMPLATE_FILE, 0, text.len());
    let expr = ast::Expr {
        kind: ast::ExprKind::Heredoc(ast::Heredoc {
            marker: String::new(),
            indented: false,
            parts,
            raw_body: String::new(),
            closing_indent: String::new(),
        }),
        span: whole,
    };
    let inner = TemplateFunctions { outer: functions };
    lang::eval(&expr, &scope, &inner)
        .map(|value| value.mark_secret_if(scope.secret))
        .map_err(|diagnostic| relocate(diagnostic, path, text, call_span))
}

/// Moves a diagnostic from inside a template file onto the `templatefile` call:
/// the expand stage has no [`SourceMap`](crate::diag::SourceMap) to add the
/// template to, so its line and column go into the label instead.
fn relocate(mut diagnostic: Diagnostic, path: &str, text: &str, call_span: Span) -> Diagnostic {
    let Some(primary) = diagnostic.primary.as_mut() else {
        return diagnostic;
    };
    if primary.span.file != TEMPLATE_FILE {
        // Already about the call itself (e.g. a nested builtin's own span).
        return diagnostic;
    }
    let at = SourceFile::new(path, text).line_col(primary.span.start());
    primary.text = format!(
        "in {path} at line {}, column {}: {}",
        at.line, at.column, primary.text
    );
    primary.span = call_span;
    diagnostic
        .secondary
        .retain(|label| label.span.file != TEMPLATE_FILE);
    diagnostic
}

/// The names a template sees: the keys of the `vars` map, nothing else.
struct TemplateScope<'a> {
    vars: &'a crate::lang::Map,
    /// Whether the map as a whole was secret (then so is every entry).
    secret: bool,
}

impl Scope for TemplateScope<'_> {
    fn root(&self, name: &str, span: Span) -> Result<Value, Diagnostic> {
        match self.vars.get(name) {
            Some(value) => Ok(value.clone().mark_secret_if(self.secret)),
            None => {
                let help = if self.vars.is_empty() {
                    String::from(
                        "the map of variables given to `templatefile` is empty; add this name to it",
                    )
                } else {
                    let names: Vec<String> = self.vars.keys().map(|k| format!("`{k}`")).collect();
                    format!(
                        "add it to the map given to `templatefile`; the variables are {}",
                        names.join(", ")
                    )
                };
                Err(Diagnostic::error(
                    Code::CheckMissingKey,
                    span,
                    format!("`{name}` is not a template variable"),
                )
                .with_help(help))
            }
        }
    }
}

/// Builtins inside a template: those of the calling module, except
/// `templatefile` itself, whose recursion could never end.
struct TemplateFunctions<'a> {
    outer: &'a dyn FunctionContext,
}

impl FunctionContext for TemplateFunctions<'_> {
    fn env_var(&self, name: &str) -> Option<String> {
        self.outer.env_var(name)
    }

    fn read_file(&self, path: &str) -> Result<String, String> {
        self.outer.read_file(path)
    }

    fn read_file_bytes(&self, path: &str) -> Result<Vec<u8>, String> {
        self.outer.read_file_bytes(path)
    }

    fn file_exists(&self, path: &str) -> Result<bool, String> {
        self.outer.file_exists(path)
    }

    fn list_files(&self, dir: &str) -> Result<Vec<String>, String> {
        self.outer.list_files(dir)
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
            "`templatefile` is called inside a template",
        )
        .with_help("render the inner template outside and pass the result in as a variable"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::Functions;
    use crate::diag::{Code, Diagnostic, FileId, Span};
    use crate::host::MemoryHost;
    use crate::lang::{self, Scope, Value};
    use crate::syntax::{self, ast};
    use std::path::Path;

    const PATH: &str = "templates/app.conf";

    /// `var.*` for the calls below: a secret, an unknown and a plain string.
    struct Vars;

    impl Scope for Vars {
        fn root(&self, name: &str, span: Span) -> Result<Value, Diagnostic> {
            let mut vars = std::collections::BTreeMap::new();
            vars.insert(
                String::from("pw"),
                Value::string("hunter2").with_secret(true),
            );
            vars.insert(String::from("later"), Value::UNKNOWN);
            vars.insert(String::from("name"), Value::string("web"));
            match name {
                "var" => Ok(Value::map(vars.into())),
                _ => Err(Diagnostic::error(
                    Code::CheckUnknownReference,
                    span,
                    "no such name",
                )),
            }
        }
    }

    /// Evaluates `call` (a `templatefile` call) with the template `text` at
    /// `templates/app.conf`; returns the source and the result.
    fn render(text: &str, call: &str) -> (String, Result<Value, Diagnostic>) {
        let host = MemoryHost::new().with_file(Path::new("/stack").join(PATH), text);
        let functions = Functions {
            host: &host,
            dir: Some(Path::new("/stack")),
        };
        let source = format!("x = {call}\n");
        let (file, diagnostics) = syntax::parse(FileId(0), &source);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        let Some(ast::Item::Attribute(attribute)) = file.body.items.first() else {
            panic!("no attribute in {source}");
        };
        let result = lang::eval(&attribute.value, &Vars, &functions);
        if let Err(error) = &result {
            let texts = [
                error
                    .primary
                    .as_ref()
                    .map(|l| l.text.clone())
                    .unwrap_or_default(),
                error.help.clone().unwrap_or_default(),
            ];
            assert!(texts.iter().all(|t| !t.contains("hunter2")), "{error:?}");
            assert_eq!(error.primary.as_ref().map(|l| l.span.file), Some(FileId(0)));
        }
        (source, result)
    }

    fn error_of(text: &str, call: &str) -> (String, Diagnostic) {
        let (source, result) = render(text, call);
        (source, result.unwrap_err())
    }

    #[test]
    fn renders_the_template_with_its_variables() {
        let text = "name=${name}\nport=${port + 1}\n$${literal} ${upper(name)}";
        let call = r#"templatefile("templates/app.conf", {name = "web", port = 8080})"#;
        let value = render(text, call).1.unwrap();
        assert_eq!(value.as_str(), Some("name=web\nport=8081\n${literal} WEB"));
        assert!(!value.contains_secret());
        let value = render("", r#"templatefile("templates/app.conf", {})"#)
            .1
            .unwrap();
        assert_eq!(value.as_str(), Some(""));
    }

    #[test]
    fn a_missing_variable_is_named_with_the_available_ones() {
        let text = "line one\nline two\nhost = ${hots}\n";
        let call = r#"templatefile("templates/app.conf", {host = "h", port = 1})"#;
        let (source, error) = error_of(text, call);
        assert_eq!(error.code, Code::CheckMissingKey);
        let label = error.primary.unwrap();
        assert_eq!(label.span.slice(&source), call);
        assert_eq!(
            label.text,
            "in templates/app.conf at line 3, column 10: `hots` is not a template variable"
        );
        let help = error.help.unwrap();
        assert!(help.contains("`host`, `port`"), "{help}");
    }

    #[test]
    fn secret_variables_make_the_result_secret_when_used() {
        let call = r#"templatefile("templates/app.conf", {pw = var.pw, name = var.name})"#;
        let value = render("password=${pw}\n", call).1.unwrap();
        assert!(value.is_secret());
        assert_eq!(value.to_string(), "(secret)");
        let value = render("name=${name}\n", call).1.unwrap();
        assert!(!value.contains_secret());
        // A secret map of variables makes everything from it secret.
        let call = r#"templatefile("templates/app.conf", var.pw == "" ? {} : {name = "x"})"#;
        assert!(render("${name}", call).1.unwrap().is_secret());
        // Errors about secret values inside the template do not show them.
        let call = r#"templatefile("templates/app.conf", {pw = var.pw})"#;
        let (_, error) = error_of("${pw + 1}", call);
        assert_eq!(error.code, Code::CheckTypeMismatch);
        let (_, error) = error_of("${lookup({}, pw)}", call);
        assert_eq!(error.code, Code::CheckMissingKey);
    }

    #[test]
    fn unknown_variables_make_the_result_unknown_when_used() {
        let call = r#"templatefile("templates/app.conf", {later = var.later, name = "x"})"#;
        assert!(render("a=${later}", call).1.unwrap().is_unknown());
        assert_eq!(render("a=${name}", call).1.unwrap().as_str(), Some("a=x"));
    }

    #[test]
    fn errors_in_the_template_point_at_the_call_with_the_template_line() {
        let call = r#"templatefile("templates/app.conf", {})"#;
        let (source, error) = error_of("ok\nbroken ${1 + }\n", call);
        let label = error.primary.unwrap();
        assert_eq!(label.span.slice(&source), call);
        assert!(
            label
                .text
                .starts_with("in templates/app.conf at line 2, column "),
            "{}",
            label.text
        );
        assert!(
            error.code.as_str().starts_with("infra::parse::"),
            "{:?}",
            error.code
        );

        let (_, error) = error_of("a\n\nv=${1 / 0}", call);
        assert_eq!(error.code, Code::CheckDivisionByZero);
        let text = error.primary.unwrap().text;
        assert_eq!(
            text,
            "in templates/app.conf at line 3, column 9: this is zero"
        );

        let (_, error) = error_of("${templatefile(\"templates/app.conf\", {})}", call);
        assert_eq!(error.code, Code::CheckInvalidArgument);
    }

    #[test]
    fn a_missing_template_file_points_at_the_path() {
        let (source, error) = error_of("", r#"templatefile("templates/nope.conf", {})"#);
        assert_eq!(error.code, Code::CheckFileNotReadable);
        assert_eq!(
            error.primary.unwrap().span.slice(&source),
            r#""templates/nope.conf""#
        );
    }
}
