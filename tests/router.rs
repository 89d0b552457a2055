//! The router (`infra::providers::router`) against a real nginx: it starts
//! and recognises itself, switches upstreams under the load loop without a
//! failed request, splits traffic by weight, counts errors per upstream from
//! its access log, and reports a port in use and a missing nginx. Then the
//! stdlib's service modules, `std/redis_service` and `std/static_site`,
//! applied and destroyed by `infra` with the real binaries.
//!
//! Upstreams are a throwaway nginx answering `blue` or `green`
//! (tests/common/nginx.rs). Needs Debian's `nginx-light` and
//! `redis-server` (tests/run.sh installs them); `INFRA_SKIP_SERVICES=1` skips.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "tests: a broken set-up fails the test"
)]

use crate::common;

use common::TempDir;
use common::load::{self, LoadLoop, LoadReport};
use common::nginx::{NginxServer, RouterGuard};
use infra::providers::router::{LocalRouter, RouterError, Routes, Traffic, Upstream};

/// A router in a temp folder, and upstreams answering `blue` and `green`.
struct Bench {
    router: RouterGuard,
    upstreams: NginxServer,
    listen: u16,
    _dir: TempDir,
}

impl Bench {
    fn start(test: &str) -> Option<Bench> {
        let upstreams = NginxServer::answering(test, &["blue", "green"])?;
        let nginx = common::nginx::nginx(test)?;
        let dir = TempDir::new(test);
        let router = LocalRouter::new(dir.path.join(".infra/run/shop/dev/api/router"), nginx)
            .unwrap_or_else(|e| panic!("{e}"));
        Some(Bench {
            router: RouterGuard { router },
            upstreams,
            listen: common::postgres::free_port(),
            _dir: dir,
        })
    }

    /// Routes to blue and green with these weights.
    fn routes(&self, blue: u32, green: u32) -> Routes {
        Routes::new("api", self.listen)
            .to(Upstream::new("blue", "127.0.0.1", self.upstreams.port(0)).weight(blue))
            .to(Upstream::new("green", "127.0.0.1", self.upstreams.port(1)).weight(green))
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.listen)
    }

    /// Waits until the access log holds `count` complete lines after `since`
    /// (nginx writes a line once the answer is sent: a client can read the
    /// answer first).
    fn wait_logged(&self, since: u64, count: u64) {
        common::wait_until(
            &format!("{count} access log lines"),
            || {
                self.router
                    .error_rate(since, &Traffic::All)
                    .is_ok_and(|rate| rate.requests >= count)
            },
            || std::fs::read_to_string(self.router.layout().access_log()).unwrap_or_default(),
        );
    }
}

#[tokio::test]
async fn a_router_starts_serves_and_knows_its_own_nginx() {
    let Some(bench) = Bench::start("router_starts") else {
        return;
    };
    assert!(!bench.router.is_running());
    let blue = bench.routes(1, 0);
    let applied = bench.router.ensure(&blue).await.unwrap();
    assert!(applied.started && applied.changed, "{applied:?}");
    assert_eq!(applied.generation, 1);
    assert!(bench.router.is_running());
    assert_eq!(load::get(&bench.url("/")), Ok("blue".to_owned()));
    assert_eq!(bench.router.routes(), Some((1, blue.clone())));

    // The same routes again: nothing to do.
    let again = bench.router.ensure(&blue).await.unwrap();
    assert!(!again.changed && !again.started, "{again:?}");
    assert_eq!(again.generation, 1);

    // A pid file naming another process (here, the test itself) is not the
    // router's nginx.
    let pid_file = bench.router.layout().pid();
    let real_pid = std::fs::read_to_string(&pid_file).unwrap();
    std::fs::write(&pid_file, std::process::id().to_string()).unwrap();
    assert!(!bench.router.is_running());
    std::fs::write(&pid_file, real_pid).unwrap();
    assert!(bench.router.is_running());

    bench.router.stop().await.unwrap();
    assert!(!bench.router.is_running());
    assert!(
        load::get(&bench.url("/")).is_err(),
        "the router still answers"
    );
    bench.router.stop().await.unwrap();

    // Started again after a stop, from its own configuration's generation on.
    let green = bench.routes(0, 1);
    let applied = bench.router.ensure(&green).await.unwrap();
    assert!(applied.started, "{applied:?}");
    assert_eq!(applied.generation, 2);
    assert_eq!(load::get(&bench.url("/")), Ok("green".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_upstreams_under_load_drops_no_request() {
    let Some(bench) = Bench::start("router_switch_under_load") else {
        return;
    };
    let switches = common::trial_count("INFRA_ROUTER_SWITCHES", 6);
    bench.router.ensure(&bench.routes(1, 0)).await.unwrap();
    let load = LoadLoop::start(&bench.url("/"));
    let mut seen = load.wait_for_answers("blue", 20, &LoadReport::default());
    let mut colours = ("blue", "green");
    let mut took = Vec::new();
    for switch in 0..switches {
        let (old, new) = colours;
        let routes = if new == "green" {
            bench.routes(0, 1)
        } else {
            bench.routes(1, 0)
        };
        let applied = bench.router.ensure(&routes).await.unwrap();
        assert!(applied.changed && !applied.started, "{applied:?}");
        assert_eq!(applied.generation, 2 + switch as u64);
        took.push(applied.took);
        // Once the old workers have finished their requests, nothing can
        // reach the old colour.
        assert!(
            bench
                .router
                .wait_drained(&applied.draining, common::READY_WITHIN)
                .await,
            "old workers {:?} did not finish",
            applied.draining
        );
        let drained = load.mark();
        let after = load.wait_until(
            &format!("50 answers {new} sent after the drain"),
            |report| report.answered_after_mark(drained, new) >= 50,
        );
        assert_eq!(
            after.answered_after_mark(drained, old),
            0,
            "{old} answered requests sent after the switch to {new} had drained: {:?}",
            after.answers_by_mark
        );
        seen = after;
        colours = (new, old);
    }
    let report = load.stop();
    assert_eq!(
        report.failures, 0,
        "failed requests across {switches} switches: {:?}",
        report.failure_samples
    );
    assert!(
        report.answered("blue") > 0 && report.answered("green") > 0,
        "{report:?}"
    );
    assert!(report.requests >= seen.requests);
    // bench/service.sh reads the figures from here.
    if let Some(out) = std::env::var_os("INFRA_ROUTER_BENCH_OUT") {
        took.sort();
        let ms = |d: &std::time::Duration| d.as_secs_f64() * 1000.0;
        let figures = format!(
            "switches {}\nreload_ms_median {:.1}\nreload_ms_max {:.1}\nrequests {}\nfailed {}\n",
            took.len(),
            took.get(took.len() / 2).map_or(0.0, ms),
            took.last().map_or(0.0, ms),
            report.requests,
            report.failures
        );
        std::fs::write(out, figures).unwrap();
    }
}

#[tokio::test]
async fn weights_split_traffic_for_a_canary() {
    let Some(bench) = Bench::start("router_canary_split") else {
        return;
    };
    // A quarter of the requests to green.
    bench.router.ensure(&bench.routes(3, 1)).await.unwrap();
    let mut green = 0;
    let total = 400;
    for _ in 0..total {
        match load::get(&bench.url("/")).as_deref() {
            Ok("green") => green += 1,
            Ok("blue") => {}
            other => panic!("unexpected answer {other:?}"),
        }
    }
    let share = f64::from(green) / f64::from(total);
    assert!(
        (0.15..=0.35).contains(&share),
        "green got {green} of {total} requests with weights 3:1"
    );

    // All of it once green's weight is the only one.
    bench.router.ensure(&bench.routes(0, 1)).await.unwrap();
    for _ in 0..20 {
        assert_eq!(load::get(&bench.url("/")), Ok("green".to_owned()));
    }
}

#[tokio::test]
async fn the_access_log_gives_the_error_rate_of_each_upstream() {
    let Some(bench) = Bench::start("router_error_rate") else {
        return;
    };
    let routes = bench.routes(0, 1);
    bench.router.ensure(&routes).await.unwrap();
    let start = bench.router.access_log_end();
    for path in ["/fail", "/", "/fail", "/", "/", "/", "/fail", "/", "/", "/"] {
        let _ = load::get(&bench.url(path));
    }
    bench.wait_logged(start, 10);
    let green = Traffic::To(routes.addresses_of("green"));
    let blue = Traffic::To(routes.addresses_of("blue"));
    let on_green = bench.router.error_rate(start, &green).unwrap();
    assert_eq!((on_green.requests, on_green.errors), (10, 3));
    assert!((on_green.rate() - 0.3).abs() < 1e-9);
    let on_blue = bench.router.error_rate(start, &blue).unwrap();
    assert_eq!((on_blue.requests, on_blue.errors), (0, 0));
    let all = bench.router.error_rate(start, &Traffic::All).unwrap();
    assert_eq!((all.requests, all.errors), (10, 3));

    // Reading on from where the last count stopped counts only new requests.
    let routes = bench.routes(1, 0);
    bench.router.ensure(&routes).await.unwrap();
    for _ in 0..5 {
        assert_eq!(load::get(&bench.url("/")), Ok("blue".to_owned()));
    }
    bench.wait_logged(on_green.next_offset, 5);
    let later = bench
        .router
        .error_rate(on_green.next_offset, &blue)
        .unwrap();
    assert_eq!((later.requests, later.errors), (5, 0));
    let later_green = bench
        .router
        .error_rate(on_green.next_offset, &green)
        .unwrap();
    assert_eq!(later_green.requests, 0);
    let (records, _) = bench.router.access_records(on_green.next_offset).unwrap();
    assert_eq!(records.len(), 5);
    assert!(records.iter().all(|record| record.status == 200));
    // The status probes the router makes of itself are not logged.
    assert!(
        records
            .iter()
            .all(|record| !record.request.contains("/.infra/")),
        "{records:?}"
    );
}

#[tokio::test]
async fn a_port_in_use_is_refused_naming_its_holder() {
    let Some(bench) = Bench::start("router_port_in_use") else {
        return;
    };
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let mut routes = bench.routes(1, 0);
    routes.listen_port = port;
    let error = bench.router.ensure(&routes).await.unwrap_err();
    let RouterError::PortInUse { port: said, holder } = &error else {
        panic!("expected a port in use, got {error}");
    };
    assert_eq!(*said, port);
    let me = format!("pid {}", std::process::id());
    assert!(
        holder
            .as_deref()
            .is_some_and(|holder| holder.starts_with(&me)),
        "{error}"
    );
    assert!(error.to_string().contains("router.listen"), "{error}");
    assert!(!bench.router.is_running());

    // Moving a running router onto a taken port is refused too, and it keeps
    // serving where it was.
    let routes = bench.routes(1, 0);
    bench.router.ensure(&routes).await.unwrap();
    let mut moved = routes.clone();
    moved.listen_port = port;
    assert!(matches!(
        bench.router.ensure(&moved).await,
        Err(RouterError::PortInUse { .. })
    ));
    assert_eq!(load::get(&bench.url("/")), Ok("blue".to_owned()));
    assert_eq!(
        bench.router.routes().map(|(_, routes)| routes),
        Some(routes)
    );
}

#[test]
fn a_missing_nginx_says_how_to_install_it() {
    let empty = TempDir::new("router_no_nginx");
    let error =
        infra::providers::router::Nginx::find_in(std::slice::from_ref(&empty.path)).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("apt-get install nginx-light"), "{message}");
    let error = infra::providers::router::Nginx::locate(
        Some(empty.path.join("nginx").as_os_str()),
        std::env::var_os("PATH").as_deref(),
    )
    .unwrap_err();
    assert!(matches!(error, RouterError::NginxMissing { .. }), "{error}");
    let provider_error = infra::providers::ProviderError::from(error);
    assert!(
        provider_error
            .message
            .contains("apt-get install nginx-light"),
        "{provider_error}"
    );
}

#[tokio::test]
async fn right_after_a_reload_new_connections_get_the_new_routes() {
    let Some(bench) = Bench::start("router_reload_time") else {
        return;
    };
    bench.router.ensure(&bench.routes(1, 0)).await.unwrap();
    for round in 0..4u32 {
        let routes = if round % 2 == 0 {
            bench.routes(0, 1)
        } else {
            bench.routes(1, 0)
        };
        bench.router.ensure(&routes).await.unwrap();
        let expected = if round % 2 == 0 { "green" } else { "blue" };
        assert_eq!(load::get(&bench.url("/")), Ok(expected.to_owned()));
    }
}

/// `redis-server` for the test `name`, or `None` (recorded as skipped) under
/// `INFRA_SKIP_SERVICES=1`; panics with how to install it when missing.
fn redis_server(name: &str) -> Option<()> {
    if std::env::var("INFRA_SKIP_SERVICES").as_deref() == Ok("1") {
        common::skipped(name, "INFRA_SKIP_SERVICES=1 (needs redis-server)");
        return None;
    }
    let found = std::process::Command::new("redis-server")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    assert!(
        found,
        "{name} needs redis-server: `apt-get install -y redis-server` (Debian/Ubuntu; \
         tests/run.sh does this) or `brew install redis`; or set INFRA_SKIP_SERVICES=1 to skip"
    );
    Some(())
}

/// Sends inline redis commands on one connection and returns the raw answer
/// (the connection ends with `QUIT`, so all answers arrive).
fn redis(port: u16, commands: &[&str]) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(common::READY_WITHIN)).unwrap();
    let mut text: String = commands.iter().map(|c| format!("{c}\r\n")).collect();
    text.push_str("QUIT\r\n");
    stream.write_all(text.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

fn apply(dir: &TempDir) {
    let output = common::infra_env(&dir.path, &["apply", "--auto-approve"], &[]);
    assert_eq!(
        common::code(&output),
        0,
        "infra apply:\n{}\n{}",
        common::stdout(&output),
        common::stderr(&output)
    );
}

fn destroy(dir: &TempDir) {
    let output = common::infra_env(&dir.path, &["destroy", "--auto-approve"], &[]);
    assert_eq!(
        common::code(&output),
        0,
        "infra destroy:\n{}\n{}",
        common::stdout(&output),
        common::stderr(&output)
    );
}

/// Destroys the stack when a test fails half-way, so no server is left.
struct Destroyed<'a>(&'a TempDir);

impl Drop for Destroyed<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = common::infra_env(&self.0.path, &["destroy", "--auto-approve"], &[]);
        }
    }
}

#[test]
fn std_redis_service_runs_redis_with_its_configuration() {
    let name = "std_redis_service";
    let Some(()) = redis_server(name) else {
        return;
    };
    let dir = TempDir::new(name);
    let _cleanup = Destroyed(&dir);
    let port = common::postgres::free_port();
    let stack = |memory: &str| {
        format!(
            "stack \"std_redis\" {{}}\n\nmodule \"cache\" {{\n  source = \"std/redis_service\"\n  \
             name   = \"cache\"\n  port   = {port}\n  config = {{ maxmemory = \"{memory}\" }}\n}}\n\n\
             output \"url\" {{\n  value = module.cache.url\n}}\n"
        )
    };
    dir.write("main.infra", stack("32mb"));
    apply(&dir);
    let answer = redis(port, &["PING", "CONFIG GET maxmemory", "CONFIG GET bind"]);
    assert!(answer.starts_with("+PONG\r\n"), "{answer:?}");
    assert!(
        answer.contains("33554432"),
        "maxmemory is not 32mb: {answer:?}"
    );
    assert!(answer.contains("127.0.0.1"), "not on loopback: {answer:?}");
    let output = common::infra_env(&dir.path, &["output", "url"], &[]);
    assert!(
        common::stdout(&output).contains(&format!("redis://127.0.0.1:{port}")),
        "{}",
        common::stdout(&output)
    );

    // A new configuration restarts it with that configuration.
    dir.write("main.infra", stack("64mb"));
    apply(&dir);
    let answer = redis(port, &["CONFIG GET maxmemory"]);
    assert!(
        answer.contains("67108864"),
        "maxmemory is not 64mb: {answer:?}"
    );

    destroy(&dir);
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "redis still listens after destroy"
    );
}

#[test]
fn std_static_site_serves_a_folder_with_nginx() {
    let name = "std_static_site";
    if common::nginx::nginx(name).is_none() {
        return;
    }
    let dir = TempDir::new(name);
    let _cleanup = Destroyed(&dir);
    let port = common::postgres::free_port();
    dir.write("public/index.html", "<h1>shop</h1>\n");
    dir.write("public/app.css", "body { color: teal }\n");
    dir.write(
        "main.infra",
        format!(
            "stack \"std_site\" {{}}\n\nmodule \"web\" {{\n  source = \"std/static_site\"\n  \
             name   = \"web\"\n  root   = \"public\"\n  port   = {port}\n}}\n"
        ),
    );
    apply(&dir);
    let url = |path: &str| format!("http://127.0.0.1:{port}{path}");
    assert_eq!(load::get(&url("/")), Ok("<h1>shop</h1>".to_owned()));
    assert_eq!(
        load::get(&url("/app.css")),
        Ok("body { color: teal }".to_owned())
    );
    assert!(
        load::get(&url("/missing")).is_ok_and(|answer| answer.starts_with("404")),
        "a missing file is not a 404"
    );
    // Files are served as they are on disk: no deploy for new content.
    dir.write("public/index.html", "<h1>shop v2</h1>\n");
    assert_eq!(load::get(&url("/")), Ok("<h1>shop v2</h1>".to_owned()));

    destroy(&dir);
    assert!(
        load::get(&url("/")).is_err(),
        "the site still answers after destroy"
    );
}
