//! The registry of built-in providers' resource type schemas, read by `check`
//! without calling any provider. `null_resource`'s schema lives with its
//! provider (`null::schema`); `local`'s stays here until that provider lands.

use super::schema::{ResourceSchema, attribute};
use crate::lang::Type;
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
        registry.add_resource(super::null::schema());
        registry.add_resource(ResourceSchema {
            resource_type: "local_file",
            provider: "local",
            description: "A file on the local filesystem.",
            attributes: vec![
                attribute("path", Type::String)
                    .required()
                    .force_new()
                    .describe("Where the file is, relative to the stack folder."),
                attribute("content", Type::String).describe("The text to write."),
                attribute("sensitive_content", Type::String)
                    .sensitive()
                    .describe("Text to write that is never shown."),
                attribute("content_base64", Type::String)
                    .describe("Bytes to write, base64-encoded."),
                attribute("permissions", Type::String).describe("Octal file mode, e.g. \"0644\"."),
                attribute("sha256", Type::String)
                    .computed_only()
                    .describe("SHA-256 of the content."),
                attribute("size", Type::Number)
                    .computed_only()
                    .describe("Size in bytes."),
                attribute("id", Type::String)
                    .computed_only()
                    .describe("The path."),
            ],
        });
        registry.add_resource(ResourceSchema {
            resource_type: "local_directory",
            provider: "local",
            description: "A folder on the local filesystem.",
            attributes: vec![
                attribute("path", Type::String)
                    .required()
                    .force_new()
                    .describe("Where the folder is, relative to the stack folder."),
                attribute("permissions", Type::String).describe("Octal mode, e.g. \"0755\"."),
                attribute("id", Type::String)
                    .computed_only()
                    .describe("The path."),
            ],
        });
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
