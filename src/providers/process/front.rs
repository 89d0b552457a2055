//! The service's front door: a managed nginx in the run folder (`router/`),
//! pointed at the processes that serve, with weights for canary splits, and
//! read back for the watch window's 5xx share.
//!
//! [`Router`] is what a deploy needs of an nginx on the machine the service
//! runs on; [`LocalFront`] is the one on this machine (the
//! [`crate::providers::router`] module's [`LocalRouter`]); the `ssh`
//! provider has one on a remote host. [`Front`] turns shares of processes
//! into routes for either.
//!
//! Invariant: routes to no process are never written (the router refuses
//! them); a failed reload leaves nginx serving the previous routes.

use super::machine::Running;
use crate::host::Host;
use crate::providers::ProviderError;
use crate::providers::router::{ErrorRate, LocalRouter, Nginx, Routes, Traffic, Upstream};
use async_trait::async_trait;
use std::path::Path;
use std::time::Duration;

/// How long old nginx workers may take to finish their requests.
pub const DRAIN: Duration = Duration::from_secs(30);

/// An nginx router on the machine a service runs on.
#[async_trait]
pub trait Router: Send + Sync {
    /// Makes it serve `routes` (starting nginx when it does not run), and
    /// returns once the new routes serve and the old workers have drained
    /// (at most [`DRAIN`]); how long the reload and the drain took.
    async fn ensure(&self, routes: &Routes) -> Result<Routed, ProviderError>;
    /// The access log's length now: where a watch window starts counting.
    async fn log_end(&self) -> u64;
    /// Requests and errors logged since byte `since` of the access log.
    async fn error_rate(&self, since: u64, traffic: &Traffic) -> Result<ErrorRate, ProviderError>;
    /// Stops nginx (stopped already is fine).
    async fn stop(&self) -> Result<(), ProviderError>;
}

/// The router on this machine.
#[derive(Debug)]
pub struct LocalFront {
    router: LocalRouter,
}

impl LocalFront {
    /// The router whose files live in `dir`; nginx is `INFRA_NGINX` when
    /// set, else found on `PATH` (both read through `host`).
    pub fn open(host: &dyn Host, dir: &Path) -> Result<LocalFront, ProviderError> {
        let explicit = host.env_var("INFRA_NGINX");
        let path = host.env_var("PATH");
        let nginx = Nginx::locate(
            explicit.as_deref().map(std::ffi::OsStr::new),
            path.as_deref().map(std::ffi::OsStr::new),
        )
        .map_err(ProviderError::from)?;
        let router = LocalRouter::new(dir, nginx).map_err(ProviderError::from)?;
        Ok(LocalFront { router })
    }
}

#[async_trait]
impl Router for LocalFront {
    async fn ensure(&self, routes: &Routes) -> Result<Routed, ProviderError> {
        let applied = self
            .router
            .ensure(routes)
            .await
            .map_err(ProviderError::from)?;
        let draining = std::time::Instant::now();
        self.router.wait_drained(&applied.draining, DRAIN).await;
        Ok(Routed {
            reload: applied.took,
            drain: draining.elapsed(),
        })
    }

    async fn log_end(&self) -> u64 {
        self.router.access_log_end()
    }

    async fn error_rate(&self, since: u64, traffic: &Traffic) -> Result<ErrorRate, ProviderError> {
        self.router
            .error_rate(since, traffic)
            .map_err(ProviderError::from)
    }

    async fn stop(&self) -> Result<(), ProviderError> {
        self.router.stop().await.map_err(ProviderError::from)
    }
}

/// A service's router.
pub struct Front {
    router: Box<dyn Router>,
    name: String,
    address: String,
    listen: u16,
}

/// How long a [`Front::route`] (a [`Router::ensure`]) took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Routed {
    /// From the call to the new routes serving (write, `nginx -t`, reload,
    /// verification).
    pub reload: Duration,
    /// Then until the workers of the old routes had finished their requests.
    pub drain: Duration,
}

impl std::fmt::Debug for Front {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Front")
            .field("name", &self.name)
            .field("listen", &self.listen)
            .finish_non_exhaustive()
    }
}

/// One set of processes with its share of the traffic (weight, any scale).
pub struct Share<'a> {
    /// The colour's label (`blue`).
    pub label: &'a str,
    /// Its processes.
    pub processes: &'a [Running],
    /// Its weight.
    pub weight: u32,
}

impl Front {
    /// The front door of service `name` listening on `address:listen`, run
    /// by `router`.
    pub fn new(router: Box<dyn Router>, name: &str, address: &str, listen: u16) -> Front {
        Front {
            router,
            name: name.to_owned(),
            address: address.to_owned(),
            listen,
        }
    }

    /// Points the router at these shares and waits until the old routes
    /// have drained; returns how long each took.
    pub async fn route(&self, shares: &[Share<'_>]) -> Result<Routed, ProviderError> {
        let mut routes = Routes::new(self.name.clone(), self.listen);
        routes.listen_host.clone_from(&self.address);
        for share in shares.iter().filter(|s| s.weight > 0) {
            for process in share.processes {
                if let Some(port) = process.port {
                    routes = routes
                        .to(Upstream::new(share.label, "127.0.0.1", port).weight(share.weight));
                }
            }
        }
        self.router.ensure(&routes).await
    }

    /// Where the access log ends now: the start of a watch window.
    pub async fn log_offset(&self) -> u64 {
        self.router.log_end().await
    }

    /// Requests to these processes since `offset`, and how many failed (5xx
    /// or no answer).
    pub async fn errors_since(
        &self,
        offset: u64,
        processes: &[Running],
    ) -> Result<(u64, u64), ProviderError> {
        let addresses = processes
            .iter()
            .filter_map(|p| p.port.map(|port| format!("127.0.0.1:{port}")))
            .collect();
        let rate = self
            .router
            .error_rate(offset, &Traffic::To(addresses))
            .await?;
        Ok((rate.requests, rate.errors))
    }

    /// Stops nginx.
    pub async fn stop(&self) -> Result<(), ProviderError> {
        self.router.stop().await
    }
}
