//! The providers an engine run talks to, by name, as shared trait objects.
//!
//! Invariant: [`ProviderSet::builtin`] holds only providers with live
//! implementations (`null`, `local`, `http`, `postgres`, `process`, `aws`, `ssh`; the others join as
//! their issues land).
//! Test-only providers are inserted by tests and benchmarks, except the
//! file-backed test world, which `builtin` adds when `INFRA_TEST_WORLD` is set
//! (see `docs/testing.md`).

use super::provider::Provider;
use super::world::WorldProvider;
use crate::host::Host;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// Provider instances by name (`null`, `test`).
#[derive(Clone, Default)]
pub struct ProviderSet {
    providers: BTreeMap<&'static str, Arc<dyn Provider>>,
}

impl fmt::Debug for ProviderSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.providers.keys()).finish()
    }
}

impl ProviderSet {
    /// No providers.
    pub fn new() -> Self {
        Self::default()
    }

    /// The built-in providers that are implemented, drawing on `host` for
    /// randomness and files; `local` paths are relative to `base_dir`, the
    /// stack folder.
    pub fn builtin(host: Arc<dyn Host>, base_dir: &Path) -> Self {
        let mut set = Self::new();
        for builtin in super::builtin::BUILTIN {
            set.insert((builtin.make)(host.clone(), base_dir));
        }
        if super::builtin::test_world_enabled(host.as_ref())
            && let Some(world) = WorldProvider::from_env(host)
        {
            set.insert(Arc::new(world));
        }
        set
    }

    /// Adds a provider under its own name; returns the one it replaces.
    pub fn insert(&mut self, provider: Arc<dyn Provider>) -> Option<Arc<dyn Provider>> {
        self.providers.insert(provider.name(), provider)
    }

    /// Adds a provider, builder style.
    #[must_use]
    pub fn with(mut self, provider: Arc<dyn Provider>) -> Self {
        self.insert(provider);
        self
    }

    /// The provider with this name.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Provider>> {
        self.providers.get(name)
    }

    /// The provider for an instance of `resource_type` whose block names
    /// `provider` (the block's provider, or the type's prefix): that
    /// provider when it offers the type, else the one that does. The one
    /// lookup plan, apply, import and drift use.
    pub fn lookup(&self, resource_type: &str, provider: &str) -> Option<&Arc<dyn Provider>> {
        self.get(provider)
            .filter(|found| found.schema(resource_type).is_some())
            .or_else(|| self.for_resource_type(resource_type))
    }

    /// The provider that offers this resource type.
    pub fn for_resource_type(&self, resource_type: &str) -> Option<&Arc<dyn Provider>> {
        self.providers
            .values()
            .find(|provider| provider.schema(resource_type).is_some())
    }

    /// Every provider name, sorted.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.providers.keys().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::MemoryHost;
    use crate::providers::test::TestProvider;

    #[test]
    fn builtin_has_null_and_local_and_tests_add_test() {
        let set = ProviderSet::builtin(Arc::new(MemoryHost::new()), Path::new("stack"));
        assert_eq!(
            set.names().collect::<Vec<_>>(),
            ["aws", "http", "local", "null", "postgres", "process", "ssh"]
        );
        let set = set.with(Arc::new(TestProvider::new()));
        assert_eq!(
            set.names().collect::<Vec<_>>(),
            [
                "aws", "http", "local", "null", "postgres", "process", "ssh", "test"
            ]
        );
        for http in ["http_resource", "http"] {
            let found = set.for_resource_type(http).map(|p| p.name());
            assert_eq!(found, Some("http"));
        }
        let found = set.for_resource_type("test_resource").map(|p| p.name());
        assert_eq!(found, Some("test"));
        assert_eq!(
            set.for_resource_type("null_resource").map(|p| p.name()),
            Some("null")
        );
        // `ssh` runs `service` blocks too (with `provider = ssh`); the type's
        // default stays the `process` provider.
        assert_eq!(
            set.for_resource_type("service").map(|p| p.name()),
            Some("process")
        );
        assert_eq!(set.lookup("service", "ssh").map(|p| p.name()), Some("ssh"));
        for local in ["local_file", "local_directory"] {
            let found = set.for_resource_type(local).map(|p| p.name());
            assert_eq!(found, Some("local"));
        }
    }

    #[test]
    fn lookup_takes_the_named_provider_when_it_offers_the_type_else_the_one_that_does() {
        let set = ProviderSet::builtin(Arc::new(MemoryHost::new()), Path::new("stack"))
            .with(Arc::new(TestProvider::new()));
        let found = |resource_type: &str, provider: &str| {
            set.lookup(resource_type, provider).map(|p| p.name())
        };
        assert_eq!(found("local_file", "local"), Some("local"));
        // A block whose provider lacks the type (a typo'd or aliased name).
        assert_eq!(found("local_file", "null"), Some("local"));
        assert_eq!(found("local_file", "nowhere"), Some("local"));
        assert_eq!(found("aws_s3_bucket", "aws"), Some("aws"));
        assert_eq!(found("gcp_storage_bucket", "gcp"), None);
    }

    #[test]
    fn the_registry_and_the_live_set_come_from_one_list() {
        let registry = crate::providers::Registry::builtin();
        let set = ProviderSet::builtin(Arc::new(MemoryHost::new()), Path::new("stack"));
        assert_eq!(
            registry.provider_names(),
            set.names().collect::<Vec<_>>(),
            "every built-in provider has schemas and a live implementation"
        );
        for resource_type in registry
            .resource_types()
            .chain(registry.data_source_types())
        {
            let schema = registry
                .resource(resource_type)
                .or_else(|| registry.data_source(resource_type));
            let live = set.for_resource_type(resource_type).map(|p| p.name());
            assert_eq!(live, schema.map(|s| s.provider), "{resource_type}");
        }
    }
}
