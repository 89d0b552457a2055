//! Hash builtins beyond `md5` and `sha256`: `sha1`, `sha512`,
//! `base64sha256`, `base64sha512`, and `uuidv5` (name-based, so the same
//! namespace and name always give the same UUID).
//!
//! Invariant: digests are of the UTF-8 bytes of the text, as in Terraform.

use super::{Call, hex, invalid};
use crate::diag::Diagnostic;
use crate::lang::value::Value;
use base64::Engine as _;
use sha2::Digest;

/// The names this file answers for (checked against [`super::NAMES`]).
#[cfg(test)]
pub(super) const NAMES: &[&str] = &["base64sha256", "base64sha512", "sha1", "sha512", "uuidv5"];

pub(super) fn call(call: &Call<'_>) -> Option<Result<Value, Diagnostic>> {
    Some(match call.name {
        "sha1" => call
            .string(0)
            .map(|s| Value::string(hex(&digest::<sha1::Sha1>(s.as_bytes())))),
        "sha512" => call
            .string(0)
            .map(|s| Value::string(hex(&digest::<sha2::Sha512>(s.as_bytes())))),
        "base64sha256" => call
            .string(0)
            .map(|s| Value::string(base64_digest::<sha2::Sha256>(s.as_bytes()))),
        "base64sha512" => call
            .string(0)
            .map(|s| Value::string(base64_digest::<sha2::Sha512>(s.as_bytes()))),
        "uuidv5" => uuidv5(call),
        _ => return None,
    })
}

/// The digest of `bytes`.
pub(super) fn digest<D: Digest>(bytes: &[u8]) -> Vec<u8> {
    D::digest(bytes).to_vec()
}

/// The standard base64 of the digest of `bytes`.
pub(super) fn base64_digest<D: Digest>(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(digest::<D>(bytes))
}

/// Parses `8-4-4-4-12` hex digits.
fn parse_uuid(text: &str) -> Option<[u8; 16]> {
    let digits: String = text.chars().filter(|c| *c != '-').collect();
    let groups: Vec<usize> = text.split('-').map(str::len).collect();
    if groups != [8, 4, 4, 4, 12] || digits.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(digits.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

fn uuidv5(call: &Call<'_>) -> Result<Value, Diagnostic> {
    let namespace = call.string(0)?;
    let name = call.string(1)?;
    let namespace = match namespace.as_str() {
        "dns" => "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
        "url" => "6ba7b811-9dad-11d1-80b4-00c04fd430c8",
        "oid" => "6ba7b812-9dad-11d1-80b4-00c04fd430c8",
        "x500" => "6ba7b814-9dad-11d1-80b4-00c04fd430c8",
        other => other,
    };
    let namespace = parse_uuid(namespace).ok_or_else(|| {
        invalid(
            call.arg(0).1,
            "this is not a UUID namespace",
            "use \"dns\", \"url\", \"oid\", \"x500\" or a UUID like \"6ba7b810-9dad-11d1-80b4-00c04fd430c8\"",
        )
    })?;
    let mut hasher = sha1::Sha1::new();
    hasher.update(namespace);
    hasher.update(name.as_bytes());
    let hash = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(hash.get(..16).unwrap_or(&[0; 16]));
    bytes[6] = (bytes[6] & 0x0f) | 0x50;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let h = hex(&bytes);
    Ok(Value::string(format!(
        "{}-{}-{}-{}-{}",
        h.get(0..8).unwrap_or(""),
        h.get(8..12).unwrap_or(""),
        h.get(12..16).unwrap_or(""),
        h.get(16..20).unwrap_or(""),
        h.get(20..32).unwrap_or("")
    )))
}
