//! Crash trials: the real binary applies a 200-resource stack against the
//! file-backed test world (`INFRA_TEST_WORLD`, every call of that apply
//! slowed down) and is stopped once its journal holds a random number of
//! records (polled, not timed), then applies again. The stopped apply
//! creates the stack, or updates every object of a converged one in place,
//! or replaces every one. It is stopped with `kill -9` or, in some trials,
//! SIGTERM or SIGHUP (which it must handle: it exits with a code, not of the
//! signal). Sometimes a state command runs before the next apply (`state
//! list`, `plan`, `refresh`, or `state rm` of an address and `import` of its
//! object, which must fail when the stopped apply had already deleted that
//! object while its delete was still pending), and sometimes that apply is
//! killed too. In the end the world must hold exactly the objects the state
//! names, one per name, with the names the stack gives them (nothing lost,
//! nothing created twice, no replaced object left), and a plan must show no
//! changes.
//!
//! Each trial records whether the stop interrupted a running apply; most
//! trials must have, or the trials tested nothing.
//!
//! `INFRA_CRASH_TRIALS=N` sets the number of trials (10 by default, at least
//! 1); `bench/crash_trials.sh` runs 100 and reports the counts.
//! `INFRA_CRASH_SEED` replays a run.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    reason = "tests; the trial count and seed are printed for replay"
)]

use crate::common;

use common::{READY_WITHIN, TempDir, code, files_under, stderr, stdout};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// 20 chains of 10: each resource's value is the id of the one before, so
/// every chain waits on the ids its predecessors get at apply. `var.v` is in
/// every value (changing it updates all 200 in place) and `var.n` in every
/// name (changing it replaces all 200).
fn stack() -> String {
    let mut text = String::from(
        "variable \"v\" {\n  type    = string\n  default = \"a\"\n}\n\n\
         variable \"n\" {\n  type    = string\n  default = \"\"\n}\n\n",
    );
    for chain in 0..20 {
        for link in 0..10 {
            let value = if link == 0 {
                format!("\"chain-{chain}-${{var.v}}\"")
            } else {
                format!("\"${{test_resource.c{chain}_{}.id}}-${{var.v}}\"", link - 1)
            };
            text.push_str(&format!(
                "resource \"test_resource\" \"c{chain}_{link}\" {{\n  name  = \"c{chain}-{link}${{var.n}}\"\n  value = {value}\n}}\n\n"
            ));
        }
    }
    text
}

fn command(dir: &Path, world: &Path, args: &[&str]) -> Command {
    let mut command = common::world_command(dir, world, args);
    command
        .env("INFRA_TEST_LATENCY_MS", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// A small deterministic generator, seeded per run and printed, so a failing
/// trial can be replayed with `INFRA_CRASH_SEED`.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

/// The world's objects, id to name (`objects/<id>.json`, `{"id": …,
/// "attributes": {"name": …}}`). `Err` names the object files that could
/// not be read or parsed, or hold no id or name: the world writes them
/// atomically, so a torn one is a finding, not something to skip.
fn objects(world: &Path) -> Result<BTreeMap<String, String>, Vec<String>> {
    let mut objects = BTreeMap::new();
    let mut unreadable = Vec::new();
    let entries = match std::fs::read_dir(world.join("objects")) {
        Ok(entries) => entries,
        Err(error) => return Err(vec![format!("{}/objects: {error}", world.display())]),
    };
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(error) => {
                unreadable.push(format!("{}/objects: {error}", world.display()));
                continue;
            }
        };
        // A kill in the middle of an atomic write leaves `.ID.json.tmp.PID`,
        // which is not an object.
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !name.ends_with(".json") {
            continue;
        }
        let object = std::fs::read_to_string(entry.path())
            .map_err(|error| error.to_string())
            .and_then(|text| {
                serde_json::from_str::<serde_json::Value>(&text)
                    .map_err(|e| format!("{e}: {text:?}"))
            })
            .and_then(|json| {
                let id = json.pointer("/id").and_then(serde_json::Value::as_str);
                let name = json
                    .pointer("/attributes/name")
                    .and_then(serde_json::Value::as_str);
                match (id, name) {
                    (Some(id), Some(name)) => Ok((id.to_owned(), name.to_owned())),
                    _ => Err(format!("no id or attributes.name in {json}")),
                }
            });
        match object {
            Ok((id, object)) => {
                objects.insert(id, object);
            }
            Err(problem) => unreadable.push(format!("{name}: {problem}")),
        }
    }
    if unreadable.is_empty() {
        Ok(objects)
    } else {
        Err(unreadable)
    }
}

/// The ids the state holds, by address, read from `state pull` (which
/// must succeed).
fn state_ids(dir: &Path, world: &Path, context: &str) -> BTreeMap<String, String> {
    let output = command(dir, world, &["state", "pull"]).output().unwrap();
    assert_eq!(
        code(&output),
        0,
        "{context}: state pull: {}",
        stderr(&output)
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut ids = BTreeMap::new();
    for resource in json["resources"].as_array().unwrap() {
        for instance in resource["instances"].as_array().unwrap() {
            let id = instance
                .pointer("/attributes/json/id")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_else(|| panic!("{context}: an instance without an id: {instance}"));
            ids.insert(
                resource["addr"]["name"].as_str().unwrap().to_owned(),
                id.to_owned(),
            );
        }
    }
    ids
}

/// The calls an interrupted apply left pending, by resource name: `create`,
/// `update` or `delete` (read from `state pull`, which folds the journal).
fn pending_calls(dir: &Path, world: &Path, context: &str) -> BTreeMap<String, String> {
    let output = command(dir, world, &["state", "pull"]).output().unwrap();
    assert_eq!(
        code(&output),
        0,
        "{context}: state pull: {}",
        stderr(&output)
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut calls = BTreeMap::new();
    for pending in json["pending"].as_array().into_iter().flatten() {
        let name = pending
            .pointer("/instance/resource/name")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_else(|| panic!("{context}: a pending call without an address: {pending}"));
        // A create is the default and is left out.
        let call = pending["call"].as_str().unwrap_or("create");
        calls.insert(name.to_owned(), call.to_owned());
    }
    calls
}

/// The apply journal under the stack's `.infra` folder, if one was written.
fn journal(dir: &Path) -> Option<PathBuf> {
    files_under(&dir.join(".infra"))
        .into_iter()
        .find(|path| path.extension().is_some_and(|e| e == "journal"))
}

/// The whole records (lines) in the journal; 0 when there is none.
fn journal_records(dir: &Path) -> usize {
    journal(dir)
        .and_then(|path| std::fs::read(path).ok())
        .map_or(0, |bytes| bytes.iter().filter(|b| **b == b'\n').count())
}

/// How a trial stops an apply.
#[derive(Debug, Clone, Copy)]
enum Stop {
    /// `kill -9`: no chance to save anything.
    Kill,
    /// SIGTERM (a CI cancel) or SIGHUP (a closed terminal): running actions
    /// finish, the state is saved and the lock released.
    Signal(&'static str),
}

/// Stops `child` once the journal holds at least `records` whole records,
/// or lets it be when it has exited on its own first. Polls the journal: no
/// fixed sleep decides where the stop lands. True when the child was still
/// running when stopped.
fn stop_after_records(
    dir: &Path,
    child: &mut Child,
    records: usize,
    stop: Stop,
    context: &str,
) -> bool {
    let deadline = std::time::Instant::now() + READY_WITHIN;
    loop {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return false;
        }
        if journal_records(dir) >= records {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{context}: the apply wrote {} journal records in {READY_WITHIN:?}, waiting for {records}",
            journal_records(dir)
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    match stop {
        Stop::Kill => {
            let _ = child.kill();
            let _ = child.wait();
        }
        Stop::Signal(signal) => {
            let _ = Command::new("kill")
                .args([format!("-{signal}"), child.id().to_string()])
                .status();
            let status = child.wait().unwrap();
            // Handled: the apply exits with a code, never dies of the signal.
            assert!(
                status.code().is_some(),
                "{context}: an apply sent SIG{signal} died of it: {status:?}"
            );
        }
    }
    true
}

/// An apply to stop, whose output nobody reads: every call it makes waits
/// 10 ms before and after its effect, so that stops land mid-call. (The
/// other commands of a trial run without latency.)
fn spawn_apply(dir: &Path, world: &Path, vars: &[String]) -> Child {
    let mut args = vec!["apply", "--auto-approve"];
    args.extend(vars.iter().map(String::as_str));
    command(dir, world, &args)
        .env("INFRA_TEST_LATENCY_MS", "10")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// What the killed apply changes: the first creates, or every object of a
/// converged stack updated in place or replaced.
#[derive(Debug, Clone, Copy)]
enum Change {
    Create,
    Update,
    Replace,
}

/// Runs `args`, which must succeed.
fn must(dir: &Path, world: &Path, args: &[&str], context: &str) -> String {
    let output = command(dir, world, args).output().unwrap();
    assert_eq!(
        code(&output),
        0,
        "{context}: `infra {}` failed:\n{}\n{}",
        args.join(" "),
        stdout(&output),
        stderr(&output)
    );
    stdout(&output)
}

/// A state command between a stopped apply and the next one: `state list`,
/// `plan`, `refresh`, or `state rm` of an address followed by `import` of
/// its object (so that the object stays managed and the trial can still
/// count duplicates). Returns what ran.
fn state_command(
    dir: &Path,
    world: &Path,
    rng: &mut Lcg,
    vars: &[String],
    context: &str,
) -> String {
    let with_vars = |base: &[&'static str]| -> Vec<String> {
        base.iter()
            .map(|a| (*a).to_owned())
            .chain(vars.iter().cloned())
            .collect()
    };
    match rng.next() % 4 {
        0 => {
            must(dir, world, &["state", "list"], context);
            "state list".into()
        }
        1 => {
            let args = with_vars(&["plan"]);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            must(dir, world, &args, context);
            "plan".into()
        }
        2 => {
            let args = with_vars(&["refresh", "--auto-approve"]);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            must(dir, world, &args, context);
            "refresh".into()
        }
        _ => {
            let listed = must(dir, world, &["state", "list"], context);
            let addresses: Vec<&str> = listed.lines().collect();
            if addresses.is_empty() {
                return "state rm (nothing in the state)".into();
            }
            let addr = addresses[(rng.next() as usize) % addresses.len()];
            let shown = must(dir, world, &["state", "show", addr], context);
            let id = shown
                .lines()
                .find_map(|line| {
                    let (key, value) = line.split_once('=')?;
                    (key.trim() == "id").then(|| value.trim().trim_matches('"').to_owned())
                })
                .unwrap_or_else(|| panic!("{context}: no id in `state show {addr}`:\n{shown}"));
            // The stopped apply may have deleted the object (a replacement
            // destroys first) and been stopped before it recorded that: the
            // state still names the object, with the delete pending, and
            // there is nothing to import. An object missing for any other
            // reason is lost.
            let exists = objects(world)
                .unwrap_or_else(|unreadable| {
                    panic!("{context}: unreadable world objects: {unreadable:#?}")
                })
                .contains_key(&id);
            let name = addr.trim_start_matches("test_resource.");
            if !exists {
                let pending = pending_calls(dir, world, context);
                assert_eq!(
                    pending.get(name).map(String::as_str),
                    Some("delete"),
                    "{context}: `state show {addr}` names {id}, which the world does not hold, \
                     and no delete of it is pending (pending calls: {pending:?})"
                );
            }
            let removed = must(dir, world, &["state", "rm", addr], context);
            let args = with_vars(&["import"]);
            let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
            args.extend([addr, id.as_str()]);
            if exists {
                must(dir, world, &args, context);
                return format!("state rm {addr} + import {id}");
            }
            // `state rm` drops the pending delete with the instance (the next
            // apply must not resume it), and the import finds nothing.
            assert!(
                removed.contains(&format!("Dropped the unfinished delete of {addr}")),
                "{context}: `state rm {addr}` kept its pending delete:\n{removed}"
            );
            assert!(
                !pending_calls(dir, world, context).contains_key(name),
                "{context}: a call is still pending on {addr} after `state rm`"
            );
            let output = command(dir, world, &args).output().unwrap();
            assert!(
                code(&output) != 0 && stderr(&output).contains(&format!("no object `{id}`")),
                "{context}: `infra {}` of a deleted object:\n{}\n{}",
                args.join(" "),
                stdout(&output),
                stderr(&output)
            );
            format!("state rm {addr} (its object {id} already deleted, not imported)")
        }
    }
}

/// One trial; whether its first stop interrupted a running apply, and a
/// description of what it did (for the counts).
fn trial(seed: u64, number: usize) -> (bool, String) {
    let mut rng = Lcg(seed ^ (number as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let dir = TempDir::new(&format!("crash-{number}"));
    dir.write("main.infra", stack());
    let world = dir.path.join("world");
    std::fs::create_dir_all(&world).unwrap();

    let change = match rng.next() % 3 {
        0 => Change::Create,
        1 => Change::Update,
        _ => Change::Replace,
    };
    let stop = match rng.next() % 4 {
        0 => Stop::Signal("TERM"),
        1 => Stop::Signal("HUP"),
        _ => Stop::Kill,
    };
    let (vars, suffix): (Vec<String>, &str) = match change {
        Change::Create => (Vec::new(), ""),
        Change::Update => (vec!["--var".into(), "v=b".into()], ""),
        Change::Replace => (vec!["--var".into(), "n=-r".into()], "-r"),
    };
    let kind = match stop {
        Stop::Kill => format!("{change:?} SIGKILL"),
        Stop::Signal(signal) => format!("{change:?} SIG{signal}"),
    };
    let mut context = format!("trial {number} (seed {seed}, {change:?}, {stop:?}");
    if !matches!(change, Change::Create) {
        must(&dir.path, &world, &["apply", "--auto-approve"], &context);
    }

    // The apply, stopped once its journal holds 1 to 300 records (a whole
    // run writes about 400 for creates and updates, more for replaces).
    let wait = 1 + (rng.next() % 300) as usize;
    context.push_str(&format!(", after {wait} journal records"));
    let mut child = spawn_apply(&dir.path, &world, &vars);
    let interrupted = stop_after_records(&dir.path, &mut child, wait, stop, &context);

    // Sometimes a state command before the next apply.
    let mut between = "";
    if rng.next() % 2 == 0 {
        let ran = state_command(&dir.path, &world, &mut rng, &vars, &context);
        context.push_str(&format!(", then {ran}"));
        // Counted apart: the `state rm` of an object the stopped apply had
        // deleted, with its delete still pending.
        between = if ran.contains("already deleted") {
            " state-command rm-of-a-deleted-object"
        } else {
            " state-command"
        };
    }

    // Sometimes a second crash, to recover from a recovery: killed once
    // the journal has grown past what the first run left.
    if rng.next() % 3 == 0 {
        let left = journal_records(&dir.path);
        let mut child = spawn_apply(&dir.path, &world, &vars);
        let records = left + 1 + (rng.next() % 100) as usize;
        stop_after_records(&dir.path, &mut child, records, Stop::Kill, &context);
        context.push_str(&format!(", killed again after {records} records"));
    }
    context.push(')');

    let mut args = vec!["apply", "--auto-approve"];
    args.extend(vars.iter().map(String::as_str));
    must(&dir.path, &world, &args, &context);

    // 0 lost, 0 duplicated: the world holds exactly the 200 objects the
    // state names, one per name, each with the name the stack gives it
    // (a replaced object's old self is gone).
    let objects = objects(&world).unwrap_or_else(|unreadable| {
        panic!("{context}: unreadable world objects: {unreadable:#?}")
    });
    let ids = state_ids(&dir.path, &world, &context);
    assert_eq!(
        ids.len(),
        200,
        "{context}: the state holds {} instances",
        ids.len()
    );
    let managed: BTreeSet<&String> = ids.values().collect();
    let unmanaged: Vec<_> = objects
        .iter()
        .filter(|(id, _)| !managed.contains(id))
        .collect();
    assert!(
        unmanaged.is_empty(),
        "{context}: world objects the state does not name (duplicates or leftovers): {unmanaged:?}"
    );
    let lost: Vec<_> = ids
        .iter()
        .filter(|(_, id)| !objects.contains_key(*id))
        .collect();
    assert!(
        lost.is_empty(),
        "{context}: state ids gone from the world: {lost:?}"
    );
    let names: BTreeSet<&String> = objects.values().collect();
    let expected: Vec<String> = (0..20)
        .flat_map(|chain| (0..10).map(move |link| format!("c{chain}-{link}{suffix}")))
        .collect();
    assert_eq!(
        names,
        expected.iter().collect::<BTreeSet<_>>(),
        "{context}: the world's names"
    );

    let mut args = vec!["plan", "--detailed-exitcode"];
    args.extend(vars.iter().map(String::as_str));
    let again = command(&dir.path, &world, &args).output().unwrap();
    assert_eq!(
        code(&again),
        0,
        "{context}: the state did not converge:\n{}\n{}",
        stdout(&again),
        stderr(&again)
    );
    (interrupted, format!("{kind}{between}"))
}

#[test]
fn kill_9_at_random_moments_loses_nothing_and_duplicates_nothing() {
    let trials = common::trial_count("INFRA_CRASH_TRIALS", 10);
    let seed = common::trial_seed("INFRA_CRASH_SEED");
    eprintln!("crash trials: {trials}, seed {seed}");
    // Each trial has its own stack, state and world, so several run at once:
    // they spend most of their time waiting on their infra processes.
    let results = common::run_trials(trials, |number| trial(seed, number));
    let mut interrupted = 0;
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for (stopped, kind) in results {
        if stopped {
            interrupted += 1;
        }
        for part in kind.split(' ') {
            *kinds.entry(part.to_owned()).or_insert(0) += 1;
        }
    }
    eprintln!(
        "crash trials: {trials} passed, {interrupted} stopped mid-apply, 0 lost, 0 duplicated, all converged"
    );
    eprintln!("crash trials: by kind {kinds:?}");
    // A kill after the apply finished tests nothing; most must land mid-apply.
    assert!(
        interrupted * 2 > trials,
        "only {interrupted} of {trials} trials (seed {seed}) killed the apply while it worked"
    );
}

/// A deploy (the test world's updates with `INFRA_TEST_DEPLOY`) killed with
/// `kill -9` once the journal holds its `switch` checkpoint: the next apply
/// resumes it through the provider's `resume` with that checkpoint before
/// planning (the world finishes the deploy), records it, audits it, and then
/// finds nothing to do.
#[test]
fn a_deploy_killed_after_a_checkpoint_is_resumed_from_it() {
    let dir = TempDir::new("crash-deploy");
    let world = dir.path.join("world");
    let stack = |value: &str| {
        format!(
            "resource \"test_resource\" \"api\" {{\n  name  = \"api\"\n  value = \"{value}\"\n}}\n"
        )
    };
    dir.write("main.infra", stack("v1"));
    must(
        &dir.path,
        &world,
        &["apply", "--auto-approve"],
        "first apply",
    );
    dir.write("main.infra", stack("v2"));
    let mut child = command(&dir.path, &world, &["apply", "--auto-approve"])
        .env("INFRA_TEST_DEPLOY_STEP_MS", "500")
        .env("INFRA_TEST_DEPLOY", "start,health,switch,watch")
        .spawn()
        .unwrap();
    // Poll the journal for the checkpoint of the `switch` step.
    let deadline = std::time::Instant::now() + READY_WITHIN;
    loop {
        let text = journal(&dir.path)
            .and_then(|path| std::fs::read_to_string(path).ok())
            .unwrap_or_default();
        if text.contains("\"kind\":\"checkpoint\"") && text.contains("\"step\":\"switch\"") {
            break;
        }
        assert!(
            matches!(child.try_wait(), Ok(None)),
            "the apply ended before its switch checkpoint"
        );
        assert!(std::time::Instant::now() < deadline, "no switch checkpoint");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // The kill may land before the step's own log line (its checkpoint
    // comes first), never after the deploy finished.
    let log = std::fs::read_to_string(world.join("deploy.log")).unwrap();
    assert!(
        log.contains("step api health") && !log.contains("done api"),
        "{log}"
    );

    let output = command(&dir.path, &world, &["apply", "--auto-approve"])
        .env("INFRA_TEST_DEPLOY", "start,health,switch,watch")
        .output()
        .unwrap();
    let err = stderr(&output);
    assert_eq!(code(&output), 0, "{}\n{err}", stdout(&output));
    assert!(
        err.contains(
            "resumed the interrupted update of test_resource.api from checkpoint `switch`"
        ),
        "{err}"
    );
    let log = std::fs::read_to_string(world.join("deploy.log")).unwrap();
    assert!(log.ends_with("resume api switch\ndone api\n"), "{log}");
    assert!(
        stdout(&output).contains("No changes"),
        "{}",
        stdout(&output)
    );
    let objects = objects(&world).unwrap();
    assert_eq!(objects.len(), 1, "{objects:?}");
    let audit = files_under(&dir.path.join(".infra"))
        .into_iter()
        .find(|path| path.ends_with("audit.jsonl"))
        .map(|path| std::fs::read_to_string(path).unwrap())
        .unwrap_or_default();
    assert!(
        audit.contains("\"command\":\"resume\"") && audit.contains("\"action\":\"resume update\""),
        "{audit}"
    );
    must(
        &dir.path,
        &world,
        &["plan", "--detailed-exitcode"],
        "plan after",
    );
}

/// An apply that deletes an object (its block was removed), killed with
/// `kill -9` once the delete is journalled as started and before it takes
/// effect; then `state rm` of the address, to leave the object unmanaged.
/// The next apply must not touch it: `state rm` drops the pending delete
/// with the instance, so that no resume records the object at the address
/// again (after which the plan would delete it, as its block is gone).
#[test]
fn state_rm_drops_a_pending_delete_so_the_next_apply_leaves_the_object_alone() {
    let dir = TempDir::new("crash-rm-pending-delete");
    let world = dir.path.join("world");
    let block = |name: &str| {
        format!(
            "resource \"test_resource\" \"{name}\" {{\n  name  = \"{name}\"\n  value = \"v\"\n}}\n"
        )
    };
    dir.write(
        "main.infra",
        format!("{}\n{}", block("keep"), block("other")),
    );
    must(
        &dir.path,
        &world,
        &["apply", "--auto-approve"],
        "first apply",
    );
    let before = objects(&world).unwrap();
    let (kept, _) = before
        .iter()
        .find(|(_, name)| name.as_str() == "keep")
        .unwrap();
    dir.write("main.infra", block("other"));
    kill_once_started(&dir.path, &world, "delete");
    assert!(
        objects(&world).unwrap().contains_key(kept),
        "the kill landed after the delete took effect"
    );
    assert_eq!(
        pending_calls(&dir.path, &world, "after the kill")["keep"],
        "delete"
    );
    let shown = must(
        &dir.path,
        &world,
        &["state", "show", "test_resource.keep"],
        "state show",
    );
    assert!(
        shown.contains("name     = \"keep\"")
            && shown.ends_with(
                "unfinished delete: an earlier apply was stopped during it; the next `infra \
                 apply` resumes it (`infra state rm test_resource.keep` drops it)\n"
            ),
        "{shown}"
    );

    let removed = must(
        &dir.path,
        &world,
        &["state", "rm", "test_resource.keep"],
        "state rm",
    );
    must(
        &dir.path,
        &world,
        &["apply", "--auto-approve"],
        "next apply",
    );
    assert!(
        objects(&world).unwrap().contains_key(kept),
        "the apply after `state rm` deleted the object it was told to forget"
    );
    assert!(
        removed.contains("Dropped the unfinished delete of test_resource.keep"),
        "{removed}"
    );
    assert_eq!(
        state_ids(&dir.path, &world, "after")
            .into_keys()
            .collect::<Vec<_>>(),
        ["other"]
    );
    must(
        &dir.path,
        &world,
        &["plan", "--detailed-exitcode"],
        "plan after",
    );
}

/// A create killed with `kill -9` once it is journalled as started and before
/// it takes effect, then `infra import` into that address. The next apply
/// would resume the create there and record the object it finds over the
/// imported one, so the import drops the unfinished create and says so;
/// nothing is created or replaced behind it. `state show` and `state list`
/// tell of the unfinished create before.
#[test]
fn import_into_an_address_with_an_unfinished_create_drops_the_create() {
    let dir = TempDir::new("crash-import-pending-create");
    let world = dir.path.join("world");
    // Both blocks describe the same object (a `name` change would replace it).
    let block = |label: &str| {
        format!(
            "resource \"test_resource\" \"{label}\" {{\n  name  = \"loose\"\n  value = \"v\"\n}}\n"
        )
    };
    // The object to import: made by an apply, then no longer managed.
    dir.write("main.infra", block("loose"));
    must(
        &dir.path,
        &world,
        &["apply", "--auto-approve"],
        "first apply",
    );
    must(
        &dir.path,
        &world,
        &["state", "rm", "test_resource.loose"],
        "state rm loose",
    );
    let loose = objects(&world).unwrap().into_keys().next().unwrap();

    dir.write("main.infra", block("b"));
    kill_once_started(&dir.path, &world, "create");
    assert_eq!(
        objects(&world).unwrap().len(),
        1,
        "the kill landed after the create took effect"
    );
    assert_eq!(
        pending_calls(&dir.path, &world, "after the kill")["b"],
        "create"
    );
    // `state show` and `state list` say so.
    let shown = must(
        &dir.path,
        &world,
        &["state", "show", "test_resource.b"],
        "state show",
    );
    assert!(
        shown.starts_with("# test_resource.b\n")
            && shown.contains("(no object recorded)")
            && shown
                .contains("unfinished create: an earlier apply failed or was stopped during it"),
        "{shown}"
    );
    let listed = command(&dir.path, &world, &["state", "list"])
        .output()
        .unwrap();
    assert_eq!(
        stdout(&listed),
        "",
        "state list names only recorded objects"
    );
    assert!(
        stderr(&listed).contains(
            "test_resource.b: an earlier apply left its create unfinished; the next \
             `infra apply` resumes it."
        ),
        "{}",
        stderr(&listed)
    );

    let output = command(&dir.path, &world, &["import", "test_resource.b", &loose])
        .output()
        .unwrap();
    let imported = format!("{}\n{}", stdout(&output), stderr(&output));
    assert_eq!(code(&output), 0, "{imported}");
    assert!(
        imported.contains(
            "Dropped the unfinished create of test_resource.b: an earlier apply failed or was \
             stopped during it; the imported object takes its place"
        ),
        "{imported}"
    );
    assert!(pending_calls(&dir.path, &world, "after the import").is_empty());
    let applied = must(
        &dir.path,
        &world,
        &["apply", "--auto-approve"],
        "apply after",
    );
    assert!(
        !applied.contains("resumed") && applied.contains("No changes"),
        "{applied}"
    );
    assert_eq!(
        objects(&world).unwrap().into_keys().collect::<Vec<_>>(),
        std::slice::from_ref(&loose),
        "an object was created behind the import"
    );
    assert_eq!(
        state_ids(&dir.path, &world, "after")
            .into_iter()
            .collect::<Vec<_>>(),
        [(String::from("b"), loose)]
    );
}

/// A create killed with `kill -9` before it takes effect leaves an address
/// with no object and an unfinished create; `state rm` names that address
/// too and drops the create, and the next apply creates the object anew.
#[test]
fn state_rm_drops_an_unfinished_create_where_no_object_is_recorded() {
    let dir = TempDir::new("crash-rm-pending-create");
    let world = dir.path.join("world");
    dir.write(
        "main.infra",
        "resource \"test_resource\" \"b\" {\n  name  = \"b\"\n  value = \"v\"\n}\n",
    );
    kill_once_started(&dir.path, &world, "create");
    assert_eq!(
        pending_calls(&dir.path, &world, "after the kill")["b"],
        "create"
    );
    let removed = must(
        &dir.path,
        &world,
        &["state", "rm", "test_resource.b"],
        "state rm",
    );
    assert!(
        removed.contains("Dropped the unfinished create of test_resource.b")
            && !removed.contains("Removed test_resource.b"),
        "{removed}"
    );
    assert!(pending_calls(&dir.path, &world, "after state rm").is_empty());
    let applied = must(
        &dir.path,
        &world,
        &["apply", "--auto-approve"],
        "apply after",
    );
    assert!(
        applied.contains("test_resource.b: created") && !applied.contains("resumed"),
        "{applied}"
    );
}

/// An update killed with `kill -9` once it is journalled as started and
/// before it takes effect; then the block is renamed and `state mv` follows
/// it. The pending update moves with the instance: resumed at the old
/// address it would record the object there again, beside the new one, and
/// the plan would delete it (the old block is gone) and create it anew.
#[test]
fn state_mv_moves_a_pending_update_with_its_instance() {
    let dir = TempDir::new("crash-mv-pending-update");
    let world = dir.path.join("world");
    let block = |label: &str, value: &str| {
        format!(
            "resource \"test_resource\" \"{label}\" {{\n  name  = \"x\"\n  value = \"{value}\"\n}}\n"
        )
    };
    dir.write("main.infra", block("a", "1"));
    must(
        &dir.path,
        &world,
        &["apply", "--auto-approve"],
        "first apply",
    );
    let before = objects(&world).unwrap();
    let id = before.keys().next().unwrap().clone();
    dir.write("main.infra", block("a", "2"));
    kill_once_started(&dir.path, &world, "update");
    assert_eq!(
        pending_calls(&dir.path, &world, "after the kill")["a"],
        "update"
    );

    dir.write("main.infra", block("b", "2"));
    let moved = must(
        &dir.path,
        &world,
        &["state", "mv", "test_resource.a", "test_resource.b"],
        "state mv",
    );
    let output = command(&dir.path, &world, &["apply", "--auto-approve"])
        .output()
        .unwrap();
    let shown = format!("{}\n{}", stdout(&output), stderr(&output));
    assert_eq!(code(&output), 0, "{shown}");
    // Nothing is resumed, recorded or deleted at the old address.
    assert!(
        shown.contains("resumed the interrupted update of test_resource.b")
            && !shown.contains("test_resource.a"),
        "{shown}"
    );
    let after = objects(&world).unwrap();
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        [&id],
        "the object was not kept through the move"
    );
    assert!(
        moved.contains("Moved the interrupted update of test_resource.a to test_resource.b."),
        "{moved}"
    );
    assert_eq!(
        state_ids(&dir.path, &world, "after"),
        BTreeMap::from([("b".to_owned(), id)])
    );
    must(
        &dir.path,
        &world,
        &["plan", "--detailed-exitcode"],
        "plan after",
    );
}

/// Runs `infra apply` in `dir` with every call of the test world waiting 3 s
/// before its effect, and kills it (SIGKILL) as soon as its journal holds a
/// started `call` (a pending record; a create's names no call, as create is
/// the default): the kill lands in that call's wait.
fn kill_once_started(dir: &Path, world: &Path, call: &str) {
    let mut child = command(dir, world, &["apply", "--auto-approve"])
        .env("INFRA_TEST_LATENCY_MS", "3000")
        .env("INFRA_TEST_LATENCY_AFTER_MS", "0")
        .spawn()
        .unwrap();
    let needle = format!("\"call\":\"{call}\"");
    let started = |line: &str| {
        line.contains("\"kind\":\"pending\"")
            && if call == "create" {
                !line.contains("\"call\":")
            } else {
                line.contains(&needle)
            }
    };
    let deadline = std::time::Instant::now() + READY_WITHIN;
    loop {
        let text = journal(dir)
            .and_then(|path| std::fs::read_to_string(path).ok())
            .unwrap_or_default();
        if text.lines().any(started) {
            break;
        }
        assert!(
            matches!(child.try_wait(), Ok(None)),
            "the apply ended before it started the {call}"
        );
        assert!(std::time::Instant::now() < deadline, "no started {call}");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}
