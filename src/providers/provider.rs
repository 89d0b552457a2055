//! The `Provider` trait: what the engine asks of every provider — its schemas,
//! offline validation, planning one change, and the create / read / update /
//! delete / import calls — plus the values that cross it ([`ObjectState`],
//! [`PlannedChange`]) and the one error type that comes back ([`ProviderError`]).
//!
//! Terminology: the *prior* object is what state last recorded for an instance;
//! the *proposed* attributes are the evaluated configuration; the *planned*
//! attributes are what the provider says the object will look like after the
//! change, with computed values it cannot know yet left unknown.
//!
//! Invariant: no state or configuration files and no printing; typed values in,
//! typed errors out. A `ProviderError` message never contains a secret value.
//! Invariant: every method takes `&self`, so one provider is shared as
//! `Arc<dyn Provider>` by concurrent tasks; providers keep mutable data behind
//! their own locks.

use super::operation::{DeploySteps, Operation, Resumed};
use super::schema::{AttributeSchema, Presence, ResourceSchema};
use crate::lang::{Kind, Value};
use async_trait::async_trait;
use std::time::Duration;

/// The attributes of one object, by name.
pub type Attributes = crate::lang::Map;

/// Where in an object something is: `["triggers"]`, `["tags", "team"]`, list
/// positions as decimal strings (`["rules", "0", "port"]`).
pub type AttributePath = Vec<String>;

/// One remote object as a provider reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectState {
    /// The provider's id for it (also in `attributes["id"]` when the schema has one).
    pub id: String,
    /// Every attribute of the schema, `null` when unset; sensitive ones marked secret.
    pub attributes: Attributes,
}

impl ObjectState {
    /// The attribute with this name, `null` when absent.
    pub fn attribute(&self, name: &str) -> &Value {
        self.attributes.get(name).unwrap_or(&Value::NULL)
    }
}

/// What the provider plans for one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedChange {
    /// The object after the change: configured values as proposed, computed ones
    /// kept from the prior object where they stay the same, unknown otherwise.
    pub planned: Attributes,
    /// The attributes whose change cannot be made in place (empty for a create).
    pub requires_replace: Vec<AttributePath>,
}

impl PlannedChange {
    /// Whether the change replaces the object.
    pub fn replaces(&self) -> bool {
        !self.requires_replace.is_empty()
    }
}

/// Whether trying again may help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderErrorKind {
    /// A timeout, throttling (HTTP 429), a 5xx, a dropped connection: the same
    /// call may succeed later. `retry_after` is the remote's hint (`Retry-After`);
    /// the engine waits at least that long before the next try.
    Transient {
        /// The earliest time to try again, when the remote said.
        retry_after: Option<Duration>,
    },
    /// Wrong input, no permission, a conflict: retrying the same call fails again.
    Permanent,
    /// The object does not exist (import of an unknown id, update of a deleted one).
    NotFound,
}

/// A failed provider call.
///
/// The message is for people and is shown as is, so **providers must redact**:
/// never put a secret value (or a sensitive attribute's value, or a credential)
/// into `message`; name the attribute through `attribute_path` instead, and the
/// plan and apply stages point at its span. The error's own text is just the
/// message; `plan` and `apply` wrap it in a diagnostic with a fixed phrase
/// and their own code (`infra::plan::provider_error`,
/// `infra::apply::provider_error`), the message in its help line, unless the
/// provider gives a code of its own for a failure users meet often and fix
/// the same way (`infra::ssh::nginx_missing`; see [`ProviderError::code`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ProviderError {
    /// Transient, permanent or not found.
    pub kind: ProviderErrorKind,
    /// What went wrong, without secret values.
    pub message: String,
    /// The attribute at fault, where there is one.
    pub attribute_path: Option<AttributePath>,
    /// The object as the failed call left it, when the call changed it while
    /// failing (a deploy that rolled back by starting the old version again,
    /// whose processes are new): recorded in state in place of the prior
    /// object, so the next read finds what runs. `None`: the prior object
    /// stands.
    pub left: Option<Box<ObjectState>>,
    /// The provider's own diagnostic code, when it has one for this failure
    /// (apply reports it instead of `infra::apply::provider_error`).
    pub code: Option<crate::diag::Code>,
}

impl ProviderError {
    /// A permanent error.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self::new(ProviderErrorKind::Permanent, message)
    }

    /// A transient error without a retry hint.
    pub fn transient(message: impl Into<String>) -> Self {
        Self::new(ProviderErrorKind::Transient { retry_after: None }, message)
    }

    /// A not-found error.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ProviderErrorKind::NotFound, message)
    }

    fn new(kind: ProviderErrorKind, message: impl Into<String>) -> Self {
        ProviderError {
            kind,
            message: message.into(),
            attribute_path: None,
            left: None,
            code: None,
        }
    }

    /// Says what the failed call left: the object as it is now (see
    /// [`ProviderError::left`]).
    #[must_use]
    pub fn leaving(mut self, object: ObjectState) -> Self {
        self.left = Some(Box::new(object));
        self
    }

    /// Points the error at an attribute: `.at(["tags", "team"])`.
    #[must_use]
    pub fn at<S: Into<String>>(mut self, path: impl IntoIterator<Item = S>) -> Self {
        self.attribute_path = Some(path.into_iter().map(Into::into).collect());
        self
    }

    /// Gives the error a diagnostic code of the provider's own
    /// (registered in `diag::Code`, documented in `docs/diagnostics.md`).
    #[must_use]
    pub fn code(mut self, code: crate::diag::Code) -> Self {
        self.code = Some(code);
        self
    }

    /// Makes the error transient with a retry hint.
    #[must_use]
    pub fn retry_after(mut self, wait: Duration) -> Self {
        self.kind = ProviderErrorKind::Transient {
            retry_after: Some(wait),
        };
        self
    }

    /// Whether retrying may help.
    pub fn is_transient(&self) -> bool {
        matches!(self.kind, ProviderErrorKind::Transient { .. })
    }

    /// The remote's hint for when to try again, if transient and given.
    pub fn retry_hint(&self) -> Option<Duration> {
        match self.kind {
            ProviderErrorKind::Transient { retry_after } => retry_after,
            _ => None,
        }
    }

    /// The error for a resource type this provider does not have.
    pub fn unknown_resource_type(provider: &str, resource_type: &str) -> Self {
        Self::permanent(format!(
            "provider `{provider}` has no resource type `{resource_type}`"
        ))
    }
}

/// A provider: one set of resource types and the calls that manage them.
///
/// Async methods return boxed `Send` futures (through `async_trait`), so the
/// engine can call one provider from many tokio tasks at once as
/// `Arc<dyn Provider>`. Only `apply` calls the mutating methods (`create`,
/// `update`, `delete`) and `resume`; `plan` calls `plan_change`, `read`,
/// `import` and `deploy_steps`. Each mutating call gets an [`Operation`]:
/// long calls report phases through it, watch it for cancellation (the first
/// Ctrl-C: roll back and fail) and checkpoint before each step they guard.
///
/// Conventions every provider keeps, so retries converge:
/// - `read` returns `Ok(None)` when the object was deleted outside;
/// - `delete` of an object that is already gone succeeds;
/// - `update` and `import` of an object that is gone fail with
///   [`ProviderErrorKind::NotFound`];
/// - returned attributes cover the whole schema (`null` when unset), with the
///   secret mark on sensitive attributes and on values that came in secret.
///   The engine does not rely on it: plan, apply and refresh put the marks
///   back by the schema's rule ([`seal_returned`]), so a computed attribute
///   must name the inputs it derives from (`AttributeSchema::derived_from`)
///   or it is secret whenever any input is.
#[async_trait]
pub trait Provider: Send + Sync {
    /// The provider's name (`null`, `local`), the prefix of its resource types.
    fn name(&self) -> &'static str;

    /// Every resource type it offers. Static: known without configuring.
    fn resource_schemas(&self) -> &[ResourceSchema];

    /// The schema of one resource type.
    fn schema(&self, resource_type: &str) -> Option<&ResourceSchema> {
        self.resource_schemas()
            .iter()
            .find(|schema| schema.resource_type == resource_type)
    }

    /// Whether calls on `resource_type` change nothing outside infra's own
    /// state (`null_resource`). The apply journals them like any other call
    /// but does not wait for those records to reach the disk before the
    /// call: a crash that lost them lost nothing a later apply does not make
    /// again, and the next call that does change something outside waits for
    /// them with its own records (one sync covers everything written before
    /// it). Nothing of such an object exists outside the state, so a
    /// refresh does not read it: it cannot drift. The default, `false`, is
    /// right for anything that talks to the outside.
    fn effect_free(&self, resource_type: &str) -> bool {
        let _ = resource_type;
        false
    }

    /// Takes the provider block's settings (credentials, endpoints) before any
    /// other async call. The default accepts anything and keeps nothing.
    /// Each provider configuration (`ssh`, `ssh.staging`) has its own
    /// instance (see [`super::ProviderSet`]), configured with its own block
    /// only, so what an instance keeps from here (connections, a region)
    /// is never shared with another block's.
    async fn configure(&self, config: &Attributes) -> Result<(), ProviderError> {
        let _ = config;
        Ok(())
    }

    /// Checks a configuration offline; unknown values pass (they are checked
    /// again at plan). Synchronous and without side effects, so `validate` and
    /// `check` may call it without a runtime. The default checks the schema:
    /// the type exists, no unknown attributes, required ones set, computed-only
    /// ones not set.
    fn validate(&self, resource_type: &str, config: &Attributes) -> Vec<ProviderError> {
        match self.schema(resource_type) {
            Some(schema) => validate_against_schema(schema, config),
            None => vec![ProviderError::unknown_resource_type(
                self.name(),
                resource_type,
            )],
        }
    }

    /// Plans one change: `prior` is `None` for a create. The default follows
    /// the schema (see [`plan_from_schema`]); providers whose computed values
    /// follow their inputs (a file's hash) override it.
    async fn plan_change(
        &self,
        resource_type: &str,
        prior: Option<&ObjectState>,
        proposed: &Attributes,
    ) -> Result<PlannedChange, ProviderError> {
        match self.schema(resource_type) {
            Some(schema) => Ok(plan_from_schema(schema, prior, proposed)),
            None => Err(ProviderError::unknown_resource_type(
                self.name(),
                resource_type,
            )),
        }
    }

    /// Creates an object from planned attributes whose configured values are
    /// all known (computed ones may be unknown); returns it with everything filled in.
    ///
    /// `op` carries the call's progress, cancellation and checkpoints (see
    /// [`Operation`]); a short call may ignore it.
    async fn create(
        &self,
        op: &Operation,
        resource_type: &str,
        planned: &Attributes,
    ) -> Result<ObjectState, ProviderError>;

    /// Reads the object as it is now; `Ok(None)` when it was deleted outside.
    async fn read(
        &self,
        resource_type: &str,
        prior: &ObjectState,
    ) -> Result<Option<ObjectState>, ProviderError>;

    /// Changes an object in place to the planned attributes.
    async fn update(
        &self,
        op: &Operation,
        resource_type: &str,
        prior: &ObjectState,
        planned: &Attributes,
    ) -> Result<ObjectState, ProviderError>;

    /// Deletes an object; succeeds when it is already gone.
    async fn delete(
        &self,
        op: &Operation,
        resource_type: &str,
        prior: &ObjectState,
    ) -> Result<(), ProviderError>;

    /// Reads an existing object by its id, to bring it under management.
    async fn import(&self, resource_type: &str, id: &str) -> Result<ObjectState, ProviderError>;

    /// Looks for the object that a create with these planned attributes made,
    /// to reconcile a create that was interrupted (the process died after the
    /// call started and before its result was recorded): `Ok(Some(_))` when it
    /// exists (the engine records it instead of creating a duplicate),
    /// `Ok(None)` when there is none or the provider cannot tell from the
    /// attributes (the engine creates it again). The default cannot tell.
    async fn find(
        &self,
        resource_type: &str,
        planned: &Attributes,
    ) -> Result<Option<ObjectState>, ProviderError> {
        let _ = (resource_type, planned);
        Ok(None)
    }

    /// Settles a call that was interrupted (the process died after its
    /// started record was journalled and before its result was): `prior` is
    /// the object it started from (`None` for a create), `planned` its planned
    /// attributes (`null` ones for a delete), `checkpoint` the last record it
    /// wrote through [`Operation::checkpoint`] (`None` when it wrote none).
    /// Finish the call or roll it back; never leave a router pointing at nothing.
    ///
    /// The default: a create without checkpoint is looked for with
    /// [`find`](Self::find) (found, it is recorded instead of created twice);
    /// anything else reports the prior object unchanged, and the engine plans
    /// the change again.
    async fn resume(
        &self,
        op: &Operation,
        resource_type: &str,
        prior: Option<&ObjectState>,
        planned: &Attributes,
        checkpoint: Option<&serde_json::Value>,
    ) -> Result<Resumed, ProviderError> {
        resume_by_default(self, op, resource_type, prior, planned, checkpoint).await
    }

    /// The steps a change goes through, when it is more than one call
    /// (services): shown by the plan and the impact analysis. `prior` is
    /// `None` for a create. The default has none.
    fn deploy_steps(
        &self,
        resource_type: &str,
        prior: Option<&ObjectState>,
        planned: &Attributes,
    ) -> Option<DeploySteps> {
        let _ = (resource_type, prior, planned);
        None
    }
}

/// The default [`Provider::resume`], for providers that override it for some
/// calls only: a create without checkpoint is looked for with
/// [`Provider::find`]; anything else reports the prior object unchanged.
pub async fn resume_by_default<P: Provider + ?Sized>(
    provider: &P,
    op: &Operation,
    resource_type: &str,
    prior: Option<&ObjectState>,
    planned: &Attributes,
    checkpoint: Option<&serde_json::Value>,
) -> Result<Resumed, ProviderError> {
    let _ = op;
    match (prior, checkpoint) {
        (None, None) => Ok(Resumed::Settled(
            provider.find(resource_type, planned).await?,
        )),
        (prior, _) => Ok(Resumed::Settled(prior.cloned())),
    }
}

/// Checks a configuration against a schema (see [`Provider::validate`]).
pub fn validate_against_schema(schema: &ResourceSchema, config: &Attributes) -> Vec<ProviderError> {
    let mut errors = Vec::new();
    for (name, value) in config {
        match schema.attribute(name) {
            None => errors.push(
                ProviderError::permanent(format!(
                    "`{}` has no attribute `{name}`",
                    schema.resource_type
                ))
                .at([name.as_str()]),
            ),
            Some(attribute) if !attribute.settable() && !value.is_null() => errors.push(
                ProviderError::permanent(format!(
                    "`{name}` is computed by the provider and cannot be set"
                ))
                .at([name.as_str()]),
            ),
            Some(_) => {}
        }
    }
    for attribute in &schema.attributes {
        let missing = config.get(attribute.name).is_none_or(Value::is_null);
        if attribute.presence == Presence::Required && missing {
            errors.push(
                ProviderError::permanent(format!("`{}` is required", attribute.name))
                    .at([attribute.name]),
            );
        }
    }
    errors
}

/// The schema-driven plan: every schema attribute appears in `planned`.
///
/// - A force-new attribute whose value differs from the prior one (or is
///   unknown, so may differ) requires a replacement; secret marks alone are no
///   change.
/// - Settable attributes take the proposed value (`null` when absent), except
///   that an optional-computed attribute left unset (`null`, absent, or the
///   bare unknown that expansion gives unset ones) keeps the prior value.
/// - Computed values are kept from the prior object on an in-place update and
///   unknown on a create or a replacement.
/// - Sensitive attributes are marked secret.
pub fn plan_from_schema(
    schema: &ResourceSchema,
    prior: Option<&ObjectState>,
    proposed: &Attributes,
) -> PlannedChange {
    let requires_replace: Vec<AttributePath> = match prior {
        None => Vec::new(),
        Some(prior) => schema
            .attributes
            .iter()
            .filter(|attribute| attribute.force_new && attribute.settable())
            .filter(|attribute| {
                let new = proposed.get(attribute.name).unwrap_or(&Value::NULL);
                new.contains_unknown() || !same_ignoring_marks(prior.attribute(attribute.name), new)
            })
            .map(|attribute| vec![attribute.name.to_owned()])
            .collect(),
    };
    // What a computed value can be taken from: the prior object, unless a new one replaces it.
    let kept = prior.filter(|_| requires_replace.is_empty());
    let planned = schema
        .attributes
        .iter()
        .map(|attribute| {
            // The expander gives an unset optional-computed attribute the bare
            // unknown (what references to it read before apply), so for those
            // a bare unknown counts as unset too.
            let unset_optional_computed =
                |v: &Value| attribute.presence == Presence::OptionalComputed && v.is_unknown();
            let configured = proposed
                .get(attribute.name)
                .filter(|v| !v.is_null() && !unset_optional_computed(v));
            let value = match (attribute.presence, configured, kept) {
                (Presence::Computed, _, Some(prior)) => prior.attribute(attribute.name).clone(),
                (Presence::Computed, _, None) => Value::UNKNOWN,
                (_, Some(value), _) => value.clone(),
                (Presence::OptionalComputed, None, Some(prior)) => {
                    prior.attribute(attribute.name).clone()
                }
                (Presence::OptionalComputed, None, None) => Value::UNKNOWN,
                (Presence::Required | Presence::Optional, None, _) => Value::NULL,
            };
            (
                attribute.name.to_owned(),
                value.mark_secret_if(attribute.sensitive),
            )
        })
        .collect();
    PlannedChange {
        planned,
        requires_replace,
    }
}

/// Whether two values are equal once every secret mark is removed.
///
/// Compared in place, node by node: a plan compares every attribute of every
/// instance this way (several times each), and copying both values to strip
/// their marks was a twentieth of a no-op plan's instructions.
pub fn same_ignoring_marks(a: &Value, b: &Value) -> bool {
    match (a.kind(), b.kind()) {
        (Kind::List(left), Kind::List(right)) => {
            left.len() == right.len()
                && left
                    .iter()
                    .zip(right)
                    .all(|(left, right)| same_ignoring_marks(left, right))
        }
        // Both maps are sorted by key, so equal maps pair up entry by entry.
        (Kind::Map(left), Kind::Map(right)) => {
            left.len() == right.len()
                && left
                    .iter()
                    .zip(right.iter())
                    .all(|((left_key, left), (right_key, right))| {
                        left_key == right_key && same_ignoring_marks(left, right)
                    })
        }
        (left, right) => left == right,
    }
}

/// Fills the schema's attributes from `values` (absent ones `null`), marks the
/// sensitive ones secret and drops names the schema does not have: the shape
/// every returned [`ObjectState`] has.
pub fn conform_to_schema(schema: &ResourceSchema, values: &Attributes) -> Attributes {
    schema
        .attributes
        .iter()
        .map(|attribute| {
            let value = values.get(attribute.name).cloned().unwrap_or(Value::NULL);
            (
                attribute.name.to_owned(),
                value.mark_secret_if(attribute.sensitive),
            )
        })
        .collect()
}

/// What a provider returned (`returned`: a planned, created, updated or read
/// object), with secret marks put back by the schema's rule, whatever the
/// provider marked — the same rule `check` uses before any call, so what was
/// typed secret is sealed:
///
/// - an attribute the configuration sets (`inputs`) keeps the marks of its
///   input (all of it secret when the provider changed a secret value);
/// - a computed one is secret when an input it is derived from is
///   ([`ResourceSchema::derived_secret`]);
/// - a sensitive one is secret;
/// - defence in depth: any string that contains the plaintext of a secret
///   input is secret too (a map whose keys carry one is secret whole).
///
/// Marks are only added, never removed.
pub fn seal_returned(
    schema: &ResourceSchema,
    inputs: &Attributes,
    returned: Attributes,
) -> Attributes {
    let texts = schema.secret_texts(inputs);
    // The open strings only matter when there is secret text to search for,
    // which most instances do not have: then they are not collected (a copy
    // of every string of the configuration, three times per instance).
    let public = if texts.is_empty() {
        Vec::new()
    } else {
        public_texts(schema, inputs)
    };
    let search = |value: Value| seal_texts(value, &texts, &public);
    returned
        .into_iter()
        .map(|(name, value)| {
            let attribute = schema.attribute(&name);
            let configured = inputs
                .get(&name)
                .filter(|input| !input.is_null() && !input.is_unknown())
                .filter(|_| attribute.is_none_or(AttributeSchema::settable));
            let value = match configured {
                Some(input) if input.contains_secret() => {
                    if same_ignoring_marks(input, &value) {
                        input.clone()
                    } else {
                        value.with_secret(true)
                    }
                }
                // What the configuration says in the open, returned as it
                // was: not searched.
                Some(input) if same_ignoring_marks(input, &value) => return (name, value),
                Some(_) => value,
                None => {
                    // Computed (or not yet known, or unset): secret when what
                    // it derives from is, or when the input it stands for is
                    // an unknown secret.
                    let derived = schema.derived_secret(&name, inputs)
                        || inputs.get(&name).is_some_and(Value::contains_secret);
                    value.mark_secret_if(derived)
                }
            };
            let value = value.mark_secret_if(attribute.is_some_and(|a| a.sensitive));
            (name, search(value))
        })
        .collect()
}

/// Every string the configuration sets in the open (not secret, not in a
/// sensitive attribute): a returned string equal to one (a file's id, which is
/// its public path) reveals nothing, whatever secret text it happens to hold.
fn public_texts(schema: &ResourceSchema, inputs: &Attributes) -> Vec<String> {
    fn collect(value: &Value, into: &mut Vec<String>) {
        if value.is_secret() {
            return;
        }
        match value.kind() {
            Kind::String(text) => into.push(text.clone()),
            Kind::List(items) => items.iter().for_each(|item| collect(item, into)),
            Kind::Map(entries) => entries.values().for_each(|item| collect(item, into)),
            _ => {}
        }
    }
    let mut texts = Vec::new();
    for (name, value) in inputs {
        if !schema.attribute(name).is_some_and(|a| a.sensitive) {
            collect(value, &mut texts);
        }
    }
    texts
}

/// `value` with every string that contains one of `texts` marked secret,
/// unless it is one of the `public` strings of the configuration.
fn seal_texts(value: Value, texts: &[String], public: &[String]) -> Value {
    if texts.is_empty() || value.is_secret() {
        return value;
    }
    let carries = |text: &str| {
        texts.iter().any(|secret| text.contains(secret.as_str()))
            && !public.iter().any(|open| open == text)
    };
    match value.kind() {
        Kind::String(text) => {
            let found = carries(text);
            value.mark_secret_if(found)
        }
        Kind::List(_) => match value.into_kind() {
            Kind::List(items) => Value::list(
                items
                    .into_iter()
                    .map(|item| seal_texts(item, texts, public))
                    .collect(),
            ),
            kind => Value::new(kind),
        },
        Kind::Map(entries) => {
            let keys_carry = entries.keys().any(|key| carries(key));
            match value.into_kind() {
                Kind::Map(entries) => Value::map(
                    entries
                        .into_iter()
                        .map(|(key, item)| (key, seal_texts(item, texts, public)))
                        .collect(),
                )
                .with_secret(keys_carry),
                kind => Value::new(kind),
            }
        }
        _ => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::local::file_schema;

    fn secret(text: &str) -> Value {
        Value::string(text).with_secret(true)
    }

    fn attributes(entries: &[(&str, Value)]) -> Attributes {
        entries
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.clone()))
            .collect()
    }

    #[test]
    fn a_computed_attribute_is_secret_exactly_when_an_input_it_is_derived_from_is() {
        let schema = file_schema();
        let inputs = attributes(&[
            ("path", secret("out/s3cret.txt")),
            ("content", Value::string("x")),
        ]);
        assert!(schema.derived_secret("id", &inputs));
        assert!(!schema.derived_secret("sha256", &inputs));
        assert!(!schema.derived_secret("size", &inputs));
        assert!(!schema.derived_secret("permissions", &inputs));
        // A set sensitive attribute is secret, marked or not; an unset one is not.
        let inputs = attributes(&[
            ("path", Value::string("out/a")),
            ("sensitive_content", Value::string("k")),
            ("content", Value::NULL.with_secret(true)),
        ]);
        assert!(schema.derived_secret("sha256", &inputs));
        assert!(!schema.derived_secret("id", &inputs));
        let inputs = attributes(&[
            ("path", Value::string("out/a")),
            ("sensitive_content", Value::NULL.with_secret(true)),
        ]);
        assert!(!schema.derived_secret("sha256", &inputs));
    }

    #[test]
    fn an_attribute_that_declares_nothing_is_secret_when_any_input_is() {
        let mut schema = file_schema();
        for attribute in &mut schema.attributes {
            attribute.derived_from = crate::providers::schema::DerivedFrom::AnyInput;
        }
        let inputs = attributes(&[("path", Value::string("out/a")), ("content", secret("k"))]);
        assert!(schema.derived_secret("id", &inputs));
        assert!(schema.derived_secret("permissions", &inputs));
    }

    #[test]
    fn every_builtin_computed_attribute_derives_from_settable_attributes_of_its_schema() {
        // A misspelt input would make the attribute never secret: a leak.
        let registry = crate::providers::Registry::builtin();
        let mut schemas: Vec<ResourceSchema> = registry
            .resource_types()
            .filter_map(|t| registry.resource(t))
            .chain(
                registry
                    .data_source_types()
                    .filter_map(|t| registry.data_source(t)),
            )
            .cloned()
            .collect();
        schemas.push(crate::providers::test::TestProvider::schema());
        schemas.push(crate::providers::world::WorldProvider::schema());
        let mut checked = 0;
        for schema in &schemas {
            for attribute in schema.attributes.iter().filter(|a| a.computed()) {
                let crate::providers::schema::DerivedFrom::Inputs(inputs) = attribute.derived_from
                else {
                    continue;
                };
                for input in inputs {
                    assert!(
                        schema
                            .attribute(input)
                            .is_some_and(AttributeSchema::settable),
                        "{}.{} derives from `{input}`, not a settable attribute",
                        schema.resource_type,
                        attribute.name
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked >= 10, "{checked}");
    }

    #[test]
    fn what_a_provider_returns_is_sealed_by_the_rule_whatever_it_marked() {
        let schema = file_schema();
        let inputs = attributes(&[
            ("path", secret("out/s3cret.txt")),
            ("content", Value::string("x")),
        ]);
        let returned = attributes(&[
            ("path", Value::string("out/s3cret.txt")),
            ("content", Value::string("x")),
            ("id", Value::string("out/s3cret.txt")),
            ("sha256", Value::string("2d71")),
            ("permissions", Value::string("0644")),
        ]);
        let sealed = seal_returned(&schema, &inputs, returned);
        let secret_of = |name: &str| sealed.get(name).is_some_and(Value::contains_secret);
        assert!(secret_of("path"));
        assert!(secret_of("id"));
        assert!(!secret_of("content"));
        assert!(!secret_of("sha256"));
        assert!(!secret_of("permissions"));
    }

    #[test]
    fn a_returned_string_that_carries_a_secret_input_is_sealed_whatever_the_schema_says() {
        let schema = file_schema();
        let inputs = attributes(&[
            ("path", Value::string("out/a.txt")),
            ("content", secret("s3cret")),
        ]);
        // `permissions` derives from nothing, but a provider that put the
        // secret in it is caught; so is a map whose key carries it.
        let returned = attributes(&[
            ("permissions", Value::string("mode-s3cret-0644")),
            (
                "id",
                Value::list(vec![Value::string("a"), Value::string("xs3cretx")]),
            ),
            (
                "size",
                Value::map(std::iter::once(("k-s3cret".to_owned(), Value::number(1))).collect()),
            ),
        ]);
        let sealed = seal_returned(&schema, &inputs, returned);
        assert!(sealed.get("permissions").is_some_and(Value::is_secret));
        let id = sealed
            .get("id")
            .and_then(Value::as_list)
            .unwrap_or_default();
        assert_eq!(
            id.iter().map(Value::is_secret).collect::<Vec<_>>(),
            [false, true]
        );
        assert!(sealed.get("size").is_some_and(Value::is_secret));
        // A secret too short to tell from a coincidence is not looked for.
        let inputs = attributes(&[("path", Value::string("out/a")), ("content", secret("06"))]);
        let returned = attributes(&[("permissions", Value::string("0644"))]);
        let sealed = seal_returned(&schema, &inputs, returned);
        assert!(
            !sealed
                .get("permissions")
                .is_some_and(Value::contains_secret)
        );
    }

    #[test]
    fn a_string_the_configuration_sets_in_the_open_is_not_sealed_for_holding_a_secret_text() {
        let schema = file_schema();
        let inputs = attributes(&[
            ("path", Value::string("out/production.env")),
            ("sensitive_content", secret("production")),
        ]);
        let returned = attributes(&[
            ("path", Value::string("out/production.env")),
            ("id", Value::string("out/production.env")),
            ("permissions", Value::string("production-0644")),
        ]);
        let sealed = seal_returned(&schema, &inputs, returned);
        assert!(!sealed.get("path").is_some_and(Value::contains_secret));
        assert!(!sealed.get("id").is_some_and(Value::contains_secret));
        assert!(sealed.get("permissions").is_some_and(Value::is_secret));
    }

    #[test]
    fn a_configured_value_keeps_the_marks_it_came_with() {
        let schema = crate::providers::null::schema();
        let inputs_value = Value::map(
            [
                ("plain".to_owned(), Value::string("p")),
                ("hidden".to_owned(), secret("h1dden")),
            ]
            .into_iter()
            .collect(),
        );
        let inputs = attributes(&[("inputs", inputs_value.clone())]);
        let returned = attributes(&[
            ("inputs", inputs_value.clone().unmark_deep().0),
            ("id", Value::string("123")),
        ]);
        let sealed = seal_returned(&schema, &inputs, returned);
        assert_eq!(sealed.get("inputs"), Some(&inputs_value));
        assert!(!sealed.get("id").is_some_and(Value::contains_secret));
        // Changed by the provider: secret whole.
        let returned = attributes(&[("inputs", Value::string("other"))]);
        let sealed = seal_returned(&schema, &inputs, returned);
        assert!(sealed.get("inputs").is_some_and(Value::is_secret));
    }

    #[test]
    fn values_compared_in_place_agree_with_unmarked_copies() {
        let map = |entries: &[(&str, Value)]| {
            Value::map(
                entries
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), v.clone()))
                    .collect(),
            )
        };
        let values = [
            Value::NULL,
            Value::UNKNOWN,
            Value::bool(true),
            Value::number(1),
            Value::number(crate::lang::Number::Float(1.5)),
            Value::string("a"),
            secret("a"),
            Value::list(vec![Value::string("a"), Value::number(2)]),
            Value::list(vec![secret("a"), Value::number(2)]).with_secret(true),
            Value::list(vec![Value::string("a")]),
            Value::list(vec![Value::string("a"), Value::number(2), Value::NULL]),
            map(&[("k", Value::string("v")), ("l", Value::list(vec![]))]),
            map(&[
                ("k", secret("v")),
                ("l", Value::list(vec![]).with_secret(true)),
            ]),
            map(&[("k", Value::string("v"))]),
            map(&[("j", Value::string("v")), ("l", Value::list(vec![]))]),
            map(&[("k", Value::string("w")), ("l", Value::list(vec![]))]),
            map(&[
                ("k", Value::list(vec![Value::string("v")])),
                ("l", Value::NULL),
            ]),
        ];
        let mut equal_pairs = 0;
        for a in &values {
            for b in &values {
                let expected = a.clone().unmark_deep().0 == b.clone().unmark_deep().0;
                assert_eq!(same_ignoring_marks(a, b), expected, "{a:?} against {b:?}");
                equal_pairs += usize::from(expected);
            }
        }
        // Each value equals itself, and the three marked copies their plain twins both ways.
        assert_eq!(equal_pairs, values.len() + 6);
    }
}
