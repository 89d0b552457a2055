//! `postgres_schema`: a schema (namespace) inside a database, read from
//! that database's `pg_namespace`.
//!
//! Choices: the id is `database/name`. With `if_not_exists` (the default)
//! creating a schema that already exists adopts it, as `CREATE SCHEMA IF
//! NOT EXISTS` does, and then sets its owner; without it, that is an
//! error. A new name renames the schema in place; another database
//! replaces it. Deleting drops only an empty schema unless `drop_cascade`.
//! A database that no longer exists means the schema is gone.

use super::connection::{Pg, shown};
use super::sql::{ident, join_id};
use super::{
    Kind, check_name, default_database, default_to, flag, get, optional_text, remove,
    rename_statement, scoped_import, text,
};
use crate::lang::{Type, Value};
use crate::providers::provider::{
    Attributes, ObjectState, PlannedChange, ProviderError, conform_to_schema,
};
use crate::providers::schema::{ResourceSchema, attribute};
use async_trait::async_trait;

/// The type name.
pub const TYPE: &str = "postgres_schema";

/// The schema of `postgres_schema`.
pub fn schema() -> ResourceSchema {
    ResourceSchema {
        resource_type: TYPE,
        provider: super::NAME,
        description: "A schema inside a PostgreSQL database.",
        attributes: vec![
            attribute("name", Type::String)
                .required()
                .describe("The schema's name; a change renames it in place."),
            attribute("database", Type::String)
                .force_new()
                .describe("The database it is in; the provider's `dbname` when unset."),
            attribute("owner", Type::String)
                .optional_computed()
                .derived_from(&[])
                .describe("The role that owns it; the provider's user when unset."),
            attribute("if_not_exists", Type::Bool)
                .describe("Whether creating a schema that exists adopts it (default true) or fails."),
            attribute("drop_cascade", Type::Bool)
                .describe("Whether deleting it drops what is in it too (default false: only an empty schema)."),
            attribute("id", Type::String)
                .computed_only()
                .derived_from(&["database", "name"])
                .describe("`database/name`."),
        ],
    }
}

async fn read_schema(pg: &Pg, prior: &Attributes) -> Result<Option<ObjectState>, ProviderError> {
    let database = text(prior, "database")?;
    let name = text(prior, "name")?;
    let redactor = pg.redactor_for(prior);
    let rows = match pg
        .query(
            &database,
            "SELECT pg_get_userbyid(nspowner)::text FROM pg_namespace WHERE nspname::text = $1",
            &[&name],
            &redactor,
            &format!("could not read schema `{}`", shown(get(prior, "name"))),
        )
        .await
    {
        Ok(rows) => rows,
        // The database is gone, and the schema with it.
        Err(failure) if failure.is("3D000") => return Ok(None),
        Err(failure) => return Err(failure.into()),
    };
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let owner: String = row
        .try_get(0)
        .map_err(|error| pg.error(&error, &redactor, "could not read a schema's owner"))?;
    let id = join_id(&[&database, &name]);
    let mut values = prior.clone();
    values.insert("owner".into(), Value::string(owner));
    values.insert("id".into(), Value::string(id.clone()));
    Ok(Some(ObjectState {
        id,
        attributes: conform_to_schema(&schema(), &values),
    }))
}

/// The schema.
pub struct Schema;

#[async_trait]
impl Kind for Schema {
    fn normalize(&self, pg: &Pg, proposed: &mut Attributes) -> Result<(), ProviderError> {
        check_name(proposed, "name")?;
        check_name(proposed, "owner")?;
        default_database(pg, proposed)?;
        default_to(proposed, "if_not_exists", Value::bool(true));
        default_to(proposed, "drop_cascade", Value::bool(false));
        Ok(())
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
        let redactor = pg.redactor_for(planned);
        let exists = if flag(planned, "if_not_exists", true) {
            "IF NOT EXISTS "
        } else {
            ""
        };
        let mut statements = vec![format!("CREATE SCHEMA {exists}{}", ident(&name))];
        if let Some(owner) = optional_text(planned, "owner")? {
            statements.push(format!(
                "ALTER SCHEMA {} OWNER TO {}",
                ident(&name),
                ident(&owner)
            ));
        }
        pg.execute(
            &database,
            &statements.join(";\n"),
            &redactor,
            &format!("could not create schema `{}`", shown(get(planned, "name"))),
        )
        .await
        .map_err(|failure| match failure.sqlstate.as_deref() {
            Some("3D000") => ProviderError::permanent(failure.error.message).at(["database"]),
            Some("42704") => failure.at("owner"),
            Some("42P06") => failure.at("if_not_exists"),
            _ => failure.error,
        })?;
        read_schema(pg, planned).await?.ok_or_else(|| {
            ProviderError::transient("the schema was created but cannot be read back yet")
        })
    }

    async fn read(
        &self,
        pg: &Pg,
        prior: &Attributes,
    ) -> Result<Option<ObjectState>, ProviderError> {
        read_schema(pg, prior).await
    }

    async fn update(
        &self,
        pg: &Pg,
        prior: &Attributes,
        planned: &Attributes,
    ) -> Result<ObjectState, ProviderError> {
        let database = text(planned, "database")?;
        let old = text(prior, "name")?;
        let name = text(planned, "name")?;
        let redactor = pg.redactor_for(planned);
        let mut statements: Vec<String> = rename_statement("SCHEMA", &old, &name)
            .into_iter()
            .collect();
        if let Some(owner) = optional_text(planned, "owner")?
            && optional_text(prior, "owner")?.as_ref() != Some(&owner)
        {
            statements.push(format!(
                "ALTER SCHEMA {} OWNER TO {}",
                ident(&name),
                ident(&owner)
            ));
        }
        if !statements.is_empty() {
            pg.execute(
                &database,
                &statements.join(";\n"),
                &redactor,
                &format!("could not change schema `{}`", shown(get(planned, "name"))),
            )
            .await
            .map_err(|failure| match failure.sqlstate.as_deref() {
                Some("42704") => failure.at("owner"),
                _ => failure.error,
            })?;
        }
        read_schema(pg, planned)
            .await?
            .ok_or_else(|| ProviderError::not_found("the schema disappeared"))
    }

    async fn delete(&self, pg: &Pg, prior: &Attributes) -> Result<(), ProviderError> {
        let database = text(prior, "database")?;
        let name = text(prior, "name")?;
        let cascade = if flag(prior, "drop_cascade", false) {
            " CASCADE"
        } else {
            ""
        };
        remove(
            pg,
            &database,
            &format!("DROP SCHEMA IF EXISTS {}{cascade}", ident(&name)),
            prior,
            &format!("could not drop schema `{}`", shown(get(prior, "name"))),
            &["3D000"],
        )
        .await
        .map_err(|failure| {
            if failure.is("2BP01") {
                ProviderError::permanent(format!(
                    "{}; drop what is in it first, or set `drop_cascade = true`",
                    failure.error.message
                ))
                .at(["drop_cascade"])
            } else {
                failure.error
            }
        })
    }

    fn import_attributes(&self, pg: &Pg, id: &str) -> Result<Attributes, ProviderError> {
        scoped_import(pg, id, "app_db/app")
    }
}
