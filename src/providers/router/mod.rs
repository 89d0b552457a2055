//! The router: a managed nginx as the stable front door of a service
//! (`router = { listen = PORT }` in a `service` block). The `process`
//! provider asks it to route a listen port to a set of weighted upstreams
//! (the blue and green colours, canary weights, rolling replicas) and reads
//! back, from its access log, how each upstream answered.
//!
//! Terminology: a *route* ([`Routes`]) is what the router should do: one
//! listen address, the upstreams behind it with their weights and labels. A
//! *generation* numbers the configurations one router has been given; the
//! router answers its generation at [`STATUS_PATH`], so a caller knows when a
//! new configuration serves. An *attempt* is one try of one upstream within a
//! request (nginx tries the next upstream when one refuses a connection).
//!
//! The parts that only compute ([`config`]: render a configuration and read
//! the routes back from it; [`access_log`]: parse the log and count errors;
//! [`port`]: find who holds a port from `/proc` text) are kept apart from the
//! one that runs nginx on this machine ([`local`]), so the same rendering and
//! parsing serve a router on a remote host.
//!
//! Invariant: a configuration never routes to nothing: [`Routes`] with no
//! upstream of positive weight is refused before anything is written.
//! Invariant: [`LocalRouter::ensure`] returns only once the new configuration
//! serves and no worker of an older one still accepts connections.

pub mod access_log;
pub mod config;
mod error;
pub mod local;
pub mod port;

#[cfg(test)]
mod tests;

pub use access_log::{AccessRecord, Attempt, ErrorRate, Traffic};
pub use error::RouterError;
pub use local::{Applied, LocalRouter, Nginx};

use serde::{Deserialize, Serialize};

/// The path, on the listen port, where the router answers its generation
/// (to loopback clients only; never logged, never proxied).
pub const STATUS_PATH: &str = "/.infra/router";

/// What the router should do: listen on one address and spread requests over
/// the upstreams by weight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Routes {
    /// The service the router fronts, for comments and messages.
    pub service: String,
    /// The address to listen on: `127.0.0.1` for loopback, `0.0.0.0` for
    /// every interface.
    pub listen_host: String,
    /// The port to listen on.
    pub listen_port: u16,
    /// Where requests go. Upstreams of weight 0 get no traffic and are left
    /// out of the configuration; at least one must have a positive weight.
    pub upstreams: Vec<Upstream>,
}

/// One upstream: a server the router proxies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upstream {
    /// What the caller calls it: the colour (`blue`, `green`), a replica
    /// (`blue-2`). Shown in the configuration's comments.
    pub label: String,
    /// Host name or address (`127.0.0.1`).
    pub host: String,
    /// Port.
    pub port: u16,
    /// Share of requests relative to the other upstreams' weights (nginx's
    /// weighted round robin): 1 and 9 send a tenth to the first.
    pub weight: u32,
}

impl Upstream {
    /// An upstream of weight 1 on `host:port`.
    pub fn new(label: impl Into<String>, host: impl Into<String>, port: u16) -> Self {
        Upstream {
            label: label.into(),
            host: host.into(),
            port,
            weight: 1,
        }
    }

    /// The same upstream with another weight.
    #[must_use]
    pub fn weight(mut self, weight: u32) -> Self {
        self.weight = weight;
        self
    }

    /// `host:port` as nginx writes it in `$upstream_addr` (IPv6 in brackets).
    pub fn address(&self) -> String {
        host_port(&self.host, self.port)
    }
}

impl Routes {
    /// Routes for `service` listening on loopback `port`, with no upstream yet.
    pub fn new(service: impl Into<String>, listen_port: u16) -> Self {
        Routes {
            service: service.into(),
            listen_host: "127.0.0.1".to_owned(),
            listen_port,
            upstreams: Vec::new(),
        }
    }

    /// The same routes with one more upstream.
    #[must_use]
    pub fn to(mut self, upstream: Upstream) -> Self {
        self.upstreams.push(upstream);
        self
    }

    /// `host:port` it listens on.
    pub fn listen_address(&self) -> String {
        host_port(&self.listen_host, self.listen_port)
    }

    /// The address to ask the router itself at: its listen host, or
    /// loopback when it listens on every address.
    pub fn probe_host(&self) -> &str {
        match self.listen_host.as_str() {
            "0.0.0.0" | "*" => "127.0.0.1",
            "::" | "[::]" => "::1",
            host => host.trim_start_matches('[').trim_end_matches(']'),
        }
    }

    /// The upstreams that get traffic (positive weight).
    pub fn serving(&self) -> impl Iterator<Item = &Upstream> {
        self.upstreams.iter().filter(|upstream| upstream.weight > 0)
    }

    /// The addresses (`host:port`) of the upstreams whose label is `label`:
    /// what [`Traffic::To`] takes to watch one colour.
    pub fn addresses_of(&self, label: &str) -> Vec<String> {
        self.upstreams
            .iter()
            .filter(|upstream| upstream.label == label)
            .map(Upstream::address)
            .collect()
    }
}

/// `host:port`, with an IPv6 host in brackets.
fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}
