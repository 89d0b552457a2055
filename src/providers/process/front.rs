//! The service's front door: the managed nginx of [`crate::providers::router`]
//! in the run folder (`router/`), pointed at the processes that serve, with
//! weights for canary splits, and read back for the watch window's 5xx share.
//!
//! Invariant: routes to no process are never written (the router refuses
//! them); a failed reload leaves nginx serving the previous routes.

use super::machine::Running;
use crate::host::Host;
use crate::providers::ProviderError;
use crate::providers::router::{LocalRouter, Nginx, Routes, Traffic, Upstream};
use std::path::Path;
use std::time::Duration;

/// How long old nginx workers may take to finish their requests.
const DRAIN: Duration = Duration::from_secs(30);

/// A service's router.
#[derive(Debug)]
pub struct Front {
    router: LocalRouter,
    name: String,
    listen: u16,
}

/// How long a [`Front::route`] took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Routed {
    /// From the call to the new routes serving (write, `nginx -t`, reload,
    /// verification).
    pub reload: Duration,
    /// Then until the workers of the old routes had finished their requests.
    pub drain: Duration,
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
    /// The router of the service whose run folder is `run_dir`, listening
    /// on `listen`; nginx is `INFRA_NGINX` when set, else found on `PATH`
    /// (both read through `host`).
    pub fn open(
        host: &dyn Host,
        run_dir: &Path,
        name: &str,
        listen: u16,
    ) -> Result<Front, ProviderError> {
        let explicit = host.env_var("INFRA_NGINX");
        let path = host.env_var("PATH");
        let nginx = Nginx::locate(
            explicit.as_deref().map(std::ffi::OsStr::new),
            path.as_deref().map(std::ffi::OsStr::new),
        )
        .map_err(ProviderError::from)?;
        let router =
            LocalRouter::new(run_dir.join("router"), nginx).map_err(ProviderError::from)?;
        Ok(Front {
            router,
            name: name.to_owned(),
            listen,
        })
    }

    /// Points the router at these shares and waits until the old routes
    /// have drained; returns how long each took.
    pub async fn route(&self, shares: &[Share<'_>]) -> Result<Routed, ProviderError> {
        let mut routes = Routes::new(self.name.clone(), self.listen);
        for share in shares.iter().filter(|s| s.weight > 0) {
            for process in share.processes {
                if let Some(port) = process.port {
                    routes = routes
                        .to(Upstream::new(share.label, "127.0.0.1", port).weight(share.weight));
                }
            }
        }
        let applied = self
            .router
            .ensure(&routes)
            .await
            .map_err(ProviderError::from)?;
        let draining = std::time::Instant::now();
        self.router.wait_drained(&applied.draining, DRAIN).await;
        Ok(Routed {
            reload: applied.took,
            drain: draining.elapsed(),
        })
    }

    /// Where the access log ends now: the start of a watch window.
    pub fn log_offset(&self) -> u64 {
        self.router.access_log_end()
    }

    /// Requests to these processes since `offset`, and how many failed (5xx
    /// or no answer).
    pub fn errors_since(
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
            .map_err(ProviderError::from)?;
        Ok((rate.requests, rate.errors))
    }

    /// Stops nginx.
    pub async fn stop(&self) -> Result<(), ProviderError> {
        self.router.stop().await.map_err(ProviderError::from)
    }

    /// The ports the router sends traffic to now, when it runs.
    pub fn routed_ports(&self) -> Option<Vec<u16>> {
        if !self.router.is_running() {
            return None;
        }
        let (_, routes) = self.router.routes()?;
        Some(routes.serving().map(|u| u.port).collect())
    }
}
