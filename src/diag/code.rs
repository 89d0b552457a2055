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
    /// A template directive (`%{ else }`, `%{ endif }`, `%{ endfor }`) has no
    /// opening `%{ if }` or `%{ for }`, or an opening one is never closed.
    ParseUnbalancedDirective => ("infra::parse::unbalanced_directive", "unbalanced template directive"),
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
    /// `--var NAME=VALUE` names no declared variable.
    CheckUnknownVariable => ("infra::check::unknown_variable", "no such variable"),
    /// A variable file (`*.auto.vars`, `environments/NAME.vars`, `--var-file`) holds a block: only `name = value` lines belong there.
    CheckInvalidVarFile => ("infra::check::invalid_var_file", "variable file holds more than `name = value` lines"),
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
    /// A resource attribute's value breaks a rule of the provider's, checked offline (a bucket name's form).
    CheckAttributeValue => ("infra::check::attribute_value", "attribute value is not accepted by the provider"),
    /// A block label that must be a name is not: a label other blocks refer to
    /// (`local_file.app-config` would be a subtraction), or a stack or
    /// environment name, which names state files.
    CheckInvalidName => ("infra::check::invalid_name", "invalid name"),
    /// A `service` setting the `process` provider cannot use: an unknown
    /// strategy, a `max_error_rate` outside [0, 1], a duration without a unit,
    /// a strategy that needs a router without one, a secret in `run`.
    CheckInvalidServiceSetting => ("infra::check::invalid_service_setting", "invalid service setting"),
    /// `stack { history = ... }` is not `{ keep = N }` with N a whole number
    /// of at least 1: another type, zero or a negative number, a key other
    /// than `keep`, or a value that is not written literally.
    CheckInvalidHistorySetting => ("infra::check::invalid_history_setting", "invalid history setting"),

    // ---- graph: the dependency graph -------------------------------------------
    /// Things depend on each other in a circle.
    GraphCycle => ("infra::graph::cycle", "dependency cycle"),

    // ---- plan: planning and saved plans ------------------------------------------
    /// A provider's `read` or `plan_change` failed, or no live provider offers the type.
    PlanProviderError => ("infra::plan::provider_error", "provider call failed"),
    /// The plan would delete or replace a resource with `prevent_destroy = true`.
    PlanPreventDestroy => ("infra::plan::prevent_destroy", "plan would destroy a resource that prevents it"),
    /// The plan would delete or replace something in a protected environment without `--allow-destroy`.
    PlanProtectedEnvironment => ("infra::plan::protected_environment", "plan would destroy in a protected environment"),
    /// A `moved` block would move an instance onto one already in state, or two instances onto one address.
    PlanMovedConflict => ("infra::plan::moved_conflict", "moved block conflicts with the state"),
    /// A saved plan file is not JSON, not the plan format, or another format version.
    PlanInvalidFile => ("infra::plan::invalid_file", "plan file is not valid"),
    /// A saved plan file was altered, or made with another state key.
    PlanTampered => ("infra::plan::tampered", "plan file failed authentication"),
    /// The state moved since the plan was made (another serial or lineage, or it appeared or vanished).
    PlanStaleState => ("infra::plan::stale_state", "plan is stale: the state changed since it was made"),
    /// `--target ADDR` matches no resource in the configuration and no instance in the state.
    PlanUnknownTarget => ("infra::plan::unknown_target", "target matches nothing"),
    /// The configuration text or variables changed since the plan was made.
    PlanStaleConfiguration => ("infra::plan::stale_configuration", "plan is stale: the configuration changed since it was made"),
    /// The plan was made for another stack or environment.
    PlanWrongEnvironment => ("infra::plan::wrong_environment", "plan was made for another stack or environment"),

    // ---- apply: making the changes ---------------------------------------------
    /// A provider's `create`, `update`, `delete`, `read` or `import` failed permanently (or is not available).
    ApplyProviderError => ("infra::apply::provider_error", "provider call failed during apply"),
    /// A provider call panicked while applying.
    ApplyProviderPanicked => ("infra::apply::provider_panicked", "provider crashed during apply"),
    /// A provider returned an object with an empty id, missing schema attributes or unknown values.
    ApplyInvalidResult => ("infra::apply::invalid_result", "provider returned an invalid object"),
    /// Once the values it waited on were known, a change planned as an update turned into a replace, or values stayed unknown.
    ApplyInconsistentFinalPlan => ("infra::apply::inconsistent_final_plan", "final plan differs from the planned change"),
    /// The configuration could not be evaluated again with the values applied so far.
    ApplyUnresolved => ("infra::apply::unresolved", "configuration could not be resolved during apply"),
    /// Replacements and deletes wait on each other in a circle, so none can start.
    ApplyOrderCycle => ("infra::apply::order_cycle", "changes wait on each other"),
    /// `infra import ADDR ID` names an address that no resource block in the configuration has.
    ApplyImportTargetMissing => ("infra::apply::import_target_missing", "import address is not in the configuration"),

    // ---- state: stored state, its lock, journal and key -----------------------
    /// The state file (or a history version) is not JSON: truncated, or edited by hand.
    StateInvalidJson => ("infra::state::invalid_json", "state file is not valid json"),
    /// The state file is JSON but not the state format: an unknown or missing field, a wrong type.
    StateInvalidFormat => ("infra::state::invalid_format", "state file does not match the state format"),
    /// The state file was written by a newer `infra`, or in a format this one does not know.
    StateUnsupportedVersion => ("infra::state::unsupported_version", "unsupported state format version"),
    /// The checksum stored in the state file does not match its contents.
    StateChecksumMismatch => ("infra::state::checksum_mismatch", "state checksum does not match its contents"),
    /// The state's serial is lower than one already written.
    StateSerialBackwards => ("infra::state::serial_backwards", "state serial went backwards"),
    /// The state's lineage differs from its history's: it belongs to another state.
    StateForeignLineage => ("infra::state::foreign_lineage", "state belongs to another lineage"),
    /// The state was sealed with a different key than the one found.
    StateWrongKey => ("infra::state::wrong_key", "state key does not match"),
    /// The state holds sealed values but no key was found.
    StateMissingKey => ("infra::state::missing_key", "state key not found"),
    /// `INFRA_STATE_KEY` or the key file is not 32 bytes of base64.
    StateInvalidKey => ("infra::state::invalid_key", "state key is malformed"),
    /// Another command holds the state lock.
    StateLocked => ("infra::state::locked", "state is locked"),
    /// `force-unlock` was given a lock id that does not match the lock, or there is no lock.
    StateLockMismatch => ("infra::state::lock_mismatch", "no lock with that id"),
    /// A history version that does not exist was asked for.
    StateNoSuchVersion => ("infra::state::no_such_version", "no such state version"),
    /// A history version that the retention setting (`stack { history = { keep = N } }`) pruned was asked for.
    StateVersionPruned => ("infra::state::version_pruned", "state version was pruned from the history"),
    /// The journal has a damaged record before its last one.
    StateCorruptedJournal => ("infra::state::corrupted_journal", "state journal is corrupted"),
    /// The journal was started against another serial than the current version's.
    StateJournalStale => ("infra::state::journal_stale", "state journal was written against another version"),
    /// The journal was started against a state of another lineage.
    StateJournalForeignLineage => ("infra::state::journal_foreign_lineage", "state journal belongs to another state"),
    /// `stack { state = … }` names a backend this build does not have.
    StateUnknownBackend => ("infra::state::unknown_backend", "state backend not available"),
    /// A reading command folded an interrupted apply's journal in memory (a warning).
    StateUnrecordedActions => ("infra::state::unrecorded_actions", "actions of an interrupted apply are not yet recorded"),
    /// A state, history, lock, journal or key file could not be read or written.
    StateIo => ("infra::state::io", "state storage could not be read or written"),
    /// A command that needs a state found none for the stack environment.
    StateNoState => ("infra::state::no_state", "no state for this environment"),
    /// The current state file is gone while its history holds versions.
    StateMissingCurrent => ("infra::state::missing_current", "current state file is missing but its history is not"),
    /// An address given to a state command is not in the state.
    StateNoSuchAddress => ("infra::state::no_such_address", "address not in state"),
    /// `infra state mv` was given a target address that is already in the state.
    StateAddressExists => ("infra::state::address_exists", "address already in state"),
    /// `infra state mv` was asked to move between kinds (module and resource) or resource types.
    StateMoveTypeMismatch => ("infra::state::move_type_mismatch", "cannot move to an address of another kind or type"),
    /// `infra output NAME` names no output of the state.
    StateNoSuchOutput => ("infra::state::no_such_output", "no such output"),
    /// The `postgres` state backend has no usable `state_url` (missing, not a string, not a connection URL).
    StateBackendConfig => ("infra::state::backend_config", "state backend is not configured"),
    /// The state database could not be reached, or refused the connection.
    StateBackendUnreachable => ("infra::state::backend_unreachable", "state database could not be reached"),
    /// The state storage refused the credentials: a wrong password or `pg_hba.conf` rule (postgres), a wrong key, a bad signature, an expired token or no permission (s3).
    StateBackendDenied => ("infra::state::backend_denied", "state storage refused the credentials"),
    /// The connection to the state database failed in TLS: no TLS on the server, or a certificate that did not verify for the URL's `sslmode`.
    StateBackendTls => ("infra::state::backend_tls", "state database connection failed in TLS"),

    // ---- cli: the command line and the machine -------------------------------
    /// A file could not be read.
    CliUnreadableFile => ("infra::cli::unreadable_file", "file could not be read"),
    /// The stack folder does not exist or is not a folder.
    CliNoSuchDirectory => ("infra::cli::no_such_directory", "stack folder not found"),
    /// The stack folder exists but could not be listed (permissions, a link loop).
    CliUnreadableDirectory => ("infra::cli::unreadable_directory", "stack folder could not be read"),
    /// The stack folder has no `*.infra` files.
    CliNoInfraFiles => ("infra::cli::no_infra_files", "no .infra files in the stack folder"),
    /// A file given to `infra fmt` could not be written.
    CliUnwritableFile => ("infra::cli::unwritable_file", "file could not be written"),
    /// A path given on the command line (to `infra fmt`) does not exist.
    CliNoSuchPath => ("infra::cli::no_such_path", "no such file or folder"),
    /// The standard input could not be read.
    CliUnreadableStdin => ("infra::cli::unreadable_stdin", "standard input could not be read"),
    /// A command needs a confirmation, and there is no terminal to ask on.
    CliConfirmationRequired => ("infra::cli::confirmation_required", "confirmation required"),
    /// `infra init` would overwrite a file that is already there.
    CliFileExists => ("infra::cli::file_exists", "file already exists"),

    // ---- ssh: the ssh provider's own failures ---------------------------------
    /// A service with `provider = ssh` and a router, on a server without nginx.
    SshNginxMissing => ("infra::ssh::nginx_missing", "nginx is not installed on the server"),
    /// A service with `provider = ssh` whose `run` names a program the server does not have.
    SshCommandNotFound => ("infra::ssh::command_not_found", "the command is not on the server"),
    /// The server offered a host key other than the one `host_key` pins.
    SshHostKeyMismatch => ("infra::ssh::host_key_mismatch", "the server's host key is not the pinned one"),
    /// The server refused the provider's private key for the user.
    SshKeyRefused => ("infra::ssh::key_refused", "the server refused the private key"),
    /// Connecting and logging in took longer than the provider's `connect_timeout`.
    SshConnectTimeout => ("infra::ssh::connect_timeout", "connecting to the server timed out"),

    // ---- policy: Rego policies checked against plans ---------------------------
    /// A `.rego` policy (or a policy data file) does not parse; the help line has regorus's message.
    PolicyParse => ("infra::policy::parse", "policy does not parse"),
    /// A `deny` or `warn` rule failed at evaluation (a type error, a conflict between complete rules).
    PolicyEval => ("infra::policy::eval", "policy rule failed to evaluate"),
    /// Policy evaluation took longer than `--policy-timeout`.
    PolicyTimeout => ("infra::policy::timeout", "policy evaluation ran out of time"),
    /// A policy denied the plan, so `apply` changed nothing.
    PolicyDenied => ("infra::policy::denied", "plan denied by policy"),
    /// A policy folder named by `stack { policies }` or `--policy` does not exist or holds no policy.
    PolicyNotFound => ("infra::policy::not_found", "policy folder not found"),

    // ---- internal: bugs, not user errors --------------------------------------
    /// Something the program did not expect; this is a bug.
    Internal => ("infra::internal", "internal error, this is a bug"),
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
