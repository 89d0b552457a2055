//! The `postgres` provider end to end: the real `infra` binary against a
//! real PostgreSQL cluster that each test starts (`common::postgres`), with
//! the catalogs checked through `psql`. Covers the life of every resource
//! type and import, drift made by hand and put back, a password change,
//! grants, a role name built to inject SQL, a canary secret looked for in
//! every output, file and the server's statement log, and bad input (an
//! unreachable server, wrong credentials, a missing extension).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use crate::common;

use common::postgres::{PgServer, free_port};
use common::{StackRuns, TempDir, code, files_under, infra_env, stderr, stdout, words};
use std::process::{Command, Output};

/// A stack folder whose provider points at `server` (database `postgres`).
struct Stack {
    dir: TempDir,
    url: String,
    envs: Vec<(String, String)>,
}

impl StackRuns for Stack {
    fn run(&self, args: &[&str]) -> Output {
        let mut envs: Vec<(&str, &str)> = vec![("PG_URL", self.url.as_str())];
        envs.extend(self.envs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        infra_env(&self.dir.path, args, &envs)
    }
}

impl Stack {
    fn new(name: &str, server: &PgServer, body: &str) -> Stack {
        let dir = TempDir::new(name);
        let stack = Stack {
            dir,
            url: format!("{}?sslmode=disable", server.url("postgres")),
            envs: Vec::new(),
        };
        stack.write(body);
        stack
    }

    /// Replaces the resources (the stack, environment and provider stay).
    fn write(&self, body: &str) {
        let text = format!(
            "stack \"pg\" {{\n  default_environment = \"dev\"\n}}\n\nenvironment \"dev\" {{}}\n\n\
             provider \"postgres\" {{\n  url = env_var(\"PG_URL\")\n}}\n\n{body}"
        );
        self.dir.write("main.infra", text);
    }
}

fn start(name: &str) -> Option<PgServer> {
    PgServer::start(name)
}

/// Runs psql as `user` with `password` (not the superuser), over TCP.
fn psql_as(server: &PgServer, user: &str, password: &str, sql: &str) -> Output {
    let psql = ["/usr/lib/postgresql/15/bin/psql", "psql"]
        .into_iter()
        .find(|p| !p.starts_with('/') || std::path::Path::new(p).exists())
        .unwrap();
    Command::new(psql)
        .args([
            "-X",
            "-tA",
            "-h",
            "127.0.0.1",
            "-d",
            "postgres",
            "-U",
            user,
            "-p",
        ])
        .arg(server.port().to_string())
        .args(["-c", sql])
        .env("PGPASSWORD", password)
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .unwrap()
}

/// Makes every user but `postgres` log in over TCP with a SCRAM password.
fn require_passwords(server: &PgServer) {
    let hba = server.root().join("data").join("pg_hba.conf");
    std::fs::write(
        &hba,
        "local all all trust\nhost all postgres 127.0.0.1/32 trust\n\
         host all all 127.0.0.1/32 scram-sha-256\n",
    )
    .unwrap();
    server.psql("postgres", "SELECT pg_reload_conf()");
}

const LIFECYCLE: &str = r#"
resource "postgres_role" "owner" {
  name             = "shop_owner"
  login            = true
  createdb         = true
  connection_limit = 10
  valid_until      = "2031-05-01"
}

resource "postgres_role" "reader" {
  name      = "shop_reader"
  member_of = [postgres_role.owner.name]
}

resource "postgres_database" "shop" {
  name     = "shop"
  owner    = postgres_role.owner.name
  template = "template0"
  encoding = "utf-8"
}

resource "postgres_schema" "app" {
  name     = "app"
  database = postgres_database.shop.name
  owner    = postgres_role.owner.name
}

resource "postgres_extension" "crypto" {
  name     = "pgcrypto"
  database = postgres_database.shop.name
  schema   = postgres_schema.app.name
}

resource "postgres_grant" "usage" {
  role        = postgres_role.reader.name
  database    = postgres_database.shop.name
  schema      = postgres_schema.app.name
  object_type = "schema"
  privileges  = ["USAGE"]
}
"#;

#[test]
fn every_resource_type_is_created_read_updated_imported_and_deleted() {
    let Some(server) = start("lifecycle") else {
        return;
    };
    let stack = Stack::new("pg-lifecycle", &server, LIFECYCLE);
    stack.apply();
    assert_eq!(
        server.psql(
            "postgres",
            "SELECT rolcanlogin, rolcreatedb, rolconnlimit, rolvaliduntil AT TIME ZONE 'UTC' \
             FROM pg_roles WHERE rolname = 'shop_owner'"
        ),
        "t|t|10|2031-05-01 00:00:00"
    );
    assert_eq!(
        server.psql(
            "postgres",
            "SELECT pg_get_userbyid(datdba), pg_encoding_to_char(encoding) FROM pg_database \
             WHERE datname = 'shop'"
        ),
        "shop_owner|UTF8"
    );
    assert_eq!(
        server.psql(
            "shop",
            "SELECT n.nspname, e.extversion <> '' FROM pg_extension e JOIN pg_namespace n \
             ON n.oid = e.extnamespace WHERE extname = 'pgcrypto'"
        ),
        "app|t"
    );
    assert_eq!(
        server.psql(
            "shop",
            "SELECT has_schema_privilege('shop_reader', 'app', 'USAGE'), \
             pg_has_role('shop_reader', 'shop_owner', 'MEMBER')"
        ),
        "t|t"
    );
    stack.no_changes();

    // Updates in place: role options, a rename, owners, the connection limit.
    let updated = LIFECYCLE
        .replace("connection_limit = 10", "connection_limit = 3")
        .replace("createdb         = true", "createdb         = false")
        .replace("\"shop_reader\"", "\"shop_reader2\"")
        .replace("  template = ", "  connection_limit = 7\n  template = ");
    stack.write(&updated);
    let output = stack.apply();
    assert!(
        // The grant's role is renamed: it is made again for the new name.
        stdout(&output).contains("1 added, 3 changed, 1 destroyed"),
        "{}",
        stdout(&output)
    );
    assert_eq!(
        server.psql(
            "postgres",
            "SELECT rolcreatedb, rolconnlimit FROM pg_roles WHERE rolname = 'shop_owner'"
        ),
        "f|3"
    );
    assert_eq!(
        server.psql(
            "shop",
            "SELECT has_schema_privilege('shop_reader2', 'app', 'USAGE'), \
             (SELECT datconnlimit FROM pg_database WHERE datname = 'shop')"
        ),
        "t|7"
    );
    stack.no_changes();

    // Import: objects made by hand come under management and plan nothing.
    server.psql("postgres", "CREATE ROLE hand_made LOGIN CONNECTION LIMIT 2");
    server.psql("postgres", "CREATE DATABASE hand_db");
    server.psql(
        "hand_db",
        "CREATE SCHEMA hs; CREATE EXTENSION pgcrypto SCHEMA hs; \
         GRANT USAGE, CREATE ON SCHEMA hs TO hand_made",
    );
    stack.write(&format!(
        "{updated}\n{}",
        r#"
resource "postgres_role" "hand" {
  name             = "hand_made"
  login            = true
  connection_limit = 2
}

resource "postgres_database" "hand" {
  name = "hand_db"
}

resource "postgres_schema" "hand" {
  name     = "hs"
  database = postgres_database.hand.name
}

resource "postgres_extension" "hand" {
  name     = "pgcrypto"
  database = postgres_database.hand.name
  schema   = postgres_schema.hand.name
}

resource "postgres_grant" "hand" {
  role        = postgres_role.hand.name
  database    = postgres_database.hand.name
  schema      = postgres_schema.hand.name
  object_type = "schema"
  privileges  = ["usage", "CREATE"]
}
"#
    ));
    for (addr, id) in [
        ("postgres_role.hand", "hand_made"),
        ("postgres_database.hand", "hand_db"),
        ("postgres_schema.hand", "hand_db/hs"),
        ("postgres_extension.hand", "hand_db/pgcrypto"),
        ("postgres_grant.hand", "hand_made/hand_db/schema/hs"),
    ] {
        stack.expect(&["import", addr, id], 0);
    }
    stack.no_changes();
    let output = stack.expect(&["import", "postgres_role.missing", "nobody_here"], 1);
    assert!(
        stderr(&output).contains("postgres_role"),
        "{}",
        stderr(&output)
    );

    // Delete: everything goes, in reverse order.
    stack.expect(&["destroy", "--auto-approve"], 0);
    assert_eq!(
        server.psql(
            "postgres",
            "SELECT count(*) FROM pg_roles WHERE rolname IN ('shop_owner', 'shop_reader2', 'hand_made'); \
             SELECT count(*) FROM pg_database WHERE datname IN ('shop', 'hand_db')"
        ),
        "0\n0"
    );
}

const DRIFT: &str = r#"
resource "postgres_role" "app" {
  name             = "drifty"
  login            = true
  connection_limit = 4
}

resource "postgres_schema" "app" {
  name = "app"
}

resource "postgres_grant" "usage" {
  role        = postgres_role.app.name
  schema      = postgres_schema.app.name
  object_type = "schema"
  privileges  = ["USAGE", "CREATE"]
}

resource "postgres_extension" "crypto" {
  name = "pgcrypto"
}
"#;

#[test]
fn drift_made_by_hand_is_named_by_attribute_and_apply_puts_it_back() {
    let Some(server) = start("drift") else {
        return;
    };
    let stack = Stack::new("pg-drift", &server, DRIFT);
    stack.apply();
    stack.expect(&["drift"], 0);
    server.psql(
        "postgres",
        "ALTER ROLE drifty CONNECTION LIMIT 9; ALTER ROLE drifty NOLOGIN; \
         REVOKE CREATE ON SCHEMA app FROM drifty; DROP EXTENSION pgcrypto",
    );
    let output = stack.expect(&["drift"], 2);
    let text = stdout(&output);
    for wanted in [
        "postgres_role.app was changed outside infra",
        "connection_limit = 4 -> 9",
        "login = true -> false",
        "postgres_grant.usage was changed outside infra",
        r#"privileges = ["CREATE", "USAGE"] -> ["USAGE"]"#,
        "postgres_extension.crypto was deleted outside infra",
    ] {
        assert!(text.contains(wanted), "{wanted:?} not in\n{text}");
    }
    stack.apply();
    stack.expect(&["drift"], 0);
    assert_eq!(
        server.psql(
            "postgres",
            "SELECT rolconnlimit, rolcanlogin, has_schema_privilege('drifty', 'app', 'CREATE'), \
             (SELECT count(*) FROM pg_extension WHERE extname = 'pgcrypto') \
             FROM pg_roles WHERE rolname = 'drifty'"
        ),
        "4|t|t|1"
    );
}

#[test]
fn a_password_change_is_applied_and_checked_without_being_printed() {
    let Some(server) = start("password") else {
        return;
    };
    require_passwords(&server);
    let body = r#"
secret "app_password" {
  env = "APP_PASSWORD"
}

resource "postgres_role" "app" {
  name     = "pw_user"
  login    = true
  password = secret.app_password
}
"#;
    let first = "first-Canary-7f3a9";
    let second = "second-Canary-c41d2";
    let mut stack = Stack::new("pg-password", &server, body);
    stack.envs = vec![("APP_PASSWORD".into(), first.into())];
    let mut outputs = vec![stack.apply()];
    assert_eq!(
        stdout(&psql_as(&server, "pw_user", first, "SELECT 1")),
        "1\n"
    );
    outputs.push(stack.expect(&["plan", "--detailed-exitcode"], 0));
    outputs.push(stack.expect(&["drift"], 0));

    stack.envs = vec![("APP_PASSWORD".into(), second.into())];
    let output = stack.expect(&["plan", "--detailed-exitcode"], 2);
    assert!(stdout(&output).contains("password"), "{}", stdout(&output));
    outputs.push(output);
    outputs.push(stack.apply());
    assert_eq!(
        stdout(&psql_as(&server, "pw_user", second, "SELECT 1")),
        "1\n"
    );
    assert!(
        !psql_as(&server, "pw_user", first, "SELECT 1")
            .status
            .success()
    );
    outputs.push(stack.expect(&["drift"], 0));

    // Set by hand: drift names the password, shown as a secret, and apply
    // sets the configured one again.
    server.psql(
        "postgres",
        "ALTER ROLE pw_user PASSWORD 'by-hand-Canary-0b77'",
    );
    let output = stack.expect(&["drift"], 2);
    assert!(
        stdout(&output).contains("password = (secret) -> (secret)"),
        "{}",
        stdout(&output)
    );
    outputs.push(output);
    outputs.push(stack.apply());
    assert_eq!(
        stdout(&psql_as(&server, "pw_user", second, "SELECT 1")),
        "1\n"
    );
    for output in &outputs {
        let all = format!("{}{}", stdout(output), stderr(output));
        for secret in [first, second] {
            assert!(!all.contains(secret), "{secret} printed:\n{all}");
        }
    }
}

#[test]
fn grants_on_tables_sequences_functions_and_databases_round_trip() {
    let Some(server) = start("grants") else {
        return;
    };
    server.psql(
        "postgres",
        "CREATE SCHEMA data; CREATE TABLE data.orders (id serial); CREATE TABLE data.items (id int); \
         CREATE FUNCTION data.total() RETURNS int LANGUAGE sql AS 'SELECT 1'; \
         REVOKE ALL ON FUNCTION data.total() FROM PUBLIC",
    );
    let body = r#"
resource "postgres_role" "reader" {
  name = "reader"
}

resource "postgres_grant" "tables" {
  role        = postgres_role.reader.name
  schema      = "data"
  object_type = "table"
  objects     = ["orders", "items"]
  privileges  = ["select", "INSERT"]
}

resource "postgres_grant" "sequences" {
  role        = postgres_role.reader.name
  schema      = "data"
  object_type = "sequence"
  privileges  = ["ALL"]
  with_grant_option = true
}

resource "postgres_grant" "functions" {
  role        = postgres_role.reader.name
  schema      = "data"
  object_type = "function"
  objects     = ["total"]
  privileges  = ["EXECUTE"]
}

resource "postgres_grant" "connect" {
  role        = postgres_role.reader.name
  object_type = "database"
  privileges  = ["CONNECT", "CREATE"]
}
"#;
    let stack = Stack::new("pg-grants", &server, body);
    stack.apply();
    let privileges = || {
        server.psql(
            "postgres",
            "SELECT has_table_privilege('reader', 'data.orders', 'SELECT'), \
             has_table_privilege('reader', 'data.items', 'INSERT'), \
             has_table_privilege('reader', 'data.items', 'UPDATE'), \
             has_sequence_privilege('reader', 'data.orders_id_seq', 'USAGE WITH GRANT OPTION'), \
             has_function_privilege('reader', 'data.total()', 'EXECUTE'), \
             has_database_privilege('reader', 'postgres', 'CREATE')",
        )
    };
    assert_eq!(privileges(), "t|t|f|t|t|t");
    stack.no_changes();

    // A changed privilege list is an update: exactly the new list is held.
    stack.write(&body.replace(r#"["select", "INSERT"]"#, r#"["UPDATE"]"#));
    let output = stack.apply();
    assert!(stdout(&output).contains("1 changed"), "{}", stdout(&output));
    assert_eq!(privileges(), "f|f|t|t|t|t");
    stack.no_changes();

    // Imported by id, a grant plans nothing.
    stack.expect(&["state", "rm", "postgres_grant.tables"], 0);
    stack.expect(
        &[
            "import",
            "postgres_grant.tables",
            "reader/postgres/table/data/items,orders",
        ],
        0,
    );
    stack.no_changes();

    // Deleted, the privileges are revoked.
    stack.write("resource \"postgres_role\" \"reader\" {\n  name = \"reader\"\n}\n");
    stack.apply();
    assert_eq!(privileges(), "f|f|f|f|f|f");
}

#[test]
fn a_role_name_with_quotes_and_semicolons_is_quoted_and_injects_nothing() {
    let Some(server) = start("quoting") else {
        return;
    };
    server.psql("postgres", "CREATE ROLE victim");
    let name = r#"x"; DROP ROLE victim; --'"#;
    let body = format!(
        r#"
resource "postgres_role" "odd" {{
  name             = "{}"
  connection_limit = 1
  valid_until      = "2030-01-01"
}}

resource "postgres_schema" "odd" {{
  name  = "s'; DROP SCHEMA public; --"
  owner = postgres_role.odd.name
}}
"#,
        name.replace('"', "\\\"")
    );
    let stack = Stack::new("pg-quoting", &server, &body);
    stack.apply();
    assert_eq!(
        server.psql(
            "postgres",
            "SELECT count(*) FROM pg_roles WHERE rolname = 'victim'; \
             SELECT rolconnlimit FROM pg_roles WHERE rolname = 'x\"; DROP ROLE victim; --'''; \
             SELECT count(*) FROM pg_namespace WHERE nspname IN ('public', 's''; DROP SCHEMA public; --')"
        ),
        "1\n1\n2"
    );
    stack.no_changes();
    stack.expect(&["destroy", "--auto-approve"], 0);
    assert_eq!(
        server.psql(
            "postgres",
            "SELECT count(*) FROM pg_roles WHERE rolname = 'victim'"
        ),
        "1"
    );
}

#[test]
fn a_canary_password_appears_in_no_output_file_or_server_log() {
    let Some(server) = start("leak") else {
        return;
    };
    // Every statement the server runs goes to its log.
    server.psql("postgres", "ALTER SYSTEM SET log_statement = 'all'");
    server.psql("postgres", "SELECT pg_reload_conf()");
    let canary = "CanaryPw-9d41e7b2";
    let body = r#"
secret "canary" {
  env = "CANARY"
}

resource "postgres_role" "app" {
  name     = "leaky"
  login    = true
  password = secret.canary
}

output "password" {
  value     = postgres_role.app.password
  sensitive = true
}
"#;
    let mut stack = Stack::new("pg-leak", &server, body);
    stack.envs = vec![("CANARY".into(), canary.into())];
    let mut outputs = Vec::new();
    for args in [
        &["plan"][..],
        &["plan", "--format", "json"],
        &["apply", "--auto-approve"],
        &["plan", "--format", "markdown"],
        &["drift", "--format", "json"],
        &["output", "--json"],
        &["state", "show", "postgres_role.app"],
        &["state", "history"],
    ] {
        let output = stack.run(args);
        assert!(code(&output) != 1, "{args:?}: {}", stderr(&output));
        outputs.push(output);
    }
    server.psql("postgres", "ALTER ROLE leaky PASSWORD 'other-by-hand'");
    outputs.push(stack.expect(&["drift"], 2));
    outputs.push(stack.apply());
    for output in &outputs {
        let all = format!("{}{}", stdout(output), stderr(output));
        assert!(!all.contains(canary), "canary printed:\n{all}");
    }
    for file in files_under(&stack.dir.path.join(".infra")) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(canary),
            "canary in {}",
            file.display()
        );
    }
    let log = std::fs::read_to_string(server.root().join("server.log")).unwrap();
    assert!(
        log.contains("CREATE ROLE"),
        "statements are not logged:\n{log}"
    );
    assert!(!log.contains(canary), "canary in the server log");
}

#[test]
fn an_unreachable_server_or_wrong_credentials_name_the_server_and_never_the_password() {
    let Some(server) = start("bad-input") else {
        return;
    };
    require_passwords(&server);
    server.psql(
        "postgres",
        "CREATE ROLE deployer LOGIN SUPERUSER PASSWORD 'right-one'",
    );
    let body = "resource \"postgres_role\" \"app\" {\n  name = \"app\"\n}\n";
    let mut stack = Stack::new("pg-bad", &server, body);

    let port = free_port();
    stack.url = format!("postgres://deployer:Hunter2-Canary@127.0.0.1:{port}/postgres");
    let output = stack.expect(&["apply", "--auto-approve"], 1);
    let all = words(&output);
    assert!(all.contains(&format!("127.0.0.1:{port}")), "{all}");
    assert!(!all.contains("Hunter2-Canary"), "{all}");

    stack.url = format!(
        "postgres://deployer:Wrong-Canary@127.0.0.1:{}/postgres",
        server.port()
    );
    let output = stack.expect(&["apply", "--auto-approve"], 1);
    let all = words(&output);
    assert!(
        all.contains(&format!("127.0.0.1:{}", server.port())),
        "{all}"
    );
    assert!(all.contains("password authentication failed"), "{all}");
    assert!(!all.contains("Wrong-Canary"), "{all}");

    // The same with the password set apart, as a secret.
    stack.url = String::new();
    stack.write(&format!(
        "{body}\nsecret \"pg\" {{\n  env = \"PG_PASSWORD\"\n}}\n"
    ));
    let text = std::fs::read_to_string(stack.dir.path.join("main.infra"))
        .unwrap()
        .replace(
            "url = env_var(\"PG_URL\")",
            &format!(
                "host = \"127.0.0.1\"\n  port = {}\n  user = \"deployer\"\n  password = secret.pg",
                server.port()
            ),
        );
    stack.dir.write("main.infra", text);
    stack.envs = vec![("PG_PASSWORD".into(), "Wrong-Secret-Canary".into())];
    let output = stack.expect(&["apply", "--auto-approve"], 1);
    let all = words(&output);
    assert!(all.contains("password authentication failed"), "{all}");
    assert!(!all.contains("Wrong-Secret-Canary"), "{all}");
    stack.envs = vec![("PG_PASSWORD".into(), "right-one".into())];
    stack.apply();

    // An extension the server does not have.
    stack.write("resource \"postgres_extension\" \"nope\" {\n  name = \"no_such_extension\"\n}\n");
    stack.url = format!("{}?sslmode=disable", server.url("postgres"));
    let output = stack.expect(&["apply", "--auto-approve"], 1);
    let all = words(&output);
    assert!(
        all.contains("extension `no_such_extension` is not available on PostgreSQL 15"),
        "{all}"
    );
    assert!(all.contains("main.infra:"), "no span: {all}");

    // A verifying TLS mode without a root certificate is refused before
    // connecting.
    stack.url = format!("{}?sslmode=verify-full", server.url("postgres"));
    let output = stack.expect(&["plan"], 1);
    assert!(
        words(&output).contains("needs `sslrootcert`"),
        "{}",
        stderr(&output)
    );
}

/// Only TLS connections for `tls_only`; everyone else trusted.
const TLS_HBA: &str = "local all all trust\n\
                       hostnossl all tls_only 127.0.0.1/32 reject\n\
                       host all all 127.0.0.1/32 trust\n";

/// Connects with the crate's TLS connector and asks the server whether
/// this very connection is encrypted (`pg_stat_ssl`).
fn encrypted(
    server: &PgServer,
    host: &str,
    mode: &str,
    root_pem: Option<&str>,
) -> Result<bool, String> {
    use infra::postgres_tls::{RootCerts, SslMode, Tls};
    let mode = SslMode::parse(mode)?;
    let roots = root_pem.map(|pem| RootCerts::Pem(pem.as_bytes().to_vec()));
    let tls = Tls::new(mode, roots)?;
    let config: tokio_postgres::Config = format!(
        "host={host} port={} user=postgres dbname=postgres",
        server.port()
    )
    .parse()
    .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = tls.connect(&config).await.map_err(|error| {
            infra::postgres_tls::failure_hint(&error, mode).unwrap_or_else(|| error.to_string())
        })?;
        let row = client
            .query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await
            .map_err(|error| error.to_string())?;
        Ok(row.get::<_, bool>(0))
    })
}

#[test]
fn tls_modes_encrypt_verify_the_authority_and_the_name_and_name_what_failed() {
    let Some((server, ca)) = PgServer::start_tls("pg-tls", TLS_HBA) else {
        return;
    };
    // The connector, mode by mode, as the server sees the connection.
    assert_eq!(encrypted(&server, "127.0.0.1", "disable", None), Ok(false));
    assert_eq!(encrypted(&server, "127.0.0.1", "prefer", None), Ok(true));
    assert_eq!(encrypted(&server, "127.0.0.1", "require", None), Ok(true));
    let right = Some(ca.ca_pem.as_str());
    let wrong = Some(ca.other_ca_pem.as_str());
    assert_eq!(
        encrypted(&server, "127.0.0.1", "verify-ca", right),
        Ok(true)
    );
    assert_eq!(
        encrypted(&server, "localhost", "verify-full", right),
        Ok(true)
    );
    let by_address = encrypted(&server, "127.0.0.1", "verify-full", right).unwrap_err();
    assert!(
        by_address.contains("does not name the host"),
        "{by_address}"
    );
    let untrusted = encrypted(&server, "localhost", "verify-full", wrong).unwrap_err();
    assert!(
        untrusted.contains("did not verify against `sslrootcert`"),
        "{untrusted}"
    );
    // `require` with a root certificate verifies the authority, as in libpq.
    let untrusted = encrypted(&server, "127.0.0.1", "require", wrong).unwrap_err();
    assert!(untrusted.contains("did not verify"), "{untrusted}");

    // The provider, end to end, as a user the server lets in only over TLS.
    server.psql("postgres", "CREATE ROLE tls_only LOGIN SUPERUSER");
    let body = "resource \"postgres_role\" \"app\" {\n  name = \"tls_app\"\n}\n";
    let mut stack = Stack::new("pg-tls", &server, body);
    stack.dir.write("ca.pem", &ca.ca_pem);
    stack.dir.write("other-ca.pem", &ca.other_ca_pem);
    let port = server.port();
    stack.url = format!("postgres://tls_only@127.0.0.1:{port}/postgres?sslmode=disable");
    let output = stack.expect(&["apply", "--auto-approve"], 1);
    assert!(
        words(&output).contains("no encryption"),
        "{}",
        words(&output)
    );
    stack.url = format!("postgres://tls_only@127.0.0.1:{port}/postgres?sslmode=require");
    stack.apply();
    assert_eq!(
        server.psql(
            "postgres",
            "SELECT count(*) FROM pg_roles WHERE rolname = 'tls_app'"
        ),
        "1"
    );
    stack.url = format!(
        "postgres://tls_only@localhost:{port}/postgres?sslmode=verify-full&sslrootcert=ca.pem"
    );
    stack.no_changes();
    stack.url = format!(
        "postgres://tls_only@127.0.0.1:{port}/postgres?sslmode=verify-ca&sslrootcert=ca.pem"
    );
    stack.no_changes();
    stack.url = format!(
        "postgres://tls_only@127.0.0.1:{port}/postgres?sslmode=verify-full&sslrootcert=ca.pem"
    );
    let output = stack.expect(&["plan"], 1);
    assert!(
        words(&output).contains("does not name the host"),
        "{}",
        words(&output)
    );
    assert!(
        words(&output).contains(&format!("127.0.0.1:{port}")),
        "{}",
        words(&output)
    );
    stack.url = format!(
        "postgres://tls_only@localhost:{port}/postgres?sslmode=verify-full&sslrootcert=other-ca.pem"
    );
    let output = stack.expect(&["plan"], 1);
    assert!(
        words(&output).contains("did not verify against `sslrootcert`"),
        "{}",
        words(&output)
    );
    // The same through the block's own settings.
    stack.url = String::new();
    let text = std::fs::read_to_string(stack.dir.path.join("main.infra"))
        .unwrap()
        .replace(
            "url = env_var(\"PG_URL\")",
            &format!(
                "host = \"localhost\"\n  port = {port}\n  user = \"tls_only\"\n  \
                 sslmode = \"verify-full\"\n  sslrootcert = \"ca.pem\""
            ),
        );
    stack.dir.write("main.infra", &text);
    stack.no_changes();
    stack
        .dir
        .write("main.infra", text.replace("\"ca.pem\"", "\"other-ca.pem\""));
    let output = stack.expect(&["plan"], 1);
    assert!(
        words(&output).contains("did not verify against `sslrootcert`"),
        "{}",
        words(&output)
    );
}

/// Runs `infra` in an example copied to a temp folder.
fn run_example(dir: &std::path::Path, args: &[&str], expected: i32) -> Output {
    common::exited(infra_env(dir, args, &[]), args, expected)
}

#[test]
fn the_supabase_example_applies_both_environments_on_their_own_servers() {
    let (Some(staging), Some(production)) =
        (start("supabase-staging"), start("supabase-production"))
    else {
        return;
    };
    let dir = TempDir::new("supabase");
    common::copy_tree(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/supabase"),
        &dir.path,
    );
    for (env, server) in [("staging", &staging), ("production", &production)] {
        let url = format!("pg_url={}?sslmode=disable", server.url("postgres"));
        let args = |command: &'static str| vec![command, "--env", env, "--var", url.as_str()];
        let mut apply = args("apply");
        apply.push("--auto-approve");
        run_example(&dir.path, &apply, 0);
        let mut plan = args("plan");
        plan.push("--detailed-exitcode");
        run_example(&dir.path, &plan, 0);
        let database = format!("app_{env}");
        assert_eq!(
            server.psql(
                &database,
                "SELECT string_agg(rolname || ':' || rolbypassrls, ',' ORDER BY rolname) FROM pg_roles \
                 WHERE rolname IN ('anon', 'authenticated', 'service_role', 'authenticator'); \
                 SELECT has_schema_privilege('anon', 'app', 'USAGE'), \
                 pg_has_role('authenticator', 'service_role', 'MEMBER'), \
                 (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace \
                  WHERE extname = 'pgcrypto')"
            ),
            "anon:false,authenticated:false,authenticator:false,service_role:true\nt|t|app"
        );
        // The generated password is the one the server checks.
        require_passwords(server);
        let output = [
            "output",
            "--env",
            env,
            "authenticator_password",
            "--raw",
            "--show-secrets",
        ];
        let password = stdout(&run_example(&dir.path, &output, 0));
        assert_eq!(password.trim().len(), 32);
        let login = psql_as(server, "authenticator", password.trim(), "SELECT 1");
        assert_eq!(
            stdout(&login),
            "1\n",
            "{}",
            String::from_utf8_lossy(&login.stderr)
        );
        // A table made later lacks its grants until the next apply.
        server.psql(&database, "CREATE TABLE app.todos (id int)");
        run_example(&dir.path, &plan, 2);
        run_example(&dir.path, &apply, 0);
        assert_eq!(
            server.psql(
                &database,
                "SELECT has_table_privilege('anon', 'app.todos', 'SELECT'), \
                 has_table_privilege('anon', 'app.todos', 'INSERT'), \
                 has_table_privilege('authenticated', 'app.todos', 'DELETE')"
            ),
            "t|f|t"
        );
    }
    // Production is protected; staging goes without asking.
    let url = format!("pg_url={}?sslmode=disable", production.url("postgres"));
    run_example(
        &dir.path,
        &[
            "destroy",
            "--env",
            "production",
            "--auto-approve",
            "--var",
            &url,
        ],
        1,
    );
    let url = format!("pg_url={}?sslmode=disable", staging.url("postgres"));
    // What infra did not make stays the owner's business.
    staging.psql("app_staging", "DROP TABLE app.todos");
    run_example(
        &dir.path,
        &[
            "destroy",
            "--env",
            "staging",
            "--auto-approve",
            "--var",
            &url,
        ],
        0,
    );
    assert_eq!(
        staging.psql(
            "postgres",
            "SELECT count(*) FROM pg_roles WHERE rolname IN ('anon', 'authenticator')"
        ),
        "0"
    );
}

#[test]
fn the_postgres_part_of_the_shop_applies_with_its_generated_password() {
    let Some(server) = start("shop") else {
        return;
    };
    let dir = TempDir::new("shop-postgres");
    common::copy_tree(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/shop/postgres"),
        &dir.path,
    );
    let url = format!("pg_url={}?sslmode=disable", server.url("postgres"));
    run_example(&dir.path, &["apply", "--auto-approve", "--var", &url], 0);
    run_example(
        &dir.path,
        &["plan", "--detailed-exitcode", "--var", &url],
        0,
    );
    require_passwords(&server);
    let database_url = stdout(&run_example(
        &dir.path,
        &["output", "database_url", "--raw", "--show-secrets"],
        0,
    ));
    let password = database_url
        .trim()
        .strip_prefix("postgres://shop_staging:")
        .and_then(|rest| rest.split_once('@'))
        .map(|(password, _)| password.to_owned())
        .unwrap();
    let login = psql_as(&server, "shop_staging", &password, "SELECT current_user");
    assert_eq!(stdout(&login), "shop_staging\n");
    assert_eq!(
        server.psql(
            "postgres",
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'shop_staging'"
        ),
        "shop_staging"
    );
    run_example(&dir.path, &["destroy", "--auto-approve", "--var", &url], 0);
}

#[test]
fn a_provider_user_without_superuser_manages_roles_and_sees_their_drift() {
    let Some(server) = start("not-superuser") else {
        return;
    };
    server.psql("postgres", "CREATE ROLE deployer LOGIN CREATEROLE CREATEDB");
    let body = r#"
secret "pw" {
  generate = { length = 20 }
}

resource "postgres_role" "app" {
  name             = "limited_app"
  login            = true
  password         = secret.pw
  connection_limit = 3
}
"#;
    let mut stack = Stack::new("pg-not-superuser", &server, body);
    stack.url = format!(
        "postgres://deployer@127.0.0.1:{}/postgres?sslmode=disable",
        server.port()
    );
    stack.apply();
    stack.no_changes();
    stack.expect(&["drift"], 0);
    // It cannot read pg_authid, so the password is taken as recorded; the
    // other attributes are read as ever.
    server.psql("postgres", "ALTER ROLE limited_app CONNECTION LIMIT 8");
    let output = stack.expect(&["drift"], 2);
    assert!(
        stdout(&output).contains("connection_limit = 3 -> 8"),
        "{}",
        stdout(&output)
    );
    assert!(!stdout(&output).contains("password"), "{}", stdout(&output));
    stack.apply();
    stack.expect(&["drift"], 0);
}
