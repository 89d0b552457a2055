//! A `service` block's settings, read from its attributes: what to run, how
//! to check it and how to deploy it, with durations parsed and defaults
//! filled in. [`check`] is the offline validation (`infra validate` refuses
//! what it finds, at the attribute's span); [`ServiceSpec::from_attributes`]
//! reads a validated configuration for a deploy.
//!
//! Terminology: the *configured port* is `port` as written; each process gets
//! its own *process port* (a blue and a green colour cannot share one), and
//! every string of `run`, `env` and `health` that names the configured port
//! names the process port instead ([`ServiceSpec::for_port`]).
//!
//! Invariant: no I/O except [`version`], which reads the files `run` names.

use crate::lang::{Kind, Value};
use crate::providers::{Attributes, ProviderError};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The deploy strategies.
pub const STRATEGIES: &[&str] = &["recreate", "rolling", "blue_green", "canary"];

/// How a new version replaces the old one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Stop, start, check health.
    Recreate,
    /// One replica at a time behind the router.
    Rolling,
    /// A new colour beside the old one; the router switches at once.
    BlueGreen,
    /// A new colour that takes a growing share of the traffic.
    Canary,
}

impl Strategy {
    /// The name as written in `deploy.strategy`.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Recreate => "recreate",
            Strategy::Rolling => "rolling",
            Strategy::BlueGreen => "blue_green",
            Strategy::Canary => "canary",
        }
    }

    fn parse(text: &str) -> Option<Strategy> {
        match text {
            "recreate" => Some(Strategy::Recreate),
            "rolling" => Some(Strategy::Rolling),
            "blue_green" => Some(Strategy::BlueGreen),
            "canary" => Some(Strategy::Canary),
            _ => None,
        }
    }
}

/// What a health check asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// A GET that answers 2xx or 3xx.
    Http(String),
    /// A TCP connection that is accepted (`host:port`).
    Tcp(String),
    /// A command that exits 0.
    Exec(Vec<String>),
}

/// `health = { ... }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthSpec {
    /// What to ask.
    pub check: Check,
    /// Between two tries.
    pub interval: Duration,
    /// For one try.
    pub timeout: Duration,
    /// Failed tries in a row (after `start_period`) that make it unhealthy.
    pub retries: u32,
    /// How long a starting process may fail without counting.
    pub start_period: Duration,
}

/// `smoke = { ... }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmokeSpec {
    /// The URL to GET.
    pub http: String,
    /// The status it must answer (200 by default).
    pub expect_status: u16,
    /// Text the body must contain.
    pub expect_body_contains: Option<String>,
}

/// `deploy = { ... }`.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploySpec {
    /// The strategy (`recreate` by default, `blue_green` with a router).
    pub strategy: Strategy,
    /// Canary traffic shares in percent, the last 100.
    pub steps: Vec<u32>,
    /// Between canary steps.
    pub pause: Duration,
    /// Rolling: how many replicas may be down at once.
    pub max_unavailable: u32,
    /// How long to watch after traffic moves.
    pub watch: Duration,
    /// The 5xx share above which the watch rolls back.
    pub max_error_rate: f64,
}

/// A service's settings, for one deploy.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceSpec {
    /// The argv.
    pub run: Vec<String>,
    /// The child's environment on top of the basic one (values may be secrets).
    pub env: Vec<(String, String)>,
    /// The configured port.
    pub port: Option<u16>,
    /// How many processes.
    pub replicas: u32,
    /// Where the processes run (absolute).
    pub workdir: PathBuf,
    /// The health check.
    pub health: Option<HealthSpec>,
    /// The smoke test.
    pub smoke: Option<SmokeSpec>,
    /// How to deploy.
    pub deploy: DeploySpec,
    /// The router's port, when the service has one.
    pub router: Option<u16>,
    /// The address the router listens on (`127.0.0.1` unless `router.address`
    /// says another: `0.0.0.0` for every interface of a server).
    pub router_address: String,
    /// Where its pidfiles and logs go (absolute).
    pub run_dir: PathBuf,
}

/// Parses `500ms`, `10s`, `5m`, `1h` and sums of them (`1m30s`).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let (number, tail) = rest.split_at(digits);
        let value: f64 = number.parse().ok()?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let seconds = match unit {
            "ms" => value / 1000.0,
            "s" => value,
            "m" => value * 60.0,
            "h" => value * 3600.0,
            _ => return None,
        };
        total += Duration::try_from_secs_f64(seconds).ok()?;
        rest = tail;
    }
    Some(total)
}

/// A short human form of a duration (`5m`, `30s`, `1.5s`, `200ms`).
pub fn show_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis == 0 {
        return String::from("0s");
    }
    if millis % 60_000 == 0 {
        format!("{}m", millis / 60_000)
    } else if millis % 1000 == 0 {
        format!("{}s", millis / 1000)
    } else if millis < 1000 {
        format!("{millis}ms")
    } else {
        format!("{:.1}s", duration.as_secs_f64())
    }
}

/// The settings of one nested object attribute (`health`, `deploy`...), or
/// none when unset.
fn object<'a>(config: &'a Attributes, name: &str) -> Option<&'a crate::lang::Map> {
    config.get(name).and_then(Value::as_map)
}

/// A known, non-null value inside an object attribute.
fn field<'a>(map: Option<&'a crate::lang::Map>, name: &str) -> Option<&'a Value> {
    map.and_then(|m| m.get(name))
        .filter(|v| !v.is_null() && !v.contains_unknown())
}

fn integer(value: &Value) -> Option<i64> {
    value
        .as_number()
        .filter(|n| n.is_integer())
        .and_then(|n| n.as_i64())
}

/// Offline validation of a service's configuration: every problem, each
/// pointing at its attribute path. Unknown values pass (checked again when known).
pub fn check(config: &Attributes) -> Vec<ProviderError> {
    let mut errors = Vec::new();
    let mut fail = |path: &[&str], message: String| {
        errors.push(ProviderError::permanent(message).at(path.iter().copied()));
    };
    if let Some(run) = config.get("run").filter(|v| !v.contains_unknown()) {
        if run.contains_secret() {
            fail(
                &["run"],
                String::from(
                    "`run` carries a secret, and a process's arguments are visible to every user of the machine (`ps`, /proc/PID/cmdline); pass it through `env`",
                ),
            );
        } else if run.as_list().is_some_and(<[Value]>::is_empty) {
            fail(
                &["run"],
                String::from(
                    "`run` is empty; give the command and its arguments, like `[\"python3\", \"app.py\"]`",
                ),
            );
        }
    }
    let port_ok = |value: &Value| integer(value).is_some_and(|p| (1..=65535).contains(&p));
    if let Some(port) = config
        .get("port")
        .filter(|v| !v.is_null() && !v.contains_unknown())
        && !port_ok(port)
    {
        fail(
            &["port"],
            String::from("`port` must be a whole number from 1 to 65535"),
        );
    }
    let replicas = config
        .get("replicas")
        .filter(|v| !v.is_null() && !v.contains_unknown());
    if let Some(replicas) = replicas
        && !integer(replicas).is_some_and(|r| (1..=100).contains(&r))
    {
        fail(
            &["replicas"],
            String::from("`replicas` must be a whole number from 1 to 100"),
        );
    }
    let duration_at = |fail: &mut dyn FnMut(&[&str], String), map, block: &str, name: &str| {
        if let Some(value) = field(map, name) {
            let text = value.as_str().unwrap_or_default();
            if parse_duration(text).is_none() {
                fail(
                    &[block, name],
                    format!(
                        "`{name}` is not a duration: write a number and a unit (ms, s, m, h), like \"10s\" or \"5m\""
                    ),
                );
            }
        }
    };
    let health = object(config, "health");
    if health.is_some() {
        let kinds: Vec<&str> = ["http", "tcp", "exec"]
            .into_iter()
            .filter(|k| health.and_then(|m| m.get(*k)).is_some_and(|v| !v.is_null()))
            .collect();
        if kinds.len() != 1 {
            fail(
                &["health"],
                String::from(
                    "`health` needs exactly one of `http = URL`, `tcp = \"host:port\"` or `exec = [argv]`",
                ),
            );
        }
        if let Some(url) = field(health, "http").and_then(Value::as_str)
            && !url.starts_with("http://")
        {
            fail(
                &["health", "http"],
                String::from("`http` must be an http:// URL"),
            );
        }
        for name in ["interval", "timeout", "start_period"] {
            duration_at(&mut fail, health, "health", name);
        }
        if let Some(retries) = field(health, "retries")
            && !integer(retries).is_some_and(|r| (1..=1000).contains(&r))
        {
            fail(
                &["health", "retries"],
                String::from("`retries` must be a whole number from 1 to 1000"),
            );
        }
    }
    let smoke = object(config, "smoke");
    if let Some(status) = field(smoke, "expect_status")
        && !integer(status).is_some_and(|s| (100..=599).contains(&s))
    {
        fail(
            &["smoke", "expect_status"],
            String::from("`expect_status` must be an HTTP status from 100 to 599"),
        );
    }
    if smoke.is_some() && smoke.and_then(|m| m.get("http")).is_none_or(Value::is_null) {
        fail(&["smoke"], String::from("`smoke` needs `http = URL`"));
    }
    let router = object(config, "router");
    if let Some(listen) = field(router, "listen")
        && !port_ok(listen)
    {
        fail(
            &["router", "listen"],
            String::from("`listen` must be a whole number from 1 to 65535"),
        );
    }
    if let Some(address) = field(router, "address").and_then(Value::as_str)
        && address.parse::<std::net::IpAddr>().is_err()
    {
        fail(
            &["router", "address"],
            String::from(
                "`address` must be an IP address to listen on: \"127.0.0.1\" (the default), \
                 \"0.0.0.0\" for every interface, or one of the machine's addresses",
            ),
        );
    }
    let deploy = object(config, "deploy");
    let strategy = field(deploy, "strategy").and_then(Value::as_str);
    if let Some(strategy) = strategy
        && Strategy::parse(strategy).is_none()
    {
        let hint = crate::diag::did_you_mean(strategy, STRATEGIES.iter().copied())
            .map(|s| format!("did you mean \"{s}\"? "))
            .unwrap_or_default();
        fail(
            &["deploy", "strategy"],
            format!(
                "unknown strategy \"{strategy}\"; {hint}the strategies are {}",
                STRATEGIES.join(", ")
            ),
        );
    }
    if let Some(rate) = field(deploy, "max_error_rate")
        && !rate
            .as_number()
            .is_some_and(|r| (0.0..=1.0).contains(&r.as_f64()))
    {
        fail(
            &["deploy", "max_error_rate"],
            String::from("`max_error_rate` is a share of requests, from 0 to 1 (0.01 is 1%)"),
        );
    }
    for name in ["watch", "pause"] {
        duration_at(&mut fail, deploy, "deploy", name);
    }
    if let Some(steps) = field(deploy, "steps") {
        let numbers: Vec<Option<i64>> = steps
            .as_list()
            .unwrap_or_default()
            .iter()
            .map(integer)
            .collect();
        let rising = numbers
            .windows(2)
            .all(|w| matches!(w, [Some(a), Some(b)] if a < b));
        let in_range = numbers
            .iter()
            .all(|n| n.is_some_and(|n| (1..=100).contains(&n)));
        if numbers.is_empty() || !rising || !in_range || numbers.last() != Some(&Some(100)) {
            fail(
                &["deploy", "steps"],
                String::from(
                    "`steps` are rising percentages of traffic that end at 100, like [10, 50, 100]",
                ),
            );
        }
    }
    if let Some(max) = field(deploy, "max_unavailable")
        && integer(max).is_none_or(|m| m < 1)
    {
        fail(
            &["deploy", "max_unavailable"],
            String::from("`max_unavailable` must be a whole number of at least 1"),
        );
    }
    // What needs a router: traffic that moves between processes.
    let has_router = router.is_some();
    if let Some(strategy) = strategy.and_then(Strategy::parse)
        && strategy != Strategy::Recreate
        && !has_router
        && !config.get("router").is_some_and(Value::contains_unknown)
    {
        fail(
            &["deploy", "strategy"],
            format!(
                "the {} strategy moves traffic between processes, which needs a router: add `router = {{ listen = PORT }}`",
                strategy.name()
            ),
        );
    }
    if !has_router
        && replicas.and_then(integer).is_some_and(|r| r > 1)
        && config.get("router").is_none_or(|v| !v.contains_unknown())
    {
        fail(
            &["replicas"],
            String::from(
                "more than one replica needs a router in front: add `router = { listen = PORT }`",
            ),
        );
    }
    if has_router && config.get("port").is_none_or(Value::is_null) {
        fail(
            &["router"],
            String::from(
                "a service behind a router needs `port`: the port its processes listen on (each gets its own, named where `run` says the port)",
            ),
        );
    }
    errors
}

/// The duration in `map.name`, or `default`.
fn duration_or(map: Option<&crate::lang::Map>, name: &str, default: Duration) -> Duration {
    field(map, name)
        .and_then(Value::as_str)
        .and_then(parse_duration)
        .unwrap_or(default)
}

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_list)
        .unwrap_or_default()
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_owned())
        .collect()
}

fn port(value: Option<&Value>) -> Option<u16> {
    value.and_then(integer).and_then(|p| u16::try_from(p).ok())
}

impl ServiceSpec {
    /// Reads a configuration that [`check`] accepts; `base_dir` is the stack
    /// folder (`workdir` and `run_dir` are relative to it).
    pub fn from_attributes(config: &Attributes, base_dir: &Path) -> Result<Self, ProviderError> {
        if let Some(error) = check(config).into_iter().next() {
            return Err(error);
        }
        let run = strings(config.get("run"));
        if run.is_empty() {
            return Err(ProviderError::permanent("`run` is empty").at(["run"]));
        }
        let env = config
            .get("env")
            .and_then(Value::as_map)
            .map(|map| {
                map.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        let workdir = match config.get("workdir").and_then(Value::as_str) {
            Some(dir) => base_dir.join(dir),
            None => base_dir.to_path_buf(),
        };
        let run_dir = config
            .get("run_dir")
            .and_then(Value::as_str)
            .map(|dir| base_dir.join(dir))
            .ok_or_else(|| {
                ProviderError::permanent("the service has no run_dir").at(["run_dir"])
            })?;
        let health_map = object(config, "health");
        let health = health_map.map(|map| {
            let check = if let Some(url) = field(Some(map), "http").and_then(Value::as_str) {
                Check::Http(url.to_owned())
            } else if let Some(addr) = field(Some(map), "tcp").and_then(Value::as_str) {
                Check::Tcp(addr.to_owned())
            } else {
                Check::Exec(strings(field(Some(map), "exec")))
            };
            HealthSpec {
                check,
                interval: duration_or(Some(map), "interval", Duration::from_millis(200)),
                timeout: duration_or(Some(map), "timeout", Duration::from_secs(5)),
                retries: field(Some(map), "retries")
                    .and_then(integer)
                    .and_then(|r| u32::try_from(r).ok())
                    .unwrap_or(3),
                start_period: duration_or(Some(map), "start_period", Duration::from_secs(30)),
            }
        });
        let smoke = object(config, "smoke").and_then(|map| {
            Some(SmokeSpec {
                http: field(Some(map), "http")?.as_str()?.to_owned(),
                expect_status: field(Some(map), "expect_status")
                    .and_then(integer)
                    .and_then(|s| u16::try_from(s).ok())
                    .unwrap_or(200),
                expect_body_contains: field(Some(map), "expect_body_contains")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            })
        });
        let router = port(field(object(config, "router"), "listen"));
        let deploy_map = object(config, "deploy");
        let strategy = field(deploy_map, "strategy")
            .and_then(Value::as_str)
            .and_then(Strategy::parse)
            .unwrap_or(if router.is_some() {
                Strategy::BlueGreen
            } else {
                Strategy::Recreate
            });
        let steps = field(deploy_map, "steps")
            .map(|s| {
                s.as_list()
                    .unwrap_or_default()
                    .iter()
                    .filter_map(integer)
                    .filter_map(|n| u32::try_from(n).ok())
                    .collect()
            })
            .unwrap_or_else(|| vec![10, 50, 100]);
        let deploy = DeploySpec {
            strategy,
            steps,
            pause: duration_or(deploy_map, "pause", Duration::ZERO),
            max_unavailable: field(deploy_map, "max_unavailable")
                .and_then(integer)
                .and_then(|m| u32::try_from(m).ok())
                .unwrap_or(1),
            watch: duration_or(deploy_map, "watch", Duration::ZERO),
            max_error_rate: field(deploy_map, "max_error_rate")
                .and_then(Value::as_number)
                .map_or(0.0, |n| n.as_f64()),
        };
        Ok(ServiceSpec {
            run,
            env,
            port: port(config.get("port")),
            replicas: config
                .get("replicas")
                .and_then(integer)
                .and_then(|r| u32::try_from(r).ok())
                .unwrap_or(1),
            workdir,
            health,
            smoke,
            deploy,
            router,
            router_address: field(object(config, "router"), "address")
                .and_then(Value::as_str)
                .unwrap_or("127.0.0.1")
                .to_owned(),
            run_dir,
        })
    }

    /// The settings of one process on `process_port`: every string of `run`,
    /// `env` and the health check that names the configured port names
    /// `process_port` instead, and `PORT` is set.
    pub fn for_port(&self, process_port: Option<u16>) -> ServiceSpec {
        let mut spec = self.clone();
        let (Some(configured), Some(actual)) = (self.port, process_port) else {
            return spec;
        };
        let swap = |text: &str| replace_port(text, configured, actual);
        spec.run = spec.run.iter().map(|a| swap(a)).collect();
        spec.env = spec.env.iter().map(|(k, v)| (k.clone(), swap(v))).collect();
        if let Some(health) = &mut spec.health {
            health.check = match &health.check {
                Check::Http(url) => Check::Http(swap(url)),
                Check::Tcp(addr) => Check::Tcp(swap(addr)),
                Check::Exec(argv) => Check::Exec(argv.iter().map(|a| swap(a)).collect()),
            };
        }
        spec.port = Some(actual);
        spec
    }
}

/// `text` with every run of digits that reads `from` replaced by `to`.
pub fn replace_port(text: &str, from: u16, to: u16) -> String {
    let from = from.to_string();
    let mut out = String::with_capacity(text.len());
    let mut digits = String::new();
    let flush = |digits: &mut String, out: &mut String| {
        if *digits == from {
            out.push_str(&to.to_string());
        } else {
            out.push_str(digits);
        }
        digits.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            flush(&mut digits, &mut out);
            out.push(c);
        }
    }
    flush(&mut digits, &mut out);
    out
}

/// The version of a configuration: a digest of `run`, `env` (secret values
/// stand as `(secret)`: a changed secret is a change of `env`, not shown in
/// the version) and the contents of the files `run` names (relative to the
/// workdir), so editing the app's script is a new version. 12 hex digits.
pub fn version(config: &Attributes, base_dir: Option<&Path>) -> Option<String> {
    if config.get("run").is_none_or(Value::contains_unknown)
        || config.get("env").is_some_and(Value::contains_unknown)
    {
        return None;
    }
    let mut hasher = Sha256::new();
    let run = strings(config.get("run"));
    for arg in &run {
        hasher.update(b"arg\0");
        hasher.update(arg.as_bytes());
        hasher.update(b"\0");
    }
    if let Some(Kind::Map(env)) = config.get("env").map(Value::kind) {
        for (name, value) in env.iter() {
            hasher.update(b"env\0");
            hasher.update(name.as_bytes());
            hasher.update(b"=");
            if value.contains_secret() {
                hasher.update(b"(secret)");
            } else {
                hasher.update(value.as_str().unwrap_or_default().as_bytes());
            }
            hasher.update(b"\0");
        }
    }
    let Some(base_dir) = base_dir else {
        let digest = hasher.finalize();
        return Some(crate::hex::lower(&digest[..6]));
    };
    let workdir = match config.get("workdir").and_then(Value::as_str) {
        Some(dir) => base_dir.join(dir),
        None => base_dir.to_path_buf(),
    };
    for arg in &run {
        let path = workdir.join(arg);
        if !arg.is_empty()
            && path.is_file()
            && let Ok(bytes) = std::fs::read(&path)
        {
            hasher.update(b"file\0");
            hasher.update(arg.as_bytes());
            hasher.update(b"\0");
            hasher.update(&bytes);
        }
    }
    let digest = hasher.finalize();
    Some(crate::hex::lower(&digest[..6]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_numbers_with_units_and_sums_of_them() {
        assert_eq!(parse_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        for bad in ["", "10", "s", "10 parsecs", "-1s", "5x"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        assert_eq!(show_duration(Duration::from_secs(300)), "5m");
        assert_eq!(show_duration(Duration::from_millis(200)), "200ms");
    }

    #[test]
    fn the_configured_port_is_replaced_only_where_it_is_a_whole_number() {
        assert_eq!(
            replace_port("http://127.0.0.1:8080/", 8080, 8101),
            "http://127.0.0.1:8101/"
        );
        assert_eq!(replace_port("8080", 8080, 8101), "8101");
        assert_eq!(replace_port("18080 80801 8080x", 8080, 1), "18080 80801 1x");
    }
}
