//! The shape of every block kind: how many labels it takes, which attributes
//! and nested blocks its body may hold, which attributes it needs, and how often
//! it may appear. The structural passes read this table; later passes (names,
//! types, provider schemas) extend it rather than adding special cases.
//!
//! Invariant: data only; no diagnostics are built here.

/// What the body of a block may hold as attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attributes {
    /// Exactly these names; anything else is `infra::check::unknown_attribute`.
    Fixed(&'static [&'static str]),
    /// Any name: the attributes are checked later against a schema (resources,
    /// data sources, providers, services) or a module's variables.
    Open,
    /// Any name, each defining a named value shared by every block of the kind
    /// in the stack (`locals`): a name set twice, in one block or in two, is a
    /// duplicate.
    Names,
}

/// What the body of a block may hold as nested blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NestedBlocks {
    /// Only these kinds; anything else is `infra::check::unexpected_block`.
    Fixed(&'static [&'static BlockShape]),
    /// These kinds are checked against their shape; other kinds are left to
    /// the provider schema checks.
    Open(&'static [&'static BlockShape]),
}

impl NestedBlocks {
    /// The nested kinds with a known shape.
    pub fn known(self) -> &'static [&'static BlockShape] {
        match self {
            NestedBlocks::Fixed(shapes) | NestedBlocks::Open(shapes) => shapes,
        }
    }
}

/// How often a block of a kind may appear (in the stack for top-level kinds,
/// in the parent body for nested kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Occurrence {
    /// Once per distinct set of labels.
    Unique,
    /// Once per distinct label and value of the `alias` attribute (`provider`).
    UniqueByAlias,
    /// At most once, whatever its labels (`stack`).
    Singleton,
    /// Any number of times (`locals`, `moved`, `import`, `validate`).
    Repeatable,
}

/// The shape of one block kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockShape {
    /// The keyword.
    pub kind: &'static str,
    /// The placeholder shown for each label in help lines (`TYPE`, `NAME`); its
    /// length is the number of labels the kind takes.
    pub labels: &'static [&'static str],
    /// The attributes its body may hold.
    pub attributes: Attributes,
    /// The attributes that must be set.
    pub required: &'static [&'static str],
    /// The nested blocks its body may hold.
    pub blocks: NestedBlocks,
    /// How often it may appear.
    pub occurrence: Occurrence,
}

impl BlockShape {
    /// The header as users write it, for help lines: `resource "TYPE" "NAME" { ... }`.
    pub fn syntax(&self) -> String {
        let mut text = String::from(self.kind);
        for label in self.labels {
            text.push_str(&format!(" \"{label}\""));
        }
        text.push_str(" { ... }");
        text
    }

    /// The shape of a nested block kind this kind checks, if any.
    pub fn nested(&self, kind: &str) -> Option<&'static BlockShape> {
        self.blocks
            .known()
            .iter()
            .copied()
            .find(|shape| shape.kind == kind)
    }
}

/// `lifecycle { ... }` inside a resource or a service.
pub const LIFECYCLE: BlockShape = BlockShape {
    kind: "lifecycle",
    labels: &[],
    attributes: Attributes::Fixed(&[
        "prevent_destroy",
        "create_before_destroy",
        "ignore_changes",
        "replace_triggered_by",
    ]),
    required: &[],
    blocks: NestedBlocks::Fixed(&[]),
    occurrence: Occurrence::Unique,
};

/// `validate { condition, message }` inside a variable.
pub const VALIDATE: BlockShape = BlockShape {
    kind: "validate",
    labels: &[],
    attributes: Attributes::Fixed(&["condition", "message"]),
    required: &["condition", "message"],
    blocks: NestedBlocks::Fixed(&[]),
    occurrence: Occurrence::Repeatable,
};

/// `stack "NAME" { ... }`: the stack's name and state backend. `state` picks the
/// backend (`local`, `postgres`, `s3`); `state_url` (or `url`) is the
/// postgres connection; `state_bucket`, `state_key_prefix`, `state_region`,
/// `state_endpoint` (or `bucket`, `prefix`, `region`, `endpoint`) and
/// `state_access_key`, `state_secret_key`, `state_session_token` locate and
/// reach s3 state. `default_environment` is the environment used without
/// `--env`, `policies` the policy folders every plan is checked against, and
/// `history = { keep = N }` how many state versions the history keeps.
pub const STACK: BlockShape = BlockShape {
    kind: "stack",
    labels: &["NAME"],
    attributes: Attributes::Fixed(&[
        "state",
        "state_url",
        "url",
        "default_environment",
        "bucket",
        "region",
        "endpoint",
        "prefix",
        "state_bucket",
        "state_key_prefix",
        "state_region",
        "state_endpoint",
        "state_access_key",
        "state_secret_key",
        "state_session_token",
        "policies",
        "history",
    ]),
    required: &[],
    blocks: NestedBlocks::Fixed(&[]),
    occurrence: Occurrence::Singleton,
};

/// `variable "NAME" { ... }`.
pub const VARIABLE: BlockShape = BlockShape {
    kind: "variable",
    labels: &["NAME"],
    attributes: Attributes::Fixed(&["type", "default", "description", "sensitive", "nullable"]),
    required: &[],
    blocks: NestedBlocks::Fixed(&[&VALIDATE]),
    occurrence: Occurrence::Unique,
};

/// `environment "NAME" { ... }`.
pub const ENVIRONMENT: BlockShape = BlockShape {
    kind: "environment",
    labels: &["NAME"],
    attributes: Attributes::Fixed(&["vars", "protected", "description"]),
    required: &[],
    blocks: NestedBlocks::Fixed(&[]),
    occurrence: Occurrence::Unique,
};

/// `secret "NAME" { ... }`.
pub const SECRET: BlockShape = BlockShape {
    kind: "secret",
    labels: &["NAME"],
    attributes: Attributes::Fixed(&["generate", "env", "file", "description"]),
    required: &[],
    blocks: NestedBlocks::Fixed(&[]),
    occurrence: Occurrence::Unique,
};

/// `provider "NAME" { ... }`: its attributes come from the provider's schema.
pub const PROVIDER: BlockShape = BlockShape {
    kind: "provider",
    labels: &["NAME"],
    attributes: Attributes::Open,
    required: &[],
    blocks: NestedBlocks::Open(&[]),
    occurrence: Occurrence::UniqueByAlias,
};

/// `resource "TYPE" "NAME" { ... }`.
pub const RESOURCE: BlockShape = BlockShape {
    kind: "resource",
    labels: &["TYPE", "NAME"],
    attributes: Attributes::Open,
    required: &[],
    blocks: NestedBlocks::Open(&[&LIFECYCLE]),
    occurrence: Occurrence::Unique,
};

/// `data "TYPE" "NAME" { ... }`.
pub const DATA: BlockShape = BlockShape {
    kind: "data",
    labels: &["TYPE", "NAME"],
    attributes: Attributes::Open,
    required: &[],
    blocks: NestedBlocks::Open(&[]),
    occurrence: Occurrence::Unique,
};

/// `service "NAME" { ... }`: a process managed by the `process` provider.
pub const SERVICE: BlockShape = BlockShape {
    kind: "service",
    labels: &["NAME"],
    attributes: Attributes::Open,
    required: &[],
    blocks: NestedBlocks::Open(&[&LIFECYCLE]),
    occurrence: Occurrence::Unique,
};

/// `module "NAME" { source = ..., inputs... }`.
pub const MODULE: BlockShape = BlockShape {
    kind: "module",
    labels: &["NAME"],
    attributes: Attributes::Open,
    required: &[],
    blocks: NestedBlocks::Fixed(&[]),
    occurrence: Occurrence::Unique,
};

/// `output "NAME" { value = ... }`.
pub const OUTPUT: BlockShape = BlockShape {
    kind: "output",
    labels: &["NAME"],
    attributes: Attributes::Fixed(&["value", "description", "sensitive", "depends_on"]),
    required: &["value"],
    blocks: NestedBlocks::Fixed(&[]),
    occurrence: Occurrence::Unique,
};

/// `locals { NAME = ... }`.
pub const LOCALS: BlockShape = BlockShape {
    kind: "locals",
    labels: &[],
    attributes: Attributes::Names,
    required: &[],
    blocks: NestedBlocks::Fixed(&[]),
    occurrence: Occurrence::Repeatable,
};

/// `moved { from = OLD, to = NEW }`.
pub const MOVED: BlockShape = BlockShape {
    kind: "moved",
    labels: &[],
    attributes: Attributes::Fixed(&["from", "to"]),
    required: &["from", "to"],
    blocks: NestedBlocks::Fixed(&[]),
    occurrence: Occurrence::Repeatable,
};

/// `import { to = ADDR, id = "..." }`.
pub const IMPORT: BlockShape = BlockShape {
    kind: "import",
    labels: &[],
    attributes: Attributes::Fixed(&["to", "id", "provider"]),
    required: &["to", "id"],
    blocks: NestedBlocks::Fixed(&[]),
    occurrence: Occurrence::Repeatable,
};

/// Every top-level block kind, in the order DESIGN lists them.
pub const TOP_LEVEL: &[&BlockShape] = &[
    &STACK,
    &VARIABLE,
    &ENVIRONMENT,
    &SECRET,
    &PROVIDER,
    &RESOURCE,
    &DATA,
    &SERVICE,
    &MODULE,
    &OUTPUT,
    &LOCALS,
    &MOVED,
    &IMPORT,
];

/// The shape of a top-level block kind, if the language has it.
pub fn top_level(kind: &str) -> Option<&'static BlockShape> {
    TOP_LEVEL.iter().copied().find(|shape| shape.kind == kind)
}

/// The top-level kinds as a comma-separated list, for help lines.
pub fn top_level_list() -> String {
    TOP_LEVEL
        .iter()
        .map(|shape| shape.kind)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_counts_match_the_language() {
        let counts: Vec<(&str, usize)> =
            TOP_LEVEL.iter().map(|s| (s.kind, s.labels.len())).collect();
        assert_eq!(
            counts,
            [
                ("stack", 1),
                ("variable", 1),
                ("environment", 1),
                ("secret", 1),
                ("provider", 1),
                ("resource", 2),
                ("data", 2),
                ("service", 1),
                ("module", 1),
                ("output", 1),
                ("locals", 0),
                ("moved", 0),
                ("import", 0),
            ]
        );
        assert_eq!(LIFECYCLE.labels.len(), 0);
        assert_eq!(VALIDATE.labels.len(), 0);
    }

    #[test]
    fn required_attributes_are_allowed_attributes() {
        let mut shapes: Vec<&BlockShape> = TOP_LEVEL.to_vec();
        shapes.extend([&LIFECYCLE, &VALIDATE]);
        for shape in shapes {
            if let Attributes::Fixed(allowed) = shape.attributes {
                for name in shape.required {
                    assert!(allowed.contains(name), "{} requires {name}", shape.kind);
                }
            }
        }
    }

    #[test]
    fn syntax_shows_the_labels() {
        assert_eq!(RESOURCE.syntax(), "resource \"TYPE\" \"NAME\" { ... }");
        assert_eq!(LOCALS.syntax(), "locals { ... }");
    }
}
