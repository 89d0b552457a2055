//! The `postgres` provider: roles, databases, schemas, grants and
//! extensions of a PostgreSQL server, through tokio-postgres.
//!
//! Terminology: the *catalogs* are PostgreSQL's own tables (`pg_roles`,
//! `pg_database`, `pg_namespace`, `pg_extension` and the ACLs on objects);
//! a read reports what they say now, so a change made by hand shows as
//! drift on the attribute it touched. A *kind* is one resource type's code
//! (`role`, `database`, `schema`, `grant`, `extension`); the
//! provider only dispatches to it.
//!
//! Choices: the plan puts configured values in the catalogs' form first
//! (defaults filled, lists sorted, privileges upper case, times in UTC), so
//! a read compares like with like. Reads of roles and databases are batched
//! per catalog (see `batch`). Statements of one change go in one simple
//! query, so they commit together; `CREATE DATABASE`, which cannot run in a
//! transaction, goes alone. A role's password is sent as a SCRAM verifier
//! and is checked, never read back (see `password`).
//!
//! Invariant: names reach SQL only quoted (see `sql`); no password, URL
//! or secret-marked value appears in an error message (see `connection`).

use super::batch;
mod connection;
mod database;
mod extension;
mod grant;
mod password;
mod role;
mod schema;
mod sql;
#[cfg(test)]
mod tests;

use super::operation::Operation;
use super::provider::{
    Attributes, ObjectState, PlannedChange, Provider, ProviderError, conform_to_schema,
    plan_from_schema,
};
use super::schema::ResourceSchema;
use crate::host::Host;
use crate::lang::Value;
use async_trait::async_trait;
use connection::{Pg, Settings};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

pub use database::schema as database_schema;
pub use extension::schema as extension_schema;
pub use grant::schema as grant_schema;
pub use role::schema as role_schema;
pub use schema::schema as schema_schema;

/// The provider's name.
pub const NAME: &str = "postgres";

/// Every resource type's schema.
pub fn schemas() -> Vec<ResourceSchema> {
    vec![
        role::schema(),
        database::schema(),
        schema::schema(),
        grant::schema(),
        extension::schema(),
    ]
}

/// One resource type's operations, given the configured connections.
#[async_trait]
trait Kind: Send + Sync {
    /// Fills defaults and puts configured values in the catalogs' form
    /// (unknown values left alone), so a plan compares like with like.
    fn normalize(&self, pg: &Pg, proposed: &mut Attributes) -> Result<(), ProviderError>;

    /// Adjusts the schema-driven plan: computed values the change makes unknown.
    fn adjust(&self, prior: Option<&ObjectState>, change: &mut PlannedChange) {
        let _ = (prior, change);
    }

    /// Creates the object; returns it as read back.
    async fn create(&self, pg: &Pg, planned: &Attributes) -> Result<ObjectState, ProviderError>;

    /// The object as the catalogs say now; `prior` gives its identity and
    /// what the catalogs do not hold.
    async fn read(&self, pg: &Pg, prior: &Attributes)
    -> Result<Option<ObjectState>, ProviderError>;

    /// Changes the object in place; returns it as read back.
    async fn update(
        &self,
        pg: &Pg,
        prior: &Attributes,
        planned: &Attributes,
    ) -> Result<ObjectState, ProviderError>;

    /// Deletes the object; gone already is fine.
    async fn delete(&self, pg: &Pg, prior: &Attributes) -> Result<(), ProviderError>;

    /// The identifying attributes an import id stands for.
    fn import_attributes(&self, pg: &Pg, id: &str) -> Result<Attributes, ProviderError>;
}

/// The `postgres` provider.
pub struct PostgresProvider {
    /// Reads `sslrootcert`.
    host: Arc<dyn Host>,
    /// The stack folder, which a relative `sslrootcert` is under.
    base_dir: PathBuf,
    schemas: Vec<ResourceSchema>,
    pg: RwLock<Arc<Pg>>,
}

impl std::fmt::Debug for PostgresProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresProvider").finish_non_exhaustive()
    }
}

impl PostgresProvider {
    /// A provider with the default settings (`localhost:5432`, user and
    /// database `postgres`) until `configure` says otherwise; a relative
    /// `sslrootcert` is read from `base_dir`, the stack folder.
    pub fn new(host: Arc<dyn Host>, base_dir: PathBuf) -> Self {
        PostgresProvider {
            host,
            base_dir,
            schemas: schemas(),
            pg: RwLock::new(Arc::new(Pg::new(Settings::default()))),
        }
    }

    fn pg(&self) -> Arc<Pg> {
        match self.pg.read() {
            Ok(pg) => pg.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn kind(
        &self,
        resource_type: &str,
    ) -> Result<(&ResourceSchema, &'static dyn Kind), ProviderError> {
        let kind: &'static dyn Kind = match resource_type {
            role::TYPE => &role::Role,
            database::TYPE => &database::Database,
            schema::TYPE => &schema::Schema,
            grant::TYPE => &grant::Grant,
            extension::TYPE => &extension::Extension,
            _ => return Err(ProviderError::unknown_resource_type(NAME, resource_type)),
        };
        let schema = self
            .schema(resource_type)
            .ok_or_else(|| ProviderError::unknown_resource_type(NAME, resource_type))?;
        Ok((schema, kind))
    }
}

#[async_trait]
impl Provider for PostgresProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    fn resource_schemas(&self) -> &[ResourceSchema] {
        &self.schemas
    }

    async fn configure(&self, config: &Attributes) -> Result<(), ProviderError> {
        let read_file = |path: &str| {
            let full = if Path::new(path).is_absolute() {
                PathBuf::from(path)
            } else {
                self.base_dir.join(path)
            };
            self.host
                .read(&full)
                .map_err(|error| format!("{} ({error})", full.display()))
        };
        let pg = Arc::new(Pg::new(Settings::from_block(config, &read_file)?));
        match self.pg.write() {
            Ok(mut slot) => *slot = pg,
            Err(poisoned) => *poisoned.into_inner() = pg,
        }
        Ok(())
    }

    async fn plan_change(
        &self,
        resource_type: &str,
        prior: Option<&ObjectState>,
        proposed: &Attributes,
    ) -> Result<PlannedChange, ProviderError> {
        let (schema, kind) = self.kind(resource_type)?;
        let mut proposed = proposed.clone();
        kind.normalize(&self.pg(), &mut proposed)?;
        let mut change = plan_from_schema(schema, prior, &proposed);
        kind.adjust(prior, &mut change);
        Ok(change)
    }

    async fn create(
        &self,
        _op: &Operation,
        resource_type: &str,
        planned: &Attributes,
    ) -> Result<ObjectState, ProviderError> {
        let (_, kind) = self.kind(resource_type)?;
        kind.create(&self.pg(), planned).await
    }

    async fn read(
        &self,
        resource_type: &str,
        prior: &ObjectState,
    ) -> Result<Option<ObjectState>, ProviderError> {
        let (_, kind) = self.kind(resource_type)?;
        kind.read(&self.pg(), &prior.attributes).await
    }

    async fn update(
        &self,
        _op: &Operation,
        resource_type: &str,
        prior: &ObjectState,
        planned: &Attributes,
    ) -> Result<ObjectState, ProviderError> {
        let (_, kind) = self.kind(resource_type)?;
        let pg = self.pg();
        if kind.read(&pg, &prior.attributes).await?.is_none() {
            return Err(ProviderError::not_found(format!(
                "`{}` no longer exists on PostgreSQL at {}",
                prior.id, pg.settings.endpoint
            )));
        }
        kind.update(&pg, &prior.attributes, planned).await
    }

    async fn delete(
        &self,
        _op: &Operation,
        resource_type: &str,
        prior: &ObjectState,
    ) -> Result<(), ProviderError> {
        let (_, kind) = self.kind(resource_type)?;
        kind.delete(&self.pg(), &prior.attributes).await
    }

    async fn import(&self, resource_type: &str, id: &str) -> Result<ObjectState, ProviderError> {
        let (schema, kind) = self.kind(resource_type)?;
        let pg = self.pg();
        let identity = kind.import_attributes(&pg, id)?;
        let mut prior = conform_to_schema(schema, &identity);
        kind.normalize(&pg, &mut prior)?;
        match kind.read(&pg, &prior).await? {
            Some(object) => Ok(object),
            None => Err(ProviderError::not_found(format!(
                "there is no {resource_type} `{id}` on PostgreSQL at {}",
                pg.settings.endpoint
            ))),
        }
    }

    async fn find(
        &self,
        resource_type: &str,
        planned: &Attributes,
    ) -> Result<Option<ObjectState>, ProviderError> {
        // A grant's create is a revoke and a grant: doing it again is safe.
        if resource_type == grant::TYPE {
            return Ok(None);
        }
        let (_, kind) = self.kind(resource_type)?;
        kind.read(&self.pg(), planned).await
    }
}

/// The attribute's value, `null` when absent.
fn get<'a>(attributes: &'a Attributes, name: &str) -> &'a Value {
    attributes.get(name).unwrap_or(&Value::NULL)
}

/// A required string attribute (plaintext, marks ignored).
fn text(attributes: &Attributes, name: &str) -> Result<String, ProviderError> {
    optional_text(attributes, name)?
        .ok_or_else(|| ProviderError::permanent(format!("`{name}` is required")).at([name]))
}

/// An optional string attribute.
fn optional_text(attributes: &Attributes, name: &str) -> Result<Option<String>, ProviderError> {
    let value = get(attributes, name);
    if value.is_null() || value.is_unknown() {
        return Ok(None);
    }
    value
        .as_str()
        .map(|text| Some(text.to_owned()))
        .ok_or_else(|| {
            ProviderError::permanent(format!(
                "`{name}` must be a string, not a {}",
                value.type_name()
            ))
            .at([name])
        })
}

/// A boolean attribute, `default` when unset.
fn flag(attributes: &Attributes, name: &str, default: bool) -> bool {
    get(attributes, name).as_bool().unwrap_or(default)
}

/// A whole-number attribute, `default` when unset.
fn whole(attributes: &Attributes, name: &str, default: i64) -> Result<i64, ProviderError> {
    let value = get(attributes, name);
    if value.is_null() {
        return Ok(default);
    }
    value.as_number().and_then(|n| n.as_i64()).ok_or_else(|| {
        ProviderError::permanent(format!("`{name}` must be a whole number")).at([name])
    })
}

/// A list of strings.
fn texts(attributes: &Attributes, name: &str) -> Result<Vec<String>, ProviderError> {
    let value = get(attributes, name);
    if value.is_null() {
        return Ok(Vec::new());
    }
    let items = value.as_list().ok_or_else(|| {
        ProviderError::permanent(format!("`{name}` must be a list of strings")).at([name])
    })?;
    items
        .iter()
        .map(|item| {
            item.as_str().map(str::to_owned).ok_or_else(|| {
                ProviderError::permanent(format!("`{name}` must be a list of strings")).at([name])
            })
        })
        .collect()
}

/// Sets `name` to `value` when it is unset (null or absent).
fn default_to(attributes: &mut Attributes, name: &str, value: Value) {
    if get(attributes, name).is_null() {
        attributes.insert(name.to_owned(), value);
    }
}

/// Sorts and dedups a known list of strings in place, keeping each item's
/// marks; `transform` puts an item in canonical form.
fn normalize_list(
    attributes: &mut Attributes,
    name: &str,
    transform: impl Fn(&str) -> Result<String, ProviderError>,
) -> Result<(), ProviderError> {
    let value = get(attributes, name).clone();
    if value.contains_unknown() {
        return Ok(());
    }
    let secret = value.is_secret();
    let Some(items) = value.as_list() else {
        if value.is_null() {
            attributes.insert(name.to_owned(), Value::list(Vec::new()));
            return Ok(());
        }
        return Err(
            ProviderError::permanent(format!("`{name}` must be a list of strings")).at([name]),
        );
    };
    let mut out: Vec<Value> = Vec::new();
    for item in items {
        let text = item.as_str().ok_or_else(|| {
            ProviderError::permanent(format!("`{name}` must be a list of strings")).at([name])
        })?;
        let canonical = Value::string(transform(text)?).mark_secret_if(item.is_secret());
        if !out.iter().any(|seen| seen.as_str() == canonical.as_str()) {
            out.push(canonical);
        }
    }
    out.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    attributes.insert(name.to_owned(), Value::list(out).mark_secret_if(secret));
    Ok(())
}

/// Checks a known string attribute as an identifier.
fn check_name(attributes: &Attributes, name: &str) -> Result<(), ProviderError> {
    match get(attributes, name).as_str() {
        Some(text) => sql::check_identifier(text, name),
        None => Ok(()),
    }
}

/// The identifying attributes of an object known by its name alone (a
/// role, a database): the import id is the name.
fn name_import(id: &str) -> Attributes {
    let mut attributes = Attributes::default();
    attributes.insert("name".into(), Value::string(id));
    attributes
}

/// The identifying attributes of an object inside a database (a schema,
/// an extension): `database` and `name` of a `DATABASE/NAME` import id.
fn scoped_import(pg: &Pg, id: &str, example: &str) -> Result<Attributes, ProviderError> {
    let (database, name) = split_scoped_id(pg, id, example)?;
    let mut attributes = Attributes::default();
    attributes.insert("database".into(), Value::string(database));
    attributes.insert("name".into(), Value::string(name));
    Ok(attributes)
}

/// `ALTER <keyword> old RENAME TO name`, when the name changed.
fn rename_statement(keyword: &str, old: &str, name: &str) -> Option<String> {
    (old != name).then(|| {
        format!(
            "ALTER {keyword} {} RENAME TO {}",
            sql::ident(old),
            sql::ident(name)
        )
    })
}

/// Runs a statement that removes what `prior` describes (`DROP … IF
/// EXISTS`, `REVOKE`) on `database`. A failure with one of the `gone`
/// SQLSTATEs says it is gone already, which is what was wanted.
async fn remove(
    pg: &Pg,
    database: &str,
    sql: &str,
    prior: &Attributes,
    doing: &str,
    gone: &[&str],
) -> Result<(), connection::Failure> {
    let redactor = pg.redactor_for(prior);
    match pg.execute(database, sql, &redactor, doing).await {
        Err(failure) if gone.iter().any(|code| failure.is(code)) => Ok(()),
        result => result,
    }
}

/// The `database/name` id of an object inside a database, split; the
/// database part may be left out for the provider's own database.
fn split_scoped_id(pg: &Pg, id: &str, example: &str) -> Result<(String, String), ProviderError> {
    let parts = sql::split_id(id);
    match parts.as_deref() {
        Some([name]) if !name.is_empty() => Ok((pg.settings.dbname.clone(), name.clone())),
        Some([database, name]) if !database.is_empty() && !name.is_empty() => {
            Ok((database.clone(), name.clone()))
        }
        _ => Err(ProviderError::permanent(format!(
            "the id is `DATABASE/NAME` (like `{example}`), with `/` in a name written `%2F`"
        ))),
    }
}

/// Fills `database` with the provider's database when unset.
fn default_database(pg: &Pg, proposed: &mut Attributes) -> Result<(), ProviderError> {
    default_to(
        proposed,
        "database",
        Value::string(pg.settings.dbname.clone()),
    );
    check_name(proposed, "database")
}
