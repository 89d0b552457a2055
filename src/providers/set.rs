//! The providers an engine run talks to, by name, as shared trait objects.
//!
//! Invariant: [`ProviderSet::builtin`] holds only providers with live
//! implementations (`null` for now; `local` and the others join as their
//! issues land). Test-only providers are inserted by tests and benchmarks.

use super::null::NullProvider;
use super::provider::Provider;
use crate::host::Host;
use std::collections::BTreeMap;
use std::fmt;
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
    /// randomness (and, later, files).
    pub fn builtin(host: Arc<dyn Host>) -> Self {
        let mut set = Self::new();
        set.insert(Arc::new(NullProvider::new(host)));
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
    fn builtin_has_null_and_tests_add_test() {
        let set = ProviderSet::builtin(Arc::new(MemoryHost::new()));
        assert_eq!(set.names().collect::<Vec<_>>(), ["null"]);
        assert!(set.get("local").is_none(), "local is not implemented yet");
        let set = set.with(Arc::new(TestProvider::new()));
        assert_eq!(set.names().collect::<Vec<_>>(), ["null", "test"]);
        let found = set.for_resource_type("test_resource").map(|p| p.name());
        assert_eq!(found, Some("test"));
        assert_eq!(
            set.for_resource_type("null_resource").map(|p| p.name()),
            Some("null")
        );
        assert!(set.for_resource_type("local_file").is_none());
    }
}
