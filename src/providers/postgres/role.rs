//! `postgres_role`: a role (user or group), read from `pg_roles` in
//! batches, its memberships from `pg_auth_members`, and its password
//! checked against the verifier in `pg_authid`.
//!
//! Choices: the id is the role's name, and a new name renames the role in
//! place (its grants and ownerships stay). The password is stored sealed in
//! state with `password_hash`, the SCRAM verifier infra last set: a read
//! whose catalog verifier is that one knows the password is unchanged
//! without hashing; any other verifier is checked against the password
//! (4096 rounds), and one that does not verify reads as a changed secret.
//! When the provider's user cannot read `pg_authid` (not a superuser), a
//! password change made by hand cannot be seen; the recorded one is kept.
//!
//! Invariant: the password is sent only as a verifier and never read back.

use super::connection::{Failure, Pg, shown};
use super::password;
use super::sql::{ident, literal};
use super::{
    Kind, default_to, flag, get, name_import, normalize_list, remove, rename_statement, text,
    texts, whole,
};
use crate::lang::{Type, Value};
use crate::providers::provider::{
    Attributes, ObjectState, PlannedChange, ProviderError, conform_to_schema, same_ignoring_marks,
};
use crate::providers::schema::{ResourceSchema, attribute};
use async_trait::async_trait;
use std::collections::HashMap;

/// The type name.
pub const TYPE: &str = "postgres_role";

/// What a password set outside infra reads as (secret): it is not
/// verified by the recorded password, and it is never read back.
pub const CHANGED_OUTSIDE: &str = "(changed outside infra)";

/// The role options kept as booleans: attribute, `pg_roles` column,
/// keyword, default.
const OPTIONS: [(&str, &str, bool); 6] = [
    ("login", "LOGIN", false),
    ("superuser", "SUPERUSER", false),
    ("createdb", "CREATEDB", false),
    ("createrole", "CREATEROLE", false),
    ("inherit", "INHERIT", true),
    ("bypass_rls", "BYPASSRLS", false),
];

/// The schema of `postgres_role`.
pub fn schema() -> ResourceSchema {
    ResourceSchema {
        resource_type: TYPE,
        provider: super::NAME,
        description: "A PostgreSQL role: a user (login = true) or a group.",
        attributes: vec![
            attribute("name", Type::String)
                .required()
                .describe("The role's name; a change renames it in place."),
            attribute("login", Type::Bool).describe("Whether it may log in; default false."),
            attribute("password", Type::String)
                .sensitive()
                .describe("Its password (a secret); sent as a SCRAM verifier, never read back."),
            attribute("superuser", Type::Bool).describe("SUPERUSER; default false."),
            attribute("createdb", Type::Bool).describe("CREATEDB; default false."),
            attribute("createrole", Type::Bool).describe("CREATEROLE; default false."),
            attribute("inherit", Type::Bool).describe(
                "Whether it uses the privileges of roles it is a member of; default true.",
            ),
            attribute("bypass_rls", Type::Bool).describe("BYPASSRLS; default false."),
            attribute("connection_limit", Type::Number)
                .describe("How many connections it may hold at once; -1 (default) for no limit."),
            attribute("valid_until", Type::String).describe(
                "When its password stops working (\"2030-01-01\", RFC 3339); never when unset.",
            ),
            attribute("member_of", Type::List(Box::new(Type::String)))
                .describe("The roles it is a member of (granted to it)."),
            attribute("password_hash", Type::String)
                .computed_only()
                .sensitive()
                .derived_from(&["password"])
                .describe("The SCRAM verifier infra last set (secret)."),
            attribute("id", Type::String)
                .computed_only()
                .derived_from(&["name"])
                .describe("The role's name."),
        ],
    }
}

/// What `pg_roles` says about one role.
#[derive(Debug, Clone)]
pub struct RoleRow {
    options: [bool; 6],
    connection_limit: i32,
    valid_until: Option<String>,
    member_of: Vec<String>,
    /// `pg_authid.rolpassword`; `None` when it cannot be read.
    verifier: Option<Option<String>>,
}

const ROLE_COLUMNS: &str = "r.rolname::text, r.rolcanlogin, r.rolsuper, r.rolcreatedb, \
    r.rolcreaterole, r.rolinherit, r.rolbypassrls, r.rolconnlimit, \
    CASE WHEN r.rolvaliduntil IS NULL OR r.rolvaliduntil = 'infinity' THEN NULL \
    ELSE to_char(r.rolvaliduntil AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') END, \
    ARRAY(SELECT g.rolname::text FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid \
    WHERE m.member = r.oid ORDER BY 1)";

/// One query for the roles named `names`.
async fn fetch(pg: &Pg, names: Vec<String>) -> Result<HashMap<String, RoleRow>, ProviderError> {
    let redactor = pg.settings.redactor.clone();
    let with_authid = format!(
        "SELECT {ROLE_COLUMNS}, a.rolpassword FROM pg_roles r \
         LEFT JOIN pg_authid a ON a.oid = r.oid WHERE r.rolname::text = ANY($1::text[])"
    );
    let without = format!(
        "SELECT {ROLE_COLUMNS}, NULL::text FROM pg_roles r WHERE r.rolname::text = ANY($1::text[])"
    );
    let doing = "could not read roles";
    let rows = match pg.authid_readable() {
        Some(false) => {
            pg.query(&pg.settings.dbname, &without, &[&names], &redactor, doing)
                .await?
        }
        known => {
            match pg
                .query(
                    &pg.settings.dbname,
                    &with_authid,
                    &[&names],
                    &redactor,
                    doing,
                )
                .await
            {
                Ok(rows) => {
                    pg.set_authid_readable(true);
                    rows
                }
                // Not allowed to read pg_authid (not a superuser).
                Err(failure) if known.is_none() && failure.is("42501") => {
                    pg.set_authid_readable(false);
                    pg.query(&pg.settings.dbname, &without, &[&names], &redactor, doing)
                        .await?
                }
                Err(failure) => return Err(failure.into()),
            }
        }
    };
    let readable = pg.authid_readable() != Some(false);
    let mut found = HashMap::new();
    for row in rows {
        let parse = || -> Result<(String, RoleRow), tokio_postgres::Error> {
            Ok((
                row.try_get(0)?,
                RoleRow {
                    options: [
                        row.try_get(1)?,
                        row.try_get(2)?,
                        row.try_get(3)?,
                        row.try_get(4)?,
                        row.try_get(5)?,
                        row.try_get(6)?,
                    ],
                    connection_limit: row.try_get(7)?,
                    valid_until: row.try_get(8)?,
                    member_of: row.try_get(9)?,
                    verifier: readable.then(|| row.try_get(10)).transpose()?,
                },
            ))
        };
        let (name, role) = parse().map_err(|error| pg.error(&error, &redactor, doing))?;
        found.insert(name, role);
    }
    Ok(found)
}

/// The options' order in [`RoleRow::options`] is [`OPTIONS`]'s.
fn option_attribute(index: usize) -> &'static str {
    OPTIONS.get(index).map_or("login", |(name, _, _)| name)
}

/// `valid_until` in the catalogs' form: RFC 3339 in UTC to the second;
/// `infinity` is no expiry (`None`).
pub fn normalize_valid_until(text: &str) -> Result<Option<String>, ProviderError> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("infinity") {
        return Ok(None);
    }
    let timestamp = text
        .parse::<jiff::Timestamp>()
        .ok()
        .or_else(|| {
            text.parse::<jiff::civil::DateTime>()
                .ok()
                .and_then(|civil| civil.to_zoned(jiff::tz::TimeZone::UTC).ok())
                .map(|zoned| zoned.timestamp())
        })
        .or_else(|| {
            text.parse::<jiff::civil::Date>()
                .ok()
                .and_then(|date| date.to_zoned(jiff::tz::TimeZone::UTC).ok())
                .map(|zoned| zoned.timestamp())
        })
        .and_then(|t| jiff::Timestamp::from_second(t.as_second()).ok())
        .ok_or_else(|| {
            ProviderError::permanent(format!(
                "`valid_until` is a date or time like \"2030-01-01\" or \
                 \"2030-01-01T12:00:00Z\", not `{text}`"
            ))
            .at(["valid_until"])
        })?;
    Ok(Some(timestamp.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()))
}

/// The role's options as SQL keywords: all of them (`all`), or those
/// that differ from `prior`.
fn options_sql(
    planned: &Attributes,
    prior: Option<&Attributes>,
) -> Result<Vec<String>, ProviderError> {
    let mut out = Vec::new();
    for (name, keyword, default) in OPTIONS {
        let want = flag(planned, name, default);
        let differs = match prior {
            Some(prior) => flag(prior, name, default) != want,
            None => want != default,
        };
        if differs {
            out.push(if want {
                keyword.to_owned()
            } else {
                format!("NO{keyword}")
            });
        }
    }
    let limit = whole(planned, "connection_limit", -1)?;
    if prior.map_or(limit != -1, |prior| {
        whole(prior, "connection_limit", -1).ok() != Some(limit)
    }) {
        out.push(format!("CONNECTION LIMIT {limit}"));
    }
    let until = get(planned, "valid_until");
    if prior.map_or(!until.is_null(), |prior| {
        !same_ignoring_marks(get(prior, "valid_until"), until)
    }) {
        out.push(format!(
            "VALID UNTIL {}",
            literal(until.as_str().unwrap_or("infinity"))
        ));
    }
    Ok(out)
}

/// The role as read: the catalog's values, the password as verified.
fn object(name: &str, row: &RoleRow, prior: &Attributes) -> ObjectState {
    let mut values = Attributes::default();
    values.insert("name".into(), Value::string(name));
    for (index, value) in row.options.iter().enumerate() {
        values.insert(option_attribute(index).into(), Value::bool(*value));
    }
    values.insert(
        "connection_limit".into(),
        Value::number(i64::from(row.connection_limit)),
    );
    values.insert(
        "valid_until".into(),
        row.valid_until.clone().map_or(Value::NULL, Value::string),
    );
    values.insert(
        "member_of".into(),
        Value::list(row.member_of.iter().map(Value::string).collect()),
    );
    let (password, hash) = read_password(name, row, prior);
    values.insert("password".into(), password);
    values.insert("password_hash".into(), hash);
    values.insert("id".into(), Value::string(name));
    ObjectState {
        id: name.to_owned(),
        attributes: conform_to_schema(&schema(), &values),
    }
}

/// The password and verifier a read reports (see the module docs).
fn read_password(name: &str, row: &RoleRow, prior: &Attributes) -> (Value, Value) {
    let prior_password = get(prior, "password");
    let prior_hash = get(prior, "password_hash");
    let changed = Value::string(CHANGED_OUTSIDE).with_secret(true);
    match &row.verifier {
        None => (prior_password.clone(), prior_hash.clone()),
        Some(None) => (Value::NULL, Value::NULL),
        Some(Some(stored)) => {
            if prior_hash.as_str() == Some(stored.as_str()) && !prior_password.is_null() {
                return (prior_password.clone(), prior_hash.clone());
            }
            match prior_password.as_str() {
                Some(plain)
                    if plain != CHANGED_OUTSIDE && password::verifies(plain, stored, name) =>
                {
                    let hash = if prior_hash.is_null() || prior_hash.is_unknown() {
                        Value::string(stored.clone())
                    } else {
                        prior_hash.clone()
                    };
                    (prior_password.clone(), hash.with_secret(true))
                }
                _ => (changed, prior_hash.clone()),
            }
        }
    }
}

/// Reads one role through the batch.
async fn read_role(
    pg: &Pg,
    name: &str,
    prior: &Attributes,
) -> Result<Option<ObjectState>, ProviderError> {
    let row = pg
        .roles
        .load(name.to_owned(), |names| fetch(pg, names))
        .await?;
    Ok(row.map(|row| object(name, &row, prior)))
}

/// The SQL that sets a password: a verifier, or no password.
fn password_sql(planned: &Attributes) -> (String, Value) {
    match get(planned, "password").as_str() {
        Some(plain) => {
            let verifier = password::verifier(plain);
            (
                format!("PASSWORD {}", literal(&verifier)),
                Value::string(verifier).with_secret(true),
            )
        }
        None => ("PASSWORD NULL".to_owned(), Value::NULL),
    }
}

/// Maps a failed GRANT of a membership to the attribute.
fn at_member_of(failure: Failure) -> ProviderError {
    if failure.is("42704") {
        failure.at("member_of")
    } else {
        failure.error
    }
}

/// The role.
pub struct Role;

#[async_trait]
impl Kind for Role {
    fn normalize(&self, _pg: &Pg, proposed: &mut Attributes) -> Result<(), ProviderError> {
        super::check_name(proposed, "name")?;
        for (name, _, default) in OPTIONS {
            default_to(proposed, name, Value::bool(default));
        }
        default_to(proposed, "connection_limit", Value::number(-1));
        if let Some(limit) = get(proposed, "connection_limit").as_number() {
            if limit
                .as_i64()
                .is_none_or(|n| n < -1 || n > i64::from(i32::MAX))
            {
                return Err(ProviderError::permanent(
                    "`connection_limit` is -1 (no limit) or a whole number of connections",
                )
                .at(["connection_limit"]));
            }
        }
        let until = get(proposed, "valid_until").clone();
        if let Some(text) = until.as_str() {
            let normalized = normalize_valid_until(text)?;
            proposed.insert(
                "valid_until".into(),
                normalized
                    .map_or(Value::NULL, Value::string)
                    .mark_secret_if(until.is_secret()),
            );
        }
        normalize_list(proposed, "member_of", |member| {
            super::sql::check_identifier(member, "member_of").map(|()| member.to_owned())
        })
    }

    fn adjust(&self, prior: Option<&ObjectState>, change: &mut PlannedChange) {
        let planned_password = get(&change.planned, "password").clone();
        let renamed = prior.is_some_and(|p| {
            !same_ignoring_marks(p.attribute("name"), get(&change.planned, "name"))
        });
        let new_password =
            prior.is_none_or(|p| !same_ignoring_marks(p.attribute("password"), &planned_password));
        if new_password || renamed || change.replaces() {
            let hash = if planned_password.is_null() {
                Value::NULL
            } else {
                Value::UNKNOWN
            };
            change
                .planned
                .insert("password_hash".into(), hash.with_secret(true));
        }
        let name = get(&change.planned, "name").clone();
        change.planned.insert("id".into(), name);
    }

    async fn create(&self, pg: &Pg, planned: &Attributes) -> Result<ObjectState, ProviderError> {
        let name = text(planned, "name")?;
        let redactor = pg.redactor_for(planned);
        let mut options = options_sql(planned, None)?;
        let (password, hash) = password_sql(planned);
        if !get(planned, "password").is_null() {
            options.push(password);
        }
        let mut statements = vec![format!(
            "CREATE ROLE {} {}",
            ident(&name),
            options.join(" ")
        )];
        for group in texts(planned, "member_of")? {
            statements.push(format!("GRANT {} TO {}", ident(&group), ident(&name)));
        }
        let shown_name = shown(get(planned, "name"));
        pg.execute(
            &pg.settings.dbname,
            &statements.join(";\n"),
            &redactor,
            &format!("could not create role `{shown_name}`"),
        )
        .await
        .map_err(|failure| {
            if failure.is("42710") {
                ProviderError::permanent(format!(
                    "{}; to manage the existing role, import it: `infra import ADDR <name>`",
                    failure.error.message
                ))
                .at(["name"])
            } else {
                at_member_of(failure)
            }
        })?;
        let mut known = planned.clone();
        known.insert("password_hash".into(), hash);
        read_role(pg, &name, &known).await?.ok_or_else(|| {
            ProviderError::transient(format!(
                "role `{shown_name}` was created but cannot be read back yet"
            ))
        })
    }

    async fn read(
        &self,
        pg: &Pg,
        prior: &Attributes,
    ) -> Result<Option<ObjectState>, ProviderError> {
        let name = text(prior, "name")?;
        read_role(pg, &name, prior).await
    }

    async fn update(
        &self,
        pg: &Pg,
        prior: &Attributes,
        planned: &Attributes,
    ) -> Result<ObjectState, ProviderError> {
        let old = text(prior, "name")?;
        let name = text(planned, "name")?;
        let redactor = pg.redactor_for(planned);
        let mut statements: Vec<String> =
            rename_statement("ROLE", &old, &name).into_iter().collect();
        let mut options = options_sql(planned, Some(prior))?;
        let mut known = planned.clone();
        let password_changed =
            old != name || !same_ignoring_marks(get(prior, "password"), get(planned, "password"));
        if password_changed {
            let (password, hash) = password_sql(planned);
            options.push(password);
            known.insert("password_hash".into(), hash);
        } else {
            known.insert("password_hash".into(), get(prior, "password_hash").clone());
        }
        if !options.is_empty() {
            statements.push(format!(
                "ALTER ROLE {} WITH {}",
                ident(&name),
                options.join(" ")
            ));
        }
        let before = texts(prior, "member_of")?;
        let after = texts(planned, "member_of")?;
        for group in after.iter().filter(|g| !before.contains(g)) {
            statements.push(format!("GRANT {} TO {}", ident(group), ident(&name)));
        }
        for group in before.iter().filter(|g| !after.contains(g)) {
            statements.push(format!("REVOKE {} FROM {}", ident(group), ident(&name)));
        }
        if !statements.is_empty() {
            pg.execute(
                &pg.settings.dbname,
                &statements.join(";\n"),
                &redactor,
                &format!("could not change role `{}`", shown(get(planned, "name"))),
            )
            .await
            .map_err(at_member_of)?;
        }
        read_role(pg, &name, &known).await?.ok_or_else(|| {
            ProviderError::not_found(format!(
                "role `{}` disappeared",
                shown(get(planned, "name"))
            ))
        })
    }

    async fn delete(&self, pg: &Pg, prior: &Attributes) -> Result<(), ProviderError> {
        let name = text(prior, "name")?;
        remove(
            pg,
            &pg.settings.dbname,
            &format!("DROP ROLE IF EXISTS {}", ident(&name)),
            prior,
            &format!("could not drop role `{}`", shown(get(prior, "name"))),
            &[],
        )
        .await
        .map_err(|failure| {
            if failure.is("2BP01") {
                // Usually a missing reference: the engine deletes what
                // refers to the role first.
                ProviderError::permanent(format!(
                    "{}; delete what it owns or holds first (refer to the role by reference, \
                     `postgres_role.NAME.name`, so that happens in order), or REASSIGN OWNED / \
                     DROP OWNED by hand",
                    failure.error.message
                ))
            } else {
                failure.error
            }
        })
    }

    fn import_attributes(&self, _pg: &Pg, id: &str) -> Result<Attributes, ProviderError> {
        Ok(name_import(id))
    }
}
