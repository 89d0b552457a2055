//! `postgres_database`: a database, read from `pg_database` in batches.
//!
//! Choices: the id is the name, and a new name renames the database in
//! place (the server refuses while anyone is connected to it). Encoding,
//! collation and template are fixed at creation: a change replaces the
//! database. `template` is not recorded by the server, so it is compared
//! with what was configured, not read. `CREATE DATABASE` runs alone, since
//! it cannot run inside a transaction.
//!
//! Invariant: this provider's own connections to a database are closed
//! before it is renamed or dropped.

use super::connection::{Pg, shown};
use super::sql::{ident, literal};
use super::{
    Kind, check_name, default_to, get, name_import, optional_text, remove, rename_statement, text,
    whole,
};
use crate::lang::{Type, Value};
use crate::providers::provider::{
    Attributes, ObjectState, PlannedChange, ProviderError, conform_to_schema,
};
use crate::providers::schema::{ResourceSchema, attribute};
use async_trait::async_trait;
use std::collections::HashMap;

/// The type name.
pub const TYPE: &str = "postgres_database";

/// The schema of `postgres_database`.
pub fn schema() -> ResourceSchema {
    ResourceSchema {
        resource_type: TYPE,
        provider: super::NAME,
        description: "A PostgreSQL database.",
        attributes: vec![
            attribute("name", Type::String)
                .required()
                .describe("The database's name; a change renames it in place."),
            attribute("owner", Type::String)
                .optional_computed()
                .derived_from(&[])
                .describe("The role that owns it; the provider's user when unset."),
            attribute("encoding", Type::String)
                .optional_computed()
                .force_new()
                .derived_from(&["template"])
                .describe("Character set, e.g. \"UTF8\"; the template's when unset. A change replaces it."),
            attribute("lc_collate", Type::String)
                .optional_computed()
                .force_new()
                .derived_from(&["template"])
                .describe("Collation, e.g. \"C.UTF-8\"; the template's when unset. A change replaces it."),
            attribute("template", Type::String)
                .force_new()
                .describe("The database it is copied from (template1 when unset; template0 to pick another encoding or collation)."),
            attribute("connection_limit", Type::Number)
                .describe("How many connections it allows at once; -1 (default) for no limit."),
            attribute("id", Type::String)
                .computed_only()
                .derived_from(&["name"])
                .describe("The database's name."),
        ],
    }
}

/// What `pg_database` says about one database.
#[derive(Debug, Clone)]
pub struct DatabaseRow {
    owner: String,
    encoding: String,
    lc_collate: String,
    connection_limit: i32,
}

async fn fetch(pg: &Pg, names: Vec<String>) -> Result<HashMap<String, DatabaseRow>, ProviderError> {
    let redactor = pg.settings.redactor.clone();
    let doing = "could not read databases";
    let rows = pg
        .query(
            &pg.settings.dbname,
            "SELECT d.datname::text, pg_get_userbyid(d.datdba)::text, \
             pg_encoding_to_char(d.encoding)::text, d.datcollate::text, d.datconnlimit \
             FROM pg_database d WHERE d.datname::text = ANY($1::text[])",
            &[&names],
            &redactor,
            doing,
        )
        .await?;
    let mut found = HashMap::new();
    for row in rows {
        let parse = || -> Result<(String, DatabaseRow), tokio_postgres::Error> {
            Ok((
                row.try_get(0)?,
                DatabaseRow {
                    owner: row.try_get(1)?,
                    encoding: row.try_get(2)?,
                    lc_collate: row.try_get(3)?,
                    connection_limit: row.try_get(4)?,
                },
            ))
        };
        let (name, database) = parse().map_err(|error| pg.error(&error, &redactor, doing))?;
        found.insert(name, database);
    }
    Ok(found)
}

async fn read_database(
    pg: &Pg,
    name: &str,
    prior: &Attributes,
) -> Result<Option<ObjectState>, ProviderError> {
    let Some(row) = pg
        .database_rows
        .load(name.to_owned(), |names| fetch(pg, names))
        .await?
    else {
        return Ok(None);
    };
    let mut values = Attributes::default();
    values.insert("name".into(), Value::string(name));
    values.insert("owner".into(), Value::string(row.owner));
    values.insert("encoding".into(), Value::string(row.encoding));
    values.insert("lc_collate".into(), Value::string(row.lc_collate));
    values.insert("template".into(), get(prior, "template").clone());
    values.insert(
        "connection_limit".into(),
        Value::number(i64::from(row.connection_limit)),
    );
    values.insert("id".into(), Value::string(name));
    Ok(Some(ObjectState {
        id: name.to_owned(),
        attributes: conform_to_schema(&schema(), &values),
    }))
}

/// The database.
pub struct Database;

#[async_trait]
impl Kind for Database {
    fn normalize(&self, _pg: &Pg, proposed: &mut Attributes) -> Result<(), ProviderError> {
        for name in ["name", "owner", "template"] {
            check_name(proposed, name)?;
        }
        default_to(proposed, "connection_limit", Value::number(-1));
        let encoding = get(proposed, "encoding").clone();
        if let Some(text) = encoding.as_str() {
            // The catalog spells it upper case, and UTF-8 as UTF8.
            let canonical = text.to_ascii_uppercase().replace("UTF-8", "UTF8");
            proposed.insert(
                "encoding".into(),
                Value::string(canonical).mark_secret_if(encoding.is_secret()),
            );
        }
        Ok(())
    }

    fn adjust(&self, _prior: Option<&ObjectState>, change: &mut PlannedChange) {
        let name = get(&change.planned, "name").clone();
        change.planned.insert("id".into(), name);
    }

    async fn create(&self, pg: &Pg, planned: &Attributes) -> Result<ObjectState, ProviderError> {
        let name = text(planned, "name")?;
        let redactor = pg.redactor_for(planned);
        let mut sql = format!("CREATE DATABASE {}", ident(&name));
        if let Some(owner) = optional_text(planned, "owner")? {
            sql.push_str(&format!(" OWNER {}", ident(&owner)));
        }
        if let Some(template) = optional_text(planned, "template")? {
            sql.push_str(&format!(" TEMPLATE {}", ident(&template)));
        }
        if let Some(encoding) = optional_text(planned, "encoding")? {
            sql.push_str(&format!(" ENCODING {}", literal(&encoding)));
        }
        if let Some(collate) = optional_text(planned, "lc_collate")? {
            sql.push_str(&format!(" LC_COLLATE {}", literal(&collate)));
        }
        sql.push_str(&format!(
            " CONNECTION LIMIT {}",
            whole(planned, "connection_limit", -1)?
        ));
        let shown_name = shown(get(planned, "name"));
        pg.execute(
            &pg.settings.dbname,
            &sql,
            &redactor,
            &format!("could not create database `{shown_name}`"),
        )
        .await
        .map_err(|failure| match failure.sqlstate.as_deref() {
            Some("42P04") => ProviderError::permanent(format!(
                "{}; to manage the existing database, import it: `infra import ADDR <name>`",
                failure.error.message
            ))
            .at(["name"]),
            Some("42704") => failure.at("owner"),
            Some("22023" | "42809") => failure.at("lc_collate"),
            _ => failure.error,
        })?;
        read_database(pg, &name, planned).await?.ok_or_else(|| {
            ProviderError::transient(format!(
                "database `{shown_name}` was created but cannot be read back yet"
            ))
        })
    }

    async fn read(
        &self,
        pg: &Pg,
        prior: &Attributes,
    ) -> Result<Option<ObjectState>, ProviderError> {
        let name = text(prior, "name")?;
        read_database(pg, &name, prior).await
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
        let mut statements = Vec::new();
        if let Some(rename) = rename_statement("DATABASE", &old, &name) {
            pg.forget(&old);
            statements.push(rename);
        }
        let owner = optional_text(planned, "owner")?;
        if let Some(owner) = owner
            .filter(|owner| optional_text(prior, "owner").ok().flatten().as_ref() != Some(owner))
        {
            statements.push(format!(
                "ALTER DATABASE {} OWNER TO {}",
                ident(&name),
                ident(&owner)
            ));
        }
        let limit = whole(planned, "connection_limit", -1)?;
        if whole(prior, "connection_limit", -1).ok() != Some(limit) {
            statements.push(format!(
                "ALTER DATABASE {} CONNECTION LIMIT {limit}",
                ident(&name)
            ));
        }
        if !statements.is_empty() {
            pg.execute(
                &pg.settings.dbname,
                &statements.join(";\n"),
                &redactor,
                &format!(
                    "could not change database `{}`",
                    shown(get(planned, "name"))
                ),
            )
            .await
            .map_err(|failure| match failure.sqlstate.as_deref() {
                Some("42704") => failure.at("owner"),
                _ => failure.error,
            })?;
        }
        read_database(pg, &name, planned).await?.ok_or_else(|| {
            ProviderError::not_found(format!(
                "database `{}` disappeared",
                shown(get(planned, "name"))
            ))
        })
    }

    async fn delete(&self, pg: &Pg, prior: &Attributes) -> Result<(), ProviderError> {
        let name = text(prior, "name")?;
        pg.forget(&name);
        remove(
            pg,
            &pg.settings.dbname,
            &format!("DROP DATABASE IF EXISTS {}", ident(&name)),
            prior,
            &format!(
                "could not drop database `{}` (the server refuses while anyone is connected to it)",
                shown(get(prior, "name"))
            ),
            &[],
        )
        .await
        .map_err(Into::into)
    }

    fn import_attributes(&self, _pg: &Pg, id: &str) -> Result<Attributes, ProviderError> {
        Ok(name_import(id))
    }
}
