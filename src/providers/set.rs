//! The providers an engine run talks to, one live instance per provider
//! configuration ([`ProviderAddr`]: `ssh`, `ssh.staging`), as shared trait
//! objects.
//!
//! Terminology: a provider's *default* instance serves its block without
//! `alias` (or no block); an *aliased* instance serves one
//! `provider "NAME" { alias = "ALIAS" }` block, configured with that block's
//! settings only (its own connections, region, credentials).
//!
//! Invariant: [`ProviderSet::builtin`] holds only providers with live
//! implementations (`null`, `local`, `http`, `postgres`, `process`, `aws`, `ssh`; the others join as
//! their issues land).
//! Test-only providers are inserted by tests and benchmarks, except the
//! file-backed test world, which `builtin` adds when `INFRA_TEST_WORLD` is set
//! (see `docs/testing.md`).
//! Invariant: an aliased configuration is served by its own instance or by
//! none: [`ProviderSet::lookup`] never falls back to another configuration,
//! so an object is never read, changed or destroyed through another block's
//! settings (another host, another account).

use super::provider::Provider;
use super::world::WorldProvider;
use crate::addr::ProviderAddr;
use crate::host::Host;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// Makes a fresh, unconfigured instance of one provider (for an aliased block).
type Maker = Arc<dyn Fn() -> Option<Arc<dyn Provider>> + Send + Sync>;

/// Provider instances by configuration (`null`, `test`, `ssh.staging`).
#[derive(Clone, Default)]
pub struct ProviderSet {
    providers: BTreeMap<ProviderAddr, Arc<dyn Provider>>,
    /// How to make another instance, by provider name: only providers that
    /// can serve aliased blocks have one.
    makers: BTreeMap<&'static str, Maker>,
}

impl fmt::Debug for ProviderSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.providers.keys().map(ToString::to_string))
            .finish()
    }
}

impl ProviderSet {
    /// No providers.
    pub fn new() -> Self {
        Self::default()
    }

    /// The default instances of the built-in providers that are
    /// implemented, drawing on `host` for randomness and files; `local`
    /// paths are relative to `base_dir`, the stack folder. Each can make
    /// more instances for aliased blocks ([`ProviderSet::add_configuration`]).
    pub fn builtin(host: Arc<dyn Host>, base_dir: &Path) -> Self {
        let mut set = Self::new();
        for builtin in super::builtin::BUILTIN {
            let make = builtin.make;
            let (host, base_dir) = (host.clone(), base_dir.to_path_buf());
            set.insert_with_maker(Arc::new(move || Some(make(host.clone(), &base_dir))));
        }
        if super::builtin::test_world_enabled(host.as_ref()) {
            set.insert_with_maker(Arc::new(move || {
                WorldProvider::from_env(host.clone())
                    .map(|world| Arc::new(world) as Arc<dyn Provider>)
            }));
        }
        set
    }

    /// Adds the default instance `maker` makes, and keeps `maker` for aliases.
    fn insert_with_maker(&mut self, maker: Maker) {
        if let Some(provider) = maker() {
            self.makers.insert(provider.name(), maker);
            self.insert(provider);
        }
    }

    /// Adds a provider as its name's default instance; returns the one it
    /// replaces.
    pub fn insert(&mut self, provider: Arc<dyn Provider>) -> Option<Arc<dyn Provider>> {
        self.providers
            .insert(ProviderAddr::named(provider.name()), provider)
    }

    /// Adds a provider as the instance of configuration `addr` (tests give
    /// aliased configurations their own instances this way); returns the
    /// one it replaces.
    pub fn insert_at(
        &mut self,
        addr: ProviderAddr,
        provider: Arc<dyn Provider>,
    ) -> Option<Arc<dyn Provider>> {
        self.providers.insert(addr, provider)
    }

    /// Adds a provider, builder style.
    #[must_use]
    pub fn with(mut self, provider: Arc<dyn Provider>) -> Self {
        self.insert(provider);
        self
    }

    /// Makes the instance of an aliased configuration from its provider's
    /// maker, unless there is one already. False when the provider has no
    /// maker: only [`ProviderSet::builtin`] keeps makers (a provider a test
    /// inserts gets aliased instances through [`ProviderSet::insert_at`]).
    pub fn add_configuration(&mut self, addr: &ProviderAddr) -> bool {
        if self.providers.contains_key(addr) {
            return true;
        }
        let made = self
            .makers
            .get(addr.name.as_str())
            .and_then(|maker| maker())
            .filter(|provider| provider.name() == addr.name);
        match made {
            Some(provider) => {
                self.providers.insert(addr.clone(), provider);
                true
            }
            None => false,
        }
    }

    /// The instance of exactly this configuration.
    pub fn get(&self, addr: &ProviderAddr) -> Option<&Arc<dyn Provider>> {
        self.providers.get(addr)
    }

    /// The instance for an object of `resource_type` whose block (or state)
    /// names configuration `addr`. For a default configuration (the block's
    /// `provider = NAME`, or the type's prefix): that provider when it
    /// offers the type, else the default instance of the one that does. For
    /// an aliased one: its own instance when it offers the type, else none
    /// (see the module's invariant). The one lookup plan, apply, import and
    /// drift use.
    pub fn lookup(&self, resource_type: &str, addr: &ProviderAddr) -> Option<&Arc<dyn Provider>> {
        self.resolve(resource_type, addr)
            .map(|(_, provider)| provider)
    }

    /// [`ProviderSet::lookup`], with the configuration that serves: `addr`,
    /// or the default configuration of the provider that offers the type.
    /// What the state records for the object.
    pub fn resolve(
        &self,
        resource_type: &str,
        addr: &ProviderAddr,
    ) -> Option<(ProviderAddr, &Arc<dyn Provider>)> {
        let own = self
            .get(addr)
            .filter(|found| found.schema(resource_type).is_some());
        match own {
            Some(provider) => Some((addr.clone(), provider)),
            None if addr.is_default() => self
                .for_resource_type(resource_type)
                .map(|provider| (ProviderAddr::named(provider.name()), provider)),
            None => None,
        }
    }

    /// The default instance of the provider that offers this resource type.
    pub fn for_resource_type(&self, resource_type: &str) -> Option<&Arc<dyn Provider>> {
        self.providers
            .iter()
            .filter(|(addr, _)| addr.is_default())
            .map(|(_, provider)| provider)
            .find(|provider| provider.schema(resource_type).is_some())
    }

    /// Every provider name, sorted.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.providers
            .iter()
            .filter(|(addr, _)| addr.is_default())
            .map(|(_, provider)| provider.name())
    }

    /// Every configuration and its instance, sorted (`ssh`, `ssh.prod`, `ssh.staging`).
    pub fn configurations(&self) -> impl Iterator<Item = (&ProviderAddr, &Arc<dyn Provider>)> {
        self.providers.iter()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
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
        assert_eq!(
            set.lookup("service", &ProviderAddr::named("ssh"))
                .map(|p| p.name()),
            Some("ssh")
        );
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
            set.lookup(resource_type, &ProviderAddr::named(provider))
                .map(|p| p.name())
        };
        assert_eq!(found("local_file", "local"), Some("local"));
        // A block whose provider lacks the type (a typo'd name).
        assert_eq!(found("local_file", "null"), Some("local"));
        assert_eq!(found("local_file", "nowhere"), Some("local"));
        assert_eq!(found("aws_s3_bucket", "aws"), Some("aws"));
        assert_eq!(found("gcp_storage_bucket", "gcp"), None);
    }

    #[test]
    fn each_aliased_configuration_gets_its_own_instance_and_never_falls_back() {
        let mut set = ProviderSet::builtin(Arc::new(MemoryHost::new()), Path::new("stack"));
        let staging = ProviderAddr::new("ssh", Some("staging".to_owned()));
        let prod = ProviderAddr::new("ssh", Some("prod".to_owned()));
        let west = ProviderAddr::new("aws", Some("west".to_owned()));
        // Not made yet: an aliased configuration has no instance to fall back on.
        assert!(set.lookup("ssh_file", &staging).is_none());
        for addr in [&staging, &prod, &west] {
            assert!(set.add_configuration(addr), "{addr}");
        }
        assert!(set.add_configuration(&staging), "a second call keeps it");
        let instance = |addr: &ProviderAddr| set.lookup("ssh_file", addr).cloned();
        let (default, staging_one, prod_one) = (
            instance(&ProviderAddr::named("ssh")).unwrap(),
            instance(&staging).unwrap(),
            instance(&prod).unwrap(),
        );
        assert!(!Arc::ptr_eq(&default, &staging_one));
        assert!(!Arc::ptr_eq(&staging_one, &prod_one));
        assert!(Arc::ptr_eq(&staging_one, set.get(&staging).unwrap()));
        assert_eq!(
            set.lookup("aws_s3_bucket", &west).map(|p| p.name()),
            Some("aws")
        );
        // An aliased `aws` block cannot serve a `local_file`.
        assert!(set.lookup("local_file", &west).is_none());
        // The type's default provider is still the un-aliased instance.
        assert!(Arc::ptr_eq(
            set.for_resource_type("ssh_file").unwrap(),
            &default
        ));
        assert_eq!(
            set.configurations()
                .map(|(addr, _)| addr.to_string())
                .filter(|addr| addr.contains('.'))
                .collect::<Vec<_>>(),
            ["aws.west", "ssh.prod", "ssh.staging"]
        );
        assert_eq!(set.names().filter(|name| *name == "ssh").count(), 1);
        // A provider that is not built in has no maker.
        let mut tests = ProviderSet::new().with(Arc::new(TestProvider::new()));
        assert!(!tests.add_configuration(&ProviderAddr::new("test", Some("b".to_owned()))));
        assert!(!set.add_configuration(&ProviderAddr::new("gcp", Some("b".to_owned()))));
        let other = Arc::new(TestProvider::new());
        tests.insert_at(ProviderAddr::new("test", Some("b".to_owned())), other);
        assert!(
            tests
                .lookup(
                    "test_resource",
                    &ProviderAddr::new("test", Some("b".to_owned()))
                )
                .is_some()
        );
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
