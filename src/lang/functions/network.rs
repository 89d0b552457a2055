//! CIDR builtins beyond `cidrsubnet`: `cidrhost`, `cidrnetmask`,
//! `cidrsubnets`, with Terraform's arithmetic (go-cidr's).
//!
//! Invariant: addresses are computed in `u128` within the family's width;
//! a number that does not fit is an error, never a wrapped address.

use super::{Call, invalid};
use crate::diag::Diagnostic;
use crate::lang::value::Value;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The names this file answers for (checked against [`super::NAMES`]).
#[cfg(test)]
pub(super) const NAMES: &[&str] = &["cidrhost", "cidrnetmask", "cidrsubnets"];

pub(super) fn call(call: &Call<'_>) -> Option<Result<Value, Diagnostic>> {
    Some(match call.name {
        "cidrhost" => cidrhost(call),
        "cidrnetmask" => cidrnetmask(call),
        "cidrsubnets" => cidrsubnets(call),
        _ => return None,
    })
}

/// A parsed prefix: the family's width, the network address (host bits
/// cleared) and the prefix length.
struct Prefix {
    bits: u32,
    v4: bool,
    network: u128,
    length: u32,
}

impl Prefix {
    fn parse(call: &Call<'_>, index: usize) -> Result<Prefix, Diagnostic> {
        let text = call.string(index)?;
        let bad = || {
            invalid(
                call.arg(index).1,
                "this is not a CIDR prefix",
                "write it like \"10.0.0.0/16\" or \"fd00::/48\"",
            )
        };
        let (address, length) = text.split_once('/').ok_or_else(bad)?;
        let length: u32 = length.parse().map_err(|_| bad())?;
        let ip: IpAddr = address.parse().map_err(|_| bad())?;
        let (bits, v4, base) = match ip {
            IpAddr::V4(v4) => (32, true, u128::from(u32::from(v4))),
            IpAddr::V6(v6) => (128, false, u128::from(v6)),
        };
        if length > bits {
            return Err(bad());
        }
        let prefix = Prefix {
            bits,
            v4,
            network: 0,
            length,
        };
        Ok(Prefix {
            network: base & prefix.mask(length),
            ..prefix
        })
    }

    /// The mask of a prefix of `length` bits, within the family's width.
    fn mask(&self, length: u32) -> u128 {
        if length == 0 {
            0
        } else {
            (!0u128 << (128 - length)) >> (128 - self.bits)
        }
    }

    /// The number of addresses in a prefix of `length` bits (`None` for a
    /// whole IPv6 space, which has 2^128).
    fn size(&self, length: u32) -> Option<u128> {
        1u128.checked_shl(self.bits - length)
    }

    fn address(&self, value: u128) -> String {
        if self.v4 {
            Ipv4Addr::from(u32::try_from(value).unwrap_or(0)).to_string()
        } else {
            Ipv6Addr::from(value).to_string()
        }
    }
}

fn cidrhost(call: &Call<'_>) -> Result<Value, Diagnostic> {
    let prefix = Prefix::parse(call, 0)?;
    let hostnum = call.integer(1)?;
    let too_big = || {
        invalid(
            call.arg(1).1,
            format!(
                "a /{} prefix has room for {} host bits only",
                prefix.length,
                prefix.bits - prefix.length
            ),
            "use a smaller host number (negative numbers count from the end)",
        )
    };
    let size = prefix.size(prefix.length);
    let offset = if hostnum >= 0 {
        let n = u128::from(hostnum.unsigned_abs());
        if size.is_some_and(|s| n >= s) {
            return Err(too_big());
        }
        n
    } else {
        let back = u128::from(hostnum.unsigned_abs());
        match size {
            Some(s) if back > s => return Err(too_big()),
            Some(s) => s - back,
            None => u128::MAX - (back - 1),
        }
    };
    Ok(Value::string(prefix.address(prefix.network | offset)))
}

fn cidrnetmask(call: &Call<'_>) -> Result<Value, Diagnostic> {
    let prefix = Prefix::parse(call, 0)?;
    if !prefix.v4 {
        return Err(invalid(
            call.arg(0).1,
            "this is an IPv6 prefix",
            "netmasks are written for IPv4 only; IPv6 uses the prefix length",
        ));
    }
    Ok(Value::string(prefix.address(prefix.mask(prefix.length))))
}

fn cidrsubnets(call: &Call<'_>) -> Result<Value, Diagnostic> {
    let prefix = Prefix::parse(call, 0)?;
    let mut out = Vec::with_capacity(call.args.len().saturating_sub(1));
    // The end (exclusive) of the last subnet handed out, starting at the
    // network's own start.
    let mut cursor: u128 = prefix.network;
    let end = prefix.size(prefix.length).map(|s| prefix.network + s);
    for i in 1..call.args.len() {
        let newbits = call.integer(i)?;
        let length = u32::try_from(newbits)
            .ok()
            .filter(|n| *n >= 1)
            .map(|n| n + prefix.length)
            .filter(|l| *l <= prefix.bits)
            .ok_or_else(|| {
                invalid(
                    call.arg(i).1,
                    format!(
                        "a /{} prefix cannot be extended by this many bits",
                        prefix.length
                    ),
                    format!(
                        "new bits run from 1 to {} here",
                        prefix.bits - prefix.length
                    ),
                )
            })?;
        // Align the cursor up to the next boundary of a /length subnet.
        let size = prefix.size(length).unwrap_or(u128::MAX);
        let start = match cursor.checked_add(size - 1) {
            Some(v) => v & prefix.mask(length),
            None => return Err(no_room(call, i)),
        };
        let after = start.checked_add(size);
        match (after, end) {
            (Some(after), Some(end)) if after > end => return Err(no_room(call, i)),
            (None, _) if start != prefix.network => return Err(no_room(call, i)),
            _ => {}
        }
        out.push(Value::string(format!("{}/{length}", prefix.address(start))));
        cursor = after.unwrap_or(u128::MAX);
    }
    Ok(Value::list(out))
}

fn no_room(call: &Call<'_>, index: usize) -> Diagnostic {
    invalid(
        call.arg(index).1,
        "the prefix has no room left for this subnet",
        "use fewer or smaller subnets, or a larger prefix",
    )
}
