//! The `http` provider end to end: the real `infra` binary against a real
//! HTTP/1.1 JSON API that each test starts on a free loopback port (written
//! here over `std::net`, one thread per connection). The server keeps objects
//! in memory, logs every request, and can be told to fail the next matching
//! requests: a status with a body and `Retry-After`, a slow answer, a dropped
//! connection, non-JSON, an enormous body, a redirect loop.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use crate::common;

use common::{TempDir, code, infra_env, stderr, stdout};
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the next matching request gets instead of the normal answer.
#[derive(Debug, Clone, Default)]
struct Fault {
    /// Only requests with this method (any when `None`).
    method: Option<&'static str>,
    /// The status to answer.
    status: u16,
    /// The body to answer.
    body: String,
    /// A `Retry-After` header.
    retry_after: Option<String>,
    /// Wait this long before answering (then answer normally when status is 0).
    delay: Option<Duration>,
    /// Close the connection without answering.
    drop_connection: bool,
    /// Redirect to the same URL, for every request from now on.
    redirect_loop: bool,
}

/// One request the server saw.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: BTreeMap<String, String>,
    body: String,
}

#[derive(Default)]
struct World {
    objects: BTreeMap<(String, String), Value>,
    next_id: u64,
    faults: VecDeque<Fault>,
    seen: Vec<Seen>,
    /// When set, requests without `Authorization: Bearer TOKEN` get a 401
    /// whose message echoes the header they sent (to test redaction).
    token: Option<String>,
}

/// A JSON API on 127.0.0.1, alive as long as the test holds it.
#[derive(Clone)]
struct Server {
    port: u16,
    world: Arc<Mutex<World>>,
}

impl Server {
    fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let world = Arc::new(Mutex::new(World::default()));
        let shared = world.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let world = shared.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &world);
                });
            }
        });
        Server { port, world }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn fail(&self, fault: Fault) {
        self.world.lock().unwrap().faults.push_back(fault);
    }

    fn require_token(&self, token: &str) {
        self.world.lock().unwrap().token = Some(token.to_owned());
    }

    fn objects(&self, collection: &str) -> Vec<Value> {
        let world = self.world.lock().unwrap();
        world
            .objects
            .iter()
            .filter(|((c, _), _)| c == collection)
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn put_object(&self, collection: &str, id: &str, value: Value) {
        let mut world = self.world.lock().unwrap();
        world
            .objects
            .insert((collection.to_owned(), id.to_owned()), value);
    }

    fn remove_object(&self, collection: &str, id: &str) {
        let mut world = self.world.lock().unwrap();
        world
            .objects
            .remove(&(collection.to_owned(), id.to_owned()));
    }

    fn seen(&self) -> Vec<Seen> {
        self.world.lock().unwrap().seen.clone()
    }

    fn count(&self, method: &str) -> usize {
        self.seen().iter().filter(|s| s.method == method).count()
    }

    fn clear_log(&self) {
        self.world.lock().unwrap().seen.clear();
    }
}

fn respond(stream: &mut TcpStream, status: u16, extra: &[(&str, String)], body: &[u8]) {
    let mut head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in extra {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
    let _ = stream.flush();
}

fn serve(mut stream: TcpStream, world: &Arc<Mutex<World>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let path = parts.next().unwrap_or("").to_owned();
    let mut headers = BTreeMap::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let body = String::from_utf8_lossy(&body).into_owned();

    let fault = {
        let mut world = world.lock().unwrap();
        world.seen.push(Seen {
            method: method.clone(),
            path: path.clone(),
            headers: headers.clone(),
            body: body.clone(),
        });
        let position = world
            .faults
            .iter()
            .position(|f| f.redirect_loop || f.method.is_none_or(|m| m == method));
        match position {
            Some(i) if world.faults[i].redirect_loop => Some(world.faults[i].clone()),
            Some(i) => world.faults.remove(i),
            None => None,
        }
    };
    if let Some(fault) = fault {
        if let Some(delay) = fault.delay {
            std::thread::sleep(delay);
        }
        if fault.drop_connection {
            return Ok(());
        }
        if fault.redirect_loop {
            respond(&mut stream, 302, &[("Location", path.clone())], b"");
            return Ok(());
        }
        if fault.status != 0 {
            let extra: Vec<(&str, String)> = fault
                .retry_after
                .iter()
                .map(|r| ("Retry-After", r.clone()))
                .collect();
            respond(&mut stream, fault.status, &extra, fault.body.as_bytes());
            return Ok(());
        }
    }

    let (status, answer) = handle(world, &method, &path, &headers, &body);
    let bytes = answer.map(|a| a.to_string()).unwrap_or_default();
    respond(&mut stream, status, &[], bytes.as_bytes());
    Ok(())
}

fn handle(
    world: &Arc<Mutex<World>>,
    method: &str,
    path: &str,
    headers: &BTreeMap<String, String>,
    body: &str,
) -> (u16, Option<Value>) {
    let mut world = world.lock().unwrap();
    if let Some(token) = &world.token {
        let sent = headers.get("authorization").cloned().unwrap_or_default();
        if sent != format!("Bearer {token}") {
            // Careless servers echo what they got: the provider must redact it.
            return (
                401,
                Some(json!({ "message": format!("bad credentials: {sent}") })),
            );
        }
    }
    let segments: Vec<&str> = path
        .split('?')
        .next()
        .unwrap_or("")
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    match (method, segments.as_slice()) {
        ("POST", [collection]) => {
            let Some(Value::Object(mut fields)) = parsed else {
                return (400, Some(json!({ "message": "send a JSON object" })));
            };
            world.next_id += 1;
            let id = world.next_id.to_string();
            fields.insert(String::from("id"), Value::String(id.clone()));
            fields.insert(String::from("created_at"), json!("2026-01-01T00:00:00Z"));
            let object = Value::Object(fields);
            world
                .objects
                .insert(((*collection).to_owned(), id), object.clone());
            (201, Some(object))
        }
        ("GET", [collection]) => {
            let items: Vec<Value> = world
                .objects
                .iter()
                .filter(|((c, _), _)| c == collection)
                .map(|(_, v)| v.clone())
                .collect();
            (200, Some(Value::Array(items)))
        }
        ("GET", [collection, id]) => {
            match world
                .objects
                .get(&((*collection).to_owned(), (*id).to_owned()))
            {
                Some(object) => (200, Some(object.clone())),
                None => (404, Some(json!({ "message": "not found" }))),
            }
        }
        ("PUT" | "PATCH", [collection, id]) => {
            let key = ((*collection).to_owned(), (*id).to_owned());
            let Some(Value::Object(fields)) = parsed else {
                return (400, Some(json!({ "message": "send a JSON object" })));
            };
            let Some(Value::Object(current)) = world.objects.get(&key).cloned() else {
                return (404, Some(json!({ "message": "not found" })));
            };
            let mut next = if method == "PATCH" {
                current
            } else {
                let mut kept = serde_json::Map::new();
                for name in ["id", "created_at"] {
                    if let Some(v) = current.get(name) {
                        kept.insert(name.to_owned(), v.clone());
                    }
                }
                kept
            };
            for (name, value) in fields {
                if name != "id" {
                    next.insert(name, value);
                }
            }
            let object = Value::Object(next);
            world.objects.insert(key, object.clone());
            (200, Some(object))
        }
        ("DELETE", [collection, id]) => {
            match world
                .objects
                .remove(&((*collection).to_owned(), (*id).to_owned()))
            {
                Some(_) => (204, None),
                None => (404, Some(json!({ "message": "not found" }))),
            }
        }
        _ => (404, Some(json!({ "message": "no such route" }))),
    }
}

/// A stack folder with one `http_resource` pointed at the server.
fn stack(server: &Server, name: &str, extra: &str) -> TempDir {
    let dir = TempDir::new(name);
    dir.write(
        "main.infra",
        format!(
            r#"stack "http-test" {{}}

variable "name" {{
  type    = string
  default = "alpha"
}}

provider "http" {{
  base_url = "{url}"
  timeout  = 5
}}

resource "http_resource" "item" {{
  create = {{
    path = "/items"
    body = {{ name = var.name, size = 1 }}
  }}
  read_attributes = ["name", "size"]
{extra}}}
"#,
            url = server.url()
        ),
    );
    dir
}

fn run(dir: &Path, args: &[&str]) -> std::process::Output {
    infra_env(dir, args, &[])
}

fn ok(output: &std::process::Output) -> String {
    assert_eq!(
        code(output),
        0,
        "stdout:\n{}\nstderr:\n{}",
        stdout(output),
        stderr(output)
    );
    stdout(output)
}

fn apply(dir: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["apply", "--auto-approve"];
    args.extend_from_slice(extra);
    run(dir, &args)
}

#[test]
fn create_read_update_delete_lifecycle() {
    let server = Server::start();
    let dir = stack(&server, "lifecycle", "");

    let text = ok(&run(&dir.path, &["plan"]));
    assert!(
        text.contains("http_resource.item will be created"),
        "{text}"
    );
    assert!(server.seen().is_empty(), "a plan of a create calls nothing");

    let text = ok(&apply(&dir.path, &[]));
    assert!(
        text.contains("Apply complete! Resources: 1 added"),
        "{text}"
    );
    let items = server.objects("items");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["name"], "alpha");
    assert_eq!(items[0]["size"], 1);
    let post = server
        .seen()
        .into_iter()
        .find(|s| s.method == "POST")
        .unwrap();
    assert_eq!(post.path, "/items");
    assert_eq!(
        serde_json::from_str::<Value>(&post.body).unwrap(),
        json!({ "name": "alpha", "size": 1 })
    );

    // A second apply reads the object and changes nothing.
    server.clear_log();
    let text = ok(&apply(&dir.path, &[]));
    assert!(
        text.contains("No changes") || text.contains("0 to add, 0 to change"),
        "{text}"
    );
    assert_eq!(server.count("GET"), 1, "{:?}", server.seen());
    assert_eq!(server.count("PUT") + server.count("POST"), 0);

    // A changed body is sent with PUT to the object's URL.
    server.clear_log();
    let text = ok(&apply(&dir.path, &["--var", "name=beta"]));
    assert!(text.contains("1 changed"), "{text}");
    let put = server
        .seen()
        .into_iter()
        .find(|s| s.method == "PUT")
        .unwrap();
    assert_eq!(put.path, "/items/1");
    assert_eq!(server.objects("items")[0]["name"], "beta");
    // The server's own fields are kept by PUT here; only watched fields matter.
    let text = ok(&run(&dir.path, &["plan", "--var", "name=beta"]));
    assert!(text.contains("No changes"), "{text}");

    // Destroy deletes it at its URL.
    server.clear_log();
    let text = ok(&run(
        &dir.path,
        &["destroy", "--auto-approve", "--var", "name=beta"],
    ));
    assert!(text.contains("1 destroyed"), "{text}");
    assert!(server.objects("items").is_empty());
    let delete = server
        .seen()
        .into_iter()
        .find(|s| s.method == "DELETE")
        .unwrap();
    assert_eq!(delete.path, "/items/1");
}

#[test]
fn drift_shows_in_the_plan_and_apply_puts_it_back() {
    let server = Server::start();
    let dir = stack(&server, "drift", "  update_method = \"PATCH\"\n");
    ok(&apply(&dir.path, &[]));
    // `infra drift` reads through the provider as configured by the
    // `provider "http"` block (its `base_url`), as plan does.
    let in_sync = run(&dir.path, &["drift"]);
    assert_eq!(
        in_sync.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&in_sync.stderr)
    );
    server.put_object(
        "items",
        "1",
        json!({ "id": "1", "name": "changed-by-hand", "size": 1 }),
    );
    let drifted = run(&dir.path, &["drift", "--format", "json"]);
    let text = String::from_utf8_lossy(&drifted.stdout);
    assert_eq!(
        drifted.status.code(),
        Some(2),
        "{text}{}",
        String::from_utf8_lossy(&drifted.stderr)
    );
    assert!(text.contains("changed-by-hand"), "{text}");
    let text = ok(&run(&dir.path, &["plan"]));
    assert!(text.contains("changed outside infra"), "{text}");
    assert!(text.contains("changed-by-hand"), "{text}");
    assert!(
        text.contains("http_resource.item will be updated in place"),
        "{text}"
    );
    server.clear_log();
    ok(&apply(&dir.path, &[]));
    let patch = server
        .seen()
        .into_iter()
        .find(|s| s.method == "PATCH")
        .unwrap();
    assert_eq!(patch.path, "/items/1");
    assert_eq!(server.objects("items")[0]["name"], "alpha");
}

#[test]
fn an_object_deleted_outside_is_planned_again() {
    let server = Server::start();
    let dir = stack(&server, "deleted", "");
    ok(&apply(&dir.path, &[]));
    server.remove_object("items", "1");
    let drifted = run(&dir.path, &["drift"]);
    let text = String::from_utf8_lossy(&drifted.stdout);
    assert_eq!(
        drifted.status.code(),
        Some(2),
        "{text}{}",
        String::from_utf8_lossy(&drifted.stderr)
    );
    assert!(text.contains("http_resource.item"), "{text}");
    let text = ok(&run(&dir.path, &["plan"]));
    assert!(
        text.contains("http_resource.item will be created"),
        "{text}"
    );
    assert!(text.contains("deleted outside"), "{text}");
    ok(&apply(&dir.path, &[]));
    let items = server.objects("items");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], "2");
    // A DELETE answered with 404 (gone meanwhile) counts as deleted.
    server.fail(Fault {
        method: Some("DELETE"),
        status: 404,
        body: json!({ "message": "not found" }).to_string(),
        ..Fault::default()
    });
    let text = ok(&run(&dir.path, &["destroy", "--auto-approve"]));
    assert!(text.contains("1 destroyed"), "{text}");
    let text = ok(&run(&dir.path, &["state", "list"]));
    assert!(!text.contains("http_resource.item"), "{text}");
    // Gone before the destroy's refresh: nothing left to do.
    ok(&apply(&dir.path, &[]));
    server.remove_object("items", "3");
    let text = ok(&run(&dir.path, &["destroy", "--auto-approve"]));
    assert!(text.contains("No changes"), "{text}");
}

#[test]
fn import_reads_the_object_by_url_and_writes_only_when_it_differs() {
    let server = Server::start();
    server.put_object(
        "items",
        "7",
        json!({ "id": "7", "name": "alpha", "size": 1 }),
    );
    let dir = stack(&server, "import", "");
    let url = format!("{}/items/7", server.url());
    let text = ok(&run(&dir.path, &["import", "http_resource.item", &url]));
    assert!(text.contains("http_resource.item"), "{text}");
    server.clear_log();
    // The configuration's settings are recorded; the object already matches.
    let text = ok(&apply(&dir.path, &[]));
    assert!(!text.contains("will be created"), "{text}");
    assert_eq!(
        server.count("PUT") + server.count("POST"),
        0,
        "{:?}",
        server.seen()
    );
    let text = ok(&run(&dir.path, &["plan"]));
    assert!(text.contains("No changes"), "{text}");
    // Destroy uses the imported id.
    ok(&run(&dir.path, &["destroy", "--auto-approve"]));
    assert!(server.objects("items").is_empty());
    // An unknown id is a clear error.
    let missing = format!("{}/items/99", server.url());
    let output = run(&dir.path, &["import", "http_resource.item", &missing]);
    assert_eq!(code(&output), 1);
    assert!(stderr(&output).contains("404"), "{}", stderr(&output));
}

#[test]
fn throttling_is_retried_after_the_servers_retry_after() {
    let server = Server::start();
    let dir = stack(&server, "retry", "");
    for _ in 0..2 {
        server.fail(Fault {
            method: Some("POST"),
            status: 429,
            body: json!({ "message": "slow down" }).to_string(),
            retry_after: Some(String::from("1")),
            ..Fault::default()
        });
    }
    let started = Instant::now();
    let text = ok(&apply(&dir.path, &[]));
    assert!(text.contains("1 added"), "{text}");
    assert_eq!(server.count("POST"), 3, "two 429s, then the create");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "Retry-After: 1 was not honoured twice ({:?})",
        started.elapsed()
    );
    assert_eq!(server.objects("items").len(), 1, "no duplicate objects");
}

#[test]
fn server_errors_timeouts_and_dropped_connections_are_retried() {
    let server = Server::start();
    let dir = stack(&server, "transient", "  timeout = 1\n");
    server.fail(Fault {
        method: Some("POST"),
        status: 503,
        body: String::from("upstream down"),
        retry_after: Some(httpdate_in_past()),
        ..Fault::default()
    });
    server.fail(Fault {
        method: Some("POST"),
        drop_connection: true,
        ..Fault::default()
    });
    server.fail(Fault {
        method: Some("POST"),
        delay: Some(Duration::from_millis(2500)),
        drop_connection: true,
        ..Fault::default()
    });
    let text = ok(&apply(&dir.path, &[]));
    assert!(text.contains("1 added"), "{text}");
    assert_eq!(server.count("POST"), 4, "{:?}", server.seen());
}

/// An HTTP date in the past: no wait.
fn httpdate_in_past() -> String {
    String::from("Sun, 06 Nov 1994 08:49:37 GMT")
}

#[test]
fn a_permanent_error_points_at_the_attribute() {
    let server = Server::start();
    let dir = stack(&server, "permanent", "");
    server.fail(Fault {
        method: Some("POST"),
        status: 422,
        body: json!({ "message": "name must be unique" }).to_string(),
        ..Fault::default()
    });
    let output = apply(&dir.path, &[]);
    assert_eq!(code(&output), 1, "{}", stdout(&output));
    let err = stderr(&output);
    assert!(err.contains("name must be unique"), "{err}");
    assert!(err.contains("422"), "{err}");
    assert!(err.contains("http_resource.item"), "{err}");
    // The label spans the `create` attribute's value, not the whole block.
    assert!(err.contains("╭─[main.infra:14:12]"), "{err}");
    assert!(err.contains("╭─▶   create = {"), "{err}");
    assert!(err.contains("the provider refused this"), "{err}");
    assert_eq!(server.count("POST"), 1, "a 4xx is not retried");
    assert!(server.objects("items").is_empty());
}

#[test]
fn bad_answers_get_clear_errors_and_state_stays_correct() {
    let cases: Vec<(&str, Fault, &str)> = vec![
        (
            "not json",
            Fault {
                method: Some("POST"),
                status: 201,
                body: String::from("<html>created</html>"),
                ..Fault::default()
            },
            "is not JSON",
        ),
        (
            "no id",
            Fault {
                method: Some("POST"),
                status: 201,
                body: json!({ "name": "alpha" }).to_string(),
                ..Fault::default()
            },
            "id_path",
        ),
        (
            "enormous",
            Fault {
                method: Some("POST"),
                status: 201,
                body: format!(
                    "{{\"id\":\"1\",\"pad\":\"{}\"}}",
                    "x".repeat(9 * 1024 * 1024)
                ),
                ..Fault::default()
            },
            "MiB cap",
        ),
        (
            "redirect loop",
            Fault {
                method: Some("POST"),
                redirect_loop: true,
                ..Fault::default()
            },
            "redirected more than",
        ),
    ];
    for (name, fault, wanted) in cases {
        let server = Server::start();
        let dir = stack(&server, "bad", "");
        server.fail(fault);
        let output = apply(&dir.path, &[]);
        let err = stderr(&output);
        assert_eq!(code(&output), 1, "{name}: {}", stdout(&output));
        assert!(err.contains(wanted), "{name}: wanted {wanted} in\n{err}");
        assert!(err.contains("http_resource.item"), "{name}: {err}");
        // Nothing was recorded: the next plan still creates it.
        let text = ok(&run(&dir.path, &["plan"]));
        assert!(
            text.contains("http_resource.item will be created"),
            "{name}: {text}"
        );
    }
}

#[test]
fn a_refused_connection_is_a_clear_error() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let server = Server {
        port,
        world: Arc::default(),
    };
    let dir = stack(&server, "refused", "");
    let output = apply(&dir.path, &[]);
    assert_eq!(code(&output), 1, "{}", stdout(&output));
    let err = stderr(&output);
    assert!(err.contains("could not connect"), "{err}");
    assert!(err.contains("http_resource.item"), "{err}");
}

#[test]
fn the_data_source_reads_json() {
    let server = Server::start();
    server.put_object(
        "items",
        "5",
        json!({ "id": "5", "name": "from-api", "size": 2 }),
    );
    let dir = TempDir::new("data");
    dir.write(
        "main.infra",
        format!(
            r#"stack "http-data" {{}}

data "http" "item" {{
  url = "{url}/items/5"
}}

resource "null_resource" "copy" {{
  inputs = data.http.item.body.name
}}

output "name" {{
  value = data.http.item.body.name
}}
"#,
            url = server.url()
        ),
    );
    ok(&apply(&dir.path, &[]));
    assert_eq!(server.count("GET"), 1);
    let text = ok(&run(&dir.path, &["output", "name", "--raw"]));
    assert_eq!(text.trim(), "from-api");
    let text = ok(&run(&dir.path, &["state", "show", "null_resource.copy"]));
    assert!(text.contains("from-api"), "{text}");
}

#[test]
fn a_plan_that_only_reads_data_sources_has_no_changes() {
    let server = Server::start();
    server.put_object("items", "5", json!({ "id": "5", "name": "from-api" }));
    let dir = TempDir::new("data-only");
    dir.write(
        "main.infra",
        format!(
            r#"stack "http-data" {{}}

data "http" "item" {{
  url = "{url}/items/5"
}}

resource "null_resource" "copy" {{
  inputs = data.http.item.body.name
}}
"#,
            url = server.url()
        ),
    );
    ok(&apply(&dir.path, &[]));
    let json = ok(&run(&dir.path, &["plan", "--format", "json"]));
    let document: Value = serde_json::from_str(&json).unwrap();
    let actions: Vec<&Value> = document["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|change| &change["actions"])
        .collect();
    assert!(actions.contains(&&json!(["read"])), "{json}");
    assert_eq!(document["has_changes"], false, "{json}");
    assert_eq!(document["summary"]["read"], 1, "{json}");

    let plan = run(&dir.path, &["plan", "--detailed-exitcode"]);
    assert_eq!(code(&plan), 0, "{}{}", stdout(&plan), stderr(&plan));
    let text = stdout(&plan);
    assert!(text.contains("No changes."), "{text}");
    assert!(!text.contains("will be read"), "{text}");
    let markdown = ok(&run(&dir.path, &["plan", "--format", "markdown"]));
    assert!(markdown.contains("**No changes."), "{markdown}");
    let again = ok(&apply(&dir.path, &[]));
    assert!(again.contains("No changes."), "{again}");

    // Next to a real change, the read is listed and still not counted.
    let text = String::from_utf8(dir.read("main.infra")).unwrap();
    dir.write(
        "main.infra",
        format!("{text}\nresource \"null_resource\" \"more\" {{}}\n"),
    );
    let plan = run(&dir.path, &["plan", "--detailed-exitcode"]);
    assert_eq!(code(&plan), 2, "{}{}", stdout(&plan), stderr(&plan));
    let text = stdout(&plan);
    assert!(
        text.contains("data.http.item will be read during apply"),
        "{text}"
    );
    assert!(
        text.contains("Plan: 1 to add, 0 to change, 0 to destroy."),
        "{text}"
    );
}

const TOKEN: &str = "tok-9f8e7d6c5b4a-very-secret";

#[test]
fn a_secret_auth_header_never_leaks() {
    let server = Server::start();
    server.require_token(TOKEN);
    let dir = TempDir::new("leak");
    dir.write(
        "main.infra",
        format!(
            r#"stack "http-leak" {{}}

secret "api_token" {{
  env = "API_TOKEN"
}}

provider "http" {{
  base_url = "{url}"
  headers  = {{ Authorization = "Bearer ${{secret.api_token}}" }}
}}

resource "http_resource" "item" {{
  create = {{
    path = "/items"
    body = {{ name = "alpha" }}
  }}
  headers = {{ "X-Api-Key" = secret.api_token }}
}}

data "http" "list" {{
  url     = "/items"
  headers = {{ "X-Other" = secret.api_token }}
}}
"#,
            url = server.url()
        ),
    );
    let envs = [("API_TOKEN", TOKEN)];
    let mut outputs = Vec::new();
    let mut go = |args: &[&str], envs: &[(&str, &str)]| {
        let output = infra_env(&dir.path, args, envs);
        outputs.push(format!("{}{}", stdout(&output), stderr(&output)));
        output
    };
    // A wrong token: the server echoes it in its 401 message; the error shows it redacted.
    let output = go(
        &["apply", "--auto-approve"],
        &[("API_TOKEN", "wrong-token-123456")],
    );
    assert_eq!(code(&output), 1);
    let err = stderr(&output);
    assert!(err.contains("401"), "{err}");
    assert!(!err.contains("wrong-token-123456"), "{err}");
    assert!(err.contains("(redacted)"), "{err}");

    let output = go(&["plan", "--out", "saved.plan"], &envs);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let output = go(&["apply", "--auto-approve", "saved.plan"], &envs);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(server.objects("items").len(), 1);
    let post = server
        .seen()
        .into_iter()
        .rfind(|s| s.method == "POST")
        .unwrap();
    assert_eq!(
        post.headers.get("authorization").map(String::as_str),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(
        post.headers.get("x-api-key").map(String::as_str),
        Some(TOKEN)
    );
    // Each must succeed: a command that failed early would leak nothing and
    // prove nothing.
    for args in [
        &["plan"][..],
        &["plan", "--format", "json"],
        &["plan", "--format", "markdown"],
        &["output"],
        &["state", "list"],
        &["destroy", "--auto-approve"],
    ] {
        let output = go(args, &envs);
        assert_eq!(
            code(&output),
            0,
            "{args:?}:\n{}\n{}",
            stdout(&output),
            stderr(&output)
        );
    }
    assert!(
        server.objects("items").is_empty(),
        "destroy deleted the item"
    );
    for text in &outputs {
        assert!(!text.contains(TOKEN), "the token leaked:\n{text}");
        assert!(
            !text.contains("tok-9f8e7d6c5b4a"),
            "part of the token leaked:\n{text}"
        );
    }
    // Every file the runs left: state, history, journal, audit, lock, the plan file.
    let mut files = Vec::new();
    collect_files(&dir.path, &mut files);
    assert!(files.len() > 2, "{files:?}");
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(TOKEN) && !text.contains("tok-9f8e7d6c5b4a"),
            "{} holds the token",
            file.display()
        );
    }
}

fn collect_files(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_files(&path, files);
        } else {
            files.push(path);
        }
    }
}

/// A raw HTTP/1.1 request over loopback (the test has no HTTP client of its
/// own): returns the status and the body.
fn http_request(port: u16, method: &str, path: &str, token: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// The example's own server, stopped when dropped.
struct ExampleServer {
    child: std::process::Child,
    port: u16,
}

impl Drop for ExampleServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_example_server(script: &Path, token: &str) -> ExampleServer {
    start_example_server_with(script, token, &[])
}

/// [`start_example_server`] with more of server.py's flags (`--faults`).
fn start_example_server_with(script: &Path, token: &str, flags: &[&str]) -> ExampleServer {
    use std::io::BufRead;
    // A free port is only free until someone takes it: between finding one
    // and server.py binding it another process may. server.py prints
    // `listening on …` once bound and exits when the bind fails, so a
    // failed start is seen, not waited out, and tried on another port.
    let mut failures = Vec::new();
    for _ in 0..5 {
        let free = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = free.local_addr().unwrap().port();
        drop(free);
        let mut child = std::process::Command::new("python3")
            .arg(script)
            .args(["--port", &port.to_string(), "--token", token, "--quiet"])
            .args(flags)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 is needed to run examples/rest-api/server.py");
        let mut first_line = String::new();
        let stdout = child.stdout.take().unwrap();
        let _ = std::io::BufReader::new(stdout).read_line(&mut first_line);
        let server = ExampleServer { child, port };
        if first_line.starts_with("listening on") {
            return server;
        }
        failures.push(format!("port {port}: {first_line:?}"));
    }
    panic!("server.py did not start on any port: {failures:#?}");
}

#[test]
fn the_rest_api_example_works_as_its_readme_says() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/rest-api");
    let server = start_example_server(&root.join("server.py"), "dev-token");
    let dir = TempDir::new("rest-api");
    dir.write(
        "main.infra",
        std::fs::read(root.join("main.infra")).unwrap(),
    );
    let url = format!("api_url=http://127.0.0.1:{}", server.port);
    let vars = ["--var", url.as_str()];
    let with = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend_from_slice(&vars);
        run(&dir.path, &all)
    };

    let text = ok(&with(&["plan"]));
    assert!(
        text.contains("Plan: 3 to add, 0 to change, 0 to destroy."),
        "{text}"
    );
    let text = ok(&with(&["apply", "--auto-approve"]));
    assert!(text.contains("Resources: 3 added"), "{text}");
    // Only the data source is read again: no changes.
    let text = ok(&with(&["plan", "--detailed-exitcode"]));
    assert!(text.contains("No changes."), "{text}");

    // The project's body holds the payments team's id.
    let (status, projects) = http_request(server.port, "GET", "/projects", "dev-token", "");
    assert_eq!(status, 200);
    let projects: Value = serde_json::from_str(&projects).unwrap();
    assert_eq!(projects[0]["name"], "billing");
    let (_, teams) = http_request(server.port, "GET", "/teams", "dev-token", "");
    let teams: Value = serde_json::from_str(&teams).unwrap();
    let payments = teams
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "payments")
        .unwrap();
    assert_eq!(projects[0]["team_id"], payments["id"]);

    // The README finds payments' id through the `team_ids` output, since the
    // server numbers the teams in the order their (concurrent) creates land;
    // it must not name a fixed `/teams/1`.
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(
        readme.contains("infra output -C examples/rest-api team_ids"),
        "the README must look the id up"
    );
    for fixed in ["/teams/1", "/teams/2"] {
        assert!(!readme.contains(fixed), "the README assumes {fixed}");
    }
    let ids = ok(&run(&dir.path, &["output", "team_ids", "--json"]));
    let ids: Value = serde_json::from_str(&ids).unwrap();
    assert_eq!(ids["value"]["payments"], payments["id"], "{ids}");

    // A change by hand, as the README does with curl.
    let path = format!("/teams/{}", payments["id"].as_str().unwrap());
    let (status, _) = http_request(
        server.port,
        "PATCH",
        &path,
        "dev-token",
        r#"{"lead": "linus"}"#,
    );
    assert_eq!(status, 200);
    // `infra drift` finds it (exit 2), as the README's step 4 shows.
    let drifted = with(&["drift"]);
    let text = String::from_utf8_lossy(&drifted.stdout).into_owned();
    assert_eq!(
        drifted.status.code(),
        Some(2),
        "{text}{}",
        String::from_utf8_lossy(&drifted.stderr)
    );
    assert!(text.contains("\"linus\""), "{text}");
    let text = ok(&with(&["plan"]));
    assert!(text.contains("changed outside infra"), "{text}");
    assert!(text.contains("\"linus\""), "{text}");
    assert!(
        text.contains("Plan: 0 to add, 1 to change, 0 to destroy."),
        "{text}"
    );
    ok(&with(&["apply", "--auto-approve"]));
    let (_, team) = http_request(server.port, "GET", &path, "dev-token", "");
    assert!(team.contains("\"grace\""), "{team}");
    let in_sync = with(&["drift"]);
    assert_eq!(
        in_sync.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&in_sync.stdout)
    );

    let text = ok(&with(&["destroy", "--auto-approve"]));
    assert!(text.contains("3 destroyed"), "{text}");
    let (_, teams) = http_request(server.port, "GET", "/teams", "dev-token", "");
    assert_eq!(teams.trim(), "[]");
    for file in {
        let mut files = Vec::new();
        collect_files(&dir.path, &mut files);
        files
    } {
        let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
        assert!(
            !text.contains("dev-token") || file.ends_with("main.infra"),
            "{}",
            file.display()
        );
    }
}

#[test]
fn provider_settings_are_checked_and_point_at_the_setting() {
    let dir = TempDir::new("settings");
    dir.write(
        "main.infra",
        r#"stack "http-settings" {}

provider "http" {
  base_url = "ftp://example.test"
}

resource "http_resource" "item" {
  create = {
    path = "/items"
    body = { name = "a" }
  }
}
"#,
    );
    let output = run(&dir.path, &["plan"]);
    assert_eq!(code(&output), 1, "{}", stdout(&output));
    let err = stderr(&output);
    assert!(err.contains("infra::plan::provider_error"), "{err}");
    assert!(err.contains("refused its settings"), "{err}");
    assert!(err.contains("is not an http://"), "{err}");
    assert!(err.contains("[main.infra:4:14]"), "{err}");

    dir.write(
        "main.infra",
        r#"stack "http-settings" {}

provider "http" {
  base_url = "http://127.0.0.1:9"
  ca_cert  = "ca.pem"
}

resource "http_resource" "item" {
  create = {
    path = "/items"
    body = { name = "a" }
  }
}
"#,
    );
    dir.write("ca.pem", "not a certificate");
    let output = run(&dir.path, &["plan"]);
    assert_eq!(code(&output), 1, "{}", stdout(&output));
    let err = stderr(&output);
    assert!(err.contains("ca_cert"), "{err}");
    assert!(err.contains("[main.infra:5:14]"), "{err}");
}

/// An HTTPS server with a fresh self-signed certificate for `localhost`,
/// answering every request with `{"id": "1", "name": "over-tls"}`; returns
/// the port and the certificate as PEM.
fn start_tls_server() -> (u16, String) {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let certified = rcgen::generate_simple_self_signed(vec![String::from("localhost")]).unwrap();
    let pem = certified.cert.pem();
    let chain = vec![CertificateDer::from(certified.cert.der().to_vec())];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let config = config.clone();
            std::thread::spawn(move || {
                let Ok(connection) = rustls::ServerConnection::new(config) else {
                    return;
                };
                let mut tls = rustls::StreamOwned::new(connection, stream);
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match tls.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                let body = json!({ "id": "1", "name": "over-tls" }).to_string();
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(answer.as_bytes());
                let _ = tls.flush();
                tls.conn.send_close_notify();
                let _ = tls.flush();
            });
        }
    });
    (port, pem)
}

#[test]
fn tls_is_verified_and_ca_cert_adds_a_trusted_authority() {
    let (port, pem) = start_tls_server();
    let dir = TempDir::new("tls");
    dir.write("ca.pem", &pem);
    let stack = |ca_cert: &str| {
        format!(
            r#"stack "http-tls" {{}}

provider "http" {{
  base_url = "https://localhost:{port}"
{ca_cert}}}

data "http" "thing" {{
  url = "/things/1"
}}

output "name" {{
  value = data.http.thing.body.name
}}
"#
        )
    };
    // Without the certificate the server's is not trusted: the read fails.
    dir.write("main.infra", stack(""));
    let output = apply(&dir.path, &[]);
    assert_eq!(code(&output), 1, "{}", stdout(&output));
    let err = stderr(&output);
    assert!(err.contains("data.http.thing"), "{err}");
    assert!(err.contains("failed TLS verification"), "{err}");
    assert!(
        !err.contains("tries"),
        "a certificate error is not retried: {err}"
    );
    assert!(err.contains("url = \"/things/1\""), "{err}");
    // With `ca_cert` it is.
    dir.write("main.infra", stack("  ca_cert  = \"ca.pem\"\n"));
    ok(&apply(&dir.path, &[]));
    let text = ok(&run(&dir.path, &["output", "name", "--raw"]));
    assert_eq!(text.trim(), "over-tls");
}

/// The example server answers a tenth of its requests with a fault (a
/// timeout, a 429 with and without `Retry-After`, a 503; reproducibly from
/// `--seed`): apply, drift, refresh and destroy still converge, each object
/// is created once, and apply reports its retries. `bench/faults.sh` runs
/// the test world at 10,000 calls.
#[test]
fn apply_drift_and_refresh_converge_against_a_server_that_faults_a_tenth_of_the_requests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/rest-api");
    let server = start_example_server_with(
        &root.join("server.py"),
        "dev-token",
        &[
            "--faults",
            "0.1",
            "--seed",
            "3",
            "--fault-timeout-ms",
            "1500",
        ],
    );
    let dir = TempDir::new("http-faults");
    let mut text = format!(
        "stack \"faults\" {{}}\n\nprovider \"http\" {{\n  base_url = \"http://127.0.0.1:{}\"\n  \
         headers  = {{ Authorization = \"Bearer dev-token\" }}\n  timeout  = 1\n}}\n\n",
        server.port
    );
    for i in 0..40 {
        text.push_str(&format!(
            "resource \"http_resource\" \"r{i}\" {{\n  create = {{\n    path = \"/items\"\n    \
             body = {{ name = \"r{i}\", size = {i} }}\n  }}\n  read_attributes = [\"name\", \"size\"]\n}}\n\n"
        ));
    }
    dir.write("main.infra", text);
    let faults = || -> u64 {
        let (status, body) = http_request(server.port, "GET", "/_faults", "dev-token", "");
        assert_eq!(status, 200, "{body}");
        let counts: BTreeMap<String, u64> = serde_json::from_str(&body).unwrap();
        counts.values().sum()
    };

    let text = ok(&run(
        &dir.path,
        &["apply", "--auto-approve", "--retry-backoff", "10ms"],
    ));
    assert!(text.contains("Resources: 40 added"), "{text}");
    let injected = faults();
    assert!(injected > 0, "no request was faulted");
    assert!(
        text.contains(&format!(
            "{injected} retries after transient provider errors"
        )),
        "{injected} faults: {text}"
    );
    let (_, items) = http_request(server.port, "GET", "/items", "dev-token", "");
    let items: Vec<Value> = serde_json::from_str(&items).unwrap();
    let names: std::collections::BTreeSet<&str> = items
        .iter()
        .filter_map(|item| item["name"].as_str())
        .collect();
    assert_eq!((items.len(), names.len()), (40, 40), "{items:?}");

    let before_reads = faults();
    ok(&run(&dir.path, &["drift"]));
    let text = ok(&run(&dir.path, &["refresh", "--auto-approve"]));
    assert_eq!(text, "No drift; state not written.\n");
    ok(&run(&dir.path, &["plan", "--detailed-exitcode"]));
    assert!(faults() > before_reads, "the reads met no fault");
    let text = ok(&run(
        &dir.path,
        &["destroy", "--auto-approve", "--retry-backoff", "10ms"],
    ));
    assert!(text.contains("40 destroyed"), "{text}");
    let (_, items) = http_request(server.port, "GET", "/items", "dev-token", "");
    assert_eq!(items.trim(), "[]");
}

/// A stack with two aliased `http` blocks, one per server, and one
/// resource through each (`extra` is appended: more resources).
fn two_servers_stack(dir: &TempDir, blue: &Server, green: &Server, extra: &str) {
    dir.write(
        "main.infra",
        format!(
            r#"stack "http-aliases" {{}}

provider "http" {{
  alias    = "blue"
  base_url = "{blue}"
  timeout  = 5
}}

provider "http" {{
  alias    = "green"
  base_url = "{green}"
  timeout  = 5
}}

resource "http_resource" "on_blue" {{
  provider = http.blue
  create = {{
    path = "/items"
    body = {{ name = "blue-item", size = 1 }}
  }}
  read_attributes = ["name", "size"]
}}
{extra}"#,
            blue = blue.url(),
            green = green.url()
        ),
    );
}

/// The resource on the green server.
const ON_GREEN: &str = r#"
resource "http_resource" "on_green" {
  provider = http.green
  create = {
    path = "/items"
    body = { name = "green-item", size = 2 }
  }
  read_attributes = ["name", "size"]
}
"#;

#[test]
fn aliased_blocks_reach_their_own_servers_for_apply_drift_and_a_removed_resource() {
    let (blue, green) = (Server::start(), Server::start());
    let dir = TempDir::new("http-aliases");
    two_servers_stack(&dir, &blue, &green, ON_GREEN);

    let text = ok(&run(&dir.path, &["plan"]));
    assert!(
        text.contains("http_resource.on_green will be created (via http.green)"),
        "{text}"
    );
    ok(&apply(&dir.path, &[]));
    // Each server holds exactly its own object (both get id 1).
    let names = |server: &Server| -> Vec<Value> {
        server
            .objects("items")
            .iter()
            .map(|o| o["name"].clone())
            .collect()
    };
    assert_eq!(names(&blue), [json!("blue-item")]);
    assert_eq!(names(&green), [json!("green-item")]);
    let shown = ok(&run(&dir.path, &["show", "--format", "json"]));
    let state: Value = serde_json::from_str(&shown).unwrap();
    let providers: BTreeMap<String, String> = state["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["address"].as_str().unwrap().to_owned(),
                r["provider"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(providers["http_resource.on_blue"], "http.blue");
    assert_eq!(providers["http_resource.on_green"], "http.green");
    let graph = ok(&run(&dir.path, &["graph"]));
    assert!(graph.contains("provider.http.green"), "{graph}");

    // Drift on the green server is read through the green configuration;
    // the blue one is read from the blue server only.
    blue.clear_log();
    green.clear_log();
    green.put_object(
        "items",
        "1",
        json!({ "id": "1", "name": "changed-on-green", "size": 2 }),
    );
    let drifted = run(&dir.path, &["drift"]);
    let text = format!("{}{}", stdout(&drifted), stderr(&drifted));
    assert_eq!(code(&drifted), 2, "{text}");
    assert!(text.contains("http_resource.on_green"), "{text}");
    assert!(text.contains("changed-on-green"), "{text}");
    assert!(!text.contains("http_resource.on_blue"), "{text}");
    assert_eq!(blue.count("GET"), 1, "{:?}", blue.seen());
    assert_eq!(green.count("GET"), 1, "{:?}", green.seen());
    ok(&apply(&dir.path, &[]));
    assert_eq!(names(&green), [json!("green-item")]);
    assert_eq!(names(&blue), [json!("blue-item")]);

    // A resource removed from the configuration is destroyed on the server
    // it was created on, through the configuration recorded in state.
    blue.clear_log();
    green.clear_log();
    two_servers_stack(&dir, &blue, &green, "");
    let text = ok(&apply(&dir.path, &[]));
    assert!(text.contains("1 destroyed"), "{text}");
    assert!(green.objects("items").is_empty());
    assert_eq!(names(&blue), [json!("blue-item")]);
    assert_eq!(blue.count("DELETE"), 0, "{:?}", blue.seen());
    assert_eq!(green.count("DELETE"), 1, "{:?}", green.seen());
}

#[test]
fn an_object_whose_aliased_block_is_gone_is_never_reached_through_another_one() {
    let (blue, green) = (Server::start(), Server::start());
    let dir = TempDir::new("http-alias-gone");
    two_servers_stack(&dir, &blue, &green, ON_GREEN);
    ok(&apply(&dir.path, &[]));
    // The green block and its resource leave the configuration together:
    // the object cannot be destroyed through the blue (or a default) block.
    dir.write(
        "main.infra",
        format!(
            "stack \"http-aliases\" {{}}\n\nprovider \"http\" {{\n  alias    = \"blue\"\n  \
             base_url = \"{}\"\n}}\n\nprovider \"http\" {{\n  base_url = \"{}\"\n}}\n",
            blue.url(),
            blue.url()
        ),
    );
    blue.clear_log();
    let output = run(&dir.path, &["plan"]);
    // The help is wrapped to the terminal width: compare words.
    let text = format!("{}{}", stdout(&output), stderr(&output))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert_eq!(code(&output), 1, "{text}");
    assert!(text.contains("infra::plan::provider_error"), "{text}");
    assert!(text.contains("http_resource.on_green"), "{text}");
    assert!(
        text.contains("provider \"http\" { alias = \"green\" ... }"),
        "{text}"
    );
    assert!(text.contains("put the block back"), "{text}");
    assert_eq!(blue.count("DELETE"), 0);
    assert_eq!(green.objects("items").len(), 1);
}

#[test]
fn a_reference_to_an_undeclared_alias_is_a_validate_error() {
    let (blue, green) = (Server::start(), Server::start());
    let dir = TempDir::new("http-alias-typo");
    two_servers_stack(
        &dir,
        &blue,
        &green,
        "\nresource \"http_resource\" \"typo\" {\n  provider = http.gren\n  create = { path = \"/items\" }\n}\n",
    );
    let output = run(&dir.path, &["validate"]);
    let text = format!("{}{}", stdout(&output), stderr(&output));
    assert_eq!(code(&output), 1, "{text}");
    assert!(text.contains("infra::check::unknown_provider"), "{text}");
    assert!(text.contains("did you mean `http.green`?"), "{text}");
    assert!(text.contains("main.infra:"), "{text}");
}

#[test]
fn data_sources_and_imports_go_through_their_aliased_block() {
    let (blue, green) = (Server::start(), Server::start());
    for (server, name) in [(&blue, "from-blue"), (&green, "from-green")] {
        server.put_object("items", "5", json!({ "id": "5", "name": name, "size": 5 }));
    }
    // Only the green server has the object to adopt.
    green.put_object(
        "items",
        "7",
        json!({ "id": "7", "name": "adopted", "size": 7 }),
    );
    let dir = TempDir::new("http-alias-data");
    let extra = r#"
data "http" "item" {
  provider = http.green
  url      = "/items/5"
}

output "name" {
  value = data.http.item.body.name
}

resource "http_resource" "adopted" {
  provider = http.green
  create = {
    path = "/items"
    body = { name = "adopted", size = 7 }
  }
  read_attributes = ["name", "size"]
}
"#;
    two_servers_stack(&dir, &blue, &green, extra);
    // Paths are joined to the aliased block's base_url: a path sent to the
    // blue server would find nothing to import there.
    let text = ok(&run(
        &dir.path,
        &["import", "http_resource.adopted", "/items/7"],
    ));
    assert!(text.contains("http_resource.adopted"), "{text}");
    assert_eq!(blue.count("GET"), 0, "{:?}", blue.seen());
    let shown = ok(&run(&dir.path, &["show", "--format", "json"]));
    assert!(shown.contains("\"provider\": \"http.green\""), "{shown}");
    ok(&apply(&dir.path, &[]));
    let text = ok(&run(&dir.path, &["output", "name", "--raw"]));
    assert_eq!(text.trim(), "from-green");
    assert_eq!(green.objects("items").len(), 2, "nothing new on green");
    let text = ok(&run(&dir.path, &["plan"]));
    assert!(text.contains("No changes"), "{text}");
}

#[test]
fn a_resource_moved_to_another_aliased_block_is_refused_not_silently_kept() {
    let (blue, green) = (Server::start(), Server::start());
    let dir = TempDir::new("http-alias-move");
    two_servers_stack(&dir, &blue, &green, ON_GREEN);
    ok(&apply(&dir.path, &[]));
    // The green resource now names the blue block: its object is on green.
    two_servers_stack(
        &dir,
        &blue,
        &green,
        &ON_GREEN.replace("provider = http.green", "provider = http.blue"),
    );
    blue.clear_log();
    green.clear_log();
    let output = run(&dir.path, &["plan"]);
    let text = format!("{}{}", stdout(&output), stderr(&output))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert_eq!(code(&output), 1, "{text}");
    assert!(text.contains("infra::plan::provider_error"), "{text}");
    assert!(
        text.contains(
            "`http_resource.on_green` was created through `http.green`, and this names `http.blue`"
        ),
        "{text}"
    );
    assert!(text.contains("keep `provider = http.green`"), "{text}");
    assert!(
        text.contains("main.infra"),
        "the error points at the block: {text}"
    );
    assert_eq!(
        blue.count("POST") + blue.count("PUT") + blue.count("DELETE"),
        0
    );
    assert_eq!(green.objects("items").len(), 1);
}
