//! The values computed so far during expansion, and the [`lang::Scope`] an
//! expression in one module sees.
//!
//! Invariant: lookups are by key (no scanning), so evaluation stays linear in
//! the size of the stack.

use super::EnvironmentInfo;
use crate::addr::{Mode, ModulePath, ResourceAddr};
use crate::diag::{Code, Diagnostic, Span};
use crate::host::Host;
use crate::lang::functions::FunctionContext;
use crate::lang::{Scope, Value};
use crate::syntax::ast;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Everything evaluated so far.
pub(super) struct Values {
    pub env: Value,
    pub variables: HashMap<(ModulePath, String), Value>,
    pub locals: HashMap<(ModulePath, String), Value>,
    pub secrets: HashMap<(ModulePath, String), Value>,
    pub resources: HashMap<ResourceAddr, Value>,
    pub services: BTreeMap<(ModulePath, String), Value>,
    pub outputs: HashMap<(ModulePath, String), Value>,
    /// Module call results (objects of outputs), by calling module and call name.
    pub modules: HashMap<(ModulePath, String), Value>,
}

impl Values {
    pub fn new(environment: &EnvironmentInfo) -> Self {
        let mut env = BTreeMap::new();
        env.insert(String::from("name"), Value::string(environment.name.clone()));
        env.insert(String::from("protected"), Value::bool(environment.protected));
        Values {
            env: Value::map(env),
            variables: HashMap::new(),
            locals: HashMap::new(),
            secrets: HashMap::new(),
            resources: HashMap::new(),
            services: BTreeMap::new(),
            outputs: HashMap::new(),
            modules: HashMap::new(),
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
    pub binding: Binding,
}

fn internal(span: Span, what: &str) -> Diagnostic {
    Diagnostic::error(Code::CheckUnknownReference, span, format!("`{what}` has no value here"))
        .with_help("it may have failed to evaluate earlier; fix the errors above first")
}

impl ModuleScope<'_> {
    fn key(&self, name: &str) -> (ModulePath, String) {
        (self.module.clone(), name.to_owned())
    }

    fn collect(&self, map: &HashMap<(ModulePath, String), Value>) -> Value {
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
                .filter(|(a, _)| &a.module == self.module && a.mode == mode && a.resource_type == resource_type)
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
                let (key, value) = self.binding.each.clone().ok_or_else(|| internal(span, "each"))?;
                let mut object = BTreeMap::new();
                object.insert(String::from("key"), key);
                object.insert(String::from("value"), value);
                Ok(Value::map(object))
            }
            "count" => {
                let index = self.binding.count.ok_or_else(|| internal(span, "count"))?;
                let mut object = BTreeMap::new();
                object.insert(String::from("index"), Value::number(index));
                Ok(Value::map(object))
            }
            "self" => self.binding.self_value.clone().ok_or_else(|| internal(span, "self")),
            "service" => Ok(Value::map(
                self.values
                    .services
                    .iter()
                    .filter(|((m, _), _)| m == self.module)
                    .map(|((_, n), v)| (n.clone(), v.clone()))
                    .collect(),
            )),
            "module" => Ok(self.collect(&self.values.modules)),
            "data" => {
                let mut types: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
                for (addr, value) in &self.values.resources {
                    if &addr.module == self.module && addr.mode == Mode::Data {
                        types.entry(addr.resource_type.clone()).or_default().insert(addr.name.clone(), value.clone());
                    }
                }
                Ok(Value::map(types.into_iter().map(|(t, m)| (t, Value::map(m))).collect()))
            }
            resource_type => Ok(self.resources_of_type(Mode::Managed, resource_type)),
        }
    }

    fn root_attr(&self, name: &str, attr: &ast::Ident) -> Option<Result<Value, Diagnostic>> {
        let key = self.key(&attr.name);
        let found = match name {
            "var" => self.values.variables.get(&key),
            "local" => self.values.locals.get(&key),
            "secret" => self.values.secrets.get(&key),
            "module" => self.values.modules.get(&key),
            "service" => self.values.services.get(&key),
            "data" => return Some(Ok(self.resources_of_type(Mode::Data, &attr.name))),
            "env" | "each" | "count" | "self" => return None,
            resource_type => {
                let addr = ResourceAddr {
                    module: self.module.clone(),
                    mode: Mode::Managed,
                    resource_type: resource_type.to_owned(),
                    name: attr.name.clone(),
                };
                self.values.resources.get(&addr)
            }
        };
        Some(found.cloned().ok_or_else(|| internal(attr.span, &format!("{name}.{}", attr.name))))
    }
}

/// What builtins may read: environment variables and files in the module's folder.
pub(super) struct Functions<'a> {
    pub host: &'a dyn Host,
    pub dir: Option<&'a Path>,
}

impl FunctionContext for Functions<'_> {
    fn env_var(&self, name: &str) -> Option<String> {
        self.host.env_var(name)
    }

    fn read_file(&self, path: &str) -> Result<String, String> {
        let dir = self.dir.ok_or_else(|| String::from("a stdlib module has no folder to read files from"))?;
        let bytes = self.host.read(&dir.join(path)).map_err(|e| format!("{e} (the path is relative to the module's folder)"))?;
        String::from_utf8(bytes).map_err(|_| String::from("the file is not UTF-8 text"))
    }

    fn render_template(&self, _path: &str, _text: &str, _vars: &Value, span: Span) -> Result<Value, Diagnostic> {
        Err(Diagnostic::error(Code::CheckInvalidArgument, span, "templatefile is not wired yet")
            .with_help("this is a placeholder until syntax exposes template parsing"))
    }
}
