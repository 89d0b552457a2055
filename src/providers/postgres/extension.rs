//! `postgres_extension`: an extension installed in a database, read from
//! that database's `pg_extension`.
//!
//! Choices: the id is `database/name`. Before creating, the server is
//! asked whether it has the extension's files at all
//! (`pg_available_extensions`) and the version asked for, so a missing one
//! is a clear error naming the server and its version instead of a file
//! path. A new schema moves the extension (`SET SCHEMA`), a new version
//! updates it (`UPDATE TO`); a new name or database replaces it.

use super::connection::{Pg, shown};
use super::sql::{ident, join_id, literal};
use super::{Kind, check_name, default_database, get, optional_text, remove, scoped_import, text};
use crate::lang::{Type, Value};
use crate::providers::provider::{
    Attributes, ObjectState, PlannedChange, ProviderError, conform_to_schema,
};
use crate::providers::schema::{ResourceSchema, attribute};
use async_trait::async_trait;

/// The type name.
pub const TYPE: &str = "postgres_extension";

/// The schema of `postgres_extension`.
pub fn schema() -> ResourceSchema {
    ResourceSchema {
        resource_type: TYPE,
        provider: super::NAME,
        description: "An extension installed in a PostgreSQL database (CREATE EXTENSION).",
        attributes: vec![
            attribute("name", Type::String)
                .required()
                .force_new()
                .describe("The extension, e.g. \"pgcrypto\"."),
            attribute("database", Type::String)
                .force_new()
                .describe("The database it is installed in; the provider's `dbname` when unset."),
            attribute("schema", Type::String)
                .optional_computed()
                .derived_from(&[])
                .describe("The schema its objects go in; a change moves them. The server's choice when unset."),
            attribute("version", Type::String)
                .optional_computed()
                .derived_from(&[])
                .describe("Its version; a change updates it. The default version when unset."),
            attribute("id", Type::String)
                .computed_only()
                .derived_from(&["database", "name"])
                .describe("`database/name`."),
        ],
    }
}

async fn read_extension(pg: &Pg, prior: &Attributes) -> Result<Option<ObjectState>, ProviderError> {
    let database = text(prior, "database")?;
    let name = text(prior, "name")?;
    let redactor = pg.redactor_for(prior);
    let doing = format!("could not read extension `{}`", shown(get(prior, "name")));
    let rows = match pg
        .query(
            &database,
            "SELECT n.nspname::text, e.extversion FROM pg_extension e \
             JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname::text = $1",
            &[&name],
            &redactor,
            &doing,
        )
        .await
    {
        Ok(rows) => rows,
        Err(failure) if failure.is("3D000") => return Ok(None),
        Err(failure) => return Err(failure.into()),
    };
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let parse = || -> Result<(String, String), tokio_postgres::Error> {
        Ok((row.try_get(0)?, row.try_get(1)?))
    };
    let (schema_name, version) = parse().map_err(|error| pg.error(&error, &redactor, &doing))?;
    let id = join_id(&[&database, &name]);
    let mut values = prior.clone();
    values.insert("schema".into(), Value::string(schema_name));
    values.insert("version".into(), Value::string(version));
    values.insert("id".into(), Value::string(id.clone()));
    Ok(Some(ObjectState {
        id,
        attributes: conform_to_schema(&schema(), &values),
    }))
}

/// Fails clearly when the server does not have the extension, or the version.
async fn check_available(
    pg: &Pg,
    database: &str,
    planned: &Attributes,
) -> Result<(), ProviderError> {
    let name = text(planned, "name")?;
    let redactor = pg.redactor_for(planned);
    let rows = pg
        .query(
            database,
            "SELECT current_setting('server_version'), \
             EXISTS (SELECT 1 FROM pg_available_extensions WHERE name::text = $1), \
             coalesce((SELECT string_agg(version, ', ' ORDER BY version) \
             FROM pg_available_extension_versions WHERE name::text = $1), '')",
            &[&name],
            &redactor,
            "could not list the available extensions",
        )
        .await
        .map_err(|failure| match failure.sqlstate.as_deref() {
            Some("3D000") => ProviderError::permanent(failure.error.message).at(["database"]),
            _ => failure.error,
        })?;
    let Some(row) = rows.first() else {
        return Ok(());
    };
    let parse = || -> Result<(String, bool, String), tokio_postgres::Error> {
        Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?))
    };
    let (server_version, available, versions) = parse()
        .map_err(|error| pg.error(&error, &redactor, "could not list the available extensions"))?;
    let shown_name = shown(get(planned, "name"));
    if !available {
        return Err(ProviderError::permanent(format!(
            "extension `{shown_name}` is not available on PostgreSQL {server_version} at {}: its \
             files are not installed on the server (see `SELECT name FROM \
             pg_available_extensions`; contrib extensions come with the server package, others \
             need their own, e.g. postgresql-15-postgis-3 on Debian)",
            pg.settings.endpoint
        ))
        .at(["name"]));
    }
    if let Some(version) = optional_text(planned, "version")?
        && !versions.split(", ").any(|v| v == version)
    {
        return Err(ProviderError::permanent(format!(
            "extension `{shown_name}` has no version `{version}` on PostgreSQL {server_version} at \
             {} (it has {versions})",
            pg.settings.endpoint
        ))
        .at(["version"]));
    }
    Ok(())
}

/// The extension.
pub struct Extension;

#[async_trait]
impl Kind for Extension {
    fn normalize(&self, pg: &Pg, proposed: &mut Attributes) -> Result<(), ProviderError> {
        check_name(proposed, "name")?;
        check_name(proposed, "schema")?;
        default_database(pg, proposed)
    }

    fn adjust(&self, _prior: Option<&ObjectState>, change: &mut PlannedChange) {
        if let (Some(database), Some(name)) = (
            get(&change.planned, "database").as_str(),
            get(&change.planned, "name").as_str(),
        ) {
            let secret = get(&change.planned, "database").is_secret()
                || get(&change.planned, "name").is_secret();
            let id = Value::string(join_id(&[database, name])).mark_secret_if(secret);
            change.planned.insert("id".into(), id);
        }
    }

    async fn create(&self, pg: &Pg, planned: &Attributes) -> Result<ObjectState, ProviderError> {
        let database = text(planned, "database")?;
        let name = text(planned, "name")?;
        check_available(pg, &database, planned).await?;
        let redactor = pg.redactor_for(planned);
        let mut sql = format!("CREATE EXTENSION {}", ident(&name));
        if let Some(schema_name) = optional_text(planned, "schema")? {
            sql.push_str(&format!(" SCHEMA {}", ident(&schema_name)));
        }
        if let Some(version) = optional_text(planned, "version")? {
            sql.push_str(&format!(" VERSION {}", literal(&version)));
        }
        pg.execute(
            &database,
            &sql,
            &redactor,
            &format!(
                "could not create extension `{}`",
                shown(get(planned, "name"))
            ),
        )
        .await
        .map_err(|failure| match failure.sqlstate.as_deref() {
            Some("42710") => ProviderError::permanent(format!(
                "{}; to manage it, import it: `infra import ADDR DATABASE/NAME`",
                failure.error.message
            ))
            .at(["name"]),
            Some("3F000") => failure.at("schema"),
            _ => failure.error,
        })?;
        read_extension(pg, planned).await?.ok_or_else(|| {
            ProviderError::transient("the extension was created but cannot be read back yet")
        })
    }

    async fn read(
        &self,
        pg: &Pg,
        prior: &Attributes,
    ) -> Result<Option<ObjectState>, ProviderError> {
        read_extension(pg, prior).await
    }

    async fn update(
        &self,
        pg: &Pg,
        prior: &Attributes,
        planned: &Attributes,
    ) -> Result<ObjectState, ProviderError> {
        let database = text(planned, "database")?;
        let name = text(planned, "name")?;
        let redactor = pg.redactor_for(planned);
        let mut statements = Vec::new();
        if let Some(schema_name) = optional_text(planned, "schema")?
            && optional_text(prior, "schema")?.as_ref() != Some(&schema_name)
        {
            statements.push(format!(
                "ALTER EXTENSION {} SET SCHEMA {}",
                ident(&name),
                ident(&schema_name)
            ));
        }
        if let Some(version) = optional_text(planned, "version")?
            && optional_text(prior, "version")?.as_ref() != Some(&version)
        {
            check_available(pg, &database, planned).await?;
            statements.push(format!(
                "ALTER EXTENSION {} UPDATE TO {}",
                ident(&name),
                literal(&version)
            ));
        }
        if !statements.is_empty() {
            pg.execute(
                &database,
                &statements.join(";\n"),
                &redactor,
                &format!(
                    "could not change extension `{}`",
                    shown(get(planned, "name"))
                ),
            )
            .await
            .map_err(|failure| match failure.sqlstate.as_deref() {
                Some("3F000") => failure.at("schema"),
                _ => failure.error,
            })?;
        }
        read_extension(pg, planned)
            .await?
            .ok_or_else(|| ProviderError::not_found("the extension disappeared"))
    }

    async fn delete(&self, pg: &Pg, prior: &Attributes) -> Result<(), ProviderError> {
        let database = text(prior, "database")?;
        let name = text(prior, "name")?;
        remove(
            pg,
            &database,
            &format!("DROP EXTENSION IF EXISTS {}", ident(&name)),
            prior,
            &format!("could not drop extension `{}`", shown(get(prior, "name"))),
            &["3D000"],
        )
        .await
        .map_err(Into::into)
    }

    fn import_attributes(&self, pg: &Pg, id: &str) -> Result<Attributes, ProviderError> {
        scoped_import(pg, id, "app_db/pgcrypto")
    }
}
