//! What can go wrong with a router, each with what to do about it, and how it
//! becomes a [`ProviderError`] (the `process` provider returns those).
//!
//! Invariant: messages name paths, ports and processes, never a request's
//! content or a secret (the router never sees one: secrets reach services
//! through their environment only).

use crate::providers::ProviderError;
use std::path::PathBuf;

/// A router operation that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouterError {
    /// No nginx binary was found.
    #[error(
        "nginx is not installed (looked in {searched}); the router of a service with \
         `router = {{ listen = PORT }}` runs nginx: install it with \
         `apt-get install nginx-light` (Debian/Ubuntu), `dnf install nginx` (Fedora) or \
         `brew install nginx` (macOS)"
    )]
    NginxMissing {
        /// Where it looked, for the message.
        searched: String,
    },
    /// The listen port is taken by another process.
    #[error("port {port} is already in use{}; stop it or choose another `router.listen` port", holder_text(.holder))]
    PortInUse {
        /// The port.
        port: u16,
        /// Who holds it (`pid 123 (python3 -m http.server 8080)`), when `/proc` says.
        holder: Option<String>,
    },
    /// The routes have no upstream with a positive weight.
    #[error(
        "the router of `{service}` would route to nothing: at least one upstream needs a \
         positive weight"
    )]
    NoUpstream {
        /// The service.
        service: String,
    },
    /// A path, host or label cannot be written into an nginx configuration.
    #[error("cannot write {what} {value:?} into the router's nginx configuration: {why}")]
    Unrepresentable {
        /// What it is (`run directory`, `upstream host`).
        what: &'static str,
        /// The value.
        value: String,
        /// Why not.
        why: &'static str,
    },
    /// `nginx -t` refused the rendered configuration.
    #[error("nginx refused the router configuration {config}: {output}")]
    ConfigRejected {
        /// The configuration file it read.
        config: PathBuf,
        /// What nginx said.
        output: String,
    },
    /// nginx did not start, or did not serve in time.
    #[error("the router's nginx did not start: {reason}; its error log {log} ends with:\n{tail}")]
    StartFailed {
        /// What was seen.
        reason: String,
        /// The error log.
        log: PathBuf,
        /// Its last lines.
        tail: String,
    },
    /// A reload was sent but the new configuration did not serve in time.
    #[error(
        "the router's nginx did not take its new configuration (generation {generation}): \
         {reason}; its error log {log} ends with:\n{tail}"
    )]
    ReloadFailed {
        /// The generation that was expected.
        generation: u64,
        /// What was seen.
        reason: String,
        /// The error log.
        log: PathBuf,
        /// Its last lines.
        tail: String,
    },
    /// nginx did not stop.
    #[error("the router's nginx (pid {pid}) did not stop: {reason}")]
    StopFailed {
        /// The master process.
        pid: u32,
        /// What was seen.
        reason: String,
    },
    /// A file or process operation failed.
    #[error("{what} {}: {message}", .path.display())]
    Io {
        /// What was being done (`cannot write`, `cannot run`).
        what: &'static str,
        /// On what.
        path: PathBuf,
        /// The system's message.
        message: String,
    },
}

fn holder_text(holder: &Option<String>) -> String {
    match holder {
        Some(holder) => format!(" by {holder}"),
        None => String::new(),
    }
}

impl RouterError {
    /// An I/O error on `path`.
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, error: &std::io::Error) -> Self {
        RouterError::Io {
            what,
            path: path.into(),
            message: error.to_string(),
        }
    }
}

impl From<RouterError> for ProviderError {
    /// Permanent: a deploy rolls back on a router failure rather than being
    /// retried whole by the engine. A port in use points at `router.listen`.
    fn from(error: RouterError) -> Self {
        let provider_error = ProviderError::permanent(error.to_string());
        match error {
            RouterError::PortInUse { .. } => provider_error.at(["router", "listen"]),
            _ => provider_error,
        }
    }
}
