//! The `local` provider and the file-backed test world through the real
//! binary: `examples/quickstart` plans, and a stack of `test_resource`s
//! validates and plans when `INFRA_TEST_WORLD` names a folder (and only then).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use common::{TempDir, code, infra_env, stderr, stdout};
use std::path::PathBuf;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn quickstart_plans_its_files_without_writing_them() {
    let root = repo_root();
    let out = root.join("examples/quickstart/out");
    let existed = out.exists();
    let output = infra_env(
        &root,
        &["plan", "-C", "examples/quickstart", "--env", "dev"],
        &[],
    );
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let text = stdout(&output);
    for wanted in [
        "local_file.service_env[\"api\"] will be created",
        "local_file.service_env[\"worker\"] will be created",
        "local_file.session will be created",
        "path = \"out/dev/api.env\"",
        "Plan: 3 to add, 0 to change, 0 to destroy.",
    ] {
        assert!(text.contains(wanted), "missing {wanted}:\n{text}");
    }
    assert_eq!(out.exists(), existed, "plan wrote files");
}

const WORLD_STACK: &str = r#"resource "test_resource" "a" {
  name  = "alpha"
  value = "one"
}

resource "test_resource" "b" {
  name  = "beta"
  value = test_resource.a.id
}
"#;

#[test]
fn the_test_world_is_offered_only_with_the_variable() {
    let stack = TempDir::new("world-stack");
    stack.write("main.infra", WORLD_STACK);
    let world = TempDir::new("world");
    let world_dir = world.path.to_str().unwrap();

    let output = infra_env(&stack.path, &["validate"], &[("INFRA_TEST_WORLD", "")]);
    assert_eq!(code(&output), 1, "{}", stdout(&output));
    assert!(
        stderr(&output).contains("test_resource"),
        "{}",
        stderr(&output)
    );

    let output = infra_env(
        &stack.path,
        &["validate"],
        &[("INFRA_TEST_WORLD", world_dir)],
    );
    assert_eq!(code(&output), 0, "{}", stderr(&output));

    let output = infra_env(&stack.path, &["plan"], &[("INFRA_TEST_WORLD", world_dir)]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("test_resource.a will be created"), "{text}");
    assert!(text.contains("test_resource.b will be created"), "{text}");
    assert!(text.contains("Plan: 2 to add"), "{text}");
    // Planning creates nothing in the world.
    assert!(!world.path.join("objects").exists());
    assert!(!world.path.join("creates.log").exists());

    // A malformed hook is an error, not a different trial.
    let output = infra_env(
        &stack.path,
        &["plan"],
        &[
            ("INFRA_TEST_WORLD", world_dir),
            ("INFRA_TEST_LATENCY_MS", "soon"),
        ],
    );
    assert_eq!(code(&output), 1, "{}", stdout(&output));
    assert!(
        stderr(&output).contains("INFRA_TEST_LATENCY_MS"),
        "{}",
        stderr(&output)
    );
}
