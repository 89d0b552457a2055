//! Apply engine benchmark: the engine alone (no parsing, no planning), on
//! plans of creates built directly.
//!
//! `cargo bench --bench apply` (release). Rows:
//! - `null` stacks of 1k and 10k zero-latency `null_resource`s in chains of
//!   10, journalled in memory and on disk (a real `fsync` per group commit);
//! - 1,000 independent `test_resource`s whose create takes 100 ms, at
//!   parallelism 64 (the floor is 1000 / 64 × 100 ms = 1.6 s).
//!
//! Timings only; nothing is asserted beyond every action succeeding.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "a benchmark binary that reports on stdout"
)]

use infra::addr::{InstanceAddr, InstanceKey, ResourceAddr};
use infra::apply::{self, Options, Outcome, Recorder, Request, Resolved, Resolver};
use infra::config::Lifecycle;
use infra::diag::{Diagnostics, FileId, Span};
use infra::expand::{EnvironmentInfo, Expanded, Instance};
use infra::host::{Host, MemoryHost, RealHost};
use infra::lang::Value;
use infra::plan::{Action, Change, Plan};
use infra::providers::provider::plan_from_schema;
use infra::providers::test::{Op, TEST_RESOURCE, TestProvider};
use infra::providers::{Attributes, ObjectState, ProviderSet, null};
use infra::state::{Journal, JournalRecord, Key, KeySource, State, StateError};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const RUNS: usize = 3;

/// Outputs only: nothing in these plans waits on unknown values.
struct NoOutputs;

impl Resolver for NoOutputs {
    fn resolve(
        &self,
        _: &Arc<BTreeMap<InstanceAddr, ObjectState>>,
        _: &std::collections::BTreeSet<InstanceAddr>,
    ) -> Result<Resolved, Diagnostics> {
        Ok(Resolved::default())
    }
}

/// Counts group commits, keeps nothing.
#[derive(Default)]
struct Counting {
    commits: usize,
    records: usize,
}

impl Recorder for Counting {
    fn record(&mut self, records: &[JournalRecord]) -> Result<(), StateError> {
        self.commits += 1;
        self.records += records.len();
        Ok(())
    }
}

/// The on-disk journal, timed: how long the engine spent persisting.
struct Timed<'h> {
    journal: Journal<'h>,
    spent: Duration,
    commits: usize,
}

impl Recorder for Timed<'_> {
    fn record(&mut self, records: &[JournalRecord]) -> Result<(), StateError> {
        let started = Instant::now();
        let result = self.journal.record(records);
        self.spent += started.elapsed();
        self.commits += 1;
        result
    }
}

/// `count` creates of `resource_type`, in chains of `chain` (0 = independent).
fn stack(resource_type: &str, count: usize, chain: usize) -> (Expanded, Plan) {
    let schema = if resource_type == TEST_RESOURCE {
        TestProvider::schema()
    } else {
        null::schema()
    };
    let span = Span {
        file: FileId(0),
        start: 0,
        end: 1,
    };
    let mut instances = BTreeMap::new();
    let mut changes = Vec::with_capacity(count);
    for index in 0..count {
        let name = format!("r{index:06}");
        let resource = ResourceAddr::managed(resource_type, &name);
        let addr = resource.instance(InstanceKey::None);
        let mut attributes = Attributes::new();
        if resource_type == TEST_RESOURCE {
            attributes.insert("name".to_owned(), Value::string(name.clone()));
        } else {
            attributes.insert("inputs".to_owned(), Value::number(index as i64));
        }
        let dependencies: Vec<ResourceAddr> = if chain > 0 && index % chain != 0 {
            vec![ResourceAddr::managed(
                resource_type,
                &format!("r{:06}", index - 1),
            )]
        } else {
            Vec::new()
        };
        let planned = plan_from_schema(&schema, None, &attributes).planned;
        changes.push(Change {
            addr: addr.clone(),
            resource_type: resource_type.to_owned(),
            provider: infra::addr::ProviderAddr::named(schema.provider),
            action: Action::Create,
            before: None,
            after: planned,
            replace_paths: Vec::new(),
            reason: None,
            import_id: None,
            moved_from: None,
            deploy: None,
        });
        instances.insert(
            addr.clone(),
            Instance {
                addr,
                provider: (schema.provider.to_owned(), None),
                attributes,
                attribute_spans: Default::default(),
                dependencies: Arc::from(dependencies),
                lifecycle: Lifecycle::default(),
                span,
            },
        );
    }
    // Plan order: creates after what they depend on.
    let environment = EnvironmentInfo {
        name: String::from("default"),
        protected: false,
    };
    let expanded = Expanded {
        environment: environment.clone(),
        variables: Default::default(),
        secrets: BTreeMap::new(),
        instances,
        outputs: BTreeMap::new(),
        moved: Vec::new(),
        imports: Vec::new(),
        provider_configs: BTreeMap::new(),
        keyed_dependencies: Default::default(),
        module_instances: BTreeMap::new(),
    };
    let plan = Plan {
        stack: String::from("bench"),
        environment,
        prior: None,
        changes,
        drift: Vec::new(),
        output_changes: Vec::new(),
        config_digest: String::new(),
        impact: Default::default(),
        targets: Vec::new(),
        policy: None,
    };
    (expanded, plan)
}

fn run_once(
    runtime: &tokio::runtime::Runtime,
    providers: &ProviderSet,
    host: &dyn Host,
    expanded: &Expanded,
    plan: &Plan,
    recorder: &mut dyn Recorder,
) -> Duration {
    let key = Key::from_bytes([3; 32], KeySource::Env);
    let (_sender, cancel) = tokio::sync::watch::channel(false);
    let state = State::new(host);
    let started = Instant::now();
    let report = runtime.block_on(apply::apply(
        Request {
            plan,
            expanded,
            providers,
            key: &key,
            host,
            options: Options::default(),
            resolver: Arc::new(NoOutputs),
            generated_secrets: BTreeMap::new(),
            events: None,
            cancel,
        },
        state,
        recorder,
    ));
    let elapsed = started.elapsed();
    assert_eq!(
        report.count(|o| *o == Outcome::Succeeded),
        plan.changes.len(),
        "{:?}",
        report.all_diagnostics()
    );
    elapsed
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let host = Arc::new(MemoryHost::new());
    let nulls = ProviderSet::new().with(Arc::new(null::NullProvider::new(host.clone())));
    println!(
        "{:<44} {:>9} {:>9} {:>9} {:>10}",
        "case", "actions", "best_s", "us/action", "commits"
    );
    let row = |case: &str, actions: usize, best: Duration, commits: usize| {
        println!(
            "{case:<44} {actions:>9} {:>9.3} {:>9.1} {commits:>10}",
            best.as_secs_f64(),
            best.as_secs_f64() * 1e6 / actions as f64
        );
    };
    // Persistence per action at two sizes: appending to the journal must cost
    // the same per action whether the stack has 10k or 100k instances.
    let mut persistence = Vec::new();
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this
    // binary without it, unoptimised, as a smoke test: the smallest size only.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let sizes: &[usize] = if smoke {
        &[1_000]
    } else {
        &[1_000, 10_000, 100_000]
    };
    for &count in sizes {
        let (expanded, plan) = stack(null::NULL_RESOURCE, count, 10);
        let mut best = Duration::MAX;
        let mut commits = 0;
        for _ in 0..RUNS {
            let mut recorder = Counting::default();
            best = best.min(run_once(
                &runtime,
                &nulls,
                host.as_ref(),
                &expanded,
                &plan,
                &mut recorder,
            ));
            commits = recorder.commits;
        }
        row(
            &format!("null x{count}, chains of 10, journal in memory"),
            count,
            best,
            commits,
        );
        let dir = std::env::temp_dir().join(format!("infra-bench-apply-{}", std::process::id()));
        let path = dir.join("journal");
        let mut best = Duration::MAX;
        let mut best_persist = (Duration::MAX, 0, 0);
        for _ in 0..RUNS {
            let real = RealHost;
            let _ = std::fs::remove_file(&path);
            let mut timed = Timed {
                journal: Journal::new(&real, &path),
                spent: Duration::ZERO,
                commits: 0,
            };
            best = best.min(run_once(
                &runtime,
                &nulls,
                host.as_ref(),
                &expanded,
                &plan,
                &mut timed,
            ));
            let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
            if timed.spent < best_persist.0 {
                best_persist = (timed.spent, bytes, timed.commits);
            }
        }
        persistence.push((count, best_persist));
        let _ = std::fs::remove_dir_all(&dir);
        row(
            &format!("null x{count}, chains of 10, journal on disk"),
            count,
            best,
            commits,
        );
    }
    println!();
    println!(
        "{:<44} {:>9} {:>12} {:>12} {:>10}",
        "journal (on disk, fsync per group commit)",
        "actions",
        "us/action",
        "bytes/action",
        "commits"
    );
    for (count, (spent, bytes, commits)) in persistence {
        println!(
            "{:<44} {count:>9} {:>12.1} {:>12.1} {commits:>10}",
            format!("null x{count}, persisting"),
            spent.as_secs_f64() * 1e6 / count as f64,
            bytes as f64 / count as f64
        );
    }
    println!();
    let (expanded, plan) = stack(TEST_RESOURCE, 1_000, 0);
    let mut best = Duration::MAX;
    let mut commits = 0;
    for _ in 0..RUNS {
        let provider = Arc::new(TestProvider::new());
        provider.set_latency(Op::Create, Duration::from_millis(100));
        let providers = ProviderSet::new().with(provider);
        let mut recorder = Counting::default();
        best = best.min(run_once(
            &runtime,
            &providers,
            host.as_ref(),
            &expanded,
            &plan,
            &mut recorder,
        ));
        commits = recorder.commits;
    }
    row(
        "test x1000 independent, 100 ms each, at 64",
        1_000,
        best,
        commits,
    );
}
