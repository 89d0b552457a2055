//! The load loop: concurrent clients on loopback sending `GET` requests to a
//! URL until stopped, counting failed requests (connection errors, broken
//! answers, 5xx) and answers per body (`blue`, `green`: the version that
//! answered). The zero-downtime tests run it across a router reload or a
//! whole deploy and expect 0 failures.
//!
//! Each request opens its own connection (`Connection: close`), as many
//! independent clients do; a keep-alive connection closed by a server
//! between two requests is a race every HTTP client retries, not a dropped
//! request. Bounded: the loop stops itself after [`LoadLoop::BOUND`] even if
//! nobody stops it, and dropping it stops it.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a test harness: a broken set-up fails the test"
)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the load loop has seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Requests finished (answered or failed).
    pub requests: u64,
    /// Connection errors, broken answers and 5xx answers.
    pub failures: u64,
    /// The first few failures, described, each with when it happened
    /// (seconds since the loop started, and Unix seconds to compare with
    /// a router's access log): `at 8.42 s (1796000000.123): read: …`.
    pub failure_samples: Vec<String>,
    /// Answers that were not failures, by body (trimmed); a non-2xx status
    /// is prefixed: `404 not found`.
    pub answers: BTreeMap<String, u64>,
    /// The same answers by the mark ([`LoadLoop::mark`]) current when their
    /// request was sent: what was asked after a point, wherever it finished.
    pub answers_by_mark: BTreeMap<u64, BTreeMap<String, u64>>,
}

impl LoadReport {
    /// What happened after `earlier` (a snapshot of the same loop).
    pub fn since(&self, earlier: &LoadReport) -> LoadReport {
        LoadReport {
            requests: self.requests - earlier.requests,
            failures: self.failures - earlier.failures,
            failure_samples: self
                .failure_samples
                .get(earlier.failure_samples.len()..)
                .unwrap_or_default()
                .to_vec(),
            answers: self
                .answers
                .iter()
                .map(|(body, count)| {
                    (
                        body.clone(),
                        count - earlier.answers.get(body).copied().unwrap_or(0),
                    )
                })
                .filter(|(_, count)| *count > 0)
                .collect(),
            answers_by_mark: self
                .answers_by_mark
                .iter()
                .map(|(mark, answers)| {
                    let before = earlier.answers_by_mark.get(mark);
                    let answers = answers
                        .iter()
                        .map(|(body, count)| {
                            let was = before.and_then(|b| b.get(body)).copied().unwrap_or(0);
                            (body.clone(), count - was)
                        })
                        .filter(|(_, count)| *count > 0)
                        .collect();
                    (*mark, answers)
                })
                .collect(),
        }
    }

    /// Answers with this body to requests sent after `mark` was taken.
    pub fn answered_after_mark(&self, mark: u64, body: &str) -> u64 {
        self.answers_by_mark
            .range(mark..)
            .map(|(_, answers)| answers.get(body).copied().unwrap_or(0))
            .sum()
    }

    /// Answers with this body.
    pub fn answered(&self, body: &str) -> u64 {
        self.answers.get(body).copied().unwrap_or(0)
    }
}

/// Clients sending requests until stopped.
pub struct LoadLoop {
    url: String,
    stop: Arc<AtomicBool>,
    mark: Arc<AtomicU64>,
    seen: Arc<(Mutex<LoadReport>, Condvar)>,
    clients: Vec<JoinHandle<()>>,
}

impl LoadLoop {
    /// The clients of a zero-downtime test.
    pub const CLIENTS: usize = 20;
    /// The loop stops itself after this long.
    pub const BOUND: Duration = Duration::from_secs(600);
    const SAMPLES: usize = 10;

    /// Starts [`LoadLoop::CLIENTS`] clients against `url`
    /// (`http://127.0.0.1:PORT/path`).
    pub fn start(url: &str) -> LoadLoop {
        Self::start_with(url, Self::CLIENTS)
    }

    /// Starts `clients` clients against `url`.
    pub fn start_with(url: &str, clients: usize) -> LoadLoop {
        let (address, path) = split_url(url);
        let stop = Arc::new(AtomicBool::new(false));
        let mark = Arc::new(AtomicU64::new(0));
        let seen = Arc::new((Mutex::new(LoadReport::default()), Condvar::new()));
        let started = Instant::now();
        let deadline = started + Self::BOUND;
        let clients = (0..clients)
            .map(|_| {
                let (address, path) = (address.clone(), path.clone());
                let (stop, seen, mark) = (stop.clone(), seen.clone(), mark.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                        let sent_under = mark.load(Ordering::SeqCst);
                        let outcome = request(&address, &path);
                        let (lock, changed) = &*seen;
                        let mut report = lock.lock().unwrap();
                        report.requests += 1;
                        match outcome {
                            Ok(answer) => {
                                *report
                                    .answers_by_mark
                                    .entry(sent_under)
                                    .or_default()
                                    .entry(answer.clone())
                                    .or_default() += 1;
                                *report.answers.entry(answer).or_default() += 1;
                            }
                            Err(failure) => {
                                report.failures += 1;
                                if report.failure_samples.len() < Self::SAMPLES {
                                    let unix = std::time::SystemTime::now()
                                        .duration_since(std::time::UNIX_EPOCH)
                                        .map_or(0.0, |d| d.as_secs_f64());
                                    report.failure_samples.push(format!(
                                        "at {:.2} s ({unix:.3}): {failure}",
                                        started.elapsed().as_secs_f64()
                                    ));
                                }
                            }
                        }
                        changed.notify_all();
                    }
                })
            })
            .collect();
        LoadLoop {
            url: url.to_owned(),
            stop,
            mark,
            seen,
            clients,
        }
    }

    /// Takes a new mark: requests sent from now on count under it (see
    /// [`LoadReport::answered_after_mark`]), whenever they finish.
    pub fn mark(&self) -> u64 {
        self.mark.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// What it has seen so far.
    pub fn so_far(&self) -> LoadReport {
        self.seen.0.lock().unwrap().clone()
    }

    /// Waits until `ready` holds for what the loop has seen, failing after
    /// [`super::READY_WITHIN`] (the loop's clients are the clock: no sleep).
    pub fn wait_until(&self, what: &str, ready: impl Fn(&LoadReport) -> bool) -> LoadReport {
        let deadline = Instant::now() + super::READY_WITHIN;
        let (lock, changed) = &*self.seen;
        let mut report = lock.lock().unwrap();
        loop {
            if ready(&report) {
                return report.clone();
            }
            let now = Instant::now();
            assert!(
                now < deadline,
                "the load loop on {} never saw {what}; it saw {report:?}",
                self.url
            );
            report = changed.wait_timeout(report, deadline - now).unwrap().0;
        }
    }

    /// Waits until `more` answers with `body` come after `earlier`.
    pub fn wait_for_answers(&self, body: &str, more: u64, earlier: &LoadReport) -> LoadReport {
        self.wait_until(&format!("{more} answers {body:?}"), |report| {
            report.since(earlier).answered(body) >= more
        })
    }

    /// Stops the clients, waits for them, and returns what they saw.
    pub fn stop(mut self) -> LoadReport {
        self.halt();
        self.so_far()
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for client in self.clients.drain(..) {
            let _ = client.join();
        }
    }
}

impl Drop for LoadLoop {
    fn drop(&mut self) {
        self.halt();
    }
}

/// `http://HOST:PORT/PATH` → (`HOST:PORT`, `/PATH`).
fn split_url(url: &str) -> (String, String) {
    let rest = url
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("the load loop speaks plain http only, not {url}"));
    match rest.split_once('/') {
        Some((address, path)) => (address.to_owned(), format!("/{path}")),
        None => (rest.to_owned(), "/".to_owned()),
    }
}

/// One `GET` of `url` on its own connection, as a load loop client sends
/// it: the answer's body (trimmed; a non-2xx status prefixed), or the failure.
pub fn get(url: &str) -> Result<String, String> {
    let (address, path) = split_url(url);
    request(&address, &path)
}

/// One request on its own connection: the answer's key, or the failure.
fn request(address: &str, path: &str) -> Result<String, String> {
    let mut stream = TcpStream::connect(address).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| format!("set timeout: {e}"))?;
    let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nUser-Agent: infra-load-loop\r\n\r\n"
    )
    .map_err(|e| format!("send: {e}"))?;
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .map_err(|e| format!("read: {e} after {} bytes", answer.len()))?;
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no complete answer: {text:?}"))?;
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|status| status.parse().ok())
        .ok_or_else(|| format!("no status line: {head:?}"))?;
    let chunked = head
        .lines()
        .any(|line| line.eq_ignore_ascii_case("transfer-encoding: chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    let body = body.trim();
    if status >= 500 {
        Err(format!("HTTP {status}: {body}"))
    } else if (200..300).contains(&status) {
        Ok(body.to_owned())
    } else {
        Ok(format!("{status} {body}"))
    }
}

/// The content of a chunked body.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}
