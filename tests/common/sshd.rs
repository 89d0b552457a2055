//! A throwaway OpenSSH server for the `ssh` provider tests: `/usr/sbin/sshd`
//! in the foreground (a child of the test) on a free loopback port, with its
//! own fresh ed25519 host key, an authorized ed25519 client key and its
//! config in a temp folder, killed and removed when dropped. It logs at
//! VERBOSE, so a test can count logins (`accepted_logins`), and records
//! every command line it is asked to run (`commands`; an SFTP session is
//! recorded as `internal-sftp`, and the requests of its SFTP server are in
//! `sftp_log`). Sessions get
//! `home/` in the temp folder as `$HOME` (`SshServer::home`), so what a
//! test leaves in the login's home (remote services' run folders) is its
//! own and goes with the server.
//!
//! The binary is Debian's `openssh-server`, which tests/run.sh installs. A
//! missing binary fails the test with how to get it; only
//! `INFRA_SKIP_SERVICES=1` skips (and the skip is counted).

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a test harness: a broken server set-up fails the test"
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Where Debian puts sshd.
const SSHD: &str = "/usr/sbin/sshd";

/// Debian's SFTP server: the `ForceCommand` that records commands also
/// takes over the `sftp` subsystem (sshd runs it with `internal-sftp` as
/// the original command), so it starts this for it, in the login's own
/// folder as sshd would (not in `home/`, where a test looks for leftover
/// processes: the SFTP server lives until its connection is torn down).
const SFTP_SERVER: &str = "/usr/lib/openssh/sftp-server";

/// A running throwaway sshd; killed and removed on drop.
pub struct SshServer {
    child: Option<Child>,
    /// Its temp folder (config, keys, log); also a scratch folder for tests.
    pub root: PathBuf,
    /// The loopback port it listens on.
    pub port: u16,
    /// The user to log in as (the one running the tests).
    pub user: String,
}

/// Runs `ssh-keygen` for a fresh ed25519 key without passphrase at `path`.
pub fn keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "infra-test", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .expect("ssh-keygen (openssh-client) is needed");
    assert!(status.success(), "ssh-keygen failed");
}

impl SshServer {
    /// A new sshd, or `None` (recorded as skipped) with
    /// `INFRA_SKIP_SERVICES=1`. Panics, saying how to install it, when sshd
    /// is missing.
    pub fn start(test: &str) -> Option<SshServer> {
        if std::env::var("INFRA_SKIP_SERVICES").as_deref() == Ok("1") {
            super::skipped(test, "INFRA_SKIP_SERVICES=1 (needs sshd)");
            return None;
        }
        assert!(
            Path::new(SSHD).exists(),
            "{test} needs {SSHD}: sudo apt-get install -y openssh-server (tests/run.sh \
             installs it); or set INFRA_SKIP_SERVICES=1 to skip"
        );
        let root = std::env::temp_dir().join(format!(
            "infra-sshd-{}-{}-{test}",
            std::process::id(),
            super::postgres::free_port()
        ));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        keygen(&root.join("host_key"));
        keygen(&root.join("client_key"));
        std::fs::copy(root.join("client_key.pub"), root.join("authorized_keys")).unwrap();
        std::fs::create_dir_all(root.join("home")).unwrap();
        // Privilege separation needs this folder when sshd runs as root.
        let _ = std::fs::create_dir_all("/run/sshd");
        let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout)
            .unwrap()
            .trim()
            .to_owned();
        let port = super::postgres::free_port();
        let mut server = SshServer {
            child: None,
            root,
            port,
            user,
        };
        server.spawn();
        Some(server)
    }

    fn spawn(&mut self) {
        let r = self.root.display();
        // `SetEnv SHLVL=1`: Debian's bash sources the user's ~/.bashrc when
        // sshd starts it, but not in a nested shell, and it counts nesting
        // by SHLVL. The tests log in as the user running them, whose
        // ~/.bashrc can be slow (on the CI machine it runs `pyenv init`,
        // 0.14 s of CPU per command), and a remote deploy runs a few hundred
        // commands: skipping it took the remote service tests from 302 s to
        // 73 s of test time. Commands still run through the user's login
        // shell and `/bin/sh`, with sshd's default PATH.
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {r}/host_key\nPidFile {r}/sshd.pid\n\
             AuthorizedKeysFile {r}/authorized_keys\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nStrictModes no\n\
             UsePAM no\nLogLevel VERBOSE\nMaxSessions 20\nAllowTcpForwarding yes\nSetEnv SHLVL=1\n\
             Subsystem sftp internal-sftp\n\
             ForceCommand echo \"$SSH_ORIGINAL_COMMAND\" >> {r}/commands.log; \
             if [ \"$SSH_ORIGINAL_COMMAND\" = internal-sftp ]; then exec {SFTP_SERVER} -e -l INFO 2>> {r}/sftp.log; fi; \
             cd {r}/home && HOME={r}/home exec /bin/sh -c \"$SSH_ORIGINAL_COMMAND\"\n",
            port = self.port
        );
        std::fs::write(self.root.join("sshd_config"), config).unwrap();
        let child = Command::new(SSHD)
            .arg("-D")
            .arg("-f")
            .arg(self.root.join("sshd_config"))
            .arg("-E")
            .arg(self.root.join("sshd.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{SSHD}: {e}"));
        self.child = Some(child);
        let deadline = std::time::Instant::now() + super::READY_WITHIN;
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            let exited = self
                .child
                .as_mut()
                .is_some_and(|child| !matches!(child.try_wait(), Ok(None)));
            assert!(!exited, "the test sshd exited: {}", self.log());
            assert!(
                std::time::Instant::now() < deadline,
                "the test sshd never listened on port {}: {}",
                self.port,
                self.log()
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// Stops the listener and every session it serves (SIGTERM to the
    /// process group it leads is not enough: sessions are children; kill them).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id().to_string();
            let _ = Command::new("pkill").args(["-KILL", "-P", &pid]).status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port with the same keys.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Replaces the host key with a fresh one (a reinstalled server) and
    /// restarts.
    pub fn change_host_key(&mut self) {
        self.stop();
        let _ = std::fs::remove_file(self.root.join("host_key"));
        let _ = std::fs::remove_file(self.root.join("host_key.pub"));
        keygen(&self.root.join("host_key"));
        self.spawn();
    }

    /// The host's public key line (`ssh-ed25519 AAAA… infra-test`).
    pub fn host_key(&self) -> String {
        std::fs::read_to_string(self.root.join("host_key.pub"))
            .unwrap()
            .trim()
            .to_owned()
    }

    /// The host key's SHA-256 fingerprint, as `ssh-keygen -l` prints it.
    pub fn host_fingerprint(&self) -> String {
        let out = Command::new("ssh-keygen")
            .arg("-lf")
            .arg(self.root.join("host_key.pub"))
            .output()
            .unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_owned()
    }

    /// The authorized client private key (OpenSSH PEM).
    pub fn client_key(&self) -> String {
        std::fs::read_to_string(self.root.join("client_key")).unwrap()
    }

    /// The client private key's path.
    pub fn client_key_path(&self) -> PathBuf {
        self.root.join("client_key")
    }

    /// The `$HOME` of its sessions.
    pub fn home(&self) -> PathBuf {
        self.root.join("home")
    }

    /// Its log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("sshd.log")).unwrap_or_default()
    }

    /// Every command line a client asked it to run, one per line: the
    /// config's `ForceCommand` records `$SSH_ORIGINAL_COMMAND`, then runs it
    /// as sshd would (`sh -c`). What `ps` would show of each session.
    pub fn commands(&self) -> String {
        std::fs::read_to_string(self.root.join("commands.log")).unwrap_or_default()
    }

    /// What its SFTP server did, one request a line (`open "PATH" flags ...`,
    /// `posix-rename old "TEMP" new "PATH"`, `remove name "PATH"`), as
    /// sftp-server logs them at INFO level: the paths each server wrote.
    pub fn sftp_log(&self) -> String {
        std::fs::read_to_string(self.root.join("sftp.log")).unwrap_or_default()
    }

    /// How many logins it accepted so far (one per connection).
    pub fn accepted_logins(&self) -> usize {
        self.log().matches("Accepted publickey").count()
    }
}

impl Drop for SshServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
