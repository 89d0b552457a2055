//! Provider schemas: which resource types a provider has, and for each its
//! attributes — required, optional or computed, sensitive, forcing a
//! replacement when changed — with their language types.
//!
//! Invariant: data only; schemas are static and known without calling a provider.

use crate::lang::Type;

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
    /// One line for hover and completion.
    pub description: &'static str,
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
}

/// A builder shorthand: `attribute("path", Type::String).required().force_new()`.
pub fn attribute(name: &'static str, ty: Type) -> AttributeSchema {
    AttributeSchema {
        name,
        ty,
        presence: Presence::Optional,
        sensitive: false,
        force_new: false,
        description: "",
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

    /// Sets the description.
    #[must_use]
    pub fn describe(mut self, text: &'static str) -> Self {
        self.description = text;
        self
    }
}
