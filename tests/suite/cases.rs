//! The corpus cases, one `#[test]` each, plus the checks that keep the list,
//! the folder, the snapshots and the code registry in step.
//!
//! Adding a case: write `tests/corpus/<area>/<name>.infra` (or a folder), add
//! `<name>` below, run `INSTA_UPDATE=always cargo test --test all corpus::` and read
//! the new snapshot. `listed_cases_match_the_corpus_folder` names any case
//! missing from the list.
//!
//! Why a list and not a `build.rs`: a package build script would re-run, and
//! rebuild the library, on every corpus edit, and would slow `cargo build` for
//! everyone; the list gives the same one-test-per-case names and cannot go stale
//! because of the check below.

use super::harness;
use infra::diag::Code;
use std::collections::BTreeSet;

macro_rules! corpus_cases {
    ($($area:ident { $($name:ident,)* })*) => {
        $(
            mod $area {
                $(
                    #[test]
                    fn $name() {
                        super::harness::run_case(stringify!($area), stringify!($name));
                    }
                )*
            }
        )*

        /// Every listed case as `(area, name)`.
        const LISTED: &[(&str, &str)] = &[$($((stringify!($area), stringify!($name)),)*)*];
    };
}

corpus_cases! {
    parse {
        all_block_kinds,
        comments_all_kinds,
        dollar_dollar_escape,
        empty_file,
        expressions_every_form,
        for_expressions,
        heredocs,
        type_expressions,
        unexpected_token_top_level,
        missing_equals,
        missing_equals_before_attribute,
        missing_value,
        two_broken_blocks_both_reported,
        unbalanced_directive,
        unterminated_string,
        unterminated_string_at_end_of_file,
        unterminated_heredoc,
        unterminated_interpolation,
        unterminated_comment,
        unclosed_brace,
        stray_closing_brace,
        unclosed_bracket,
        nesting_too_deep,
        nesting_ten_thousand_brackets,
        invalid_escape,
        invalid_number,
        invalid_utf8,
    }
    check {
        attribute_type,
        attribute_value,
        computed_attribute,
        count_and_for_each,
        count_without_count,
        division_by_zero,
        duplicate_attribute,
        duplicate_block,
        duplicate_block_across_files,
        duplicate_key,
        duplicate_stack_block,
        each_count_self_valid,
        each_without_for_each,
        evaluation_too_deep,
        expected_literal,
        file_not_readable,
        graph_cycle,
        import_id_not_a_plain_string,
        index_out_of_range,
        invalid_address,
        invalid_argument,
        invalid_expansion,
        invalid_history_setting,
        invalid_name,
        invalid_secret_source,
        invalid_service_setting,
        invalid_type,
        invalid_variable_value,
        language_comments,
        language_conditionals,
        language_count,
        language_data_sources,
        language_depends_on_and_lifecycle,
        language_for_each,
        language_for_expressions,
        language_function_calls,
        language_heredocs,
        language_indexing_and_splats,
        language_literals,
        language_locals,
        language_module_instances,
        language_modules,
        language_moved_and_import,
        language_operators,
        language_outputs,
        language_providers,
        language_references,
        language_resources,
        language_secret_from_env,
        language_secret_propagation,
        language_secret_refused,
        language_secrets,
        language_services,
        language_stack_and_environments,
        language_strings,
        language_templates,
        language_types,
        language_variables,
        missing_attribute,
        missing_env_var,
        missing_key,
        missing_variable_value,
        module_cycle,
        module_instance_keys,
        module_instance_references,
        module_not_found,
        module_valid,
        moved_import_valid,
        nondeterministic_function,
        secret_in_meta_argument,
        secret_in_output,
        secret_output_sensitive_valid,
        secret_source_missing,
        self_outside_block,
        service_written_as_a_resource,
        stack_history_keep,
        stack_history_keep_not_whole,
        stack_history_keep_string,
        stack_history_missing_keep,
        stack_history_negative_keep,
        stack_history_not_an_object,
        stack_history_unknown_key,
        stack_policies_literal,
        stack_policies_not_a_list,
        stdlib_valid,
        top_level_attribute,
        type_mismatch,
        unexpected_nested_block,
        unknown_attribute,
        unknown_block_kind,
        unknown_environment,
        unknown_expansion,
        unknown_function,
        unknown_provider,
        unknown_provider_alias,
        unknown_provider_alias_in_a_module,
        unknown_provider_alias_in_a_service,
        unknown_reference,
        unknown_resource_type,
        valid_stack_two_files,
        validation_failed,
        variable_not_nullable,
        wrong_argument_count,
        wrong_label_count,
    }
}

#[test]
fn listed_cases_match_the_corpus_folder() {
    let on_disk: BTreeSet<(String, String)> = harness::cases_on_disk().into_iter().collect();
    let listed: BTreeSet<(String, String)> = LISTED
        .iter()
        .map(|(area, name)| ((*area).to_owned(), (*name).to_owned()))
        .collect();
    let missing: Vec<String> = on_disk
        .difference(&listed)
        .map(|(area, name)| format!("{area} {{ {name}, }}"))
        .collect();
    let gone: Vec<String> = listed
        .difference(&on_disk)
        .map(|(area, name)| format!("{area}/{name}"))
        .collect();
    assert!(
        missing.is_empty() && gone.is_empty(),
        "tests/suite/cases.rs is out of step with tests/corpus/\n\
         cases on disk but not listed (add them to corpus_cases!): {missing:#?}\n\
         cases listed but not on disk: {gone:#?}"
    );
}

#[test]
fn every_code_has_a_corpus_case() {
    let mut expected: BTreeSet<Code> = BTreeSet::new();
    for (area, name) in LISTED {
        let case = harness::read_case(area, name).unwrap_or_else(|e| panic!("{e}"));
        for (index, file) in case.files.iter().enumerate() {
            let text = String::from_utf8_lossy(&file.bytes);
            let marks = harness::parse_marks(index, &text).unwrap_or_else(|e| panic!("{e}"));
            expected.extend(marks.into_iter().map(|m| m.code));
        }
    }
    let exempt: BTreeSet<&str> = harness::EXEMPT_FROM_CORPUS
        .iter()
        .map(|(c, _)| *c)
        .collect();
    for code in &exempt {
        assert!(
            Code::from_str_code(code).is_some(),
            "EXEMPT_FROM_CORPUS names {code}, which is not in the registry"
        );
    }
    let uncovered: Vec<&str> = Code::ALL
        .iter()
        .filter(|code| !expected.contains(code) && !exempt.contains(code.as_str()))
        .map(|code| code.as_str())
        .collect();
    assert!(
        uncovered.is_empty(),
        "codes with no `# error: [code]` mark in tests/corpus/ (add a case, or exempt \
         with a reason in harness::EXEMPT_FROM_CORPUS): {uncovered:#?}"
    );
}

#[test]
fn no_unreferenced_snapshots() {
    let expected: BTreeSet<String> = LISTED
        .iter()
        .map(|(area, name)| format!("{}.snap", harness::snapshot_name(area, name)))
        .collect();
    let folder = harness::root().join("tests/snapshots");
    let mut unreferenced = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&folder) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            // Other test binaries (`semantics__*`) keep their snapshots here too.
            let corpus = harness::AREAS
                .iter()
                .any(|area| name.starts_with(&format!("{area}__")));
            if corpus && name.ends_with(".snap") && !expected.contains(&name) {
                unreferenced.push(name);
            }
        }
    }
    unreferenced.sort();
    assert!(
        unreferenced.is_empty(),
        "snapshots in tests/snapshots/ that no corpus case writes (delete them): {unreferenced:#?}"
    );
}

/// The test files a reason names: words of the form `tests/….rs` or
/// `src/….rs`.
fn cited_files(reason: &str) -> Vec<String> {
    reason
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '(' | ')' | '`'))
        .map(|word| word.trim_end_matches('.'))
        .filter(|word| {
            (word.starts_with("tests/") || word.starts_with("src/")) && word.ends_with(".rs")
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_exemption_names_tests_that_raise_the_code() {
    let mut problems = Vec::new();
    for (code_text, reason) in harness::EXEMPT_FROM_CORPUS {
        let Some(code) = Code::from_str_code(code_text) else {
            continue; // every_code_has_a_corpus_case names it.
        };
        let files = cited_files(reason);
        if files.is_empty() && code != Code::Internal {
            problems.push(format!("{code_text}: the reason names no test file"));
        }
        // The code as users see it, or the registry variant tests match on.
        let variant = format!("Code::{code:?}");
        for file in files {
            match std::fs::read_to_string(harness::root().join(&file)) {
                Err(error) => problems.push(format!("{code_text}: cites {file}: {error}")),
                Ok(text) if !text.contains(code_text) && !text.contains(&variant) => {
                    problems.push(format!(
                        "{code_text}: cites {file}, which mentions neither `{code_text}` nor `{variant}`"
                    ));
                }
                Ok(_) => {}
            }
        }
    }
    assert!(
        problems.is_empty(),
        "harness::EXEMPT_FROM_CORPUS cites tests that do not raise the code:\n{}",
        problems.join("\n")
    );
}
