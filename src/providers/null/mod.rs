//! The `null` provider: `null_resource`, which stores its inputs and touches
//! nothing. The engine's own tests and benchmarks run on it.
//!
//! Invariant: no side effects; the only outside input is randomness for ids,
//! taken from the [`Host`] so that a seeded host gives the same ids every run.

use super::operation::Operation;
use super::provider::{Attributes, ObjectState, Provider, ProviderError, conform_to_schema};
use super::schema::{ResourceSchema, attribute};
use crate::host::Host;
use crate::lang::{Type, Value};
use async_trait::async_trait;
use std::sync::Arc;

/// The provider's name.
pub const NAME: &str = "null";

/// The `null_resource` type name.
pub const NULL_RESOURCE: &str = "null_resource";

/// The schema of `null_resource`.
pub fn schema() -> ResourceSchema {
    ResourceSchema {
        resource_type: NULL_RESOURCE,
        provider: NAME,
        description: "Stores its inputs and does nothing else; replaced when `triggers` change.",
        attributes: vec![
            attribute("triggers", Type::Map(Box::new(Type::Any)))
                .force_new()
                .describe("Any values; a change replaces the resource."),
            attribute("inputs", Type::Any)
                .describe("Any value, stored as is and updated in place."),
            attribute("id", Type::String)
                .computed_only()
                .derived_from(&[])
                .describe("A random id set at creation."),
        ],
    }
}

/// The `null` provider.
pub struct NullProvider {
    host: Arc<dyn Host>,
    schemas: Vec<ResourceSchema>,
}

impl std::fmt::Debug for NullProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NullProvider").finish_non_exhaustive()
    }
}

impl NullProvider {
    /// A provider drawing ids from the host's randomness.
    pub fn new(host: Arc<dyn Host>) -> Self {
        NullProvider {
            host,
            schemas: vec![schema()],
        }
    }

    /// A fresh id: 8 random bytes as 16 hex digits.
    fn new_id(&self) -> String {
        let mut bytes = [0u8; 8];
        self.host.random_bytes(&mut bytes);
        crate::hex::lower(&bytes)
    }

    fn check_type<'a>(&'a self, resource_type: &str) -> Result<&'a ResourceSchema, ProviderError> {
        self.schema(resource_type)
            .ok_or_else(|| ProviderError::unknown_resource_type(NAME, resource_type))
    }

    /// The object with this id and these attributes, shaped by the schema.
    fn object(
        &self,
        schema: &ResourceSchema,
        id: String,
        attributes: &Attributes,
    ) -> Result<ObjectState, ProviderError> {
        let mut attributes = conform_to_schema(schema, attributes);
        if let Some((name, _)) = attributes
            .iter()
            .find(|(name, value)| name.as_str() != "id" && value.contains_unknown())
        {
            return Err(ProviderError::permanent(
                "value is still unknown when the change is made (this is a bug in infra)",
            )
            .at([name.as_str()]));
        }
        attributes.insert("id".to_owned(), Value::string(id.clone()));
        Ok(ObjectState { id, attributes })
    }
}

#[async_trait]
impl Provider for NullProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    fn resource_schemas(&self) -> &[ResourceSchema] {
        &self.schemas
    }

    fn effect_free(&self, resource_type: &str) -> bool {
        resource_type == NULL_RESOURCE
    }

    async fn create(
        &self,
        _op: &Operation,
        resource_type: &str,
        planned: &Attributes,
    ) -> Result<ObjectState, ProviderError> {
        let schema = self.check_type(resource_type)?;
        self.object(schema, self.new_id(), planned)
    }

    async fn read(
        &self,
        resource_type: &str,
        prior: &ObjectState,
    ) -> Result<Option<ObjectState>, ProviderError> {
        // Nothing exists outside state, so the object is exactly what was recorded.
        self.check_type(resource_type)?;
        Ok(Some(prior.clone()))
    }

    async fn update(
        &self,
        _op: &Operation,
        resource_type: &str,
        prior: &ObjectState,
        planned: &Attributes,
    ) -> Result<ObjectState, ProviderError> {
        let schema = self.check_type(resource_type)?;
        self.object(schema, prior.id.clone(), planned)
    }

    async fn delete(
        &self,
        _op: &Operation,
        resource_type: &str,
        _prior: &ObjectState,
    ) -> Result<(), ProviderError> {
        self.check_type(resource_type)?;
        Ok(())
    }

    async fn import(&self, resource_type: &str, id: &str) -> Result<ObjectState, ProviderError> {
        let schema = self.check_type(resource_type)?;
        self.object(schema, id.to_owned(), &Attributes::new())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;
    use crate::host::MemoryHost;
    use std::collections::BTreeMap;

    fn provider() -> NullProvider {
        NullProvider::new(Arc::new(MemoryHost::new()))
    }

    fn triggers(version: &str) -> Attributes {
        let mut map = BTreeMap::new();
        map.insert("version".to_owned(), Value::string(version));
        let mut config = Attributes::new();
        config.insert("triggers".to_owned(), Value::map(map.into()));
        config
    }

    fn with_inputs(mut config: Attributes, inputs: &str) -> Attributes {
        config.insert("inputs".to_owned(), Value::string(inputs));
        config
    }

    #[tokio::test]
    async fn create_read_update_delete() {
        let null = provider();
        let config = with_inputs(triggers("1"), "a");
        let created = null
            .create(
                &crate::providers::Operation::detached(),
                NULL_RESOURCE,
                &config,
            )
            .await
            .unwrap();
        assert_eq!(created.id.len(), 16);
        assert!(created.id.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(created.attribute("id"), &Value::string(created.id.clone()));
        assert_eq!(created.attribute("inputs"), &Value::string("a"));

        let read = null.read(NULL_RESOURCE, &created).await;
        assert_eq!(read, Ok(Some(created.clone())));

        let updated = null
            .update(
                &crate::providers::Operation::detached(),
                NULL_RESOURCE,
                &created,
                &with_inputs(triggers("1"), "b"),
            )
            .await
            .unwrap();
        assert_eq!(updated.id, created.id);
        assert_eq!(updated.attribute("inputs"), &Value::string("b"));

        assert_eq!(
            null.delete(
                &crate::providers::Operation::detached(),
                NULL_RESOURCE,
                &updated
            )
            .await,
            Ok(())
        );
        let imported = null.import(NULL_RESOURCE, "abc").await;
        assert_eq!(imported.map(|o| o.id), Ok("abc".to_owned()));
    }

    #[tokio::test]
    async fn ids_are_deterministic_under_a_seeded_host() {
        let first = provider()
            .create(
                &crate::providers::Operation::detached(),
                NULL_RESOURCE,
                &triggers("1"),
            )
            .await;
        let second = provider()
            .create(
                &crate::providers::Operation::detached(),
                NULL_RESOURCE,
                &triggers("1"),
            )
            .await;
        assert_eq!(first, second);
        let null = provider();
        let a = null
            .create(
                &crate::providers::Operation::detached(),
                NULL_RESOURCE,
                &triggers("1"),
            )
            .await
            .map(|o| o.id);
        let b = null
            .create(
                &crate::providers::Operation::detached(),
                NULL_RESOURCE,
                &triggers("1"),
            )
            .await
            .map(|o| o.id);
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn changed_triggers_require_replacement() {
        let null = provider();
        let prior = null
            .create(
                &crate::providers::Operation::detached(),
                NULL_RESOURCE,
                &triggers("1"),
            )
            .await
            .unwrap();
        let change = null
            .plan_change(NULL_RESOURCE, Some(&prior), &triggers("2"))
            .await
            .unwrap();
        assert_eq!(change.requires_replace, vec![vec!["triggers".to_owned()]]);
        assert!(
            change.planned["id"].is_unknown(),
            "a replacement gets a new id"
        );

        // A secret mark alone is no change.
        let mut same = triggers("1");
        if let Some(value) = same.remove("triggers") {
            same.insert("triggers".to_owned(), value.with_secret(true));
        }
        let change = null
            .plan_change(NULL_RESOURCE, Some(&prior), &same)
            .await
            .unwrap();
        assert!(!change.replaces());

        // An unknown trigger may change, so it replaces.
        let mut unknown = Attributes::new();
        unknown.insert("triggers".to_owned(), Value::UNKNOWN);
        let change = null
            .plan_change(NULL_RESOURCE, Some(&prior), &unknown)
            .await
            .unwrap();
        assert!(change.replaces());
    }

    #[tokio::test]
    async fn computed_id_unknown_on_create_and_kept_on_update() {
        let null = provider();
        let created_plan = null
            .plan_change(NULL_RESOURCE, None, &triggers("1"))
            .await
            .unwrap();
        assert!(created_plan.planned["id"].is_unknown());
        assert!(created_plan.requires_replace.is_empty());
        assert_eq!(created_plan.planned["inputs"], Value::NULL);

        let prior = null
            .create(
                &crate::providers::Operation::detached(),
                NULL_RESOURCE,
                &created_plan.planned,
            )
            .await
            .unwrap();
        let update = null
            .plan_change(
                NULL_RESOURCE,
                Some(&prior),
                &with_inputs(triggers("1"), "new"),
            )
            .await
            .unwrap();
        assert!(!update.replaces());
        assert_eq!(update.planned["id"], Value::string(prior.id.clone()));
        assert_eq!(update.planned["inputs"], Value::string("new"));
    }

    #[tokio::test]
    async fn unknown_values_and_types_are_errors() {
        let null = provider();
        let mut config = triggers("1");
        config.insert("inputs".to_owned(), Value::UNKNOWN);
        let error = null
            .create(
                &crate::providers::Operation::detached(),
                NULL_RESOURCE,
                &config,
            )
            .await
            .err();
        assert_eq!(
            error.and_then(|e| e.attribute_path),
            Some(vec!["inputs".to_owned()])
        );
        let error = null
            .create(
                &crate::providers::Operation::detached(),
                "null_thing",
                &config,
            )
            .await
            .err();
        assert!(error.is_some_and(|e| !e.is_transient()));
        let errors = null.validate(NULL_RESOURCE, &{
            let mut config = triggers("1");
            config.insert("id".to_owned(), Value::string("x"));
            config.insert("colour".to_owned(), Value::string("x"));
            config
        });
        let paths: Vec<_> = errors
            .into_iter()
            .filter_map(|e| e.attribute_path)
            .collect();
        assert_eq!(
            paths,
            vec![vec!["colour".to_owned()], vec!["id".to_owned()]]
        );
    }
}
