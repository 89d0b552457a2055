//! The `ssh` provider against a real OpenSSH server that each test starts
//! (`common::sshd`): the connection layer (`infra::providers::ssh::conn`:
//! pinned host keys, a refused key, a connect timeout, 50 uploads over one
//! connection by SFTP, a dropped upload, secrets kept off command lines, a TCP
//! stream from the remote side), and the `infra` binary end to end
//! (`ssh_file`, `ssh_directory`, `ssh_command`: apply, no-op plan, drift,
//! import, destroy, failing commands, bad input, planted secrets), and two
//! servers in one stack through aliased `provider "ssh"` blocks.

use crate::common;

use common::sshd::SshServer;
use common::{StackRuns, TempDir, files_under, infra_env, stderr, stdout};
use infra::providers::ssh::conn::{self, Command, Exec, SshConn, Target};
use std::collections::BTreeMap;
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The connection target for `server`, with its own keys.
fn target(server: &SshServer) -> Target {
    Target {
        host: "127.0.0.1".into(),
        port: server.port,
        user: server.user.clone(),
        host_key: russh::keys::PublicKey::from_openssh(&server.host_key()).unwrap(),
        private_key: Arc::new(russh::keys::decode_secret_key(&server.client_key(), None).unwrap()),
        connect_timeout: Duration::from_secs(20),
        max_sessions: 8,
    }
}

fn script(text: &str) -> Exec {
    Exec {
        command: Some(Command::Script(text.to_owned())),
        ..Exec::default()
    }
}

#[test]
fn commands_run_and_files_are_written_read_hashed_and_removed() {
    let Some(server) = SshServer::start("basics") else {
        return;
    };
    let dir = server.root.join("files");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("a file.txt").display().to_string();
    runtime().block_on(async {
        let conn = conn::connect(&target(&server)).await.unwrap();
        let argv = conn
            .exec(&Exec {
                command: Some(Command::Argv(vec![
                    "printf".into(),
                    "%s|".into(),
                    "it's a b".into(),
                ])),
                ..Exec::default()
            })
            .await
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&argv.stdout), "it's a b|");
        let mut env = BTreeMap::new();
        env.insert("GREETING".to_owned(), "hello 'world'\nline two".to_owned());
        let with_env = conn
            .exec(&Exec {
                command: Some(Command::Script("printf '%s' \"$GREETING\"; cat".into())),
                env,
                stdin: b"|stdin".to_vec(),
            })
            .await
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&with_env.stdout),
            "hello 'world'\nline two|stdin"
        );
        let failing = conn.exec(&script("echo oops >&2; exit 3")).await.unwrap();
        assert_eq!(
            (failing.status, failing.stderr_tail(1)),
            (Some(3), "oops".into())
        );

        // A link planted at the temp name is replaced, never written through.
        let outside = server.root.join("outside.txt");
        std::fs::write(&outside, "untouched").unwrap();
        std::os::unix::fs::symlink(&outside, dir.join(".a file.txt.infra-part")).unwrap();
        let written = conn
            .write_file_atomic(&path, b"hello\n", "0640", Some(&server.user), None)
            .await
            .unwrap();
        assert_eq!(
            (
                written.sha256.as_deref(),
                written.mode.as_str(),
                written.owner.as_str()
            ),
            (
                Some(conn::sha256_hex(b"hello\n").as_str()),
                "0640",
                server.user.as_str()
            )
        );
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "untouched");
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "no temp file is left"
        );
        assert_eq!(
            conn.read_file(&path).await.unwrap(),
            Some(b"hello\n".to_vec())
        );
        let missing = format!("{}/missing", dir.display());
        let stats = conn
            .hash_files(&[path.clone(), missing.clone()])
            .await
            .unwrap();
        let stat = &stats[&path];
        assert_eq!(
            stat.sha256.as_deref(),
            Some(conn::sha256_hex(b"hello\n").as_str())
        );
        assert_eq!(
            (stat.mode.as_str(), stat.owner.as_str()),
            ("0640", server.user.as_str())
        );
        assert!(!stats.contains_key(&missing));
        // A file too big to read for its hash is hashed on the server.
        let big_path = dir.join("big.bin").display().to_string();
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        conn.write_file_atomic(&big_path, &big, "0600", None, None)
            .await
            .unwrap();
        let stats = conn
            .hash_files(std::slice::from_ref(&big_path))
            .await
            .unwrap();
        assert_eq!(
            stats[&big_path].sha256.as_deref(),
            Some(conn::sha256_hex(&big).as_str())
        );
        assert!(
            server.commands().contains("sha256sum"),
            "{}",
            server.commands()
        );
        conn.remove(&big_path, false).await.unwrap();
        assert_eq!(conn.read_file(&missing).await.unwrap(), None);
        conn.remove(&path, false).await.unwrap();
        conn.remove(&path, false).await.unwrap();
        assert!(!std::path::Path::new(&path).exists());
    });
}

#[test]
fn fifty_files_upload_in_parallel_over_one_connection() {
    let Some(server) = SshServer::start("fifty") else {
        return;
    };
    let dir = server.root.join("site");
    std::fs::create_dir_all(&dir).unwrap();
    runtime().block_on(async {
        let target = target(&server);
        let uploads = (0..50).map(|i| {
            let target = target.clone();
            let path = dir.join(format!("page-{i}.html")).display().to_string();
            tokio::spawn(async move {
                let conn = conn::connect(&target).await.unwrap();
                conn.write_file_atomic(&path, format!("<p>{i}</p>").as_bytes(), "0644", None, None)
                    .await
                    .unwrap();
            })
        });
        for upload in uploads.collect::<Vec<_>>() {
            upload.await.unwrap();
        }
    });
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 50);
    assert_eq!(
        std::fs::read_to_string(dir.join("page-7.html")).unwrap(),
        "<p>7</p>"
    );
    assert_eq!(server.accepted_logins(), 1, "{}", server.log());
    // By SFTP: no remote command per file.
    let commands = server.commands();
    assert!(commands.contains("internal-sftp"), "{commands}");
    assert!(!commands.contains("cat >"), "{commands}");
}

#[test]
fn a_changed_host_key_is_refused_with_the_fingerprint_seen() {
    let Some(mut server) = SshServer::start("hostkey") else {
        return;
    };
    let pinned = target(&server);
    server.change_host_key();
    let error = runtime()
        .block_on(conn::connect(&pinned))
        .expect_err("a changed host key must be refused");
    assert!(
        error.message.contains(&server.host_fingerprint()),
        "{}",
        error.message
    );
    assert!(
        error.message.contains("not the pinned one"),
        "{}",
        error.message
    );
    assert_eq!(error.attribute_path, Some(vec!["host_key".to_owned()]));
    assert_eq!(
        error.code.map(|code| code.as_str()),
        Some("infra::ssh::host_key_mismatch")
    );
    assert!(!error.is_transient());
    assert_eq!(server.accepted_logins(), 0, "no credential may be sent");
}

#[test]
fn a_wrong_private_key_is_refused_clearly() {
    let Some(server) = SshServer::start("wrongkey") else {
        return;
    };
    let other = server.root.join("other_key");
    common::sshd::keygen(&other);
    let mut target = target(&server);
    target.private_key = Arc::new(
        russh::keys::decode_secret_key(&std::fs::read_to_string(&other).unwrap(), None).unwrap(),
    );
    let error = runtime()
        .block_on(conn::connect(&target))
        .expect_err("an unknown key must be refused");
    assert!(
        error.message.contains("refused the private key"),
        "{}",
        error.message
    );
    assert_eq!(error.attribute_path, Some(vec!["private_key".to_owned()]));
    assert_eq!(
        error.code.map(|code| code.as_str()),
        Some("infra::ssh::key_refused")
    );
}

#[test]
fn an_unreachable_port_times_out_within_connect_timeout() {
    let Some(server) = SshServer::start("timeout") else {
        return;
    };
    // A port that accepts TCP but never speaks SSH: only the timeout ends it.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut target = target(&server);
    target.port = silent.local_addr().unwrap().port();
    target.connect_timeout = Duration::from_millis(500);
    let error = runtime()
        .block_on(async {
            tokio::time::timeout(Duration::from_secs(60), conn::connect(&target)).await
        })
        .expect("connect must give up by itself")
        .expect_err("a silent port must time out");
    assert!(
        error.message.contains("timed out after 0.5s"),
        "{}",
        error.message
    );
    assert_eq!(
        error.attribute_path,
        Some(vec!["connect_timeout".to_owned()])
    );
    assert_eq!(
        error.code.map(|code| code.as_str()),
        Some("infra::ssh::connect_timeout")
    );
    drop(silent);
}

#[test]
fn direct_tcpip_fetches_from_a_server_only_the_remote_side_sees() {
    let Some(server) = SshServer::start("tcpip") else {
        return;
    };
    let http = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = http.local_addr().unwrap().port();
    let answer = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut stream, _) = http.accept().unwrap();
        let mut request = [0u8; 1024];
        let _ = stream.read(&mut request).unwrap();
        stream
            .write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 7\r\n\r\nhealthy")
            .unwrap();
    });
    let response = runtime().block_on(async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let conn = conn::connect(&target(&server)).await.unwrap();
        let mut stream = conn.direct_tcpip("127.0.0.1", port).await.unwrap();
        stream
            .write_all(b"GET /health HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.unwrap();
        String::from_utf8(response).unwrap()
    });
    answer.join().unwrap();
    assert!(response.starts_with("HTTP/1.0 200 OK"), "{response}");
    assert!(response.ends_with("healthy"), "{response}");
}

#[test]
fn a_connection_dropped_mid_upload_keeps_the_old_file_and_a_retry_converges() {
    let Some(mut server) = SshServer::start("dropped") else {
        return;
    };
    let dir = server.root.join("www");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("big.bin");
    std::fs::write(&path, b"old content").unwrap();
    let big: Vec<u8> = (0..64 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let target = target(&server);
    let rt = runtime();
    let upload = {
        let (target, path, big) = (target.clone(), path.display().to_string(), big.clone());
        rt.spawn(async move {
            let conn: SshConn = conn::connect(&target).await.unwrap();
            conn.write_file_atomic(&path, &big, "0644", None, None)
                .await
        })
    };
    // Wait until the temp file is being written, then kill sshd and its sessions.
    common::wait_until(
        "the upload's temp file appears",
        || {
            std::fs::read_dir(&dir).unwrap().any(|entry| {
                entry
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains(".infra-")
            })
        },
        || format!("{:?}", std::fs::read_dir(&dir).map(|d| d.count())),
    );
    server.restart();
    let result = rt.block_on(upload).unwrap();
    // The upload went by SFTP (the exec way would show `cat >`).
    let commands = server.commands();
    assert!(commands.contains("internal-sftp"), "{commands}");
    assert!(!commands.contains("cat >"), "{commands}");
    assert!(result.is_err(), "the upload cannot have succeeded");
    assert!(result.unwrap_err().is_transient());
    assert!(
        std::fs::read(&path).unwrap() == b"old content",
        "the cut upload replaced the file"
    );
    // The retry opens a new connection and converges.
    rt.block_on(async {
        let conn = conn::connect(&target).await.unwrap();
        conn.write_file_atomic(&path.display().to_string(), &big, "0644", None, None)
            .await
            .unwrap();
    });
    assert!(std::fs::read(&path).unwrap() == big);
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .filter(|name| name != "big.bin")
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
}

/// Every process's command line on this machine (the server is local).
fn all_command_lines() -> String {
    let mut all = String::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(bytes) = std::fs::read(entry.path().join("cmdline")) {
            all.push_str(&String::from_utf8_lossy(&bytes).replace('\0', " "));
            all.push('\n');
        }
    }
    all
}

#[test]
fn a_secret_in_env_never_reaches_a_remote_command_line() {
    let Some(server) = SshServer::start("envsecret") else {
        return;
    };
    let secret = "env-Canary-5be21f";
    let started = server.root.join("started");
    let release = server.root.join("release");
    let rt = runtime();
    let run = {
        let target = target(&server);
        let mut env = BTreeMap::new();
        env.insert("TOKEN".to_owned(), secret.to_owned());
        let text = format!(
            "touch {s}; while [ ! -e {r} ]; do sleep 0.05; done; printf %s \"$TOKEN\" | sha256sum",
            s = started.display(),
            r = release.display()
        );
        rt.spawn(async move {
            let conn = conn::connect(&target).await.unwrap();
            conn.exec(&Exec {
                command: Some(Command::Script(text)),
                env,
                stdin: Vec::new(),
            })
            .await
            .unwrap()
        })
    };
    common::wait_until(
        "the remote command starts",
        || started.exists(),
        || server.log(),
    );
    let lines = all_command_lines();
    std::fs::write(&release, "").unwrap();
    let output = rt.block_on(run).unwrap();
    assert!(!lines.contains(secret), "a command line holds the secret");
    let commands = server.commands();
    assert!(commands.contains("head -c"), "{commands}");
    assert!(
        !commands.contains(secret),
        "the remote command line holds the secret"
    );
    assert!(
        lines.contains("while [ ! -e"),
        "the scan saw the remote command"
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout)
            .split_whitespace()
            .next(),
        Some(conn::sha256_hex(secret.as_bytes()).as_str()),
        "the command got the secret"
    );
}

// ---------------------------------------------------------------------------
// The `infra` binary end to end.

/// A stack folder whose `ssh` provider points at `server`, the private key
/// a secret read from `DEPLOY_KEY`.
struct Stack {
    dir: TempDir,
    envs: Vec<(String, String)>,
    header: String,
}

impl StackRuns for Stack {
    fn run(&self, args: &[&str]) -> Output {
        let envs: Vec<(&str, &str)> = self
            .envs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        infra_env(&self.dir.path, args, &envs)
    }
}

impl Stack {
    fn new(name: &str, server: &SshServer, body: &str) -> Stack {
        let header = format!(
            "stack \"vps\" {{\n  default_environment = \"dev\"\n}}\n\nenvironment \"dev\" {{}}\n\n\
             secret \"deploy_key\" {{\n  env = \"DEPLOY_KEY\"\n}}\n\n\
             provider \"ssh\" {{\n  host = \"127.0.0.1\"\n  port = {port}\n  user = \"{user}\"\n  \
             private_key = secret.deploy_key\n  host_key = \"{key}\"\n  connect_timeout = 20\n}}\n\n",
            port = server.port,
            user = server.user,
            key = server.host_key()
        );
        let stack = Stack {
            dir: TempDir::new(name),
            envs: vec![("DEPLOY_KEY".into(), server.client_key())],
            header,
        };
        stack.write(body);
        stack
    }

    fn write(&self, body: &str) {
        self.dir
            .write("main.infra", format!("{}{body}", self.header));
    }
}

/// Fails when any output, any file under the stack folder (state, journal,
/// history), any command line sent to `server` or any request its SFTP
/// server logged holds `secret` (or, for a multi-line one, its longest line).
fn assert_absent(secret: &str, outputs: &[Output], stack: &Stack, server: &SshServer) {
    let needle = secret
        .lines()
        .max_by_key(|line| line.len())
        .unwrap_or(secret)
        .trim();
    assert!(
        !server.commands().contains(needle),
        "a remote command line holds a secret"
    );
    assert!(
        !server.sftp_log().contains(needle),
        "a request in the server's SFTP log holds a secret"
    );
    for output in outputs {
        assert!(!stdout(output).contains(needle), "stdout holds a secret");
        assert!(!stderr(output).contains(needle), "stderr holds a secret");
    }
    for file in files_under(&stack.dir.path) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(needle),
            "{} holds a secret",
            file.display()
        );
    }
}

#[test]
fn files_folders_and_commands_live_through_apply_drift_import_and_destroy() {
    let Some(server) = SshServer::start("lifecycle") else {
        return;
    };
    let site = server.root.join("site");
    let s = site.display();
    // The command writes outside the purged folder: a file there that no
    // `ssh_file` manages would be purged.
    let stamp_path = server.root.join("stamp.txt");
    let t = stamp_path.display();
    let content_secret = "file-Canary-91c7e";
    let env_secret = "env-Canary-0d4f2";
    let body = format!(
        r#"
secret "api_token" {{
  env = "API_TOKEN"
}}

secret "config_body" {{
  env = "CONFIG_BODY"
}}

resource "ssh_directory" "site" {{
  path  = "{s}"
  mode  = "0750"
  purge = true
}}

resource "ssh_file" "index" {{
  path    = "${{ssh_directory.site.path}}/index.html"
  content = "<h1>hello</h1>\n"
}}

resource "ssh_file" "config" {{
  path    = "${{ssh_directory.site.path}}/config.env"
  content = secret.config_body
  mode    = "600"
}}

resource "ssh_command" "stamp" {{
  create  = ["sh", "-c", "printf '%s' \"$TOKEN\" | sha256sum > {t}"]
  destroy = "rm -f {t}"
  read    = "cat {t}"
  env     = {{ TOKEN = secret.api_token }}
  depends_on = [ssh_directory.site]
}}
"#
    );
    let mut stack = Stack::new("ssh-life", &server, &body);
    stack.envs.push(("API_TOKEN".into(), env_secret.into()));
    stack
        .envs
        .push(("CONFIG_BODY".into(), content_secret.into()));
    let mut outputs = vec![stack.apply()];
    assert_eq!(
        std::fs::read_to_string(site.join("index.html")).unwrap(),
        "<h1>hello</h1>\n"
    );
    assert_eq!(
        std::fs::read_to_string(site.join("config.env")).unwrap(),
        content_secret
    );
    let stamp = std::fs::read_to_string(&stamp_path).unwrap();
    assert!(stamp.starts_with(&conn::sha256_hex(env_secret.as_bytes())));
    {
        use std::os::unix::fs::PermissionsExt;
        let mode =
            |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&site), 0o750);
        assert_eq!(mode(&site.join("config.env")), 0o600);
        assert_eq!(mode(&site.join("index.html")), 0o644);
    }

    // A no-op plan; then drift made on the server.
    outputs.push(stack.expect(&["plan", "--detailed-exitcode"], 0));
    std::fs::write(site.join("index.html"), "defaced").unwrap();
    std::fs::remove_file(site.join("config.env")).unwrap();
    std::fs::write(site.join("extra.txt"), "left behind").unwrap();
    let drift = stack.expect(&["plan", "--detailed-exitcode"], 2);
    let text = stdout(&drift);
    assert!(text.contains("ssh_file.index"), "{text}");
    assert!(text.contains("ssh_file.config"), "{text}");
    assert!(text.contains("extra.txt"), "{text}");
    outputs.push(drift);
    outputs.push(stack.apply());
    assert_eq!(
        std::fs::read_to_string(site.join("index.html")).unwrap(),
        "<h1>hello</h1>\n"
    );
    assert_eq!(
        std::fs::read_to_string(site.join("config.env")).unwrap(),
        content_secret
    );
    assert!(
        !site.join("extra.txt").exists(),
        "purge removes the unmanaged file"
    );
    outputs.push(stack.expect(&["plan", "--detailed-exitcode"], 0));

    // A `read` whose output changed is drift, and the command runs again.
    std::fs::write(&stamp_path, "tampered").unwrap();
    let changed = stack.expect(&["plan", "--detailed-exitcode"], 2);
    assert!(
        stdout(&changed).contains("ssh_command.stamp"),
        "{}",
        stdout(&changed)
    );
    outputs.push(changed);
    outputs.push(stack.apply());
    assert!(
        std::fs::read_to_string(&stamp_path)
            .unwrap()
            .starts_with(&conn::sha256_hex(env_secret.as_bytes()))
    );

    // Import by path.
    std::fs::write(site.join("robots.txt"), "User-agent: *\n").unwrap();
    stack.write(&format!(
        "{body}\nresource \"ssh_file\" \"robots\" {{\n  path    = \"{s}/robots.txt\"\n  content = \"User-agent: *\\n\"\n}}\n"
    ));
    outputs.push(stack.expect(
        &["import", "ssh_file.robots", &format!("{s}/robots.txt")],
        0,
    ));
    let after_import = stack.expect(&["plan", "--detailed-exitcode"], 2);
    outputs.push(after_import);
    outputs.push(stack.apply());
    outputs.push(stack.expect(&["plan", "--detailed-exitcode"], 0));

    outputs.push(stack.expect(&["destroy", "--auto-approve"], 0));
    assert!(!site.exists(), "destroy removes the folder");
    assert!(!stamp_path.exists(), "destroy runs the command's `destroy`");

    let sftp = server.sftp_log();
    assert!(
        sftp.contains("posix-rename"),
        "the secret file went by SFTP: {sftp}"
    );
    assert_absent(content_secret, &outputs, &stack, &server);
    assert_absent(env_secret, &outputs, &stack, &server);
    assert_absent(&server.client_key(), &outputs, &stack, &server);
}

#[test]
fn a_failing_command_shows_its_exit_code_and_redacted_stderr() {
    let Some(server) = SshServer::start("failing") else {
        return;
    };
    let env_secret = "fail-Canary-77aa1";
    let body = r#"
secret "api_token" {
  env = "API_TOKEN"
}

resource "ssh_command" "migrate" {
  create = "echo step one >&2; echo \"token was $TOKEN\" >&2; exit 7"
  env    = { TOKEN = secret.api_token }
}
"#;
    let mut stack = Stack::new("ssh-fail", &server, body);
    stack.envs.push(("API_TOKEN".into(), env_secret.into()));
    let output = stack.expect(&["apply", "--auto-approve"], 1);
    let text = format!("{}{}", stdout(&output), stderr(&output));
    assert!(text.contains("exit code 7"), "{text}");
    assert!(text.contains("step one"), "{text}");
    assert!(text.contains("token was (secret)"), "{text}");
    assert_absent(env_secret, &[output], &stack, &server);
}

#[test]
fn bad_paths_and_host_keys_are_refused_before_connecting() {
    let Some(server) = SshServer::start("badinput") else {
        return;
    };
    let stack = Stack::new(
        "ssh-relative",
        &server,
        "resource \"ssh_file\" \"x\" {\n  path    = \"srv/index.html\"\n  content = \"x\"\n}\n",
    );
    let output = stack.expect(&["validate"], 1);
    let text = format!("{}{}", stdout(&output), stderr(&output));
    assert!(text.contains("absolute path"), "{text}");
    assert!(
        text.contains("main.infra"),
        "the error points at the file: {text}"
    );

    let mut stack = Stack::new(
        "ssh-hostkey",
        &server,
        "resource \"ssh_file\" \"x\" {\n  path    = \"/tmp/x\"\n  content = \"x\"\n}\n",
    );
    stack.header = stack.header.replace(&server.host_key(), "not a key");
    stack.write("resource \"ssh_file\" \"x\" {\n  path    = \"/tmp/x\"\n  content = \"x\"\n}\n");
    let output = stack.expect(&["plan"], 1);
    let text = format!("{}{}", stdout(&output), stderr(&output));
    assert!(text.contains("is not an SSH public key"), "{text}");
    assert!(
        text.contains("host_key = \"not a key\""),
        "the label points at it: {text}"
    );
    assert_eq!(server.accepted_logins(), 0);
}

/// An aliased `provider "ssh"` block for `server`, its private key the
/// secret `KEY_SECRET` (read from the environment variable of that name).
fn aliased_block(alias: &str, server: &SshServer, key_secret: &str) -> String {
    format!(
        "secret \"{key_secret}\" {{\n  env = \"{env}\"\n}}\n\n\
         provider \"ssh\" {{\n  alias = \"{alias}\"\n  host = \"127.0.0.1\"\n  port = {port}\n  \
         user = \"{user}\"\n  private_key = secret.{key_secret}\n  host_key = \"{key}\"\n  \
         connect_timeout = 20\n}}\n\n",
        env = key_secret.to_uppercase(),
        port = server.port,
        user = server.user,
        key = server.host_key()
    )
}

/// Two servers in one stack through `provider "ssh" { alias = ... }`
/// blocks. Both servers are this machine, so one filesystem: which server
/// did what is told by the commands each recorded, the `$HOME` its
/// sessions get, and by stopping one server while the other's objects are
/// read, changed or destroyed (a call sent to the stopped one would fail).
#[test]
fn two_aliased_servers_in_one_stack_get_their_own_files_drift_and_destroys() {
    let Some(mut staging) = SshServer::start("alias_staging") else {
        return;
    };
    let Some(mut prod) = SshServer::start("alias_prod") else {
        return;
    };
    let staging_path = staging.root.join("app.conf");
    let prod_path = prod.root.join("app.conf");
    let home_seen = prod.root.join("home-seen");
    let header = format!(
        "stack \"two\" {{}}\n\n{}{}",
        aliased_block("staging", &staging, "staging_key"),
        aliased_block("prod", &prod, "prod_key")
    );
    let staging_file = format!(
        "resource \"ssh_file\" \"staging\" {{\n  provider = ssh.staging\n  path     = \"{}\"\n  \
         content  = \"env=staging\\n\"\n}}\n",
        staging_path.display()
    );
    let prod_resources = format!(
        "resource \"ssh_file\" \"prod\" {{\n  provider = ssh.prod\n  path     = \"{}\"\n  \
         content  = \"env=prod\\n\"\n}}\n\n\
         resource \"ssh_command\" \"whoami\" {{\n  provider = ssh.prod\n  \
         create   = \"printf %s \\\"$HOME\\\" > {seen}\"\n  destroy  = \"rm -f {seen}\"\n}}\n",
        prod_path.display(),
        seen = home_seen.display()
    );
    let dir = TempDir::new("ssh-aliases");
    let write = |body: &str| dir.write("main.infra", format!("{header}{body}"));
    let envs = [
        ("STAGING_KEY", staging.client_key()),
        ("PROD_KEY", prod.client_key()),
    ];
    let run = |args: &[&str], expected: i32| -> Output {
        let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        common::exited(infra_env(&dir.path, args, &envs), args, expected)
    };
    write(&format!("{staging_file}\n{prod_resources}"));

    let plan = run(&["plan"], 0);
    let text = stdout(&plan);
    assert!(
        text.contains("ssh_file.staging will be created (via ssh.staging)"),
        "{text}"
    );
    assert!(
        text.contains("ssh_file.prod will be created (via ssh.prod)"),
        "{text}"
    );
    let mut outputs = vec![plan, run(&["apply", "--auto-approve"], 0)];
    assert_eq!(
        std::fs::read_to_string(&staging_path).unwrap(),
        "env=staging\n"
    );
    assert_eq!(std::fs::read_to_string(&prod_path).unwrap(), "env=prod\n");
    assert_eq!(
        std::fs::read_to_string(&home_seen).unwrap(),
        prod.home().display().to_string(),
        "the command ran in a session of the prod server"
    );
    let (staging_line, prod_line) = (
        staging_path.display().to_string(),
        prod_path.display().to_string(),
    );
    // Files go by SFTP: each server's sftp-server log names the paths it
    // wrote (its command log, the commands it ran).
    let seen = |server: &SshServer| format!("{}{}", server.commands(), server.sftp_log());
    assert!(seen(&staging).contains(&staging_line), "{}", seen(&staging));
    assert!(!seen(&staging).contains(&prod_line), "{}", seen(&staging));
    assert!(seen(&prod).contains(&prod_line), "{}", seen(&prod));
    assert!(!seen(&prod).contains(&staging_line), "{}", seen(&prod));
    outputs.push(run(&["plan", "--detailed-exitcode"], 0));

    // Drift on the staging server is found through the staging connection
    // alone: the prod server is down while it is read.
    std::fs::write(&staging_path, "defaced").unwrap();
    prod.stop();
    let drift = run(
        &[
            "plan",
            "--detailed-exitcode",
            "--target",
            "ssh_file.staging",
        ],
        2,
    );
    assert!(
        stdout(&drift).contains("ssh_file.staging"),
        "{}",
        stdout(&drift)
    );
    outputs.push(drift);
    prod.restart();
    std::fs::write(&prod_path, "defaced too").unwrap();
    staging.stop();
    let drift = run(
        &["plan", "--detailed-exitcode", "--target", "ssh_file.prod"],
        2,
    );
    assert!(
        stdout(&drift).contains("ssh_file.prod"),
        "{}",
        stdout(&drift)
    );
    assert!(
        !stdout(&drift).contains("ssh_file.staging"),
        "{}",
        stdout(&drift)
    );
    outputs.push(drift);
    staging.restart();
    outputs.push(run(&["apply", "--auto-approve"], 0));
    assert_eq!(
        std::fs::read_to_string(&staging_path).unwrap(),
        "env=staging\n"
    );
    assert_eq!(std::fs::read_to_string(&prod_path).unwrap(), "env=prod\n");

    // The prod resources leave the configuration: they are destroyed
    // through the prod block recorded in state, while staging is down.
    write(&staging_file);
    staging.stop();
    let applied = run(
        &[
            "apply",
            "--auto-approve",
            "--target",
            "ssh_file.prod",
            "--target",
            "ssh_command.whoami",
        ],
        0,
    );
    assert!(
        stdout(&applied).contains("2 destroyed"),
        "{}",
        stdout(&applied)
    );
    outputs.push(applied);
    assert!(!prod_path.exists(), "the prod file is removed");
    assert!(!home_seen.exists(), "the prod command's destroy ran");
    assert_eq!(
        std::fs::read_to_string(&staging_path).unwrap(),
        "env=staging\n"
    );
    staging.restart();
    outputs.push(run(&["plan", "--detailed-exitcode"], 0));
    // Neither private key reached an output, the state or its history.
    for server in [&staging, &prod] {
        let key_line = server.client_key().lines().nth(1).unwrap().to_owned();
        for output in &outputs {
            assert!(!stdout(output).contains(&key_line));
            assert!(!stderr(output).contains(&key_line));
        }
        for file in files_under(&dir.path) {
            let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
            assert!(
                !text.contains(&key_line),
                "{} holds a private key",
                file.display()
            );
        }
    }
}
