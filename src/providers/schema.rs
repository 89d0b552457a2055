//! Provider schemas: which resource types a provider has, and for each its
//! attributes — required, optional or computed, sensitive, forcing a
//! replacement when changed — with their language types.
//!
//! Each computed attribute also says which inputs its value is derived from
//! ([`DerivedFrom`]), so whether it is secret is known before any provider
//! call: `check` marks it from the configuration, and the engine seals what a
//! provider returns by the same rule ([`ResourceSchema::derived_secret`]).
//!
//! Invariant: data only; schemas are static and known without calling a provider.

use crate::lang::{Map, Type, Value};

/// How an attribute gets its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// The configuration must set it.
    Required,
    /// The configuration may set it.
    Optional,
    /// The provider sets it; the configuration must not.
    Computed,
    /// The configuration may set it; otherwise the provider computes it.
    OptionalComputed,
}

/// Which inputs a computed attribute's value is derived from: it is secret
/// exactly when one of them is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DerivedFrom {
    /// Not declared: the conservative default, secret when any input of the
    /// instance is.
    AnyInput,
    /// These settable attributes (none: a value the provider makes up, such as
    /// a random id, or a file's current mode).
    Inputs(&'static [&'static str]),
}

/// One attribute of a resource type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeSchema {
    /// The attribute name.
    pub name: &'static str,
    /// Its language type.
    pub ty: Type,
    /// Required, optional or computed.
    pub presence: Presence,
    /// Its value is a secret even if the configuration's is not.
    pub sensitive: bool,
    /// Changing it replaces the instance.
    pub force_new: bool,
    /// For a computed value, the inputs it is derived from (its secret mark
    /// follows theirs).
    pub derived_from: DerivedFrom,
    /// One line for hover and completion.
    pub description: &'static str,
    /// An offline rule its known values must keep (a bucket name's form),
    /// checked when the configuration is evaluated, so `validate` reports it.
    pub rule: Option<ValueRule>,
}

/// A rule a known, non-null value of an attribute must keep, checked offline
/// when the configuration is evaluated (`validate`, `plan`): the service
/// would refuse the value, so it is said before any call.
#[derive(Clone, Copy)]
pub struct ValueRule {
    /// The rule in words, for the diagnostic's help line.
    pub rule: &'static str,
    /// `None` when `value` keeps the rule; otherwise what is wrong with it,
    /// in words that never quote the value (it may be a secret). `attributes`
    /// are the instance's other configured values (a queue's `fifo`), any of
    /// them possibly unknown.
    pub check: fn(value: &Value, attributes: &Map) -> Option<String>,
}

impl ValueRule {
    /// What is wrong with `value`, or `None`; unknown values keep every rule.
    pub fn broken_by(&self, value: &Value, attributes: &Map) -> Option<String> {
        if value.is_null() || value.contains_unknown() {
            return None;
        }
        (self.check)(value, attributes)
    }
}

impl PartialEq for ValueRule {
    fn eq(&self, other: &Self) -> bool {
        self.rule == other.rule
    }
}

impl Eq for ValueRule {}

impl std::fmt::Debug for ValueRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ValueRule").field(&self.rule).finish()
    }
}

impl AttributeSchema {
    /// Whether the configuration may set it.
    pub fn settable(&self) -> bool {
        self.presence != Presence::Computed
    }

    /// Whether the provider may compute it.
    pub fn computed(&self) -> bool {
        matches!(
            self.presence,
            Presence::Computed | Presence::OptionalComputed
        )
    }
}

/// A resource (or data source) type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceSchema {
    /// `local_file`.
    pub resource_type: &'static str,
    /// The provider that implements it (`local`).
    pub provider: &'static str,
    /// One line for hover and completion.
    pub description: &'static str,
    /// The attributes.
    pub attributes: Vec<AttributeSchema>,
}

impl ResourceSchema {
    /// The attribute with this name.
    pub fn attribute(&self, name: &str) -> Option<&AttributeSchema> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// Whether the computed value of `name` is secret, given the inputs the
    /// configuration sets (`inputs`, secret marks on): when one of the inputs
    /// it is derived from is secret, or is a sensitive attribute that is set.
    /// An attribute the schema does not have, or one that is not computed,
    /// derives nothing.
    pub fn derived_secret(&self, name: &str, inputs: &Map) -> bool {
        let Some(attribute) = self.attribute(name).filter(|a| a.computed()) else {
            return false;
        };
        let secret_input = |input: &AttributeSchema| {
            input.name != name
                && input.settable()
                && inputs.get(input.name).is_some_and(|value| {
                    // An unset input (null, secret-marked or not) carries nothing.
                    !value.is_null() && (value.contains_secret() || input.sensitive)
                })
        };
        match attribute.derived_from {
            DerivedFrom::AnyInput => self.attributes.iter().any(secret_input),
            DerivedFrom::Inputs(names) => names
                .iter()
                .filter_map(|input| self.attribute(input))
                .any(secret_input),
        }
    }

    /// The plaintext of every secret among `inputs`: each string inside a
    /// secret value, or inside a sensitive attribute. Used to seal a returned
    /// value that carries one, whatever the schema says (defence in depth).
    pub fn secret_texts(&self, inputs: &Map) -> Vec<String> {
        fn collect(value: &Value, secret: bool, into: &mut Vec<String>) {
            let secret = secret || value.is_secret();
            match value.kind() {
                crate::lang::Kind::String(text) if secret => into.push(text.clone()),
                crate::lang::Kind::List(items) => {
                    for item in items {
                        collect(item, secret, into);
                    }
                }
                crate::lang::Kind::Map(entries) => {
                    for (key, item) in entries.iter() {
                        if secret {
                            into.push(key.clone());
                        }
                        collect(item, secret, into);
                    }
                }
                _ => {}
            }
        }
        let mut texts = Vec::new();
        for (name, value) in inputs.iter() {
            let sensitive = self.attribute(name).is_some_and(|a| a.sensitive);
            collect(value, sensitive, &mut texts);
        }
        texts.retain(|text| text.chars().count() >= MIN_SECRET_TEXT);
        texts.sort();
        texts.dedup();
        texts
    }
}

/// Secrets shorter than this are not looked for inside returned values: a
/// one- or two-character secret would be "found" in every id and number by
/// coincidence. They are still covered by [`ResourceSchema::derived_secret`].
pub const MIN_SECRET_TEXT: usize = 4;

/// A builder shorthand: `attribute("path", Type::String).required().force_new()`.
pub fn attribute(name: &'static str, ty: Type) -> AttributeSchema {
    AttributeSchema {
        name,
        ty,
        presence: Presence::Optional,
        sensitive: false,
        force_new: false,
        derived_from: DerivedFrom::AnyInput,
        description: "",
        rule: None,
    }
}

impl AttributeSchema {
    /// Marks it required.
    #[must_use]
    pub fn required(mut self) -> Self {
        self.presence = Presence::Required;
        self
    }

    /// Marks it computed only.
    #[must_use]
    pub fn computed_only(mut self) -> Self {
        self.presence = Presence::Computed;
        self
    }

    /// Marks it optional, computed when not set.
    #[must_use]
    pub fn optional_computed(mut self) -> Self {
        self.presence = Presence::OptionalComputed;
        self
    }

    /// Marks it sensitive.
    #[must_use]
    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }

    /// Marks it as forcing a replacement.
    #[must_use]
    pub fn force_new(mut self) -> Self {
        self.force_new = true;
        self
    }

    /// Declares the inputs a computed value is derived from (see [`DerivedFrom`]).
    #[must_use]
    pub fn derived_from(mut self, inputs: &'static [&'static str]) -> Self {
        self.derived_from = DerivedFrom::Inputs(inputs);
        self
    }

    /// Sets the description.
    #[must_use]
    pub fn describe(mut self, text: &'static str) -> Self {
        self.description = text;
        self
    }

    /// Sets the offline rule its values must keep (see [`ValueRule`]).
    #[must_use]
    pub fn rule(mut self, rule: ValueRule) -> Self {
        self.rule = Some(rule);
        self
    }
}
