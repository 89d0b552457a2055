//! Checking: loading a stack's files (and, later, modules), then ordered passes
//! that fill side tables and never stop at the first problem.
//!
//! The passes, in order (each in its own file, each reading the shape table in
//! [`shape`]):
//!
//! 1. `structure`: each block against the shape of its kind (labels,
//!    attributes, nested blocks, required attributes).
//! 2. `duplicates`: blocks and local values defined twice across the stack.
//!
//! Invariant: no live provider calls; no printing; files only through `host`.

mod duplicates;
mod history;
mod load;
mod model;
mod names;
pub mod shape;
pub mod stdlib;
mod structure;

#[cfg(test)]
mod tests;

pub use load::{add_source, display_path, is_infra_path, unreadable_file};

use crate::addr::ModulePath;
use crate::config::{Config, Module, ModuleSource};
use crate::diag::{Code, Diagnostic, Diagnostics, SourceMap, Span, did_you_mean};
use crate::host::Host;
use crate::providers::Registry;
use crate::syntax::{self, ast};
use std::path::{Path, PathBuf};

/// The parsed files of one stack folder.
#[derive(Debug, Default)]
pub struct Stack {
    /// Every loaded file's text (also the files that could not be parsed, so
    /// their diagnostics can show a caret).
    pub sources: SourceMap,
    /// The syntax tree of each file that could be read and decoded, in
    /// file-name order (empty after [`check`], which uses the trees up).
    pub files: Vec<ast::File>,
    /// The stack folder.
    pub dir: PathBuf,
    /// The variable files with their syntax trees, in precedence order
    /// (used up by [`check`] like `files`).
    pub var_files: Vec<(crate::config::VarFileSource, ast::File)>,
}

/// Reads every `*.infra` file directly in `dir` (not sub-folders), in file-name
/// order, and parses it. Display names are the paths as given, without a
/// leading `./`. A missing folder, a folder without `.infra` files, an
/// unreadable file and a file that is not UTF-8 are reported; the rest still loads.
/// The variable files are read too: `*.auto.vars`, `environments/*.vars`.
pub fn load(host: &dyn Host, dir: &Path) -> (Stack, Diagnostics) {
    load_with(host, dir, &[])
}

/// [`load`], plus the `--var-file` files `var_files` (read after the
/// stack's own variable files, so their values win).
pub fn load_with(host: &dyn Host, dir: &Path, var_files: &[PathBuf]) -> (Stack, Diagnostics) {
    let (mut stack, mut diagnostics) = load::load(host, dir);
    if !stack.files.is_empty() {
        load::load_var_files(host, dir, var_files, &mut stack, &mut diagnostics);
    }
    (stack, diagnostics)
}

/// [`load`], with each `.infra` file's text parsed by `parse` instead of
/// [`syntax::parse`]: the language server keeps the trees of the files that
/// did not change since the last keystroke.
pub fn load_parsed(
    host: &dyn Host,
    dir: &Path,
    parse: &mut dyn FnMut(crate::diag::FileId, &str) -> (ast::File, Diagnostics),
) -> (Stack, Diagnostics) {
    let (mut stack, mut diagnostics) = load::load_parsed(host, dir, parse);
    if !stack.files.is_empty() {
        load::load_var_files(host, dir, &[], &mut stack, &mut diagnostics);
    }
    (stack, diagnostics)
}

/// One structural pass over the files of one module.
type Pass = fn(&[ast::File], &mut Diagnostics);

/// The structural passes in the order they run.
const PASSES: &[Pass] = &[structure::check, duplicates::check];

/// Runs the structural passes (shapes, duplicates) over one module's files.
pub fn check_structure(files: &[ast::File]) -> Diagnostics {
    let mut diagnostics = Diagnostics::new();
    for pass in PASSES {
        pass(files, &mut diagnostics);
    }
    diagnostics
}

/// How deep module calls may nest.
const MAX_MODULE_DEPTH: usize = 16;

/// Runs every check over a loaded stack and builds the checked model: the
/// structural passes, then modules loaded (local folders through the host,
/// `std/NAME` from the binary), names resolved and provider schemas applied.
/// Files of child modules are added to `stack.sources` so their diagnostics
/// show a caret. The syntax trees are used up: the model's expressions are
/// moved out of them, and `stack.files` is left empty.
pub fn check(host: &dyn Host, stack: &mut Stack) -> (Config, Diagnostics) {
    check_with_registry(host, stack, &Registry::for_host(host))
}

/// [`check`] against the resource types of `registry` (tests add the `test`
/// provider's types this way).
pub fn check_with_registry(
    host: &dyn Host,
    stack: &mut Stack,
    registry: &Registry,
) -> (Config, Diagnostics) {
    let mut diagnostics = check_structure(&stack.files);
    // The model takes the expressions out of the trees (moved, not copied),
    // so the trees are used up here.
    let mut files = std::mem::take(&mut stack.files);
    let refs: Vec<&ast::File> = files.iter().collect();
    let default_name = host.canonical(&stack.dir).file_name().map_or_else(
        || String::from("stack"),
        |n| n.to_string_lossy().into_owned(),
    );
    let (settings, environments) = model::lower_stack(&refs, &default_name, &mut diagnostics);
    drop(refs);
    let mut loader = Loader {
        host,
        sources: &mut stack.sources,
        registry,
        diagnostics: Diagnostics::new(),
        // Canonical, like the children's identities, so `source = "./"` is a cycle.
        active: vec![ModuleSource::Local(host.canonical(&stack.dir))],
        dirs: vec![Some(stack.dir.clone())],
    };
    let root = model::lower_module(
        &mut files,
        ModulePath::root(),
        ModuleSource::Root,
        registry,
        &mut loader,
        &mut diagnostics,
    );
    diagnostics.extend(loader.diagnostics);
    let var_files = lower_var_files(
        std::mem::take(&mut stack.var_files),
        &root,
        &environments,
        &mut diagnostics,
    );
    let config = Config {
        stack: settings,
        environments,
        root,
        var_files,
    };
    model::undeclared_provider_aliases(&config, &mut diagnostics);
    (config, diagnostics)
}

/// The variable files as the model keeps them: `name = value` lines only,
/// each name a root variable, once per file; `environments/NAME.vars` only
/// for an environment the stack declares.
fn lower_var_files(
    files: Vec<(crate::config::VarFileSource, ast::File)>,
    root: &Module,
    environments: &std::collections::BTreeMap<String, crate::config::Environment>,
    diagnostics: &mut Diagnostics,
) -> Vec<crate::config::VarFile> {
    use crate::config::{VarFile, VarFileSource};
    let mut out = Vec::new();
    for (source, file) in files {
        if let VarFileSource::Environment(name) = &source
            && !environments.contains_key(name)
        {
            let span = Span::new(file.id, 0, 0);
            let mut help = match did_you_mean(name, environments.keys().map(String::as_str)) {
                Some(near) => format!("did you mean `{near}`? "),
                None => String::new(),
            };
            help.push_str(
                "environments/NAME.vars gives values for the environment NAME; \
                 rename the file to match an `environment` block, or remove it",
            );
            diagnostics.push(
                Diagnostic::error(
                    Code::CheckUnknownEnvironment,
                    span,
                    format!("no environment \"{name}\" for this variable file"),
                )
                .with_help(help),
            );
            continue;
        }
        let mut values: Vec<(String, Span, ast::Expr)> = Vec::new();
        for item in file.body.items {
            let attribute = match item {
                ast::Item::Attribute(attribute) => attribute,
                ast::Item::Block(block) => {
                    diagnostics.push(
                        Diagnostic::error(
                            Code::CheckInvalidVarFile,
                            block.span,
                            format!("a `{}` block in a variable file", block.kind.name),
                        )
                        .with_help(
                            "a .vars file holds only `name = value` lines, one per variable",
                        ),
                    );
                    continue;
                }
            };
            let name = attribute.name.name.clone();
            if !root.variables.contains_key(&name) {
                let mut help = match did_you_mean(&name, root.variables.keys().map(String::as_str))
                {
                    Some(near) => format!("did you mean `{near}`? "),
                    None => String::new(),
                };
                help.push_str(
                    "a variable file sets variables declared with `variable \"NAME\" { ... }`",
                );
                diagnostics.push(
                    Diagnostic::error(
                        Code::CheckUnknownVariable,
                        attribute.name.span,
                        format!("`{name}` is not a declared variable"),
                    )
                    .with_help(help),
                );
                continue;
            }
            if let Some((_, first, _)) = values.iter().find(|(seen, _, _)| *seen == name) {
                diagnostics.push(
                    Diagnostic::error(
                        Code::CheckDuplicateAttribute,
                        attribute.name.span,
                        format!("`{name}` is set twice in this file"),
                    )
                    .with_label(*first, "first set here")
                    .with_help("keep one line per variable"),
                );
                continue;
            }
            values.push((name, attribute.name.span, attribute.value));
        }
        out.push(VarFile { source, values });
    }
    out
}

/// Loads child modules for [`model::lower_module`].
struct Loader<'a> {
    host: &'a dyn Host,
    sources: &'a mut SourceMap,
    registry: &'a Registry,
    diagnostics: Diagnostics,
    /// The sources of the modules being loaded, outermost first (cycle detection).
    active: Vec<ModuleSource>,
    /// The folder of each module being loaded (`None` for stdlib modules).
    dirs: Vec<Option<PathBuf>>,
}

impl Loader<'_> {
    fn parse_files(&mut self, named: Vec<(String, Vec<u8>)>) -> Vec<ast::File> {
        let mut files = Vec::new();
        for (name, bytes) in named {
            match add_source(self.sources, name, bytes) {
                Ok(id) => {
                    let text = self.sources.get(id).map_or("", |f| f.text.as_str());
                    let (file, parse_diagnostics) = syntax::parse(id, text);
                    self.diagnostics.extend(parse_diagnostics);
                    files.push(file);
                }
                Err(diagnostic) => self.diagnostics.push(*diagnostic),
            }
        }
        files
    }
}

impl model::ChildLoader for Loader<'_> {
    fn load_child(
        &mut self,
        parent: &Module,
        name: &str,
        source: &str,
        source_span: Span,
    ) -> Option<Module> {
        let not_found = |label: String, help: String| {
            Diagnostic::error(Code::CheckModuleNotFound, source_span, label).with_help(help)
        };
        let (module_source, named_files) = if let Some(std_name) = source.strip_prefix("std/") {
            let files = stdlib::module(std_name);
            if files.is_empty() {
                let names = stdlib::names();
                let help = match did_you_mean(std_name, names.iter().copied()) {
                    Some(s) => format!(
                        "did you mean \"std/{s}\"? the stdlib modules are {}",
                        names.join(", ")
                    ),
                    None => format!("the stdlib modules are {}", names.join(", ")),
                };
                self.diagnostics
                    .push(not_found(format!("no stdlib module \"{std_name}\""), help));
                return None;
            }
            let named: Vec<(String, Vec<u8>)> = files
                .into_iter()
                .map(|(file, text)| (format!("std/{std_name}/{file}"), text.as_bytes().to_vec()))
                .collect();
            (ModuleSource::Std(std_name.to_owned()), named)
        } else if source.starts_with("./") || source.starts_with("../") {
            let Some(Some(parent_dir)) = self.dirs.last().cloned() else {
                self.diagnostics.push(not_found(
                    String::from("a stdlib module cannot load local modules"),
                    String::from("stdlib modules may only use other `std/` modules"),
                ));
                return None;
            };
            let dir = normalize(&parent_dir.join(source));
            let (child, load_diagnostics) = load::load(self.host, &dir);
            if child.files.is_empty() && load_diagnostics.has_errors() {
                self.diagnostics.push(not_found(
                    format!("no module at \"{source}\""),
                    format!(
                        "the folder {} has no readable .infra files",
                        display_path(&dir)
                    ),
                ));
                return None;
            }
            // Re-read through our own source map so file ids stay unique.
            let mut named = Vec::new();
            for file in &child.files {
                if let Some(loaded) = child.sources.get(file.id) {
                    named.push((loaded.name.clone(), loaded.text.clone().into_bytes()));
                }
            }
            let canonical = self.host_canonical(&dir);
            (ModuleSource::Local(canonical), named)
        } else {
            self.diagnostics.push(not_found(
                format!("\"{source}\" is not a module source"),
                String::from("write `./path` for a local folder or `std/NAME` for a stdlib module"),
            ));
            return None;
        };
        if self.active.contains(&module_source) {
            self.diagnostics.push(
                Diagnostic::error(Code::CheckModuleCycle, source_span, format!("module `{name}` includes a module that includes it"))
                    .with_help("a module may not call itself, directly or through other modules; break the loop"),
            );
            return None;
        }
        if self.active.len() > MAX_MODULE_DEPTH {
            self.diagnostics.push(
                Diagnostic::error(
                    Code::CheckModuleCycle,
                    source_span,
                    "modules nest too deeply here",
                )
                .with_help(format!(
                    "module calls may nest at most {MAX_MODULE_DEPTH} deep"
                )),
            );
            return None;
        }
        let files = self.parse_files(named_files);
        let mut structure = check_structure(&files);
        // Stack-level blocks belong to the root module only.
        for file in &files {
            for block in file.body.items.iter().filter_map(|i| match i {
                ast::Item::Block(b) if matches!(b.kind.name.as_str(), "stack" | "environment") => {
                    Some(b)
                }
                _ => None,
            }) {
                structure.push(
                    Diagnostic::error(Code::CheckUnexpectedBlock, block.kind.span, format!("a module cannot declare `{}`", block.kind.name))
                        .with_help("stacks and environments are declared in the stack folder; modules take inputs through variables"),
                );
            }
        }
        self.diagnostics.extend(structure);
        let dir = match &module_source {
            ModuleSource::Local(dir) => Some(dir.clone()),
            _ => None,
        };
        self.active.push(module_source.clone());
        self.dirs.push(dir);
        let mut files = files;
        let registry = self.registry;
        let mut diagnostics = Diagnostics::new();
        let module = model::lower_module(
            &mut files,
            parent.path.child(name),
            module_source,
            registry,
            self,
            &mut diagnostics,
        );
        self.diagnostics.extend(diagnostics);
        self.active.pop();
        self.dirs.pop();
        Some(module)
    }
}

/// Resolves `.` and `..` in a module path lexically, so `./modules/a/../b` is
/// read (and shown, and compared for cycles) as `./modules/b` on every host.
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if matches!(out.components().next_back(), Some(Component::Normal(_))) {
                    out.pop();
                } else {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

impl Loader<'_> {
    /// A stable identity for a module folder (so `./a/../b` and `./b` are one module).
    fn host_canonical(&self, dir: &Path) -> PathBuf {
        self.host.canonical(dir)
    }
}
