//! Helpers shared by the end-to-end test binaries (`tests/cli.rs`,
//! `tests/semantics.rs`): a temporary folder that cleans up after itself.

#![allow(dead_code, reason = "each test binary uses a different subset")]

pub mod deploy;
pub mod load;
pub mod moto;
pub mod nginx;
pub mod postgres;
pub mod sshd;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A folder under the system temp dir, removed when dropped.
pub struct TempDir {
    /// The folder.
    pub path: PathBuf,
}

impl TempDir {
    /// A fresh, empty folder whose name contains `name`.
    pub fn new(name: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let unique = COUNTER.fetch_add(1, Ordering::SeqCst);
        let path =
            std::env::temp_dir().join(format!("infra-test-{}-{unique}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir { path }
    }

    /// Writes `contents` to `name` inside the folder (creating sub-folders).
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// Reads `name` inside the folder.
    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path.join(name)).unwrap()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Runs the `infra` binary with `args` in `dir`: colour forbidden, stdin empty,
/// no state key from the caller's environment, plus the variables `envs`.
pub fn infra_env(
    dir: &std::path::Path,
    args: &[&str],
    envs: &[(&str, &str)],
) -> std::process::Output {
    use std::process::{Command, Stdio};
    Command::new(env!("CARGO_BIN_EXE_infra"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("INFRA_STATE_KEY")
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

/// The exit code.
pub fn code(output: &std::process::Output) -> i32 {
    output.status.code().unwrap()
}

/// Standard output as text.
pub fn stdout(output: &std::process::Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// Standard error as text.
pub fn stderr(output: &std::process::Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// A test stack that runs `infra` in its folder with an environment of its
/// own (a server's address, keys): the runs and checks the provider test
/// files share. Each implements `run`.
pub trait StackRuns {
    /// Runs `infra ARGS` in the stack's folder, with its environment.
    fn run(&self, args: &[&str]) -> std::process::Output;

    /// Runs and expects `expected` as the exit code.
    fn expect(&self, args: &[&str], expected: i32) -> std::process::Output {
        exited(self.run(args), args, expected)
    }

    /// `infra apply --auto-approve`, which must succeed.
    fn apply(&self) -> std::process::Output {
        self.expect(&["apply", "--auto-approve"], 0)
    }

    /// A plan that must find nothing to do.
    fn no_changes(&self) {
        let output = self.expect(&["plan", "--detailed-exitcode"], 0);
        assert!(
            stdout(&output).contains("No changes"),
            "{}",
            stdout(&output)
        );
    }
}

/// The serials `infra state history --json` lists as versions.
pub fn version_serials(json: &serde_json::Value) -> Vec<u64> {
    json["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["kind"] == "version")
        .map(|entry| entry["serial"].as_u64().unwrap())
        .collect()
}

/// What every backend's retention test begins with: `stack`, whose history
/// keeps 2 versions, applied with `var.v` = a, b, c, d. The first two prune
/// nothing; the third removes version 1 and says so; after the third and the
/// fourth, `stored()` (the serials the backend holds) and `state history`
/// hold only the newest two.
pub fn four_applies_keep_the_newest_two(stack: &impl StackRuns, stored: &dyn Fn() -> Vec<u64>) {
    for value in ["a", "b"] {
        let applied = stack.expect(
            &["apply", "--auto-approve", "--var", &format!("v={value}")],
            0,
        );
        assert!(
            !stderr(&applied).contains("Pruned history"),
            "{}",
            stderr(&applied)
        );
    }
    let applied = stack.expect(&["apply", "--auto-approve", "--var", "v=c"], 0);
    assert!(
        stderr(&applied).contains("Pruned history: version 1 removed (stack.history.keep = 2)."),
        "{}",
        stderr(&applied)
    );
    assert_eq!(stored(), [2, 3]);
    stack.expect(&["apply", "--auto-approve", "--var", "v=d"], 0);
    assert_eq!(stored(), [3, 4]);
    let history = stack.expect(&["state", "history", "--json"], 0);
    let json: serde_json::Value = serde_json::from_slice(&history.stdout).unwrap();
    assert_eq!(version_serials(&json), [3, 4], "{json}");
}

/// `output`, the run of `infra ARGS`, after checking that it exited with
/// `expected` (failing with both streams otherwise).
pub fn exited(output: std::process::Output, args: &[&str], expected: i32) -> std::process::Output {
    assert_eq!(
        code(&output),
        expected,
        "infra {args:?}\nstdout:\n{}\nstderr:\n{}",
        stdout(&output),
        stderr(&output)
    );
    output
}

/// Everything a command printed, runs of white space (a help line's
/// wrapping) made one space.
pub fn words(output: &std::process::Output) -> String {
    format!("{} {}", stdout(output), stderr(output))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Copies a stack folder (an example) into `to`, leaving out its state
/// (`.infra`) and what it wrote (`out`).
pub fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            if entry.file_name() == ".infra" || entry.file_name() == "out" {
                continue;
            }
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Every file under `dir`, recursively (none when it does not exist).
pub fn files_under(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// A child process whose standard output and error are read as they come,
/// so a test can wait for what the child prints (a readiness signal, a
/// prompt) instead of sleeping.
pub struct Watched {
    /// The child.
    pub child: std::process::Child,
    stdout: Stream,
    stderr: Stream,
}

/// One of a child's output streams, read by a thread into a shared buffer.
struct Stream {
    so_far: std::sync::Arc<(std::sync::Mutex<SoFar>, std::sync::Condvar)>,
    reader: Option<std::thread::JoinHandle<()>>,
}

#[derive(Default)]
struct SoFar {
    bytes: Vec<u8>,
    closed: bool,
}

/// How long a test waits for a child to show it is ready before failing:
/// generous, because a loaded 2-core machine can be slow, and never a bound
/// on how fast anything must be.
pub const READY_WITHIN: std::time::Duration = std::time::Duration::from_secs(120);

impl Stream {
    fn read(mut pipe: impl std::io::Read + Send + 'static) -> Self {
        let so_far = std::sync::Arc::new((
            std::sync::Mutex::new(SoFar::default()),
            std::sync::Condvar::new(),
        ));
        let shared = so_far.clone();
        let reader = std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            loop {
                let read = pipe.read(&mut buffer).unwrap_or(0);
                let (lock, changed) = &*shared;
                let mut so_far = lock.lock().unwrap();
                match buffer.get(..read) {
                    Some(chunk) if read > 0 => so_far.bytes.extend_from_slice(chunk),
                    _ => so_far.closed = true,
                }
                changed.notify_all();
                if so_far.closed {
                    return;
                }
            }
        });
        Stream {
            so_far,
            reader: Some(reader),
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.so_far.0.lock().unwrap().bytes).into_owned()
    }

    fn wait_for(&self, name: &str, needle: &str) {
        let deadline = std::time::Instant::now() + READY_WITHIN;
        let (lock, changed) = &*self.so_far;
        let mut so_far = lock.lock().unwrap();
        loop {
            if String::from_utf8_lossy(&so_far.bytes).contains(needle) {
                return;
            }
            let now = std::time::Instant::now();
            assert!(
                !so_far.closed && now < deadline,
                "the child {} without printing {needle:?} on {name}; {name} so far:\n{}",
                if so_far.closed {
                    "closed it"
                } else {
                    "went on too long"
                },
                String::from_utf8_lossy(&so_far.bytes)
            );
            so_far = changed.wait_timeout(so_far, deadline - now).unwrap().0;
        }
    }

    fn finish(&mut self) -> Vec<u8> {
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        std::mem::take(&mut self.so_far.0.lock().unwrap().bytes)
    }
}

impl Watched {
    /// Spawns `command` with stdout and stderr piped and starts reading both.
    pub fn spawn(command: &mut std::process::Command) -> Self {
        use std::process::Stdio;
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = Stream::read(child.stdout.take().unwrap());
        let stderr = Stream::read(child.stderr.take().unwrap());
        Watched {
            child,
            stdout,
            stderr,
        }
    }

    /// What the child has written to stdout so far.
    pub fn stdout_so_far(&self) -> String {
        self.stdout.text()
    }

    /// What the child has written to stderr so far.
    pub fn stderr_so_far(&self) -> String {
        self.stderr.text()
    }

    /// Waits until the child's stdout contains `needle`; panics, showing
    /// what it printed, if the child closes stdout (exits) first or
    /// [`READY_WITHIN`] passes.
    pub fn wait_for_stdout(&self, needle: &str) {
        self.stdout.wait_for("stdout", needle);
    }

    /// Waits until the child's stderr contains `needle`, as
    /// [`Watched::wait_for_stdout`] does for stdout.
    pub fn wait_for_stderr(&self, needle: &str) {
        self.stderr.wait_for("stderr", needle);
    }

    /// Waits for the child to exit; its status, all of stdout and stderr.
    pub fn finish(mut self) -> std::process::Output {
        let status = self.child.wait().unwrap();
        std::process::Output {
            status,
            stdout: self.stdout.finish(),
            stderr: self.stderr.finish(),
        }
    }
}

impl Drop for Watched {
    /// A test that failed while waiting leaves no child behind.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Polls `ready` until it holds, failing after [`READY_WITHIN`] with what
/// `seen` describes. For readiness a child shows on disk (a journal record, a
/// lock file), where there is no stream to wait on.
pub fn wait_until(what: &str, mut ready: impl FnMut() -> bool, seen: impl Fn() -> String) {
    let deadline = std::time::Instant::now() + READY_WITHIN;
    while !ready() {
        assert!(
            std::time::Instant::now() < deadline,
            "gave up waiting for {what}; seen: {}",
            seen()
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Records that the test `name` returned early without checking anything
/// (`INFRA_SKIP_SERVICES=1` and a missing outside tool), so the suite's
/// summary counts it as skipped, not passed. Prints `SKIPPED: name: reason`
/// on stderr and, when `INFRA_SKIPPED_LOG` names a file (tests/run.sh sets
/// it), appends the same line there: cargo captures a passing test's
/// output, so the file is what the summary reads.
pub fn skipped(name: &str, reason: &str) {
    use std::io::Write;
    let line = format!("SKIPPED: {name}: {reason}\n");
    #[expect(
        clippy::print_stderr,
        reason = "a skipped test says so where it is run"
    )]
    {
        eprint!("{line}");
    }
    if let Some(log) = std::env::var_os("INFRA_SKIPPED_LOG") {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap_or_else(|e| panic!("INFRA_SKIPPED_LOG={}: {e}", log.to_string_lossy()));
        file.write_all(line.as_bytes()).unwrap();
    }
}

/// How many trials to run: the number in the environment variable `name`
/// (at least 1; 0 or anything else is refused, so a run cannot pass by
/// trying nothing), or `default` when it is unset.
pub fn trial_count(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Err(_) => default,
        Ok(text) => match text.parse() {
            Ok(0) | Err(_) => panic!("{name}={text:?}: give a number of trials, at least 1"),
            Ok(n) => n,
        },
    }
}

/// Runs `trial(0..count)` on up to `INFRA_TRIAL_JOBS` threads at once
/// (default 4: trials mostly wait on their child processes), and returns the
/// results in trial order. A trial that panics fails the caller with its
/// message once the others have finished.
pub fn run_trials<T: Send>(count: usize, trial: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let jobs = trial_count("INFRA_TRIAL_JOBS", 4).min(count.max(1));
    let next = AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::with_capacity(count));
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                loop {
                    let number = next.fetch_add(1, Ordering::SeqCst);
                    if number >= count {
                        break;
                    }
                    let result = trial(number);
                    results
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push((number, result));
                }
            });
        }
    });
    let mut results = results
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    results.sort_by_key(|(number, _)| *number);
    results.into_iter().map(|(_, result)| result).collect()
}

/// The seed of a randomised run: the number in the environment variable
/// `name` (to replay a run), or one taken from the clock.
pub fn trial_seed(name: &str) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        })
}

/// `infra ARGS` in `dir` against the file-backed test world at `world`, as
/// the trial tests run it: no colour, no inherited state key, no stdin.
/// Callers add latency, faults and pipes.
pub fn world_command(
    dir: &std::path::Path,
    world: &std::path::Path,
    args: &[&str],
) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_infra"));
    command
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("INFRA_STATE_KEY")
        .env("INFRA_TEST_WORLD", world)
        .stdin(std::process::Stdio::null());
    command
}
