//! A fast hasher for maps keyed by names and addresses (the multiply-rotate
//! hash rustc uses, "FxHash", with a finaliser so the low bits are mixed too). Not resistant to chosen collisions: only for
//! keys from the stack's own files, never for anything from the network.
//!
//! Invariant: deterministic across runs (no random seed); iteration order of
//! a map using it must never reach output.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A `HashMap` with [`FastHasher`].
pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

/// hashbrown's map with [`FastHasher`]: it finds a key by any borrowed form
/// that hashes alike ([`hashbrown::Equivalent`], e.g.
/// [`crate::addr::ResourceAddrRef`]), where std's map needs an owned key
/// built (and its strings allocated) for every lookup.
pub type FastTable<K, V> = hashbrown::HashMap<K, V, BuildHasherDefault<FastHasher>>;

/// The hasher behind [`FastMap`].
#[derive(Debug, Default, Clone, Copy)]
pub struct FastHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FastHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            for (to, from) in word.iter_mut().zip(rest) {
                *to = *from;
            }
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        // The multiply leaves the low bits (the bucket) depending only on the
        // low bits of the input; mix the high bits down (murmur3's finaliser).
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_keys_hash_equal_and_lookups_work() {
        let mut map: FastMap<(Vec<String>, String), usize> = FastMap::default();
        for i in 0..1000 {
            map.insert((Vec::new(), format!("r{i}")), i);
        }
        assert_eq!(map.len(), 1000);
        assert_eq!(map.get(&(Vec::new(), String::from("r999"))), Some(&999));
        assert_eq!(map.get(&(Vec::new(), String::from("r1000"))), None);
        assert_eq!(
            map.get(&(vec![String::from("m")], String::from("r1"))),
            None
        );
    }

    #[test]
    fn a_borrowed_address_finds_the_owned_one() {
        use crate::addr::{Mode, ModulePath, ResourceAddr, ResourceAddrRef};
        use std::hash::BuildHasher;
        let child = ModulePath::root().child("net");
        let mut table: FastTable<ResourceAddr, usize> = FastTable::default();
        for (i, module) in [ModulePath::root(), child.clone()].iter().enumerate() {
            for mode in [Mode::Managed, Mode::Data] {
                for name in ["a", "b", "ab"] {
                    let addr = ResourceAddr {
                        module: module.clone(),
                        mode,
                        resource_type: String::from("local_file"),
                        name: name.to_owned(),
                    };
                    let hasher = BuildHasherDefault::<FastHasher>::default();
                    assert_eq!(hasher.hash_one(&addr), hasher.hash_one(addr.borrowed()));
                    table.insert(addr, i);
                }
            }
        }
        let find = |module: &ModulePath, mode, resource_type: &str, name: &str| {
            table
                .get(&ResourceAddrRef {
                    module,
                    mode,
                    resource_type,
                    name,
                })
                .copied()
        };
        assert_eq!(find(&child, Mode::Data, "local_file", "ab"), Some(1));
        assert_eq!(
            find(&ModulePath::root(), Mode::Managed, "local_file", "b"),
            Some(0)
        );
        // Parts that would hash alike run together must not match.
        assert_eq!(
            find(&ModulePath::root(), Mode::Managed, "local_filea", ""),
            None
        );
        assert_eq!(
            find(&ModulePath::root(), Mode::Managed, "local_fil", "ea"),
            None
        );
        assert_eq!(find(&child, Mode::Managed, "local_file", "c"), None);
    }
}
