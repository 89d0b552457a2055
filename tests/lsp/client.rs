//! A scripted LSP client for `infra lsp`: starts the real binary, writes
//! `Content-Length` framed JSON-RPC to its stdin and reads its stdout on a
//! thread, so a server that stops answering fails the caller with what it
//! said last instead of hanging. Shared by `tests/lsp.rs` and `bench/lsp.rs`.

use lsp_types::Url;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

/// How long to wait for any one message before calling the server hung. A
/// guard against hanging the test run, not a timing assertion: answers take
/// milliseconds.
const HANG: Duration = Duration::from_secs(120);

/// One running `infra lsp` and the messages it sent that nobody read yet.
pub struct Client {
    child: Child,
    stdin: Option<ChildStdin>,
    incoming: Receiver<Value>,
    /// Notifications received while waiting for something else.
    pending: VecDeque<Value>,
    next_id: i64,
}

/// The `file://` URI of a path.
pub fn uri(path: &Path) -> Url {
    Url::from_file_path(path)
        .unwrap_or_else(|()| panic!("not an absolute path: {}", path.display()))
}

impl Client {
    /// Starts `binary lsp` with `envs` set.
    pub fn start(binary: &Path, envs: &[(&str, &str)]) -> Client {
        let mut child = Command::new(binary)
            .arg("lsp")
            .envs(envs.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let (sender, incoming) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            while let Some(message) = read_message(&mut reader) {
                if sender.send(message).is_err() {
                    return;
                }
            }
        });
        Client {
            stdin: child.stdin.take(),
            child,
            incoming,
            pending: VecDeque::new(),
            next_id: 1,
        }
    }

    /// Starts the server and initializes it.
    pub fn initialized(binary: &Path, options: Value) -> Client {
        let mut client = Client::start(binary, &[]);
        let response = client.request(
            "initialize",
            json!({ "processId": null, "rootUri": null, "capabilities": {}, "initializationOptions": options }),
        );
        assert!(
            response.get("result").is_some(),
            "initialize failed: {response}"
        );
        client.notify("initialized", json!({}));
        client
    }

    /// Writes raw bytes to the server's stdin.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        let stdin = self
            .stdin
            .as_mut()
            .unwrap_or_else(|| panic!("stdin closed"));
        stdin
            .write_all(bytes)
            .and_then(|()| stdin.flush())
            .unwrap_or_else(|e| panic!("the server's stdin is closed: {e}"));
    }

    fn send(&mut self, message: &Value) {
        let body = message.to_string();
        let framed = format!("Content-Length: {}\r\n\r\n{body}", body.len());
        self.send_raw(framed.as_bytes());
    }

    /// Sends a notification.
    pub fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    /// Sends a request and returns the whole response (`result` or `error`);
    /// notifications that arrive first are kept for later.
    pub fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        loop {
            let message = self.receive(&format!("the response to {method}"));
            if message.get("id") == Some(&json!(id)) && message.get("method").is_none() {
                return message;
            }
            self.pending.push_back(message);
        }
    }

    /// The `result` of a request, failing on an error response.
    pub fn result(&mut self, method: &str, params: Value) -> Value {
        let response = self.request(method, params);
        match response.get("result") {
            Some(result) => result.clone(),
            None => panic!("{method} failed: {response}"),
        }
    }

    fn receive(&mut self, what: &str) -> Value {
        match self.incoming.recv_timeout(HANG) {
            Ok(message) => message,
            Err(RecvTimeoutError::Timeout) => {
                panic!("infra lsp sent nothing for {HANG:?} while the client waited for {what}")
            }
            Err(RecvTimeoutError::Disconnected) => {
                let status = self.child.wait().ok();
                panic!("infra lsp stopped ({status:?}) while the client waited for {what}")
            }
        }
    }

    /// The next notification with this method (earlier ones of other
    /// methods are kept).
    pub fn notification(&mut self, method: &str) -> Value {
        if let Some(i) = self.pending.iter().position(|m| m["method"] == method) {
            if let Some(message) = self.pending.remove(i) {
                return message;
            }
        }
        loop {
            let message = self.receive(method);
            if message["method"] == method {
                return message;
            }
            self.pending.push_back(message);
        }
    }

    /// The diagnostics published for `uri` at document version `version`
    /// (earlier publications for it are skipped).
    pub fn diagnostics(&mut self, uri: &Url, version: i64) -> Vec<Value> {
        loop {
            let message = self.notification("textDocument/publishDiagnostics");
            let params = &message["params"];
            if params["uri"] == uri.as_str() && params["version"] == version {
                return params["diagnostics"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
            }
        }
    }

    /// The next diagnostics published for `uri`, whatever their version
    /// (files that are not open have none).
    pub fn next_diagnostics(&mut self, uri: &Url) -> Value {
        loop {
            let message = self.notification("textDocument/publishDiagnostics");
            if message["params"]["uri"] == uri.as_str() {
                return message["params"].clone();
            }
        }
    }

    /// Opens a document.
    pub fn open(&mut self, uri: &Url, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": uri, "languageId": "infra", "version": 1, "text": text } }),
        );
    }

    /// Replaces a document's whole text.
    pub fn change(&mut self, uri: &Url, version: i64, text: &str) {
        self.notify(
            "textDocument/didChange",
            json!({ "textDocument": { "uri": uri, "version": version }, "contentChanges": [{ "text": text }] }),
        );
    }

    /// `shutdown` then `exit`; the server's exit status.
    pub fn shutdown(mut self) -> ExitStatus {
        let response = self.request("shutdown", Value::Null);
        assert_eq!(response["result"], Value::Null, "{response}");
        self.notify("exit", Value::Null);
        drop(self.stdin.take());
        self.child
            .wait()
            .unwrap_or_else(|e| panic!("cannot wait for infra lsp: {e}"))
    }

    /// Closes the server's stdin and waits for it to exit.
    pub fn wait(mut self) -> ExitStatus {
        drop(self.stdin.take());
        self.child
            .wait()
            .unwrap_or_else(|e| panic!("cannot wait for infra lsp: {e}"))
    }

    /// The server's process id (for its memory use).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        // A test that failed half-way leaves no server behind.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Reads one framed message; `None` at the end of the output.
fn read_message(reader: &mut impl BufRead) -> Option<Value> {
    let mut length = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(value) = line.strip_prefix("Content-Length: ") {
            length = value.parse::<usize>().ok();
        }
    }
    let mut body = vec![0; length?];
    reader.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}
