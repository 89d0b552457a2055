//! Role passwords: the SCRAM-SHA-256 verifier sent in place of the
//! password (so the plaintext never reaches the server's logs or
//! `pg_stat_activity`), and the check of a password against the verifier
//! the server keeps in `pg_authid` (SCRAM-SHA-256, or the old MD5 form).
//!
//! Invariant: no function here returns or formats the password itself.

use base64::Engine as _;
use md5::Md5;
use sha2::{Digest, Sha256};

/// A new SCRAM-SHA-256 verifier for `password` (random salt, 4096
/// iterations, as PostgreSQL makes them).
pub fn verifier(password: &str) -> String {
    postgres_protocol::password::scram_sha_256(password.as_bytes())
}

/// Whether `stored` (a `pg_authid.rolpassword`) verifies `password` for
/// the role `role`.
pub fn verifies(password: &str, stored: &str, role: &str) -> bool {
    if let Some(scram) = stored.strip_prefix("SCRAM-SHA-256$") {
        return scram_verifies(password, scram);
    }
    if let Some(hex) = stored.strip_prefix("md5") {
        let mut hash = Md5::new();
        hash.update(password.as_bytes());
        hash.update(role.as_bytes());
        return to_hex(&hash.finalize()) == hex;
    }
    false
}

/// `iterations:salt$stored_key:server_key`, checked as the server would.
fn scram_verifies(password: &str, scram: &str) -> bool {
    let engine = base64::engine::general_purpose::STANDARD;
    let Some((params, keys)) = scram.split_once('$') else {
        return false;
    };
    let Some((iterations, salt)) = params.split_once(':') else {
        return false;
    };
    let Some((stored_key, _server_key)) = keys.split_once(':') else {
        return false;
    };
    let (Ok(iterations), Ok(salt), Ok(stored_key)) = (
        iterations.parse::<u32>(),
        engine.decode(salt),
        engine.decode(stored_key),
    ) else {
        return false;
    };
    // The server keeps at most this many; a larger count is not ours and
    // would cost seconds to check.
    if iterations == 0 || iterations > 1_000_000 {
        return false;
    }
    // As libpq and the server do: SASLprep when the password allows it.
    let prepared = match stringprep::saslprep(password) {
        Ok(prepared) => prepared.into_owned().into_bytes(),
        Err(_) => password.as_bytes().to_vec(),
    };
    let salted = hi(&prepared, &salt, iterations);
    let client_key = Hmac::new(&salted).sign(b"Client Key");
    let computed: [u8; 32] = Sha256::digest(client_key).into();
    constant_time_eq(&computed, &stored_key)
}

/// PBKDF2-HMAC-SHA-256 with one output block (RFC 5802's `Hi`).
fn hi(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mac = Hmac::new(password);
    let mut first = salt.to_vec();
    first.extend_from_slice(&1u32.to_be_bytes());
    let mut u = mac.sign(&first);
    let mut out = u;
    for _ in 1..iterations {
        u = mac.sign(&u);
        for (o, x) in out.iter_mut().zip(u.iter()) {
            *o ^= x;
        }
    }
    out
}

/// HMAC-SHA-256 with the key's pads hashed once, so the 4096 rounds of
/// [`hi`] cost two compressions each.
struct Hmac {
    inner: Sha256,
    outer: Sha256,
}

impl Hmac {
    fn new(key: &[u8]) -> Hmac {
        let mut block = [0u8; 64];
        if key.len() > 64 {
            let digest = Sha256::digest(key);
            block[..32].copy_from_slice(&digest);
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        let pad = |byte: u8| block.map(|b| b ^ byte);
        Hmac {
            inner: Sha256::new().chain_update(pad(0x36)),
            outer: Sha256::new().chain_update(pad(0x5c)),
        }
    }

    fn sign(&self, message: &[u8]) -> [u8; 32] {
        let inner = self.inner.clone().chain_update(message).finalize();
        self.outer.clone().chain_update(inner).finalize().into()
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn to_hex(bytes: &[u8]) -> String {
    crate::hex::lower(bytes)
}
