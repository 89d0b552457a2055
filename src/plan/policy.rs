//! What the policies said about a plan: the data `policy::evaluate` fills
//! and every plan view shows (the human plan under each resource and in a
//! "Policy" section, `policy_results` in the JSON form, a table in the
//! markdown comment).
//!
//! Terminology: a *policy* is a Rego package; a *violation* is one message of
//! its `deny` (blocking) or `warn` (reported) rules.
//!
//! Invariant: data only; no secret value is ever in a message (the policies
//! saw `"(secret)"` in place of every secret).

/// Whether a violation blocks the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Enforcement {
    /// A `deny` message: blocks `plan` (exit 1) and `apply`, unless warn-only.
    Deny,
    /// A `warn` message: reported, never blocks.
    Warn,
}

impl Enforcement {
    /// `deny` or `warn`, as the rule is named.
    pub fn as_str(self) -> &'static str {
        match self {
            Enforcement::Deny => "deny",
            Enforcement::Warn => "warn",
        }
    }
}

/// One message of a `deny` or `warn` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// `deny` or `warn`.
    pub enforcement: Enforcement,
    /// The policy: the Rego package, without `data.` (`tagging`, `std.policy.s3`).
    pub policy: String,
    /// The message (`msg`, or the string the rule produced).
    pub message: String,
    /// The resource it is about, when the message names one (`address`).
    pub address: Option<String>,
    /// `severity`, when the message gives one.
    pub severity: Option<String>,
    /// The policy file, as shown (`policy/tags.rego`, `std/policy/s3/s3.rego`).
    pub file: String,
    /// The line of the rule that produced it (1-based).
    pub line: u32,
}

/// One policy that was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyChecked {
    /// The Rego package, without `data.`.
    pub name: String,
    /// Its files, as shown.
    pub files: Vec<String>,
}

/// Everything the policies said about one plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyResults {
    /// The policies checked, by name.
    pub policies: Vec<PolicyChecked>,
    /// Every violation: denials first, then by policy, file and line.
    pub violations: Vec<Violation>,
    /// `--policy-warn-only`: denials are reported but do not block.
    pub warn_only: bool,
}

impl PolicyResults {
    /// The `deny` messages.
    pub fn denials(&self) -> impl Iterator<Item = &Violation> {
        self.violations
            .iter()
            .filter(|v| v.enforcement == Enforcement::Deny)
    }

    /// The `warn` messages.
    pub fn warnings(&self) -> impl Iterator<Item = &Violation> {
        self.violations
            .iter()
            .filter(|v| v.enforcement == Enforcement::Warn)
    }

    /// Whether the plan is blocked: a denial, and not warn-only.
    pub fn blocks(&self) -> bool {
        !self.warn_only && self.denials().next().is_some()
    }

    /// The violations about `address` (an instance, or its resource).
    pub fn about<'a>(
        &'a self,
        instance: &'a str,
        resource: &'a str,
    ) -> impl Iterator<Item = &'a Violation> {
        self.violations.iter().filter(move |v| {
            v.address
                .as_deref()
                .is_some_and(|a| a == instance || a == resource)
        })
    }
}
