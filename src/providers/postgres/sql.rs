//! SQL text for the `postgres` provider: identifiers and literals quoted as
//! libpq quotes them, and the ids of objects that live in a database
//! (`database/name`), percent-escaped so any name round-trips.
//!
//! Invariant: every name that reaches SQL text goes through [`ident`] and
//! every value through [`literal`]; nothing is spliced in raw. Names with a
//! NUL byte, empty names and names longer than PostgreSQL keeps (63 bytes)
//! are refused before any SQL is written.

use crate::providers::ProviderError;

/// The longest identifier PostgreSQL keeps (`NAMEDATALEN - 1`); longer
/// ones are cut silently by the server, which would look like drift forever.
pub const MAX_IDENTIFIER_BYTES: usize = 63;

/// `name` as a quoted identifier: `"a""b"`.
pub fn ident(name: &str) -> String {
    postgres_protocol::escape::escape_identifier(name)
}

/// `schema.name`, both quoted.
pub fn qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", ident(schema), ident(name))
}

/// `text` as a quoted literal: `'it''s'` (or ` E'a\\b'` with backslashes).
pub fn literal(text: &str) -> String {
    postgres_protocol::escape::escape_literal(text)
}

/// Checks that `name` can be an identifier; the error points at `attribute`.
pub fn check_identifier(name: &str, attribute: &str) -> Result<(), ProviderError> {
    let problem = if name.is_empty() {
        Some("must not be empty".to_owned())
    } else if name.contains('\0') {
        Some("must not contain a NUL character".to_owned())
    } else if name.len() > MAX_IDENTIFIER_BYTES {
        Some(format!(
            "is {} bytes long; PostgreSQL keeps at most {MAX_IDENTIFIER_BYTES}",
            name.len()
        ))
    } else {
        None
    };
    match problem {
        Some(problem) => {
            Err(ProviderError::permanent(format!("`{attribute}` {problem}")).at([attribute]))
        }
        None => Ok(()),
    }
}

/// The id of an object inside a database: its parts joined with `/`, each
/// with `%`, `/` and `,` percent-escaped.
pub fn join_id(parts: &[&str]) -> String {
    parts
        .iter()
        .map(|part| escape_part(part))
        .collect::<Vec<_>>()
        .join("/")
}

/// One part of an id, escaped.
pub fn escape_part(part: &str) -> String {
    part.replace('%', "%25")
        .replace('/', "%2F")
        .replace(',', "%2C")
}

/// An id split back into its parts, unescaped; `None` when an escape is
/// malformed.
pub fn split_id(id: &str) -> Option<Vec<String>> {
    id.split('/').map(unescape_part).collect()
}

/// One part of an id, unescaped.
pub fn unescape_part(part: &str) -> Option<String> {
    let mut out = String::with_capacity(part.len());
    let mut rest = part;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let code = rest.get(at + 1..at + 3)?;
        out.push(match code.to_ascii_uppercase().as_str() {
            "25" => '%',
            "2F" => '/',
            "2C" => ',',
            _ => return None,
        });
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    Some(out)
}
