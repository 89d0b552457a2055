//! The router's access log: one line per request in the `infra_router`
//! format ([`super::config::LOG_FORMAT`]), parsed into [`AccessRecord`]s, and
//! the error rate of a stretch of it, for all traffic or for some upstreams.
//!
//! Terminology: a request's *status* is what the client got; an *attempt* is
//! one upstream nginx tried for it, with that upstream's status (nginx tries
//! the next upstream when one refuses the connection, so a request can have
//! several). A request served by the router itself (its status page, an
//! error before any upstream) has no attempt.
//!
//! Pure: bytes in, counts out. Reading the file is [`super::LocalRouter`]'s.
//!
//! Invariant: only complete lines count; [`ErrorRate::next_offset`] points
//! just past the last complete line, so a watch that reads on from there
//! counts every request exactly once.

/// One request, as the router logged it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRecord {
    /// When it was logged, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The status the client got.
    pub status: u16,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
    /// The upstreams tried, in order.
    pub attempts: Vec<Attempt>,
    /// The request line (`GET /path HTTP/1.1`), as nginx escaped it.
    pub request: String,
}

/// One upstream tried for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// `host:port` (or the upstream group's name when no server was left to try).
    pub address: String,
    /// The upstream's status; `None` when it gave none (`-`).
    pub status: Option<u16>,
}

impl Attempt {
    /// A 5xx, or no answer at all.
    pub fn failed(&self) -> bool {
        self.status.is_none_or(|status| status >= 500)
    }
}

/// Which requests to count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Traffic {
    /// Every request, by the status the client got.
    All,
    /// Attempts on these upstreams (`host:port`, as
    /// [`super::Routes::addresses_of`] gives them), by the upstream's status.
    To(Vec<String>),
}

/// Requests and errors in a stretch of the access log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ErrorRate {
    /// Requests (or attempts, for [`Traffic::To`]) counted.
    pub requests: u64,
    /// Of which answered 5xx, or not at all.
    pub errors: u64,
    /// The byte offset to read on from next time.
    pub next_offset: u64,
}

impl ErrorRate {
    /// `errors / requests`, 0 when there were no requests.
    pub fn rate(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.errors as f64 / self.requests as f64
        }
    }
}

/// Parses one line (without its newline); `None` when it is not in the
/// router's format.
pub fn parse_line(line: &str) -> Option<AccessRecord> {
    let mut fields = line.splitn(7, '|');
    if fields.next()? != "1" {
        return None;
    }
    let at_ms = seconds_to_ms(fields.next()?)?;
    let status = fields.next()?.parse().ok()?;
    let duration_ms = seconds_to_ms(fields.next()?)?;
    let addresses = fields.next()?;
    let statuses = fields.next()?;
    let request = fields.next()?.to_owned();
    let attempts = if addresses == "-" {
        Vec::new()
    } else {
        let statuses = split_attempts(statuses);
        split_attempts(addresses)
            .into_iter()
            .enumerate()
            .map(|(index, address)| Attempt {
                address: address.to_owned(),
                status: statuses.get(index).and_then(|status| status.parse().ok()),
            })
            .collect()
    };
    Some(AccessRecord {
        at_ms,
        status,
        duration_ms,
        attempts,
        request,
    })
}

/// nginx separates attempts with `, ` and internal redirects with ` : `
/// (addresses themselves hold `:` without spaces).
fn split_attempts(text: &str) -> Vec<&str> {
    text.split(", ")
        .flat_map(|part| part.split(" : "))
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .collect()
}

/// `1796552464.015` (seconds, milliseconds after the point) as milliseconds.
fn seconds_to_ms(text: &str) -> Option<u64> {
    let (seconds, fraction) = text.split_once('.').unwrap_or((text, "0"));
    let seconds: u64 = seconds.parse().ok()?;
    let mut millis = 0u64;
    let mut scale = 100;
    for digit in fraction.chars().take(3) {
        millis += u64::from(digit.to_digit(10)?) * scale;
        scale /= 10;
    }
    seconds.checked_mul(1000)?.checked_add(millis)
}

/// Counts requests and errors in `bytes`, the access log read from byte
/// `offset` on: complete lines only.
pub fn error_rate(bytes: &[u8], offset: u64, traffic: &Traffic) -> ErrorRate {
    let complete = bytes
        .iter()
        .rposition(|byte| *byte == b'\n')
        .map_or(0, |last| last + 1);
    let mut rate = ErrorRate {
        next_offset: offset + complete as u64,
        ..ErrorRate::default()
    };
    let text = String::from_utf8_lossy(bytes.get(..complete).unwrap_or_default());
    for record in text.lines().filter_map(parse_line) {
        match traffic {
            Traffic::All => {
                rate.requests += 1;
                if record.status >= 500 {
                    rate.errors += 1;
                }
            }
            Traffic::To(addresses) => {
                for attempt in &record.attempts {
                    if addresses.contains(&attempt.address) {
                        rate.requests += 1;
                        if attempt.failed() {
                            rate.errors += 1;
                        }
                    }
                }
            }
        }
    }
    rate
}
