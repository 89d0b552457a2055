//! The crash journal: completed actions appended durably, one record per line,
//! read back by the next command and removed once folded into state.
//!
//! A record is the line `J1 <length> <sha256-hex> <json>\n`, where length and
//! hash are of the JSON bytes. A process killed mid-append leaves at most one
//! torn last line; it fails its frame and is ignored. A bad record before the
//! last one is damage, not a crash, and is refused.
//!
//! Invariant: [`Journal::append`] returns only once the record is on disk.
//! Invariant: records carry sealed values only; the journal never holds a
//! plaintext secret.

use super::StateError;
use crate::diag::Code;
use crate::host::{Host, HostError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

const MAGIC: &str = "J1";

/// The records read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalRead<T> {
    /// The complete records, in order.
    pub records: Vec<T>,
    /// Whether a torn last record (a crash mid-append) was ignored.
    pub torn_tail: bool,
}

/// An append-only journal file.
pub struct Journal<'h> {
    host: &'h dyn Host,
    path: PathBuf,
    /// Whether the file was checked for a torn tail before the first append.
    tail_checked: bool,
    /// Whether an append succeeded, so the folder exists.
    appended: bool,
    /// A record written before the first appended one, in the same write
    /// (the version the journal was started against).
    header: Option<Vec<u8>>,
}

impl std::fmt::Debug for Journal<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("path", &self.path)
            .field("tail_checked", &self.tail_checked)
            .finish_non_exhaustive()
    }
}

impl<'h> Journal<'h> {
    /// The journal at `path` (created on first append).
    pub fn new(host: &'h dyn Host, path: &Path) -> Journal<'h> {
        Journal {
            host,
            path: path.to_path_buf(),
            tail_checked: false,
            appended: false,
            header: None,
        }
    }

    /// Writes `record` ahead of the first appended record, in the same
    /// durable write: nothing is written when nothing is appended.
    pub fn with_header<T: Serialize>(mut self, record: &T) -> Result<Journal<'h>, StateError> {
        let mut line = Vec::new();
        self.frame_into(record, &mut Vec::new(), &mut line)?;
        self.header = Some(line);
        Ok(self)
    }

    /// Appends one framed line to `line`; `json` is room for the record's
    /// JSON, reused from one record to the next.
    fn frame_into<T: Serialize>(
        &self,
        record: &T,
        json: &mut Vec<u8>,
        line: &mut Vec<u8>,
    ) -> Result<(), StateError> {
        json.clear();
        serde_json::to_writer(&mut *json, record).map_err(|error| {
            StateError::new(Code::Internal, Some(&self.path), format!("{error}"))
        })?;
        line.extend_from_slice(MAGIC.as_bytes());
        line.push(b' ');
        line.extend_from_slice(json.len().to_string().as_bytes());
        line.push(b' ');
        line.extend_from_slice(hash(json).as_bytes());
        line.push(b' ');
        line.extend_from_slice(json);
        line.push(b'\n');
        Ok(())
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record and waits until it is durable.
    pub fn append<T: Serialize>(&mut self, record: &T) -> Result<(), StateError> {
        self.append_all(std::slice::from_ref(record))
    }

    /// Appends several records with one write and one sync (a group commit),
    /// and waits until they are durable. Nothing is written for no records.
    pub fn append_all<T: Serialize>(&mut self, records: &[T]) -> Result<(), StateError> {
        self.write(records, true)
    }

    /// Appends several records with one write and returns without waiting
    /// for the disk ([`Host::append`]): they survive the process at once and
    /// the machine from the next durable append on. For records of calls
    /// that change nothing outside (see `Provider::effect_free`).
    pub fn append_all_unsynced<T: Serialize>(&mut self, records: &[T]) -> Result<(), StateError> {
        self.write(records, false)
    }

    fn write<T: Serialize>(&mut self, records: &[T], durable: bool) -> Result<(), StateError> {
        if records.is_empty() {
            return Ok(());
        }
        if !self.tail_checked {
            self.drop_torn_tail()?;
            self.tail_checked = true;
        }
        let mut line = self.header.take().unwrap_or_default();
        let mut json = Vec::new();
        for record in records {
            self.frame_into(record, &mut json, &mut line)?;
        }
        if let Some(parent) = self.path.parent().filter(|_| !self.appended) {
            self.host
                .create_dir_all(parent)
                .map_err(|e| StateError::io(parent, "creating", &e))?;
        }
        let appended = if durable {
            self.host.append_durable(&self.path, &line)
        } else {
            self.host.append(&self.path, &line)
        };
        appended.map_err(|e| StateError::io(&self.path, "appending to the journal", &e))?;
        self.appended = true;
        Ok(())
    }

    /// Reads every complete record; an absent journal has none.
    pub fn read<T: DeserializeOwned>(&self) -> Result<JournalRead<T>, StateError> {
        let bytes = match self.host.read(&self.path) {
            Ok(bytes) => bytes,
            Err(HostError::NotFound) => {
                return Ok(JournalRead {
                    records: Vec::new(),
                    torn_tail: false,
                });
            }
            Err(error) => return Err(StateError::io(&self.path, "reading the journal", &error)),
        };
        let (lines, torn_tail) = split_records(&bytes);
        let mut records = Vec::with_capacity(lines.len());
        for (number, line) in lines.iter().enumerate() {
            let record = parse_line(line)
                .and_then(|json| serde_json::from_slice(json).ok())
                .ok_or_else(|| {
                    StateError::new(
                        Code::StateCorruptedJournal,
                        Some(&self.path),
                        format!(
                            "record {} of the journal is damaged; the state was not changed. \
                             Move the journal aside and run `infra refresh` to rebuild state \
                             from the real resources",
                            number + 1
                        ),
                    )
                })?;
            records.push(record);
        }
        Ok(JournalRead { records, torn_tail })
    }

    /// Removes the journal once its records are folded into a written state.
    pub fn clear(&mut self) -> Result<(), StateError> {
        self.tail_checked = true;
        match self.host.remove_file(&self.path) {
            Ok(()) | Err(HostError::NotFound) => Ok(()),
            Err(error) => Err(StateError::io(&self.path, "removing the journal", &error)),
        }
    }

    /// Rewrites the journal without its torn last line, so the next record
    /// starts on a line of its own.
    fn drop_torn_tail(&self) -> Result<(), StateError> {
        let bytes = match self.host.read(&self.path) {
            Ok(bytes) => bytes,
            Err(HostError::NotFound) => return Ok(()),
            Err(error) => return Err(StateError::io(&self.path, "reading the journal", &error)),
        };
        // Only the last line can be torn: the whole journal (tens of
        // megabytes at the end of a large apply) is split only to repair it.
        if !torn_tail(&bytes) {
            return Ok(());
        }
        let (lines, _) = split_records(&bytes);
        let mut kept = Vec::new();
        for line in lines {
            kept.extend_from_slice(line);
            kept.push(b'\n');
        }
        self.host
            .write_atomic(&self.path, &kept)
            .map_err(|e| StateError::io(&self.path, "repairing the journal", &e))
    }
}

/// The record lines, and whether a torn last line was left out. The last
/// line is torn when it has no newline or fails its frame.
fn split_records(bytes: &[u8]) -> (Vec<&[u8]>, bool) {
    let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    // After the last newline comes an empty piece, or the start of a torn record.
    let rest = lines.pop().unwrap_or_default();
    let mut torn = !rest.is_empty();
    if !torn
        && let Some(last) = lines.last()
        && parse_line(last).is_none()
    {
        lines.pop();
        torn = true;
    }
    (lines, torn)
}

/// Whether the journal's last line is torn, as [`split_records`] finds it,
/// looking at that line only.
fn torn_tail(bytes: &[u8]) -> bool {
    let Some((rest_start, body)) = bytes
        .iter()
        .rposition(|b| *b == b'\n')
        .map(|end| (end + 1, bytes.get(..end).unwrap_or_default()))
    else {
        // No newline at all: torn unless empty.
        return !bytes.is_empty();
    };
    if rest_start < bytes.len() {
        return true;
    }
    let last = match body.iter().rposition(|b| *b == b'\n') {
        Some(start) => body.get(start + 1..).unwrap_or_default(),
        None => body,
    };
    parse_line(last).is_none()
}

/// The JSON of a framed line, if the frame holds.
fn parse_line(line: &[u8]) -> Option<&[u8]> {
    let text = std::str::from_utf8(line).ok()?;
    let rest = text.strip_prefix(MAGIC)?.strip_prefix(' ')?;
    let (length, rest) = rest.split_once(' ')?;
    let (digest, json) = rest.split_once(' ')?;
    let length: usize = length.parse().ok()?;
    (json.len() == length && hash(json.as_bytes()) == digest).then_some(json.as_bytes())
}

fn hash(bytes: &[u8]) -> String {
    crate::hex::lower(&Sha256::digest(bytes))
}
