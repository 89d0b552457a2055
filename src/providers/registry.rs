//! The registry of built-in providers' resource type schemas, read by `check`
//! without calling any provider. Each schema lives with its provider
//! (`null::schema`, `local::file_schema`); the registry only gathers them.

use super::schema::ResourceSchema;
use crate::host::Host;
use std::collections::BTreeMap;

/// Every built-in resource and data source type, by name.
#[derive(Debug, Clone)]
pub struct Registry {
    resources: BTreeMap<&'static str, ResourceSchema>,
    data_sources: BTreeMap<&'static str, ResourceSchema>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::builtin()
    }
}

impl Registry {
    /// The providers built into this binary.
    pub fn builtin() -> Self {
        let mut registry = Registry {
            resources: BTreeMap::new(),
            data_sources: BTreeMap::new(),
        };
        for builtin in super::builtin::BUILTIN {
            for schema in (builtin.resources)() {
                registry.add_resource(schema);
            }
            for schema in (builtin.data_sources)() {
                registry.add_data_source(schema);
            }
        }
        registry
    }

    /// The built-in providers plus the file-backed test world's
    /// `test_resource` when `INFRA_TEST_WORLD` is set (read through `host`),
    /// matching what `ProviderSet::builtin` offers.
    pub fn for_host(host: &dyn Host) -> Self {
        let mut registry = Self::builtin();
        if super::builtin::test_world_enabled(host) {
            registry.add_resource(super::world::WorldProvider::schema());
        }
        registry
    }

    /// Adds a managed resource type (tests add `TestProvider::schema()`).
    pub fn add_resource(&mut self, schema: ResourceSchema) {
        self.resources.insert(schema.resource_type, schema);
    }

    /// Adds a data source type.
    pub fn add_data_source(&mut self, schema: ResourceSchema) {
        self.data_sources.insert(schema.resource_type, schema);
    }

    /// The schema of a managed resource type.
    pub fn resource(&self, resource_type: &str) -> Option<&ResourceSchema> {
        self.resources.get(resource_type)
    }

    /// The schema of a data source type.
    pub fn data_source(&self, resource_type: &str) -> Option<&ResourceSchema> {
        self.data_sources.get(resource_type)
    }

    /// Every managed resource type name.
    pub fn resource_types(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.resources.keys().copied()
    }

    /// Every data source type name.
    pub fn data_source_types(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.data_sources.keys().copied()
    }

    /// Every provider name that has at least one type.
    pub fn provider_names(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = self
            .resources
            .values()
            .chain(self.data_sources.values())
            .map(|s| s.provider)
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }
}
