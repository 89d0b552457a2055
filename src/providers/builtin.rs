//! The one list of providers built into this binary: each entry gives the
//! provider's name, the schemas `check` reads (through [`super::Registry`])
//! and how to make the live provider (for [`super::ProviderSet`]), so the two
//! cannot disagree.
//!
//! Invariant: only providers with live implementations are listed; the
//! file-backed test world is not, since it joins only when
//! `INFRA_TEST_WORLD` is set (both sides ask [`test_world_enabled`]).

use super::provider::Provider;
use super::schema::ResourceSchema;
use crate::host::Host;
use std::path::Path;
use std::sync::Arc;

/// One built-in provider.
pub struct Builtin {
    /// Its name (`local`).
    pub name: &'static str,
    /// Its managed resource types' schemas.
    pub resources: fn() -> Vec<ResourceSchema>,
    /// Its data source types' schemas.
    pub data_sources: fn() -> Vec<ResourceSchema>,
    /// The live provider, drawing on the host; paths are relative to the
    /// stack folder.
    pub make: fn(Arc<dyn Host>, &Path) -> Arc<dyn Provider>,
}

impl std::fmt::Debug for Builtin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builtin")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The built-in providers.
pub const BUILTIN: &[Builtin] = &[
    Builtin {
        name: "null",
        resources: || vec![super::null::schema()],
        data_sources: Vec::new,
        make: |host, _| Arc::new(super::null::NullProvider::new(host)),
    },
    Builtin {
        name: "local",
        resources: || {
            vec![
                super::local::file_schema(),
                super::local::directory_schema(),
            ]
        },
        data_sources: Vec::new,
        make: |host, dir| Arc::new(super::local::LocalProvider::new(host, dir.to_path_buf())),
    },
    Builtin {
        name: "http",
        resources: || vec![super::http::resource_schema()],
        data_sources: || vec![super::http::data_schema()],
        make: |host, dir| Arc::new(super::http::HttpProvider::new(host, dir.to_path_buf())),
    },
    Builtin {
        name: "postgres",
        resources: super::postgres::schemas,
        data_sources: Vec::new,
        make: |host, dir| {
            Arc::new(super::postgres::PostgresProvider::new(
                host,
                dir.to_path_buf(),
            ))
        },
    },
    Builtin {
        name: "process",
        resources: || vec![super::process::schema()],
        data_sources: Vec::new,
        make: |host, dir| {
            Arc::new(super::process::ProcessProvider::new(
                host,
                dir.to_path_buf(),
            ))
        },
    },
    Builtin {
        name: "ssh",
        resources: super::ssh::schemas,
        data_sources: Vec::new,
        make: |host, dir| Arc::new(super::ssh::SshProvider::new(host, dir.to_path_buf())),
    },
    Builtin {
        name: "aws",
        resources: super::aws::schemas,
        data_sources: Vec::new,
        make: |host, _| Arc::new(super::aws::AwsProvider::new(host)),
    },
];

/// Whether the file-backed test world (`test_resource`) is switched on:
/// `INFRA_TEST_WORLD` names a folder.
pub fn test_world_enabled(host: &dyn Host) -> bool {
    host.env_var(super::world::WORLD_VAR)
        .is_some_and(|dir| !dir.trim().is_empty())
}
