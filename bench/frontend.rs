//! Front-end benchmark: parse + lower, then `check::load` + `check::check`, on
//! generated stacks of 1k, 10k and 100k resources.
//!
//! `cargo bench --bench frontend` (release). Stacks come from
//! `bench/gen_stack.py` (about 100 bytes per resource); they are written under
//! the target folder, or read from `$INFRA_BENCH_DIR/stack-N/` when that is set
//! (the layout `bench/run.sh` leaves in `bench/out/`). Optional arguments pick
//! other sizes: `cargo bench --bench frontend -- 5000 50000`, and `--parse-only` skips
//! the load and check columns.
//!
//! `-- --stages` instead times each stage of `infra validate` once, in order,
//! with every environment expanded one after the other (`--validate` too: the
//! way `infra validate` evaluates them, without making instances): load (read + parse),
//! check (which uses the syntax trees up), graph, expand per environment, and the
//! resident memory after each (`VmRSS`, Linux only; the peak is `VmHWM`).
//!
//! Timings only; nothing is asserted. Peak memory is measured by
//! `bench/run.sh` on the real binary.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "a benchmark binary that reports on stdout"
)]

use infra::diag::FileId;
use infra::host::RealHost;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const RUNS: usize = 3;

/// The same allocator as the `infra` binary (src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `--parse-only` skips the load and check columns (for profiling).
    let parse_only = args.iter().any(|a| a == "--parse-only");
    let stages_only = args.iter().any(|a| a == "--stages");
    // With `--stages`, `--validate` evaluates the environments the way `infra
    // validate` does (`expand::validate`, no instances) instead of `expand`.
    let validate_only = args.iter().any(|a| a == "--validate");
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this
    // binary without it, unoptimised, as a smoke test: the smallest size only.
    let smoke = !args.iter().any(|a| a == "--bench");
    let args: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let sizes = if !args.is_empty() {
        args
    } else if smoke {
        vec![1_000]
    } else {
        vec![1_000, 10_000, 100_000]
    };
    if stages_only {
        for n in sizes {
            stages(n, validate_only);
        }
        return;
    }
    println!(
        "{:>9} {:>11} {:>14} {:>10} {:>8} {:>8} {:>13}",
        "resources", "bytes", "parse+lower_s", "MB/s", "drop_s", "load_s", "load+check_s"
    );
    for n in sizes {
        let dir = stack_dir(n);
        let texts = read_stack(&dir);
        let bytes: usize = texts.iter().map(String::len).sum();

        let mut drop_time = Duration::MAX;
        let parse = best_of(|| {
            let started = Instant::now();
            let files: Vec<_> = texts
                .iter()
                .enumerate()
                .map(|(index, text)| {
                    let id = FileId(u32::try_from(index).unwrap());
                    let (file, diagnostics) = infra::syntax::parse(id, text);
                    assert!(diagnostics.is_empty(), "the generated stack parses");
                    file
                })
                .collect();
            let elapsed = started.elapsed();
            let items: usize = files.iter().map(|f| f.body.items.len()).sum();
            assert!(items >= n, "every resource was parsed");
            let dropping = Instant::now();
            drop(files);
            drop_time = drop_time.min(dropping.elapsed());
            elapsed
        });

        if parse_only {
            let mb_per_s = bytes as f64 / 1e6 / parse.as_secs_f64();
            println!(
                "{n:>9} {bytes:>11} {:>14.3} {mb_per_s:>10.1} {:>8.3}",
                parse.as_secs_f64(),
                drop_time.as_secs_f64(),
            );
            continue;
        }

        let load = best_of(|| {
            let started = Instant::now();
            let (stack, _) = infra::check::load(&RealHost, &dir);
            let elapsed = started.elapsed();
            drop(stack);
            elapsed
        });

        let full = best_of(|| {
            let started = Instant::now();
            let (mut stack, _) = infra::check::load(&RealHost, &dir);
            let (config, diagnostics) = infra::check::check(&RealHost, &mut stack);
            let elapsed = started.elapsed();
            if diagnostics.has_errors() {
                eprintln!("note: the {n}-resource stack has check errors");
            }
            drop((config, stack));
            elapsed
        });

        let mb_per_s = bytes as f64 / 1e6 / parse.as_secs_f64();
        println!(
            "{n:>9} {bytes:>11} {:>14.3} {mb_per_s:>10.1} {:>8.3} {:>8.3} {:>13.3}",
            parse.as_secs_f64(),
            drop_time.as_secs_f64(),
            load.as_secs_f64(),
            full.as_secs_f64(),
        );
    }
}

/// Times each stage of `infra validate` on the `n`-resource stack, once.
fn stages(n: usize, validate_only: bool) {
    use infra::expand::Request;
    let dir = stack_dir(n);
    println!("{n} resources");
    println!(
        "{:>22} {:>9} {:>9} {:>10}",
        "stage", "time_s", "cpu_s", "rss_mb"
    );
    let cpu_before = std::cell::Cell::new(cpu_seconds());
    let report = |stage: &str, started: Instant| {
        let cpu = cpu_seconds();
        println!(
            "{stage:>22} {:>9.3} {:>9.2} {:>10}",
            started.elapsed().as_secs_f64(),
            cpu - cpu_before.get(),
            status_mb("VmRSS")
        );
        cpu_before.set(cpu);
    };
    let total = Instant::now();
    let cpu_total = cpu_seconds();
    let started = Instant::now();
    let (mut stack, _) = infra::check::load(&RealHost, &dir);
    report("load + parse", started);
    let started = Instant::now();
    let (config, diagnostics) = infra::check::check(&RealHost, &mut stack);
    report("check", started);
    assert!(!diagnostics.has_errors(), "the generated stack checks");
    let started = Instant::now();
    let (graph, _) = infra::graph::build(&config);
    report("graph", started);
    let registry = infra::providers::Registry::builtin();
    let environments: Vec<String> = config.environments.keys().cloned().collect();
    for environment in environments {
        let started = Instant::now();
        let request = Request {
            environment: Some(environment.clone()),
            ..Request::default()
        };
        if validate_only {
            let (_, diagnostics) =
                infra::expand::validate(&config, &graph, &request, &RealHost, &dir, &registry);
            assert!(!diagnostics.has_errors(), "the generated stack validates");
            report(&format!("validate {environment}"), started);
            continue;
        }
        let (expanded, diagnostics) =
            infra::expand::expand(&config, &graph, &request, &RealHost, &dir, &registry);
        assert!(!diagnostics.has_errors(), "the generated stack expands");
        let instances = expanded.as_ref().map_or(0, |e| e.instances.len());
        report(&format!("expand {environment}"), started);
        let started = Instant::now();
        drop(expanded);
        report(&format!("  drop ({instances} inst.)"), started);
    }
    let started = Instant::now();
    drop((graph, config, stack));
    report("drop the rest", started);
    println!(
        "{:>22} {:>9.3} {:>9.2} {:>10}",
        "total (peak rss)",
        total.elapsed().as_secs_f64(),
        cpu_seconds() - cpu_total,
        status_mb("VmHWM")
    );
}

/// User + system CPU seconds of this process so far, every thread
/// (`/proc/self/stat`, in ticks of 1/100 s; 0 where there is none).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 here.
    (ticks(11) + ticks(12)) / 100.0
}

/// A memory line of `/proc/self/status` in MB (`-` where there is none).
fn status_mb(field: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                let rest = line.strip_prefix(field)?.strip_prefix(':')?;
                let kb: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
                Some((kb / 1024).to_string())
            })
        })
        .unwrap_or_else(|| String::from("-"))
}

fn best_of(mut run: impl FnMut() -> Duration) -> Duration {
    (0..RUNS).map(|_| run()).min().unwrap_or_default()
}

/// The folder of the `n`-resource stack, generated if needed.
fn stack_dir(n: usize) -> PathBuf {
    if let Some(root) = std::env::var_os("INFRA_BENCH_DIR") {
        let dir = Path::new(&root).join(format!("stack-{n}"));
        assert!(dir.is_dir(), "{} is missing", dir.display());
        return dir;
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("bench-stack-{n}"));
    let done = dir.join(".complete");
    if !done.exists() {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/gen_stack.py");
        let status = Command::new("python3")
            .arg(&script)
            .arg(n.to_string())
            .arg(&dir)
            .status()
            .expect("python3 runs bench/gen_stack.py");
        assert!(status.success(), "bench/gen_stack.py failed");
        std::fs::write(&done, "").unwrap();
    }
    dir
}

/// The `.infra` files of `dir`, in name order.
fn read_stack(dir: &Path) -> Vec<String> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "infra"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}
