//! `postgres_grant`: the privileges one role (or `public`) holds on a
//! database, a schema, or tables, sequences or functions of a schema, read
//! from the objects' ACLs (`aclexplode`).
//!
//! Choices: a grant is authoritative for its role and objects: creating or
//! changing it revokes what the role held there and grants exactly
//! `privileges`, in one transaction. A read reports the privileges the role
//! holds on **every** one of the objects (so a privilege revoked on one
//! table is drift) and `with_grant_option` when all of them are grantable.
//! With `objects` empty, a grant on tables, sequences or functions covers
//! all of them in the schema as they are when it is applied (`ALL TABLES IN
//! SCHEMA`; later ones need another apply); a schema with none of them
//! reads as the configured privileges. Any change to what is granted on, or
//! to whom, replaces the grant. The id is
//! `ROLE/DATABASE/OBJECT_TYPE[/SCHEMA[/OBJECT,...]]`.

use super::connection::{Pg, shown};
use super::sql::{escape_part, ident, qualified, split_id, unescape_part};
use super::{
    Kind, check_name, default_database, default_to, flag, get, normalize_list, optional_text,
    remove, text, texts,
};
use crate::lang::{Type, Value};
use crate::providers::provider::{
    Attributes, ObjectState, PlannedChange, ProviderError, conform_to_schema,
};
use crate::providers::schema::{ResourceSchema, attribute};
use async_trait::async_trait;
use std::collections::{BTreeMap, BTreeSet};

/// The type name.
pub const TYPE: &str = "postgres_grant";

/// The object types, with the privileges each can hold (what `ALL` means).
const OBJECT_TYPES: [(&str, &[&str]); 5] = [
    ("database", &["CONNECT", "CREATE", "TEMPORARY"]),
    ("schema", &["CREATE", "USAGE"]),
    (
        "table",
        &[
            "DELETE",
            "INSERT",
            "REFERENCES",
            "SELECT",
            "TRIGGER",
            "TRUNCATE",
            "UPDATE",
        ],
    ),
    ("sequence", &["SELECT", "UPDATE", "USAGE"]),
    ("function", &["EXECUTE"]),
];

/// The schema of `postgres_grant`.
pub fn schema() -> ResourceSchema {
    ResourceSchema {
        resource_type: TYPE,
        provider: super::NAME,
        description: "The privileges a role holds on a database, a schema, or objects in a schema.",
        attributes: vec![
            attribute("role", Type::String)
                .required()
                .force_new()
                .describe("Who gets the privileges: a role's name, or \"public\" for everyone."),
            attribute("database", Type::String)
                .force_new()
                .describe("The database (the object itself for object_type \"database\"); the provider's `dbname` when unset."),
            attribute("schema", Type::String)
                .force_new()
                .describe("The schema (the object itself for object_type \"schema\"); required except for databases."),
            attribute("object_type", Type::String)
                .required()
                .force_new()
                .describe("database, schema, table, sequence or function."),
            attribute("objects", Type::List(Box::new(Type::String)))
                .force_new()
                .describe("Tables, sequences or functions of the schema by name; all of them when empty."),
            attribute("privileges", Type::List(Box::new(Type::String)))
                .required()
                .describe("SELECT, INSERT, USAGE, ... or ALL; an empty list revokes everything."),
            attribute("with_grant_option", Type::Bool)
                .describe("Whether the role may grant them on; default false."),
            attribute("id", Type::String)
                .computed_only()
                .derived_from(&["role", "database", "schema", "object_type", "objects"])
                .describe("ROLE/DATABASE/OBJECT_TYPE[/SCHEMA[/OBJECT,...]]."),
        ],
    }
}

/// The privileges an object type can hold.
fn privileges_of(object_type: &str) -> Option<&'static [&'static str]> {
    OBJECT_TYPES
        .iter()
        .find(|(name, _)| *name == object_type)
        .map(|(_, privileges)| *privileges)
}

/// A privilege in the catalogs' spelling.
fn canonical_privilege(text: &str) -> String {
    let upper = text.trim().to_ascii_uppercase();
    match upper.as_str() {
        "TEMP" => "TEMPORARY".into(),
        "ALL PRIVILEGES" => "ALL".into(),
        _ => upper,
    }
}

/// What a grant is on, resolved.
struct Target {
    role: String,
    database: String,
    schema: Option<String>,
    object_type: String,
    objects: Vec<String>,
}

impl Target {
    fn of(attributes: &Attributes) -> Result<Target, ProviderError> {
        Ok(Target {
            role: text(attributes, "role")?,
            database: text(attributes, "database")?,
            schema: optional_text(attributes, "schema")?,
            object_type: text(attributes, "object_type")?,
            objects: texts(attributes, "objects")?,
        })
    }

    fn grantee(&self) -> String {
        if self.role == "public" {
            "PUBLIC".into()
        } else {
            ident(&self.role)
        }
    }

    fn schema_name(&self) -> Result<&str, ProviderError> {
        self.schema.as_deref().ok_or_else(|| {
            ProviderError::permanent(format!(
                "`schema` is required for object_type `{}`",
                self.object_type
            ))
            .at(["schema"])
        })
    }

    /// The `ON ...` part of GRANT and REVOKE.
    fn on(&self) -> Result<String, ProviderError> {
        let keyword = match self.object_type.as_str() {
            "database" => return Ok(format!("DATABASE {}", ident(&self.database))),
            "schema" => return Ok(format!("SCHEMA {}", ident(self.schema_name()?))),
            "table" => ("TABLE", "TABLES"),
            "sequence" => ("SEQUENCE", "SEQUENCES"),
            "function" => ("FUNCTION", "FUNCTIONS"),
            other => {
                return Err(
                    ProviderError::permanent(format!("unknown object_type `{other}`"))
                        .at(["object_type"]),
                );
            }
        };
        let schema_name = self.schema_name()?;
        if self.objects.is_empty() {
            return Ok(format!(
                "ALL {} IN SCHEMA {}",
                keyword.1,
                ident(schema_name)
            ));
        }
        let objects: Vec<String> = self
            .objects
            .iter()
            .map(|o| qualified(schema_name, o))
            .collect();
        Ok(format!("{} {}", keyword.0, objects.join(", ")))
    }

    fn id(&self) -> String {
        let mut parts = vec![
            escape_part(&self.role),
            escape_part(&self.database),
            escape_part(&self.object_type),
        ];
        if let Some(schema_name) = &self.schema {
            parts.push(escape_part(schema_name));
            if !self.objects.is_empty() {
                parts.push(
                    self.objects
                        .iter()
                        .map(|o| escape_part(o))
                        .collect::<Vec<_>>()
                        .join(","),
                );
            }
        }
        parts.join("/")
    }

    /// The ACL query for this object type: object name, privilege, grantable
    /// (the last two null for an object the role holds nothing on).
    fn acl_query(&self) -> &'static str {
        match self.object_type.as_str() {
            "database" => {
                "SELECT d.datname::text, a.privilege_type, a.is_grantable FROM pg_database d \
                 LEFT JOIN LATERAL aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a \
                 ON a.grantee = $3 WHERE d.datname::text = $1 AND cardinality($2::text[]) >= 0"
            }
            "schema" => {
                "SELECT n.nspname::text, a.privilege_type, a.is_grantable FROM pg_namespace n \
                 LEFT JOIN LATERAL aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a \
                 ON a.grantee = $3 WHERE n.nspname::text = $1 AND cardinality($2::text[]) >= 0"
            }
            "sequence" => {
                "SELECT c.relname::text, a.privilege_type, a.is_grantable FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 LEFT JOIN LATERAL aclexplode(coalesce(c.relacl, acldefault('s', c.relowner))) a \
                 ON a.grantee = $3 WHERE n.nspname::text = $1 AND c.relkind = 'S' \
                 AND (cardinality($2::text[]) = 0 OR c.relname::text = ANY($2::text[]))"
            }
            "function" => {
                "SELECT p.proname::text, a.privilege_type, a.is_grantable FROM pg_proc p \
                 JOIN pg_namespace n ON n.oid = p.pronamespace \
                 LEFT JOIN LATERAL aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a \
                 ON a.grantee = $3 WHERE n.nspname::text = $1 AND p.prokind IN ('f', 'a', 'w') \
                 AND (cardinality($2::text[]) = 0 OR p.proname::text = ANY($2::text[]))"
            }
            _ => {
                "SELECT c.relname::text, a.privilege_type, a.is_grantable FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 LEFT JOIN LATERAL aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a \
                 ON a.grantee = $3 WHERE n.nspname::text = $1 AND c.relkind IN ('r', 'v', 'm', 'f', 'p') \
                 AND (cardinality($2::text[]) = 0 OR c.relname::text = ANY($2::text[]))"
            }
        }
    }
}

async fn read_grant(pg: &Pg, prior: &Attributes) -> Result<Option<ObjectState>, ProviderError> {
    let target = Target::of(prior)?;
    let redactor = pg.redactor_for(prior);
    let doing = format!(
        "could not read the privileges of `{}`",
        shown(get(prior, "role"))
    );
    let scope = match target.object_type.as_str() {
        "database" => target.database.clone(),
        _ => target.schema_name()?.to_owned(),
    };
    let probe = match pg
        .query(
            &target.database,
            "SELECT (SELECT oid FROM pg_roles WHERE rolname::text = $1), \
             EXISTS (SELECT 1 FROM pg_namespace WHERE nspname::text = $2)",
            &[&target.role, &target.schema.clone().unwrap_or_default()],
            &redactor,
            &doing,
        )
        .await
    {
        Ok(rows) => rows,
        Err(failure) if failure.is("3D000") => return Ok(None),
        Err(failure) => return Err(failure.into()),
    };
    let parse_probe = || -> Result<(Option<u32>, bool), tokio_postgres::Error> {
        match probe.first() {
            Some(row) => Ok((row.try_get(0)?, row.try_get(1)?)),
            None => Ok((None, false)),
        }
    };
    let (role_oid, schema_exists) =
        parse_probe().map_err(|error| pg.error(&error, &redactor, &doing))?;
    let grantee = match (target.role.as_str(), role_oid) {
        ("public", _) => 0u32,
        (_, Some(oid)) => oid,
        (_, None) => return Ok(None),
    };
    if target.object_type != "database" && !schema_exists {
        return Ok(None);
    }
    let rows = pg
        .query(
            &target.database,
            target.acl_query(),
            &[&scope, &target.objects, &grantee],
            &redactor,
            &doing,
        )
        .await?;
    let mut held: BTreeMap<String, BTreeMap<String, bool>> = BTreeMap::new();
    for row in &rows {
        let parse = || -> Result<(String, Option<String>, Option<bool>), tokio_postgres::Error> {
            Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?))
        };
        let (object, privilege, grantable) =
            parse().map_err(|error| pg.error(&error, &redactor, &doing))?;
        let entry = held.entry(object).or_default();
        if let Some(privilege) = privilege {
            let grantable =
                grantable.unwrap_or(false) || entry.get(&privilege).copied().unwrap_or(false);
            entry.insert(privilege, grantable);
        }
    }
    if target.object_type == "database" && held.is_empty() {
        return Ok(None);
    }
    // Named objects that are gone hold nothing.
    for object in &target.objects {
        held.entry(object.clone()).or_default();
    }
    let mut values = prior.clone();
    if !held.is_empty() {
        let mut common: Option<BTreeSet<String>> = None;
        for privileges in held.values() {
            let these: BTreeSet<String> = privileges.keys().cloned().collect();
            common = Some(match common {
                None => these,
                Some(so_far) => so_far.intersection(&these).cloned().collect(),
            });
        }
        let common = common.unwrap_or_default();
        let grantable = !common.is_empty()
            && held.values().all(|privileges| {
                common
                    .iter()
                    .all(|p| privileges.get(p).copied().unwrap_or(false))
            });
        if !common.is_empty() {
            values.insert("with_grant_option".into(), Value::bool(grantable));
        }
        values.insert(
            "privileges".into(),
            Value::list(common.into_iter().map(Value::string).collect()),
        );
    }
    let id = target.id();
    values.insert("id".into(), Value::string(id.clone()));
    Ok(Some(ObjectState {
        id,
        attributes: conform_to_schema(&schema(), &values),
    }))
}

/// Revokes everything the role holds on the target, then grants `privileges`.
async fn write_grant(pg: &Pg, planned: &Attributes) -> Result<ObjectState, ProviderError> {
    let target = Target::of(planned)?;
    let redactor = pg.redactor_for(planned);
    let on = target.on()?;
    let grantee = target.grantee();
    let mut statements = vec![format!("REVOKE ALL PRIVILEGES ON {on} FROM {grantee}")];
    let privileges = texts(planned, "privileges")?;
    if !privileges.is_empty() {
        // Privileges are checked keywords (see `normalize`), not names.
        let option = if flag(planned, "with_grant_option", false) {
            " WITH GRANT OPTION"
        } else {
            ""
        };
        statements.push(format!(
            "GRANT {} ON {on} TO {grantee}{option}",
            privileges.join(", ")
        ));
    }
    let connect_to = target.database.clone();
    pg.execute(
        &connect_to,
        &statements.join(";\n"),
        &redactor,
        &format!(
            "could not grant privileges to `{}`",
            shown(get(planned, "role"))
        ),
    )
    .await
    .map_err(|failure| match failure.sqlstate.as_deref() {
        Some("3D000") => ProviderError::permanent(failure.error.message).at(["database"]),
        Some("3F000") => failure.at("schema"),
        Some("42P01" | "42883" | "42725") => failure.at("objects"),
        Some("42704") => failure.at("role"),
        Some("0LP01" | "42601") => failure.at("privileges"),
        _ => failure.error,
    })?;
    read_grant(pg, planned)
        .await?
        .ok_or_else(|| ProviderError::transient("the grant was made but cannot be read back yet"))
}

/// The grant.
pub struct Grant;

#[async_trait]
impl Kind for Grant {
    fn normalize(&self, pg: &Pg, proposed: &mut Attributes) -> Result<(), ProviderError> {
        let role = get(proposed, "role").clone();
        if let Some(name) = role.as_str()
            && name.eq_ignore_ascii_case("public")
        {
            proposed.insert(
                "role".into(),
                Value::string("public").mark_secret_if(role.is_secret()),
            );
        }
        check_name(proposed, "role")?;
        check_name(proposed, "schema")?;
        default_database(pg, proposed)?;
        default_to(proposed, "with_grant_option", Value::bool(false));
        let object_type = get(proposed, "object_type").clone();
        let Some(kind) = object_type.as_str().map(str::to_ascii_lowercase) else {
            normalize_list(proposed, "objects", |o| Ok(o.to_owned()))?;
            return normalize_list(proposed, "privileges", |p| Ok(canonical_privilege(p)));
        };
        let Some(allowed) = privileges_of(&kind) else {
            return Err(ProviderError::permanent(format!(
                "`object_type` is one of database, schema, table, sequence, function, not `{kind}`"
            ))
            .at(["object_type"]));
        };
        proposed.insert(
            "object_type".into(),
            Value::string(kind.clone()).mark_secret_if(object_type.is_secret()),
        );
        let schema_value = get(proposed, "schema");
        if kind == "database" && !schema_value.is_null() {
            return Err(ProviderError::permanent(
                "a grant on a database has no `schema` (the database is `database`)",
            )
            .at(["schema"]));
        }
        if kind != "database" && schema_value.is_null() {
            return Err(ProviderError::permanent(format!(
                "`schema` is required for object_type `{kind}`"
            ))
            .at(["schema"]));
        }
        normalize_list(proposed, "objects", |object| {
            super::sql::check_identifier(object, "objects").map(|()| object.to_owned())
        })?;
        if matches!(kind.as_str(), "database" | "schema")
            && get(proposed, "objects")
                .as_list()
                .is_some_and(|l| !l.is_empty())
        {
            return Err(ProviderError::permanent(format!(
                "a grant on a {kind} has no `objects` (the {kind} is `{}`)",
                if kind == "database" {
                    "database"
                } else {
                    "schema"
                }
            ))
            .at(["objects"]));
        }
        // `ALL` stands for every privilege of the type, as the catalogs list them.
        let expanded = get(proposed, "privileges").clone();
        if let Some(items) = expanded.as_list()
            && items
                .iter()
                .any(|p| p.as_str().is_some_and(|p| canonical_privilege(p) == "ALL"))
        {
            let all = allowed.iter().map(|p| Value::string(*p)).collect();
            proposed.insert(
                "privileges".into(),
                Value::list(all).mark_secret_if(expanded.is_secret()),
            );
        }
        normalize_list(proposed, "privileges", |privilege| {
            let canonical = canonical_privilege(privilege);
            if allowed.contains(&canonical.as_str()) || (kind == "table" && canonical == "MAINTAIN")
            {
                Ok(canonical)
            } else {
                Err(ProviderError::permanent(format!(
                    "a {kind} has no privilege `{privilege}` (it has {}, or ALL)",
                    allowed.join(", ")
                ))
                .at(["privileges"]))
            }
        })
    }

    fn adjust(&self, _prior: Option<&ObjectState>, change: &mut PlannedChange) {
        let identity = ["role", "database", "schema", "object_type", "objects"];
        if identity
            .iter()
            .any(|name| get(&change.planned, name).contains_unknown())
        {
            return;
        }
        if let Ok(target) = Target::of(&change.planned) {
            let secret = identity
                .iter()
                .any(|name| get(&change.planned, name).contains_secret());
            change.planned.insert(
                "id".into(),
                Value::string(target.id()).mark_secret_if(secret),
            );
        }
    }

    async fn create(&self, pg: &Pg, planned: &Attributes) -> Result<ObjectState, ProviderError> {
        write_grant(pg, planned).await
    }

    async fn read(
        &self,
        pg: &Pg,
        prior: &Attributes,
    ) -> Result<Option<ObjectState>, ProviderError> {
        read_grant(pg, prior).await
    }

    async fn update(
        &self,
        pg: &Pg,
        _prior: &Attributes,
        planned: &Attributes,
    ) -> Result<ObjectState, ProviderError> {
        write_grant(pg, planned).await
    }

    async fn delete(&self, pg: &Pg, prior: &Attributes) -> Result<(), ProviderError> {
        let target = Target::of(prior)?;
        let sql = format!(
            "REVOKE ALL PRIVILEGES ON {} FROM {}",
            target.on()?,
            target.grantee()
        );
        remove(
            pg,
            &target.database,
            &sql,
            prior,
            &format!(
                "could not revoke the privileges of `{}`",
                shown(get(prior, "role"))
            ),
            // The database, schema, role or objects are gone: so is the grant.
            &["3D000", "3F000", "42704", "42P01", "42883"],
        )
        .await
        .map_err(Into::into)
    }

    fn import_attributes(&self, _pg: &Pg, id: &str) -> Result<Attributes, ProviderError> {
        let parts: Vec<&str> = id.split('/').collect();
        let bad = || {
            ProviderError::permanent(
                "the id is ROLE/DATABASE/OBJECT_TYPE[/SCHEMA[/OBJECT,...]] (like \
                 `anon/app_db/schema/app` or `reader/app_db/table/app/orders,items`), with `/` \
                 and `,` in a name written `%2F` and `%2C`",
            )
        };
        if !(3..=5).contains(&parts.len()) || split_id(id).is_none() {
            return Err(bad());
        }
        let part = |index: usize| {
            parts
                .get(index)
                .and_then(|p| unescape_part(p))
                .ok_or_else(bad)
        };
        let mut attributes = Attributes::default();
        attributes.insert("role".into(), Value::string(part(0)?));
        attributes.insert("database".into(), Value::string(part(1)?));
        attributes.insert("object_type".into(), Value::string(part(2)?));
        if parts.len() >= 4 {
            attributes.insert("schema".into(), Value::string(part(3)?));
        }
        let objects = match parts.get(4) {
            Some(list) => list
                .split(',')
                .map(|o| unescape_part(o).map(Value::string).ok_or_else(bad))
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        attributes.insert("objects".into(), Value::list(objects));
        attributes.insert("privileges".into(), Value::list(Vec::new()));
        Ok(attributes)
    }
}
