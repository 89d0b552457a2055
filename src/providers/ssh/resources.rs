//! The `ssh_file`, `ssh_directory` and `ssh_command` resource types: their
//! schemas and their calls, on the provider's shared connection.
//!
//! Invariant: a remote path is absolute (a schema rule, so `validate` says
//! it with the span); secret values reach the server only on stdin.

use super::SshProvider;
use super::conn::{self, Command, Exec, FileStat};
use crate::lang::{Type, Value};
use crate::providers::provider::{
    Attributes, ObjectState, PlannedChange, ProviderError, conform_to_schema, plan_from_schema,
};
use crate::providers::schema::{ResourceSchema, ValueRule, attribute};
use std::collections::BTreeMap;

/// `ssh_file`.
pub(crate) const SSH_FILE: &str = "ssh_file";
/// `ssh_directory`.
pub(crate) const SSH_DIRECTORY: &str = "ssh_directory";
/// `ssh_command`.
pub(crate) const SSH_COMMAND: &str = "ssh_command";

/// A remote path must be absolute: the remote user's working folder is not
/// something a plan can know.
const ABSOLUTE: ValueRule = ValueRule {
    rule: "an absolute path on the server, starting with `/`",
    check: |value, _| match value.as_str() {
        Some(path) if !path.starts_with('/') => Some("the path is relative".to_owned()),
        _ => None,
    },
};

/// A mode is three or four octal digits.
const MODE: ValueRule = ValueRule {
    rule: "an octal mode like \"0644\"",
    check: |value, _| match value.as_str() {
        Some(mode) if normalize_mode(mode).is_none() => Some("it is not an octal mode".to_owned()),
        _ => None,
    },
};

/// The schema of `ssh_file`.
pub(crate) fn file_schema() -> ResourceSchema {
    ResourceSchema {
        resource_type: SSH_FILE,
        provider: super::NAME,
        description: "A file on the server, written atomically (temp file, then rename).",
        attributes: vec![
            attribute("path", Type::String)
                .required()
                .force_new()
                .rule(ABSOLUTE)
                .describe("The absolute path on the server; a change replaces the file."),
            attribute("content", Type::String)
                .describe("The text to write (may be a secret); one of content and source."),
            attribute("source", Type::String).describe(
                "A local file to upload, relative to the stack folder; one of content and source.",
            ),
            attribute("mode", Type::String)
                .optional_computed()
                .derived_from(&[])
                .rule(MODE)
                .describe("Octal mode; \"0644\" when unset."),
            attribute("owner", Type::String)
                .optional_computed()
                .derived_from(&[])
                .describe("The owning user (chown needs the right to); kept as is when unset."),
            attribute("group", Type::String)
                .optional_computed()
                .derived_from(&[])
                .describe("The owning group; kept as is when unset."),
            attribute("sha256", Type::String)
                .computed_only()
                .derived_from(&["content", "source"])
                .describe("SHA-256 of the file on the server, hex; a change made there is drift."),
            attribute("id", Type::String)
                .computed_only()
                .derived_from(&["path"])
                .describe("The path."),
        ],
    }
}

/// The schema of `ssh_directory`.
pub(crate) fn directory_schema() -> ResourceSchema {
    ResourceSchema {
        resource_type: SSH_DIRECTORY,
        provider: super::NAME,
        description: "A folder on the server; with `purge`, files no `ssh_file` manages are removed.",
        attributes: vec![
            attribute("path", Type::String)
                .required()
                .force_new()
                .rule(ABSOLUTE)
                .describe("The absolute path on the server; a change replaces the folder."),
            attribute("mode", Type::String)
                .optional_computed()
                .derived_from(&[])
                .rule(MODE)
                .describe("Octal mode; \"0755\" when unset."),
            attribute("owner", Type::String)
                .optional_computed()
                .derived_from(&[])
                .describe("The owning user; kept as is when unset."),
            attribute("group", Type::String)
                .optional_computed()
                .derived_from(&[])
                .describe("The owning group; kept as is when unset."),
            attribute("purge", Type::Bool).describe(
                "Remove the files under it that no `ssh_file` of this stack manages (deploy folders).",
            ),
            attribute("unmanaged", Type::List(Box::new(Type::String)))
                .computed_only()
                .derived_from(&[])
                .describe("With `purge`: the files under it that no `ssh_file` manages (drift)."),
            attribute("id", Type::String)
                .computed_only()
                .derived_from(&["path"])
                .describe("The path."),
        ],
    }
}

/// The schema of `ssh_command`.
pub(crate) fn command_schema() -> ResourceSchema {
    let command =
        |name: &'static str, text: &'static str| attribute(name, Type::Any).describe(text);
    ResourceSchema {
        resource_type: SSH_COMMAND,
        provider: super::NAME,
        description: "Commands run on the server on create, update and destroy; `read` checks.",
        attributes: vec![
            command(
                "create",
                "Run on create: an argv list ([\"systemctl\", \"restart\", \"api\"]) or a script string.",
            )
            .required(),
            command("update", "Run when the inputs change; `create` again when unset."),
            command("destroy", "Run on delete."),
            command(
                "read",
                "Run on every refresh; a different output than after the last apply is drift.",
            ),
            attribute("env", Type::Map(Box::new(Type::String))).describe(
                "Environment variables (values may be secrets: they go on stdin, never argv).",
            ),
            attribute("triggers", Type::Map(Box::new(Type::Any)))
                .describe("Any values; a change runs `update`."),
            attribute("output", Type::String)
                .computed_only()
                .derived_from(&["read", "env"])
                .describe("The stdout of `read` after the last apply."),
            attribute("id", Type::String)
                .computed_only()
                .derived_from(&["create"])
                .describe("A hash of `create`."),
        ],
    }
}

/// `644` or `0644` as `0644`; `None` when not an octal mode.
fn normalize_mode(mode: &str) -> Option<String> {
    let valid = (3..=4).contains(&mode.len()) && mode.bytes().all(|b| (b'0'..=b'7').contains(&b));
    valid.then(|| format!("{mode:0>4}"))
}

fn get<'a>(attributes: &'a Attributes, name: &str) -> &'a Value {
    attributes.get(name).unwrap_or(&Value::NULL)
}

fn text<'a>(attributes: &'a Attributes, name: &str) -> Option<&'a str> {
    get(attributes, name).as_str()
}

fn required_text<'a>(attributes: &'a Attributes, name: &str) -> Result<&'a str, ProviderError> {
    text(attributes, name)
        .ok_or_else(|| ProviderError::permanent(format!("`{name}` is required")).at([name]))
}

/// Puts a mode in its canonical form, `default` when unset.
fn default_mode(proposed: &mut Attributes, default: &str) -> Result<(), ProviderError> {
    let value = get(proposed, "mode").clone();
    if value.is_unknown() {
        return Ok(());
    }
    let mode = match value.as_str() {
        None => default.to_owned(),
        Some(mode) => normalize_mode(mode).ok_or_else(|| {
            ProviderError::permanent("`mode` must be an octal mode like \"0644\"").at(["mode"])
        })?,
    };
    proposed.insert("mode".to_owned(), Value::string(mode));
    Ok(())
}

fn object(schema: &ResourceSchema, id: &str, values: &Attributes) -> ObjectState {
    ObjectState {
        id: id.to_owned(),
        attributes: conform_to_schema(schema, values),
    }
}

/// The bytes an `ssh_file` writes, `None` while unknown; and whether secret.
fn file_bytes(
    provider: &SshProvider,
    attributes: &Attributes,
) -> Result<(Option<Vec<u8>>, bool), ProviderError> {
    let content = get(attributes, "content");
    let source = get(attributes, "source");
    match (content.is_null(), source.is_null()) {
        (false, false) => Err(ProviderError::permanent(
            "set one of `content` and `source`, not both",
        )
        .at(["source"])),
        (true, true) => {
            Err(ProviderError::permanent("set one of `content` and `source`").at(["content"]))
        }
        (false, true) => Ok((
            content.as_str().map(|text| text.as_bytes().to_vec()),
            content.is_secret(),
        )),
        (true, false) => match source.as_str() {
            Some(path) => Ok((Some(provider.read_source(path)?), source.is_secret())),
            None => Ok((None, source.is_secret())),
        },
    }
}

/// Plans an `ssh_file`: the mode defaults to `0644`, the hash follows the content.
pub(crate) fn plan_file(
    provider: &SshProvider,
    prior: Option<&ObjectState>,
    proposed: &Attributes,
) -> Result<PlannedChange, ProviderError> {
    let mut proposed = proposed.clone();
    default_mode(&mut proposed, "0644")?;
    let (bytes, secret) = file_bytes(provider, &proposed)?;
    let mut change = plan_from_schema(&file_schema(), prior, &proposed);
    if let Some(path) = text(&proposed, "path") {
        provider.manage(path);
        change.planned.insert("id".to_owned(), Value::string(path));
    }
    let sha256 = bytes.map_or(Value::UNKNOWN, |bytes| {
        Value::string(conn::sha256_hex(&bytes))
    });
    change
        .planned
        .insert("sha256".to_owned(), sha256.mark_secret_if(secret));
    Ok(change)
}

/// The object an `ssh_file` is, from `base` (planned or prior attributes)
/// and what the server says.
fn file_object(base: &Attributes, path: &str, stat: &FileStat) -> ObjectState {
    let secret = get(base, "content").is_secret() || get(base, "source").is_secret();
    let mut values = base.clone();
    values.insert(
        "sha256".to_owned(),
        stat.sha256
            .clone()
            .map_or(Value::NULL, Value::string)
            .mark_secret_if(secret),
    );
    values.insert("mode".to_owned(), Value::string(stat.mode.clone()));
    values.insert("owner".to_owned(), Value::string(stat.owner.clone()));
    values.insert("group".to_owned(), Value::string(stat.group.clone()));
    values.insert("id".to_owned(), Value::string(path));
    object(&file_schema(), path, &values)
}

fn not_a(path: &str, what: &str, kind: &str) -> ProviderError {
    ProviderError::permanent(format!("{path} on the server is a {kind}, not a {what}")).at(["path"])
}

/// Creates or updates an `ssh_file`.
pub(crate) async fn write_file(
    provider: &SshProvider,
    planned: &Attributes,
) -> Result<ObjectState, ProviderError> {
    let path = required_text(planned, "path")?;
    provider.manage(path);
    let (bytes, _) = file_bytes(provider, planned)?;
    let bytes = bytes.ok_or_else(|| {
        ProviderError::permanent("the content is still unknown at apply").at(["content"])
    })?;
    let mode = text(planned, "mode").unwrap_or("0644");
    let (conn, _) = provider.conn().await?;
    let stat = conn
        .write_file_atomic(
            path,
            &bytes,
            mode,
            text(planned, "owner"),
            text(planned, "group"),
        )
        .await?;
    Ok(file_object(planned, path, &stat))
}

/// Reads an `ssh_file`: its hash, mode, owner and group (batched).
pub(crate) async fn read_file(
    provider: &SshProvider,
    prior: &Attributes,
) -> Result<Option<ObjectState>, ProviderError> {
    let path = required_text(prior, "path")?;
    provider.manage(path);
    let Some(stat) = provider.stat(path).await? else {
        return Ok(None);
    };
    if stat.sha256.is_none() {
        return Err(not_a(path, "file", &stat.kind));
    }
    Ok(Some(file_object(prior, path, &stat)))
}

/// Deletes an `ssh_file`.
pub(crate) async fn delete_file(
    provider: &SshProvider,
    prior: &Attributes,
) -> Result<(), ProviderError> {
    let path = required_text(prior, "path")?;
    let (conn, _) = provider.conn().await?;
    conn.remove(path, false).await?;
    provider.managed().remove(path);
    Ok(())
}

/// Plans an `ssh_directory`: the mode defaults to `0755`, and no file is
/// left unmanaged after the apply.
pub(crate) fn plan_directory(prior: Option<&ObjectState>, proposed: &Attributes) -> PlannedChange {
    let mut proposed = proposed.clone();
    // A mode that is not octal is refused by the schema rule at validate.
    let _ = default_mode(&mut proposed, "0755");
    let mut change = plan_from_schema(&directory_schema(), prior, &proposed);
    if let Some(path) = text(&proposed, "path") {
        change.planned.insert("id".to_owned(), Value::string(path));
    }
    change
        .planned
        .insert("unmanaged".to_owned(), Value::list(Vec::new()));
    change
}

/// The files under `dir` that no `ssh_file` manages.
async fn unmanaged(
    provider: &SshProvider,
    conn: &conn::SshConn,
    dir: &str,
) -> Result<Vec<String>, ProviderError> {
    let files = conn.list_files(dir).await?;
    let managed = provider.managed().clone();
    Ok(files
        .into_iter()
        .filter(|file| !managed.contains(file))
        .collect())
}

fn directory_object(
    base: &Attributes,
    path: &str,
    stat: &FileStat,
    unmanaged: Vec<String>,
) -> ObjectState {
    let mut values = base.clone();
    values.insert("mode".to_owned(), Value::string(stat.mode.clone()));
    values.insert("owner".to_owned(), Value::string(stat.owner.clone()));
    values.insert("group".to_owned(), Value::string(stat.group.clone()));
    values.insert(
        "unmanaged".to_owned(),
        Value::list(unmanaged.into_iter().map(Value::string).collect()),
    );
    values.insert("id".to_owned(), Value::string(path));
    object(&directory_schema(), path, &values)
}

/// Creates or updates an `ssh_directory` (`mkdir -p`, mode, owner) and,
/// with `purge`, removes the files no `ssh_file` manages.
pub(crate) async fn write_directory(
    provider: &SshProvider,
    planned: &Attributes,
) -> Result<ObjectState, ProviderError> {
    let path = required_text(planned, "path")?;
    let mode = text(planned, "mode").unwrap_or("0755");
    let (conn, _) = provider.conn().await?;
    let stat = conn
        .make_dir(path, mode, text(planned, "owner"), text(planned, "group"))
        .await
        .map_err(|error| {
            if error.attribute_path.is_some() {
                error
            } else {
                error.at(["path"])
            }
        })?;
    if get(planned, "purge").as_bool() == Some(true) {
        let extra = unmanaged(provider, &conn, path).await?;
        conn.remove_many(&extra).await?;
    }
    Ok(directory_object(planned, path, &stat, Vec::new()))
}

/// Reads an `ssh_directory`; with `purge`, lists the unmanaged files.
pub(crate) async fn read_directory(
    provider: &SshProvider,
    prior: &Attributes,
) -> Result<Option<ObjectState>, ProviderError> {
    let path = required_text(prior, "path")?;
    let Some(stat) = provider.stat(path).await? else {
        return Ok(None);
    };
    if stat.kind != "directory" {
        return Err(not_a(path, "folder", &stat.kind));
    }
    let extra = if get(prior, "purge").as_bool() == Some(true) {
        let (conn, _) = provider.conn().await?;
        unmanaged(provider, &conn, path).await?
    } else {
        Vec::new()
    };
    Ok(Some(directory_object(prior, path, &stat, extra)))
}

/// Deletes an `ssh_directory`: with `purge`, and everything in it;
/// without, only when empty.
pub(crate) async fn delete_directory(
    provider: &SshProvider,
    prior: &Attributes,
) -> Result<(), ProviderError> {
    let path = required_text(prior, "path")?;
    let (conn, settings) = provider.conn().await?;
    if get(prior, "purge").as_bool() == Some(true) {
        return conn.remove(path, true).await;
    }
    let script = format!(
        "p={}; [ -e \"$p\" ] || exit 0; rmdir -- \"$p\"",
        conn::quote(path)
    );
    let output = conn
        .exec(&Exec {
            command: Some(Command::Script(script)),
            ..Exec::default()
        })
        .await?;
    check_ok(
        &output,
        "removing the folder (it is not empty? set `purge = true` to remove what is in it)",
        "path",
        &settings.redact,
    )
}

/// Fails unless the command exited 0: the error shows the exit code and
/// the last lines of stderr, with every secret replaced.
fn check_ok(
    output: &conn::Output,
    doing: &str,
    attribute: &str,
    secrets: &[String],
) -> Result<(), ProviderError> {
    if output.success() {
        return Ok(());
    }
    let status = output.status.map_or_else(
        || "no exit code (killed by a signal)".to_owned(),
        |code| format!("exit code {code}"),
    );
    let tail = redact(&output.stderr_tail(10), secrets);
    let tail = if tail.trim().is_empty() {
        "(stderr was empty)".to_owned()
    } else {
        format!("last lines of stderr:\n{tail}")
    };
    Err(ProviderError::permanent(format!("{doing} failed with {status}; {tail}")).at([attribute]))
}

/// Replaces every secret (and every line of a multi-line one) in `text`.
fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_owned();
    let mut pieces: Vec<&str> = Vec::new();
    for secret in secrets {
        pieces.push(secret);
        pieces.extend(secret.lines().map(str::trim).filter(|line| line.len() >= 4));
    }
    pieces.sort_by_key(|piece| std::cmp::Reverse(piece.len()));
    for piece in pieces {
        if !piece.is_empty() {
            out = out.replace(piece, "(secret)");
        }
    }
    out
}

/// A command attribute: an argv list or a script string; `None` when unset.
fn command_of(attributes: &Attributes, name: &str) -> Result<Option<Command>, ProviderError> {
    let value = get(attributes, name);
    if value.is_null() {
        return Ok(None);
    }
    if value.contains_secret() {
        return Err(ProviderError::permanent(format!(
            "`{name}` holds a secret, and a command line is visible to every user of the \
             server (`ps`): pass the secret in `env` and use it as $NAME"
        ))
        .at([name]));
    }
    if let Some(script) = value.as_str() {
        return Ok(Some(Command::Script(script.to_owned())));
    }
    let wrong = || {
        ProviderError::permanent(format!(
            "`{name}` must be a script string or a non-empty list of strings"
        ))
        .at([name])
    };
    let items = value.as_list().ok_or_else(wrong)?;
    let argv: Option<Vec<String>> = items
        .iter()
        .map(|item| item.as_str().map(str::to_owned))
        .collect();
    match argv {
        Some(argv) if !argv.is_empty() => Ok(Some(Command::Argv(argv))),
        _ => Err(wrong()),
    }
}

/// `env` as plain strings, and the secret ones for redaction.
fn env_of(
    attributes: &Attributes,
) -> Result<(BTreeMap<String, String>, Vec<String>), ProviderError> {
    let value = get(attributes, "env");
    let mut env = BTreeMap::new();
    let mut secrets = Vec::new();
    if value.is_null() {
        return Ok((env, secrets));
    }
    let map = value
        .as_map()
        .ok_or_else(|| ProviderError::permanent("`env` must be a map of strings").at(["env"]))?;
    for (name, item) in map {
        let text = item.as_str().ok_or_else(|| {
            ProviderError::permanent(format!("`env.{name}` must be a string"))
                .at(["env", name.as_str()])
        })?;
        if item.is_secret() || value.is_secret() {
            secrets.push(text.to_owned());
        }
        env.insert(name.clone(), text.to_owned());
    }
    Ok((env, secrets))
}

/// Runs one of the command's commands with its environment.
async fn run_one(
    provider: &SshProvider,
    attributes: &Attributes,
    command: Command,
    name: &str,
) -> Result<conn::Output, ProviderError> {
    let (env, mut secrets) = env_of(attributes)?;
    let (conn, settings) = provider.conn().await?;
    secrets.extend(settings.redact.iter().cloned());
    let output = conn
        .exec(&Exec {
            command: Some(command),
            env,
            stdin: Vec::new(),
        })
        .await?;
    check_ok(&output, &format!("`{name}`"), name, &secrets)?;
    Ok(output)
}

/// Plans an `ssh_command`: a `read` whose output changed since the last
/// apply (drift seen by this run's refresh) makes the output unknown, so the
/// command runs again.
pub(crate) fn plan_command(
    provider: &SshProvider,
    prior: Option<&ObjectState>,
    proposed: &Attributes,
) -> PlannedChange {
    let mut change = plan_from_schema(&command_schema(), prior, proposed);
    change.planned.insert("id".to_owned(), command_id(proposed));
    if let Some(prior) = prior
        && provider.drifted().contains(&prior.id)
    {
        change.planned.insert("output".to_owned(), Value::UNKNOWN);
    }
    change
}

fn command_id(attributes: &Attributes) -> Value {
    let create = get(attributes, "create");
    if create.contains_unknown() {
        return Value::UNKNOWN;
    }
    let json = create.to_json_revealed().to_string();
    Value::string(conn::sha256_hex(json.as_bytes())[..16].to_owned())
}

/// Runs `create` (or `update`, when there is a prior object and it is
/// set), then `read` for the output.
pub(crate) async fn run_command(
    provider: &SshProvider,
    prior: Option<&ObjectState>,
    planned: &Attributes,
) -> Result<ObjectState, ProviderError> {
    let (name, command) = match (prior, command_of(planned, "update")?) {
        (Some(_), Some(update)) => ("update", update),
        _ => (
            "create",
            command_of(planned, "create")?
                .ok_or_else(|| ProviderError::permanent("`create` is required").at(["create"]))?,
        ),
    };
    run_one(provider, planned, command, name).await?;
    let mut values = planned.clone();
    let output = match command_of(planned, "read")? {
        Some(read) => {
            let output = run_one(provider, planned, read, "read").await?;
            Value::string(String::from_utf8_lossy(&output.stdout).into_owned())
        }
        None => Value::NULL,
    };
    values.insert(
        "output".to_owned(),
        output.mark_secret_if(get(planned, "env").contains_secret()),
    );
    let id = command_id(planned);
    values.insert("id".to_owned(), id.clone());
    Ok(object(
        &command_schema(),
        id.as_str().unwrap_or("command"),
        &values,
    ))
}

/// Runs `read`, when set: its output replaces the recorded one (drift).
pub(crate) async fn read_command(
    provider: &SshProvider,
    prior: &ObjectState,
) -> Result<Option<ObjectState>, ProviderError> {
    let Some(read) = command_of(&prior.attributes, "read")? else {
        return Ok(Some(prior.clone()));
    };
    let output = run_one(provider, &prior.attributes, read, "read").await?;
    let output = String::from_utf8_lossy(&output.stdout).into_owned();
    if prior.attribute("output").as_str() != Some(output.as_str()) {
        provider.drifted().insert(prior.id.clone());
    }
    let mut values = prior.attributes.clone();
    values.insert(
        "output".to_owned(),
        Value::string(output).mark_secret_if(get(&prior.attributes, "env").contains_secret()),
    );
    Ok(Some(object(&command_schema(), &prior.id, &values)))
}

/// Runs `destroy`, when set.
pub(crate) async fn destroy_command(
    provider: &SshProvider,
    prior: &ObjectState,
) -> Result<(), ProviderError> {
    if let Some(destroy) = command_of(&prior.attributes, "destroy")? {
        run_one(provider, &prior.attributes, destroy, "destroy").await?;
    }
    Ok(())
}

/// Imports a file or folder by its absolute path.
pub(crate) async fn import(
    provider: &SshProvider,
    resource_type: &str,
    id: &str,
) -> Result<ObjectState, ProviderError> {
    if resource_type == SSH_COMMAND {
        return Err(ProviderError::permanent(
            "an `ssh_command` cannot be imported: there is nothing on the server to read it from",
        ));
    }
    if !id.starts_with('/') {
        return Err(ProviderError::permanent(format!(
            "the id of an {resource_type} is its absolute path on the server, like /srv/site/index.html"
        )));
    }
    let mut prior = Attributes::new();
    prior.insert("path".to_owned(), Value::string(id));
    let found = if resource_type == SSH_FILE {
        read_file(provider, &prior).await?
    } else {
        read_directory(provider, &prior).await?
    };
    found.ok_or_else(|| ProviderError::not_found(format!("there is no {id} on the server")))
}
