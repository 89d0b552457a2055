//! A throwaway PostgreSQL cluster for the tests that need a real server
//! (the `postgres` provider and the `postgres` state backend): `initdb` in a
//! fresh temp dir, started on a free loopback port with fsync off, stopped
//! and removed when dropped.
//!
//! The server binaries come from Debian's `postgresql` package, which
//! tests/run.sh installs. A missing binary fails the test with how to get it;
//! only `INFRA_SKIP_SERVICES=1` skips (and the skip is counted).

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a test harness: a broken server set-up fails the test"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A running cluster; stopped and deleted on drop.
pub struct PgServer {
    root: PathBuf,
    data: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

/// Where `initdb`, `pg_ctl` and `postgres` live: `INFRA_PG_BIN`, else the
/// newest `/usr/lib/postgresql/*/bin`, else the folder of `pg_ctl` on PATH.
fn server_bin() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("INFRA_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .find(|dir| dir.join("pg_ctl").exists() && dir.join("initdb").exists())
    })
}

/// A loopback port nothing listens on now.
///
/// Ports come from 20000-32767, below Linux's ephemeral range (32768-60999):
/// the kernel gives ports of that range to every outgoing connection and to
/// `bind(0)`, so a port picked there can be taken by another test's client
/// between the pick and the server's bind (a service test's app then failed
/// to start, now and then). Each test process starts at its own offset and
/// never hands out a port twice. Two ports in a row are 101 apart, not
/// neighbours: a service's replicas take its port and the ones after it, so
/// a router port picked next to the service's would be taken by a replica.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 20_000;
    const SPAN: u32 = 32_768 - LOW;
    // Prime, and no factor of SPAN (2^5 * 3 * 7 * 19): every port comes round.
    const STRIDE: u32 = 101;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id().wrapping_mul(2_654_435_761) % SPAN;
    for _ in 0..SPAN {
        let next = NEXT.fetch_add(1, Ordering::Relaxed) % SPAN;
        let Ok(port) = u16::try_from(LOW + (start + next * STRIDE) % SPAN) else {
            continue;
        };
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in 20000-32767")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

impl PgServer {
    /// Starts a cluster for the test `name`, or returns `None` (recorded as
    /// skipped) when `INFRA_SKIP_SERVICES=1`. Panics, saying how to install
    /// PostgreSQL, when the server binaries are missing.
    pub fn start(name: &str) -> Option<PgServer> {
        Self::start_with(name, |_| {})
    }

    /// Starts a cluster with TLS on (`ssl = on`): a certificate for
    /// `localhost` only, signed by a CA made for this test, which the
    /// returned [`TestCa`] holds (with a second, unrelated CA). `hba` is
    /// the whole `pg_hba.conf`.
    pub fn start_tls(name: &str, hba: &str) -> Option<(PgServer, TestCa)> {
        let ca = TestCa::new();
        let hba = hba.to_owned();
        let (certificate, key) = (ca.server_pem.clone(), ca.server_key_pem.clone());
        let server = Self::start_with(name, move |data| {
            std::fs::write(data.join("server.crt"), &certificate).unwrap();
            let key_path = data.join("server.key");
            std::fs::write(&key_path, &key).unwrap();
            set_mode(&key_path, 0o600);
            let conf = data.join("postgresql.conf");
            let mut text = std::fs::read_to_string(&conf).unwrap();
            text.push_str("\nssl = on\n");
            std::fs::write(&conf, text).unwrap();
            std::fs::write(data.join("pg_hba.conf"), &hba).unwrap();
        })?;
        Some((server, ca))
    }

    /// Starts a cluster, `configure` given its data folder after initdb and
    /// before the server starts.
    pub fn start_with(name: &str, configure: impl FnOnce(&Path)) -> Option<PgServer> {
        if std::env::var("INFRA_SKIP_SERVICES").as_deref() == Ok("1") {
            super::skipped(name, "INFRA_SKIP_SERVICES=1 (needs a PostgreSQL server)");
            return None;
        }
        let bin = server_bin().unwrap_or_else(|| {
            panic!(
                "{name} needs a PostgreSQL server (initdb, pg_ctl): install it with \
                 `apt-get install -y postgresql` (Debian/Ubuntu; tests/run.sh does this), \
                 `brew install postgresql@15` (macOS), or set INFRA_PG_BIN to the folder \
                 holding initdb; or set INFRA_SKIP_SERVICES=1 to skip"
            )
        });
        let as_postgres = is_root();
        // The server must traverse every parent: a 0755 folder under /tmp,
        // never under the clone (which may live under a 0700 /root).
        let root = std::env::temp_dir().join(format!(
            "infra-pg-{}-{}-{name}",
            std::process::id(),
            free_port()
        ));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        set_mode(&root, 0o755);
        let data = root.join("data");
        std::fs::create_dir_all(&data).unwrap();
        set_mode(&data, 0o700);
        if as_postgres {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&root)
                .status()
                .expect("chown");
            assert!(status.success(), "chown postgres {}", root.display());
        }
        let mut server = PgServer {
            root,
            data,
            bin,
            port: 0,
            as_postgres,
        };
        let initdb = server.run_server_tool(
            "initdb",
            &[
                "-D",
                &server.data.to_string_lossy(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ],
        );
        assert!(
            initdb.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&initdb.stdout),
            String::from_utf8_lossy(&initdb.stderr)
        );
        configure(&server.data);
        if as_postgres {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&server.data)
                .status()
                .expect("chown");
            assert!(status.success(), "chown postgres {}", server.data.display());
        }
        // A free port can be taken between the probe and the start: retry.
        let mut last = String::new();
        for _ in 0..5 {
            server.port = free_port();
            let options = format!(
                "-p {} -h 127.0.0.1 -k {} -c fsync=off -c synchronous_commit=off \
                 -c full_page_writes=off -c max_connections=200",
                server.port,
                server.root.display()
            );
            let log = server.root.join("server.log");
            let start = server.run_server_tool(
                "pg_ctl",
                &[
                    "-D",
                    &server.data.to_string_lossy(),
                    "-l",
                    &log.to_string_lossy(),
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    &options,
                    "start",
                ],
            );
            if start.status.success() {
                return Some(server);
            }
            last = format!(
                "{}{}\n{}",
                String::from_utf8_lossy(&start.stdout),
                String::from_utf8_lossy(&start.stderr),
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        panic!("PostgreSQL did not start: {last}");
    }

    /// Runs one of the server's own tools, as the `postgres` user when we
    /// are root (initdb and postgres refuse to run as root).
    fn run_server_tool(&self, tool: &str, args: &[&str]) -> Output {
        let program = self.bin.join(tool);
        let output = if self.as_postgres {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&program)
                .args(args)
                .current_dir(&self.root)
                .output()
        } else {
            Command::new(&program)
                .args(args)
                .current_dir(&self.root)
                .output()
        };
        output.unwrap_or_else(|e| panic!("{}: {e}", program.display()))
    }

    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A connection URL for the superuser `postgres` (no password) and `db`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// The folder holding the cluster (for logs in failure messages).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Runs `sql` with psql as `postgres` on `db`, failing the test on an
    /// error, and returns the unaligned, tuples-only output, trimmed.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let output = self.try_psql(db, sql);
        assert!(
            output.status.success(),
            "psql {db}: {sql}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// Runs `sql` with psql; the caller reads the status and output.
    pub fn try_psql(&self, db: &str, sql: &str) -> Output {
        let psql = if self.bin.join("psql").exists() {
            self.bin.join("psql")
        } else {
            PathBuf::from("psql")
        };
        Command::new(psql)
            .args([
                "-X",
                "-v",
                "ON_ERROR_STOP=1",
                "-tA",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
            ])
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-d")
            .arg(db)
            .arg("-c")
            .arg(sql)
            .output()
            .expect("psql")
    }

    /// Runs `pg_dump` of `db` (data only for `tables`, or everything when
    /// empty) and returns its text, for leak checks.
    pub fn pg_dump(&self, db: &str, tables: &[&str]) -> String {
        let pg_dump = if self.bin.join("pg_dump").exists() {
            self.bin.join("pg_dump")
        } else {
            PathBuf::from("pg_dump")
        };
        let mut command = Command::new(pg_dump);
        command
            .args(["-h", "127.0.0.1", "-U", "postgres", "-p"])
            .arg(self.port.to_string());
        for table in tables {
            command.arg("-t").arg(table);
        }
        let output = command.arg(db).output().expect("pg_dump");
        assert!(
            output.status.success(),
            "pg_dump {db}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

/// Certificates made for one test: a CA, a server certificate it signed
/// for `localhost` only (and its key), and a second CA that signed nothing.
pub struct TestCa {
    /// The CA's certificate (PEM), for `sslrootcert`.
    pub ca_pem: String,
    /// Another CA's certificate (PEM): verifying against it must fail.
    pub other_ca_pem: String,
    /// The server's certificate (PEM), for `localhost`.
    pub server_pem: String,
    /// The server certificate's private key (PEM).
    pub server_key_pem: String,
}

impl TestCa {
    fn new() -> TestCa {
        let authority = |name: &str| {
            let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, name);
            rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap())
                .unwrap()
        };
        let ca = authority("infra test CA");
        let other = authority("infra other CA");
        let server_key = rcgen::KeyPair::generate().unwrap();
        let server = rcgen::CertificateParams::new(vec![String::from("localhost")])
            .unwrap()
            .signed_by(&server_key, &*ca)
            .unwrap();
        TestCa {
            ca_pem: ca.pem(),
            other_ca_pem: other.pem(),
            server_pem: server.pem(),
            server_key_pem: server_key.serialize_pem(),
        }
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = self.run_server_tool(
            "pg_ctl",
            &[
                "-D",
                &self.data.to_string_lossy(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
