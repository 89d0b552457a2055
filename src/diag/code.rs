//! The registry of stable diagnostic codes.
//!
//! Every code users can see is a variant here, with its fixed message phrase.
//! `docs/diagnostics.md` documents each one (cause, fix, example); a test fails
//! on an undocumented code or one without a corpus case.
//!
//! Invariant: codes are never renamed or reused once released; messages are
//! lowercase phrases without a period and without user names or values.

macro_rules! codes {
    ($( $(#[$doc:meta])* $variant:ident => ($code:literal, $message:literal), )*) => {
        /// A stable diagnostic code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code {
            $( $(#[$doc])* $variant, )*
        }

        impl Code {
            /// Every code, in registry order.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The code as users see it, e.g. `infra::parse::unexpected_token`.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $code,)* }
            }

            /// The fixed message phrase.
            pub fn message(self) -> &'static str {
                match self { $(Code::$variant => $message,)* }
            }

            /// Looks a code up by its string form.
            pub fn from_str_code(text: &str) -> Option<Code> {
                match text { $($code => Some(Code::$variant),)* _ => None }
            }
        }
    };
}

codes! {
    // ---- parse: the text is not the language -------------------------------
    /// The parser met a token it did not expect; the help line says what it expected.
    ParseUnexpectedToken => ("infra::parse::unexpected_token", "unexpected token"),
    /// A quoted string has no closing quote before the end of the line.
    ParseUnterminatedString => ("infra::parse::unterminated_string", "unterminated string"),
    /// A heredoc has no closing marker line.
    ParseUnterminatedHeredoc => ("infra::parse::unterminated_heredoc", "unterminated heredoc"),
    /// An interpolation `${` has no closing `}`.
    ParseUnterminatedInterpolation => ("infra::parse::unterminated_interpolation", "unterminated interpolation"),
    /// A `/*` comment has no closing `*/`.
    ParseUnterminatedComment => ("infra::parse::unterminated_comment", "unterminated block comment"),
    /// A `{`, `[` or `(` has no matching closer, or a closer has no opener.
    ParseUnbalancedDelimiter => ("infra::parse::unbalanced_delimiter", "unbalanced delimiter"),
    /// Brackets, braces or parentheses nest deeper than the parser allows.
    ParseNestingTooDeep => ("infra::parse::nesting_too_deep", "nesting too deep"),
    /// A backslash escape in a string is not one the language knows.
    ParseInvalidEscape => ("infra::parse::invalid_escape", "invalid escape sequence"),
    /// A number literal cannot be represented.
    ParseInvalidNumber => ("infra::parse::invalid_number", "invalid number"),
    /// The file is not valid UTF-8.
    ParseInvalidUtf8 => ("infra::parse::invalid_utf8", "file is not valid utf-8"),

    // ---- check: well-formed text with the wrong structure --------------------
    /// A top-level block kind the language does not have.
    CheckUnknownBlock => ("infra::check::unknown_block", "unknown block type"),
    /// A block has too few or too many labels for its kind.
    CheckWrongLabelCount => ("infra::check::wrong_label_count", "wrong number of labels"),
    /// Two blocks of the same kind have the same labels.
    CheckDuplicateBlock => ("infra::check::duplicate_block", "duplicate block"),
    /// An attribute a fixed-shape block does not have.
    CheckUnknownAttribute => ("infra::check::unknown_attribute", "unknown attribute"),
    /// The same attribute is set twice in one block.
    CheckDuplicateAttribute => ("infra::check::duplicate_attribute", "duplicate attribute"),
    /// A nested block a block does not have.
    CheckUnexpectedBlock => ("infra::check::unexpected_block", "unexpected nested block"),
    /// A required attribute of a fixed-shape block is missing.
    CheckMissingAttribute => ("infra::check::missing_attribute", "missing required attribute"),
    /// A block that may appear once per stack appears more often.
    CheckDuplicateSingleton => ("infra::check::duplicate_singleton", "block may appear only once"),
    /// An attribute written at the top level of a file, outside any block.
    CheckAttributeAtTopLevel => ("infra::check::attribute_at_top_level", "attribute outside a block"),

    // ---- check: evaluation ----------------------------------------------------
    /// An operand or argument has the wrong type.
    CheckTypeMismatch => ("infra::check::type_mismatch", "type mismatch"),
    /// An attribute or map key that is not there.
    CheckMissingKey => ("infra::check::missing_key", "no such key"),
    /// A list index past the end.
    CheckIndexOutOfRange => ("infra::check::index_out_of_range", "index out of range"),
    /// Division or remainder by zero.
    CheckDivisionByZero => ("infra::check::division_by_zero", "division by zero"),
    /// An object constructor or `for` expression produced the same key twice.
    CheckDuplicateKey => ("infra::check::duplicate_key", "duplicate key"),
    /// Evaluation nested deeper than allowed.
    CheckEvaluationTooDeep => ("infra::check::evaluation_too_deep", "evaluation nests too deeply"),
    /// A function the language does not have.
    CheckUnknownFunction => ("infra::check::unknown_function", "unknown function"),
    /// A function whose result changes from run to run (`timestamp`).
    CheckNondeterministicFunction => ("infra::check::nondeterministic_function", "function is not deterministic"),
    /// A function called with too few or too many arguments.
    CheckWrongArgumentCount => ("infra::check::wrong_argument_count", "wrong number of arguments"),
    /// A function argument of the wrong kind or out of range.
    CheckInvalidArgument => ("infra::check::invalid_argument", "invalid function argument"),
    /// `env_var` named a variable that is not set.
    CheckMissingEnvVar => ("infra::check::missing_env_var", "environment variable not set"),
    /// `file` or `templatefile` could not read its file.
    CheckFileNotReadable => ("infra::check::file_not_readable", "file could not be read"),

    // ---- check: names, models and environments ---------------------------------
    /// A reference to something the configuration does not define.
    CheckUnknownReference => ("infra::check::unknown_reference", "unknown reference"),
    /// `each` used in a block without `for_each`.
    CheckEachWithoutForEach => ("infra::check::each_without_for_each", "each used without for_each"),
    /// `count` used in a block without `count`.
    CheckCountWithoutCount => ("infra::check::count_without_count", "count used without count"),
    /// `self` used outside a resource or service block.
    CheckSelfOutsideBlock => ("infra::check::self_outside_block", "self used outside its block"),
    /// A resource type no provider offers.
    CheckUnknownResourceType => ("infra::check::unknown_resource_type", "unknown resource type"),
    /// A `provider` block names a provider that is not built in.
    CheckUnknownProvider => ("infra::check::unknown_provider", "unknown provider"),
    /// A configuration sets an attribute the provider computes.
    CheckComputedAttribute => ("infra::check::computed_attribute", "attribute is computed by the provider"),
    /// A value that must be written literally (a module source, a backend name) is an expression.
    CheckExpectedLiteral => ("infra::check::expected_literal", "value must be a literal"),
    /// A `type` that is not a type expression.
    CheckInvalidType => ("infra::check::invalid_type", "invalid type expression"),
    /// A secret without exactly one of `generate`, `env`, `file`, or with a bad `generate`.
    CheckInvalidSecretSource => ("infra::check::invalid_secret_source", "invalid secret source"),
    /// A module source that does not exist.
    CheckModuleNotFound => ("infra::check::module_not_found", "module not found"),
    /// Modules that include each other.
    CheckModuleCycle => ("infra::check::module_cycle", "module includes itself"),
    /// Both `count` and `for_each` on one block.
    CheckCountAndForEach => ("infra::check::count_and_for_each", "count and for_each together"),
    /// A `moved` or `import` address that is malformed or names nothing in the configuration.
    CheckInvalidAddress => ("infra::check::invalid_address", "invalid address"),
    /// A stack with environments and neither `--env` nor `default_environment`.
    CheckEnvironmentRequired => ("infra::check::environment_required", "environment required"),
    /// `--env` or `default_environment` names no environment.
    CheckUnknownEnvironment => ("infra::check::unknown_environment", "unknown environment"),
    /// A variable without a default gets no value.
    CheckMissingVariableValue => ("infra::check::missing_variable_value", "no value for variable"),
    /// A variable's value does not fit its type.
    CheckInvalidVariableValue => ("infra::check::invalid_variable_value", "invalid value for variable"),
    /// A `validate` condition is false.
    CheckValidationFailed => ("infra::check::validation_failed", "variable validation failed"),
    /// A secret's `env` variable or `file` is missing.
    CheckSecretSourceMissing => ("infra::check::secret_source_missing", "secret source missing"),
    /// A secret reaches an output that is not `sensitive = true`.
    CheckSecretInOutput => ("infra::check::secret_in_output", "secret in a non-sensitive output"),
    /// A secret decides `count` or the keys of `for_each`.
    CheckSecretInMetaArgument => ("infra::check::secret_in_meta_argument", "secret in count or for_each"),
    /// `for_each` keys or `count` are not known until apply.
    CheckUnknownExpansion => ("infra::check::unknown_expansion", "count or for_each not known at plan time"),
    /// `count` or `for_each` has a value of the wrong kind.
    CheckInvalidExpansion => ("infra::check::invalid_expansion", "invalid count or for_each"),
    /// A resource attribute's value does not fit the provider's schema.
    CheckAttributeType => ("infra::check::attribute_type", "attribute has the wrong type"),

    // ---- graph: the dependency graph -------------------------------------------
    /// Things depend on each other in a circle.
    GraphCycle => ("infra::graph::cycle", "dependency cycle"),

    // ---- cli: the command line and the machine -------------------------------
    /// A file could not be read.
    CliUnreadableFile => ("infra::cli::unreadable_file", "file could not be read"),
    /// The stack folder does not exist or is not a folder.
    CliNoSuchDirectory => ("infra::cli::no_such_directory", "stack folder not found"),
    /// The stack folder has no `*.infra` files.
    CliNoInfraFiles => ("infra::cli::no_infra_files", "no .infra files in the stack folder"),
    /// A file given to `infra fmt` could not be written.
    CliUnwritableFile => ("infra::cli::unwritable_file", "file could not be written"),
    /// A path given on the command line (to `infra fmt`) does not exist.
    CliNoSuchPath => ("infra::cli::no_such_path", "no such file or folder"),
    /// The standard input could not be read.
    CliUnreadableStdin => ("infra::cli::unreadable_stdin", "standard input could not be read"),

    // ---- internal: bugs, not user errors --------------------------------------
    /// Something the program did not expect; this is a bug.
    Internal => ("infra::internal", "internal error, this is a bug"),
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
