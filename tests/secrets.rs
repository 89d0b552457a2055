//! Secrets typed through provider outputs, end to end through the real `infra`
//! binary: a secret that reaches a computed attribute (a file's id from its
//! path, a URL's response, a module's output) is secret from `validate` on,
//! is sealed in every file that stores it, and appears in no output; a secret
//! that reaches a non-sensitive output is refused at `validate`, never after
//! an apply has run; every stdlib module takes secrets in each input.
//!
//! The HTTP API the `http` provider talks to is a small JSON server on a free
//! loopback port, written here over `std::net`. It can be told to hold the
//! next create open, so an apply can be killed mid-way and leave its journal.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use crate::common;

use common::{TempDir, code, infra_env, stderr, stdout};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

/// The planted secret; no output and no file may hold it in plaintext.
const PLANTED: &str = "planted-7c3e91d0a4";

fn run(dir: &Path, args: &[&str]) -> Output {
    infra_env(dir, args, &[("PLANTED", PLANTED)])
}

/// Both streams, for assertion messages.
fn streams(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        output.status.code(),
        stdout(output),
        stderr(output)
    )
}

#[track_caller]
fn assert_exit(output: &Output, expected: &[i32], what: &str) {
    assert!(
        expected.contains(&code(output)),
        "`infra {what}`: {}",
        streams(output)
    );
}

// ---- a small JSON API ----------------------------------------------------------

#[derive(Default)]
struct Api {
    /// Objects by path (`/items/1`).
    objects: BTreeMap<String, String>,
    next_id: u64,
    /// When set, the next POST is held open and its path sent here.
    hold: Option<mpsc::Sender<String>>,
}

struct Server {
    port: u16,
    api: Arc<Mutex<Api>>,
}

impl Server {
    fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let api = Arc::new(Mutex::new(Api::default()));
        let shared = api.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let api = shared.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &api);
                });
            }
        });
        Server { port, api }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Holds the next POST open; the receiver gets its path once it arrived.
    fn hold_next_create(&self) -> mpsc::Receiver<String> {
        let (sender, receiver) = mpsc::channel();
        self.api.lock().unwrap().hold = Some(sender);
        receiver
    }
}

fn serve(mut stream: TcpStream, api: &Arc<Mutex<Api>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let path = parts.next().unwrap_or("").to_owned();
    let mut length = 0;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let (status, answer) = match method.as_str() {
        "POST" => {
            let hold = api.lock().unwrap().hold.take();
            if let Some(hold) = hold {
                let _ = hold.send(path.clone());
                // Never answered: the client is killed while it waits.
                let mut rest = Vec::new();
                let _ = reader.read_to_end(&mut rest);
                return Ok(());
            }
            let mut api = api.lock().unwrap();
            api.next_id += 1;
            let id = api.next_id.to_string();
            // The object echoes the path it was created under, the secret in
            // it included: what a careless API does.
            let mut object: serde_json::Value =
                serde_json::from_slice(&body).unwrap_or(serde_json::json!({}));
            object["id"] = serde_json::json!(id);
            object["created_under"] = serde_json::json!(path);
            let text = object.to_string();
            api.objects.insert(format!("{path}/{id}"), text.clone());
            (201, text)
        }
        "GET" => match api.lock().unwrap().objects.get(&path) {
            Some(text) => (200, text.clone()),
            // Any other GET: a document that echoes the path asked for.
            None => (200, serde_json::json!({ "asked": path }).to_string()),
        },
        "PUT" | "PATCH" => (200, String::from_utf8_lossy(&body).into_owned()),
        "DELETE" => {
            api.lock().unwrap().objects.remove(&path);
            (204, String::new())
        }
        _ => (405, "{}".to_owned()),
    };
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        answer.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(answer.as_bytes())?;
    stream.flush()
}

// ---- the planted-secret stack --------------------------------------------------

/// A secret in a file's path (so in its id), in a URL (a data source's, and an
/// API object's create path, whose response echoes it), and passed to a
/// stdlib module as an input (its path and its secret values).
fn planted_stack(server: &Server) -> String {
    format!(
        r#"stack "planted" {{
  default_environment = "dev"
}}

environment "dev" {{}}

secret "s" {{
  env = "PLANTED"
}}

provider "http" {{
  base_url = "{url}"
  timeout  = 5
}}

resource "local_file" "p" {{
  path    = "out/${{secret.s}}.txt"
  content = "x"
}}

data "http" "d" {{
  url = "/lookup/${{secret.s}}"
}}

resource "http_resource" "item" {{
  create = {{
    path = "/items/${{secret.s}}"
    body = {{ name = "alpha", file = local_file.p.id }}
  }}
  read_attributes = ["name"]
}}

module "env" {{
  source      = "std/env_file"
  path        = "out/${{secret.s}}.env"
  vars        = {{ PLAIN = "yes" }}
  secret_vars = {{ TOKEN = secret.s }}
}}

output "file_id" {{
  value     = local_file.p.id
  sensitive = true
}}

output "size" {{
  value = local_file.p.size
}}

output "item_id" {{
  value     = http_resource.item.id
  sensitive = true
}}

output "lookup" {{
  value     = data.http.d.body
  sensitive = true
}}

output "env_path" {{
  value     = module.env.path
  sensitive = true
}}
"#,
        url = server.url()
    )
}

/// Every file under `dir`.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Asserts `file` exists, is not empty, holds a sealed envelope, and does not
/// hold the planted secret (not even its first half).
#[track_caller]
fn assert_sealed_file(file: &Path) {
    let text = std::fs::read_to_string(file)
        .unwrap_or_else(|e| panic!("{} should exist: {e}", file.display()));
    assert!(!text.trim().is_empty(), "{} is empty", file.display());
    assert!(
        text.contains("\"sealed\""),
        "{} holds no sealed value:\n{text}",
        file.display()
    );
    assert_no_plant(&file.display().to_string(), &text);
}

#[track_caller]
fn assert_no_plant(what: &str, text: &str) {
    assert!(!text.contains(PLANTED), "{what} leaked the secret:\n{text}");
    assert!(
        !text.contains(&PLANTED[..10]),
        "{what} leaked part of the secret:\n{text}"
    );
}

/// Runs `args`, expects one of `codes`, checks both streams for the secret and
/// returns standard output.
#[track_caller]
fn checked(dir: &Path, args: &[&str], codes: &[i32]) -> String {
    let output = run(dir, args);
    let what = args.join(" ");
    assert_exit(&output, codes, &what);
    assert_no_plant(&format!("`infra {what}`"), &streams(&output));
    stdout(&output)
}

#[test]
fn a_planted_secret_in_a_path_an_id_a_url_and_a_module_input_is_sealed_everywhere() {
    let server = Server::start();
    let dir = TempDir::new("planted");
    dir.write("main.infra", planted_stack(&server));

    // Before any apply: checked, and every plan format shows the derived
    // values as secret.
    checked(&dir.path, &["validate"], &[0]);
    checked(&dir.path, &["validate", "--format", "json"], &[0]);
    let human = checked(&dir.path, &["plan"], &[0, 2]);
    assert!(
        human.contains("id = (secret)") && human.contains("path = (secret)"),
        "{human}"
    );
    let json = checked(&dir.path, &["plan", "--format", "json"], &[0, 2]);
    assert!(json.contains("local_file.p"), "{json}");
    let markdown = checked(&dir.path, &["plan", "--format", "markdown"], &[0, 2]);
    assert!(markdown.contains("local_file.p"), "{markdown}");
    checked(&dir.path, &["plan", "--out", "saved.plan"], &[0, 2]);
    assert_sealed_file(&dir.path.join("saved.plan"));

    // An apply killed while the API holds the create open leaves its journal,
    // with the file (whose id carries the secret) already recorded.
    let created = server.hold_next_create();
    let mut child = Command::new(env!("CARGO_BIN_EXE_infra"))
        .args(["apply", "--auto-approve"])
        .current_dir(&dir.path)
        .env("NO_COLOR", "1")
        .env_remove("INFRA_STATE_KEY")
        .env("PLANTED", PLANTED)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let path = created.recv().unwrap();
    assert!(path.starts_with("/items/"), "{path}");
    child.kill().unwrap();
    child.wait().unwrap();
    let journal = dir.path.join(".infra/state/planted/dev.journal");
    assert_sealed_file(&journal);

    // The next apply recovers the journal and finishes.
    checked(&dir.path, &["apply", "--auto-approve"], &[0]);
    assert!(!journal.exists());
    std::fs::write(dir.path.join("saved.plan"), "").unwrap();
    checked(&dir.path, &["plan", "--out", "saved.plan"], &[0, 2]);

    // What was made holds the secret (the file's name, the env file's line):
    // the secret is really there to find.
    let made: Vec<PathBuf> = files_under(&dir.path.join("out"));
    assert!(
        made.iter().any(|f| f.to_string_lossy().contains(PLANTED)),
        "{made:?}"
    );

    // Every command that reads state or shows a plan.
    let shown = checked(&dir.path, &["state", "show", "local_file.p"], &[0]);
    assert!(
        shown.contains("id") && shown.contains("(secret)"),
        "{shown}"
    );
    checked(&dir.path, &["state", "show", "http_resource.item"], &[0]);
    checked(&dir.path, &["state", "show", "data.http.d"], &[0]);
    checked(&dir.path, &["state", "show", "module.env"], &[0]);
    checked(&dir.path, &["state", "list"], &[0]);
    checked(&dir.path, &["state", "history"], &[0]);
    let pulled = checked(&dir.path, &["state", "pull"], &[0]);
    assert!(pulled.contains("\"sealed\""), "{pulled}");
    let outputs = checked(&dir.path, &["output"], &[0]);
    assert!(
        outputs.contains("file_id") && outputs.contains("size"),
        "{outputs}"
    );
    checked(&dir.path, &["output", "--json"], &[0]);
    for args in [
        &["plan"][..],
        &["plan", "--format", "json"],
        &["plan", "--format", "markdown"],
        &["drift"],
        &["drift", "--format", "json"],
    ] {
        checked(&dir.path, args, &[0, 2]);
    }

    // Every file infra wrote: state, history (each version and the audit
    // log), the key's neighbours, and the saved plan.
    let state_dir = dir.path.join(".infra/state/planted");
    let current = state_dir.join("dev.json");
    assert_sealed_file(&current);
    let history: Vec<PathBuf> = files_under(&state_dir.join("dev.history"));
    let versions: Vec<&PathBuf> = history
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "json"))
        .collect();
    assert!(versions.len() >= 2, "{history:?}");
    for version in &versions {
        assert_sealed_file(version);
    }
    let audit = state_dir.join("dev.history/audit.jsonl");
    let text = std::fs::read_to_string(&audit).unwrap();
    assert!(!text.trim().is_empty(), "the audit log is empty");
    assert_no_plant("the audit log", &text);
    assert_sealed_file(&dir.path.join("saved.plan"));
    let everything = files_under(&dir.path.join(".infra"));
    assert!(everything.len() >= 4, "{everything:?}");
    for file in everything {
        let bytes = std::fs::read(&file).unwrap();
        assert_no_plant(
            &file.display().to_string(),
            &String::from_utf8_lossy(&bytes),
        );
    }

    // And a destroy.
    checked(&dir.path, &["destroy", "--auto-approve"], &[0]);
    for file in files_under(&dir.path.join(".infra")) {
        let bytes = std::fs::read(&file).unwrap();
        assert_no_plant(
            &file.display().to_string(),
            &String::from_utf8_lossy(&bytes),
        );
    }
}

// ---- secret rules at validate --------------------------------------------------

#[test]
fn an_output_of_a_computed_attribute_derived_from_a_secret_is_refused_at_validate() {
    let dir = TempDir::new("computed-output");
    dir.write(
        "main.infra",
        r#"secret "s" {
  env = "PLANTED"
}

resource "local_file" "f" {
  path              = "out/f.txt"
  sensitive_content = "k=${secret.s}"
}

resource "local_file" "g" {
  path    = "out/g-${secret.s}.txt"
  content = "plain"
}

output "size" {
  value = local_file.f.size
}

output "g_id" {
  value = local_file.g.id
}

output "g_sha" {
  value = local_file.g.sha256
}
"#,
    );
    let output = run(&dir.path, &["validate"]);
    assert_exit(&output, &[1], "validate");
    let err = stderr(&output);
    assert_no_plant("validate", &streams(&output));
    assert_eq!(
        err.matches("infra::check::secret_in_output").count(),
        2,
        "{err}"
    );
    assert!(err.contains("main.infra:16:11"), "{err}");
    assert!(
        err.contains("secret.s → local_file.f → output.size"),
        "{err}"
    );
    assert!(err.contains("main.infra:20:11"), "{err}");
    // `sha256` is derived from the content only, which is not secret here.
    assert!(!err.contains("main.infra:24:11"), "{err}");
    // Nothing was applied to find that out.
    assert!(!dir.path.join(".infra").exists());
    assert!(!dir.path.join("out").exists());
}

#[test]
fn the_env_file_module_with_secret_vars_validates_plans_applies_and_destroys() {
    let dir = TempDir::new("env-file");
    dir.write(
        "main.infra",
        r#"stack "envfile" {
  default_environment = "dev"
}

environment "dev" {}

secret "jwt" {
  env = "PLANTED"
}

module "m" {
  source      = "std/env_file"
  path        = "out/app.env"
  secret_vars = { JWT = secret.jwt }
}

output "path" {
  value = module.m.path
}

output "sha256" {
  value     = module.m.sha256
  sensitive = true
}
"#,
    );
    checked(&dir.path, &["validate"], &[0]);
    let plan = checked(&dir.path, &["plan"], &[0]);
    assert!(plan.contains("sha256 = (secret)"), "{plan}");
    checked(&dir.path, &["apply", "--auto-approve"], &[0]);
    let written = String::from_utf8(dir.read("out/app.env")).unwrap();
    assert_eq!(written, format!("JWT={PLANTED}\n"));
    let outputs = checked(&dir.path, &["output"], &[0]);
    assert!(outputs.contains("path   = \"out/app.env\""), "{outputs}");
    assert!(outputs.contains("sha256 = (sensitive)"), "{outputs}");
    let plan = checked(&dir.path, &["plan"], &[0]);
    assert!(plan.contains("No changes"), "{plan}");
    checked(&dir.path, &["destroy", "--auto-approve"], &[0]);
    assert!(!dir.path.join("out/app.env").exists());
}

/// The `variable` blocks of a stdlib module's files: (name, type text).
fn stdlib_variables(module: &Path) -> Vec<(String, String)> {
    let mut variables = Vec::new();
    for file in files_under(module) {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut current: Option<String> = None;
        for line in text.lines() {
            let line = line.trim();
            if let Some(rest) = line.strip_prefix("variable \"") {
                current = rest.split('"').next().map(str::to_owned);
            } else if let (Some(name), Some(ty)) = (&current, line.strip_prefix("type")) {
                let ty = ty.trim_start().trim_start_matches('=').trim();
                variables.push((name.clone(), ty.to_owned()));
                current = None;
            }
        }
    }
    variables
}

/// A value of type `ty` holding the secret `secret.s`.
fn secret_of_type(ty: &str) -> String {
    match ty {
        "string" => "\"v-${secret.s}\"".to_owned(),
        "map(string)" => "{ \"a.txt\" = secret.s }".to_owned(),
        "list(string)" => "[secret.s]".to_owned(),
        // A secret number: the length of the generated secret.
        "number" => "length(secret.s) + 6000".to_owned(),
        other => panic!("add a secret value of type {other} to this test"),
    }
}

#[test]
fn every_stdlib_module_validates_with_a_secret_in_each_input() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("stdlib");
    let mut tried = 0;
    for module in files_under(&root)
        .iter()
        .filter_map(|f| f.parent())
        .filter(|d| *d != root)
        // stdlib/policy holds Rego policies (`std/policy/NAME`), not modules.
        .filter(|d| !d.starts_with(root.join("policy")))
        .collect::<std::collections::BTreeSet<_>>()
    {
        let name = module.file_name().unwrap().to_string_lossy().into_owned();
        let variables = stdlib_variables(module);
        assert!(!variables.is_empty(), "{name} has no inputs");
        for (secret_input, _) in &variables {
            // Every input set (required ones need a value), this one secret.
            let inputs: String = variables
                .iter()
                .map(|(input, ty)| {
                    let value = if input == secret_input {
                        secret_of_type(ty)
                    } else if ty == "string" && input == "permissions" {
                        "\"0640\"".to_owned()
                    } else {
                        match ty.as_str() {
                            "string" => format!("\"out/{input}\""),
                            "map(string)" => "{ \"b.txt\" = \"plain\" }".to_owned(),
                            "number" => "6001".to_owned(),
                            _ => "[\"plain\"]".to_owned(),
                        }
                    };
                    format!("  {input} = {value}\n")
                })
                .collect();
            // A generated secret: unknown until apply, so a value that must
            // have a form (a file mode) is not refused for its form.
            let stack = format!(
                "secret \"s\" {{\n  generate = {{ length = 8 }}\n}}\n\nmodule \"m\" {{\n  source = \"std/{name}\"\n{inputs}}}\n"
            );
            let dir = TempDir::new("stdlib-secret");
            dir.write("main.infra", &stack);
            let output = run(&dir.path, &["validate"]);
            assert_eq!(
                code(&output),
                0,
                "std/{name} with a secret `{secret_input}`:\n{stack}\n{}",
                streams(&output)
            );
            assert_no_plant("validate", &streams(&output));
            tried += 1;
        }
    }
    assert!(tried >= 6, "only {tried} inputs tried");
}

#[test]
fn an_imported_object_is_sealed_by_its_configuration() {
    let dir = TempDir::new("import");
    dir.write(
        "main.infra",
        r#"secret "s" {
  env = "PLANTED"
}

resource "local_file" "p" {
  path    = "out/${secret.s}.txt"
  content = "x"
}
"#,
    );
    dir.write(&format!("out/{PLANTED}.txt"), "x");
    // The id is given on the command line, so the command's own record
    // names it; what is checked is the object recorded.
    let id = format!("out/{PLANTED}.txt");
    let output = run(&dir.path, &["import", "local_file.p", &id]);
    assert_exit(&output, &[0], "import");
    let shown = checked(&dir.path, &["state", "show", "local_file.p"], &[0]);
    for attribute in ["id", "path"] {
        let line = shown
            .lines()
            .find(|line| line.split_whitespace().next() == Some(attribute))
            .unwrap_or_else(|| panic!("{shown}"));
        assert!(line.ends_with("(secret)"), "{shown}");
    }
    let plan = checked(&dir.path, &["plan"], &[0]);
    assert!(plan.contains("No changes"), "{plan}");
}
