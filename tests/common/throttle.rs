//! A small HTTP proxy in front of moto that can answer like a throttled
//! AWS: moto itself never throttles. During a *storm*, each distinct request
//! (method, path, target and body: a retry sends the same ones) is answered
//! `400 ThrottlingException` (JSON protocols) or `503 SlowDown` (S3) its first
//! `per_request` times, then passed through; outside a storm everything is
//! passed through. One connection per request (`Connection: close`).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The proxy; it stops accepting when dropped.
pub struct ThrottleProxy {
    port: u16,
    shared: Arc<Shared>,
}

struct Shared {
    upstream: u16,
    /// How many times each distinct request is throttled while a storm lasts.
    per_request: AtomicUsize,
    seen: Mutex<HashMap<Vec<u8>, usize>>,
    throttled: AtomicUsize,
    stopped: AtomicBool,
}

impl ThrottleProxy {
    /// A proxy on a free loopback port in front of `127.0.0.1:upstream`.
    pub fn start(upstream: u16) -> ThrottleProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            upstream,
            per_request: AtomicUsize::new(0),
            seen: Mutex::new(HashMap::new()),
            throttled: AtomicUsize::new(0),
            stopped: AtomicBool::new(false),
        });
        let accepting = shared.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accepting.stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let shared = accepting.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &shared);
                });
            }
        });
        ThrottleProxy { port, shared }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts a storm: each distinct request is throttled `per_request`
    /// times before it goes through (0 ends the storm).
    pub fn storm(&self, per_request: usize) {
        self.shared.seen.lock().unwrap().clear();
        self.shared.per_request.store(per_request, Ordering::SeqCst);
    }

    /// How many answers were throttled so far.
    pub fn throttled(&self) -> usize {
        self.shared.throttled.load(Ordering::SeqCst)
    }
}

impl Drop for ThrottleProxy {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(client: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut head = Vec::new();
    let mut length = 0usize;
    let mut target = String::new();
    let mut request_line = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        if request_line.is_empty() {
            request_line = line.clone();
        }
        if line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(value) = lower.strip_prefix("content-length:") {
            length = value.trim().parse().unwrap_or(0);
        }
        if lower.starts_with("x-amz-target:") {
            target = line.clone();
        }
        // The proxy closes every connection after one answer.
        if lower.starts_with("connection:") {
            continue;
        }
        head.extend_from_slice(line.as_bytes());
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let mut identity = request_line.clone().into_bytes();
    identity.extend_from_slice(target.as_bytes());
    identity.extend_from_slice(&body);
    let per_request = shared.per_request.load(Ordering::SeqCst);
    let throttle = per_request > 0 && !request_line.contains("/moto-api") && {
        let mut seen = shared.seen.lock().unwrap();
        let count = seen.entry(identity).or_insert(0);
        *count += 1;
        *count <= per_request
    };
    let mut client = client;
    if throttle {
        shared.throttled.fetch_add(1, Ordering::SeqCst);
        let answer = if target.is_empty() {
            let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>\
                        <Message>Please reduce your request rate.</Message></Error>";
            format!(
                "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            )
        } else {
            let body = "{\"__type\":\"ThrottlingException\",\"message\":\"Rate exceeded\"}";
            format!(
                "HTTP/1.1 400 Bad Request\r\nContent-Type: application/x-amz-json-1.1\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
        };
        client.write_all(answer.as_bytes())?;
        return client.flush();
    }
    let mut upstream = TcpStream::connect(("127.0.0.1", shared.upstream))?;
    upstream.write_all(request_line.as_bytes())?;
    upstream.write_all(&head[request_line.len()..])?;
    upstream.write_all(b"Connection: close\r\n\r\n")?;
    upstream.write_all(&body)?;
    upstream.flush()?;
    let mut answer = Vec::new();
    upstream.read_to_end(&mut answer)?;
    // The client must not reuse a connection the proxy closes.
    let head_end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(answer.len());
    let says_close = String::from_utf8_lossy(&answer[..head_end])
        .to_ascii_lowercase()
        .contains("connection: close");
    match answer.windows(2).position(|w| w == b"\r\n") {
        Some(first_line) if !says_close => {
            client.write_all(&answer[..first_line + 2])?;
            client.write_all(b"Connection: close\r\n")?;
            client.write_all(&answer[first_line + 2..])?;
        }
        _ => client.write_all(&answer)?,
    }
    client.flush()
}
