//! [`VecMap`]: an ordered map kept as one sorted vector, with the part of
//! `BTreeMap`'s interface the crate uses.
//!
//! Values' maps and objects, and every instance's attributes, are small
//! (a handful of keys) and there are millions of them in a large plan: a
//! `BTreeMap` spends a whole node (eleven slots, over 700 bytes for
//! `String → Value`) on each one, however few keys it holds. A sorted vector
//! holds exactly its entries, clones in one allocation and is searched by
//! bisection, so lookups stay O(log n).
//!
//! Invariant: the entries are sorted by key, with no key twice; iteration is
//! in key order, as a `BTreeMap`'s. Building from an iterator sorts once
//! (the last of equal keys wins, as with `BTreeMap`); `insert` appends when
//! the key sorts last (the common case when filling a map in order) and
//! otherwise shifts the tail.

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::fmt;

/// An ordered map stored as a sorted vector of entries.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VecMap<K, V> {
    entries: Vec<(K, V)>,
}

impl<K, V> Default for VecMap<K, V> {
    fn default() -> Self {
        VecMap {
            entries: Vec::new(),
        }
    }
}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for VecMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.entries.iter().map(|(k, v)| (k, v)))
            .finish()
    }
}

impl<K, V> VecMap<K, V> {
    /// An empty map.
    pub const fn new() -> Self {
        VecMap {
            entries: Vec::new(),
        }
    }

    /// An empty map with room for `capacity` entries.
    pub fn with_capacity(capacity: usize) -> Self {
        VecMap {
            entries: Vec::with_capacity(capacity),
        }
    }

    /// Gives back the room kept for entries not inserted (a map that lives
    /// long, filled one insert at a time).
    pub fn shrink_to_fit(&mut self) {
        self.entries.shrink_to_fit();
    }

    /// How many entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries in key order.
    pub fn iter(&self) -> Iter<'_, K, V> {
        Iter {
            inner: self.entries.iter(),
        }
    }

    /// The entries in key order, values mutable.
    pub fn iter_mut(
        &mut self,
    ) -> impl DoubleEndedIterator<Item = (&K, &mut V)> + ExactSizeIterator {
        self.entries.iter_mut().map(|(k, v)| (&*k, v))
    }

    /// The keys in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &K> + ExactSizeIterator + Clone {
        self.entries.iter().map(|(k, _)| k)
    }

    /// The values in key order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> + ExactSizeIterator + Clone {
        self.entries.iter().map(|(_, v)| v)
    }

    /// The values in key order, mutable.
    pub fn values_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut V> + ExactSizeIterator {
        self.entries.iter_mut().map(|(_, v)| v)
    }

    /// The keys, owned, in order.
    pub fn into_keys(self) -> impl DoubleEndedIterator<Item = K> + ExactSizeIterator {
        self.entries.into_iter().map(|(k, _)| k)
    }

    /// The values, owned, in key order.
    pub fn into_values(self) -> impl DoubleEndedIterator<Item = V> + ExactSizeIterator {
        self.entries.into_iter().map(|(_, v)| v)
    }

    /// The first entry.
    pub fn first_key_value(&self) -> Option<(&K, &V)> {
        self.entries.first().map(|(k, v)| (k, v))
    }

    /// The last entry.
    pub fn last_key_value(&self) -> Option<(&K, &V)> {
        self.entries.last().map(|(k, v)| (k, v))
    }

    /// Keeps the entries for which `keep` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.entries.retain_mut(|(k, v)| keep(k, v));
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

impl<K: Ord, V> VecMap<K, V> {
    fn position<Q>(&self, key: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.entries.binary_search_by(|(k, _)| k.borrow().cmp(key))
    }

    /// The value under `key`.
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        let at = self.position(key).ok()?;
        self.entries.get(at).map(|(_, v)| v)
    }

    /// The entry under `key`.
    pub fn get_key_value<Q>(&self, key: &Q) -> Option<(&K, &V)>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        let at = self.position(key).ok()?;
        self.entries.get(at).map(|(k, v)| (k, v))
    }

    /// The value under `key`, mutable.
    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        let at = self.position(key).ok()?;
        self.entries.get_mut(at).map(|(_, v)| v)
    }

    /// Whether there is an entry under `key`.
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.position(key).is_ok()
    }

    /// Sets `key` to `value`; the value it had, if any.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        // Filling in order: the new key sorts after every other.
        if self.entries.last().is_none_or(|(last, _)| *last < key) {
            self.entries.push((key, value));
            return None;
        }
        match self.position(&key) {
            Ok(at) => self
                .entries
                .get_mut(at)
                .map(|(_, slot)| std::mem::replace(slot, value)),
            Err(at) => {
                self.entries.insert(at, (key, value));
                None
            }
        }
    }

    /// Removes the entry under `key`; its value, if any.
    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        let at = self.position(key).ok()?;
        Some(self.entries.remove(at).1)
    }

    /// Removes the entry under `key`; the entry, if any.
    pub fn remove_entry<Q>(&mut self, key: &Q) -> Option<(K, V)>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        let at = self.position(key).ok()?;
        Some(self.entries.remove(at))
    }

    /// The slot under `key`, to fill or change.
    pub fn entry(&mut self, key: K) -> Entry<'_, K, V> {
        match self.position(&key) {
            Ok(at) => Entry::Occupied(OccupiedEntry { map: self, at }),
            Err(at) => Entry::Vacant(VacantEntry { map: self, at, key }),
        }
    }

    /// Moves every entry of `other` in (its values win), leaving it empty.
    pub fn append(&mut self, other: &mut Self) {
        let taken = std::mem::take(&mut other.entries);
        self.extend(taken);
    }
}

/// Sorts entries by key and keeps the last of equal keys (what inserting
/// them in turn into a map would leave); cheap when already sorted. Also
/// serves `state::Json`'s objects.
pub(crate) fn sort_keep_last<K: Ord, V>(entries: &mut Vec<(K, V)>) {
    if entries.windows(2).all(|w| matches!(w, [a, b] if a.0 < b.0)) {
        return;
    }
    // Stable, so equal keys keep their order and the last one is kept.
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let mut kept: Vec<(K, V)> = Vec::with_capacity(entries.len());
    for entry in entries.drain(..) {
        match kept.last_mut() {
            Some(last) if last.0 == entry.0 => *last = entry,
            _ => kept.push(entry),
        }
    }
    *entries = kept;
}

/// A slot of a [`VecMap`], from [`VecMap::entry`].
pub enum Entry<'a, K, V> {
    /// The key is there.
    Occupied(OccupiedEntry<'a, K, V>),
    /// The key is not there.
    Vacant(VacantEntry<'a, K, V>),
}

/// A slot that holds a value.
pub struct OccupiedEntry<'a, K, V> {
    map: &'a mut VecMap<K, V>,
    at: usize,
}

/// A slot that holds no value yet.
pub struct VacantEntry<'a, K, V> {
    map: &'a mut VecMap<K, V>,
    at: usize,
    key: K,
}

impl<'a, K, V> OccupiedEntry<'a, K, V> {
    /// The value, mutable for as long as the map is borrowed.
    pub fn into_mut(self) -> &'a mut V {
        let at = self.at;
        match self.map.entries.get_mut(at) {
            Some((_, v)) => v,
            None => unreachable!("an occupied entry's position is in the map"),
        }
    }

    /// The value.
    pub fn get(&self) -> &V {
        match self.map.entries.get(self.at) {
            Some((_, v)) => v,
            None => unreachable!("an occupied entry's position is in the map"),
        }
    }

    /// The value, mutable.
    pub fn get_mut(&mut self) -> &mut V {
        match self.map.entries.get_mut(self.at) {
            Some((_, v)) => v,
            None => unreachable!("an occupied entry's position is in the map"),
        }
    }

    /// Replaces the value; the old one.
    pub fn insert(&mut self, value: V) -> V {
        std::mem::replace(self.get_mut(), value)
    }

    /// Removes the entry; its value.
    pub fn remove(self) -> V {
        self.map.entries.remove(self.at).1
    }
}

impl<'a, K, V> VacantEntry<'a, K, V> {
    /// Fills the slot; the value, mutable.
    pub fn insert(self, value: V) -> &'a mut V {
        let at = self.at;
        self.map.entries.insert(at, (self.key, value));
        match self.map.entries.get_mut(at) {
            Some((_, v)) => v,
            None => unreachable!("the entry was just inserted there"),
        }
    }
}

impl<'a, K, V> Entry<'a, K, V> {
    /// The value, filled with `value` first if the slot was empty.
    pub fn or_insert(self, value: V) -> &'a mut V {
        match self {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => entry.insert(value),
        }
    }

    /// The value, filled with `make()` first if the slot was empty.
    pub fn or_insert_with(self, make: impl FnOnce() -> V) -> &'a mut V {
        match self {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => entry.insert(make()),
        }
    }

    /// The value, filled with the default first if the slot was empty.
    pub fn or_default(self) -> &'a mut V
    where
        V: Default,
    {
        self.or_insert_with(V::default)
    }

    /// Changes the value in place when the slot is filled.
    #[must_use]
    pub fn and_modify(mut self, change: impl FnOnce(&mut V)) -> Self {
        if let Entry::Occupied(entry) = &mut self {
            change(entry.get_mut());
        }
        self
    }
}

/// The entries of a [`VecMap`] in key order, borrowed.
#[derive(Clone)]
pub struct Iter<'a, K, V> {
    inner: std::slice::Iter<'a, (K, V)>,
}

impl<'a, K, V> Iterator for Iter<'a, K, V> {
    type Item = (&'a K, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next().map(|(k, v)| (k, v))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<K, V> DoubleEndedIterator for Iter<'_, K, V> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.inner.next_back().map(|(k, v)| (k, v))
    }
}

impl<K, V> ExactSizeIterator for Iter<'_, K, V> {}

impl<'a, K, V> IntoIterator for &'a VecMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = Iter<'a, K, V>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a, K, V> IntoIterator for &'a mut VecMap<K, V> {
    type Item = (&'a K, &'a mut V);
    type IntoIter =
        std::iter::Map<std::slice::IterMut<'a, (K, V)>, fn(&'a mut (K, V)) -> (&'a K, &'a mut V)>;

    fn into_iter(self) -> Self::IntoIter {
        fn split<K, V>(entry: &mut (K, V)) -> (&K, &mut V) {
            (&entry.0, &mut entry.1)
        }
        self.entries.iter_mut().map(split)
    }
}

impl<K, V> IntoIterator for VecMap<K, V> {
    type Item = (K, V);
    type IntoIter = std::vec::IntoIter<(K, V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<K: Ord, V> FromIterator<(K, V)> for VecMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut entries: Vec<(K, V)> = iter.into_iter().collect();
        sort_keep_last(&mut entries);
        VecMap { entries }
    }
}

impl<K: Ord, V> Extend<(K, V)> for VecMap<K, V> {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        self.entries.extend(iter);
        sort_keep_last(&mut self.entries);
    }
}

impl<K: Ord, V, const N: usize> From<[(K, V); N]> for VecMap<K, V> {
    fn from(entries: [(K, V); N]) -> Self {
        entries.into_iter().collect()
    }
}

impl<K: Ord, V> From<BTreeMap<K, V>> for VecMap<K, V> {
    fn from(map: BTreeMap<K, V>) -> Self {
        // Already sorted and unique.
        VecMap {
            entries: map.into_iter().collect(),
        }
    }
}

impl<K: Ord, V> From<VecMap<K, V>> for BTreeMap<K, V> {
    fn from(map: VecMap<K, V>) -> Self {
        map.entries.into_iter().collect()
    }
}

impl<K, V, Q> std::ops::Index<&Q> for VecMap<K, V>
where
    K: Ord + Borrow<Q>,
    Q: Ord + ?Sized,
{
    type Output = V;

    /// The value under `key`. Panics when there is none, as `BTreeMap`'s
    /// indexing does: for tests and for keys known to be there.
    fn index(&self, key: &Q) -> &V {
        match self.get(key) {
            Some(value) => value,
            None => panic!("no entry for the key in the map"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::VecMap;

    #[test]
    fn behaves_like_an_ordered_map() {
        let mut map = VecMap::new();
        assert_eq!(map.insert("b".to_owned(), 2), None);
        assert_eq!(map.insert("a".to_owned(), 1), None);
        assert_eq!(map.insert("c".to_owned(), 3), None);
        assert_eq!(map.insert("b".to_owned(), 20), Some(2));
        assert_eq!(map.keys().cloned().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(map.get("b"), Some(&20));
        assert!(map.contains_key("c") && !map.contains_key("d"));
        assert_eq!(map.remove("a"), Some(1));
        assert_eq!(map.len(), 2);
        *map.entry("d".to_owned()).or_insert(0) += 4;
        *map.entry("d".to_owned()).or_insert(0) += 1;
        assert_eq!(map.get("d"), Some(&5));
        map.retain(|k, _| k != "c");
        assert_eq!(map.keys().cloned().collect::<Vec<_>>(), ["b", "d"]);
    }

    #[test]
    fn collecting_sorts_and_the_last_of_equal_keys_wins() {
        let map: VecMap<&str, i32> = [("z", 1), ("a", 2), ("z", 3), ("m", 4)].into();
        assert_eq!(
            map.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>(),
            [("a", 2), ("m", 4), ("z", 3)]
        );
        let mut more = map.clone();
        more.extend([("b", 9), ("a", 7)]);
        assert_eq!(more.get("a"), Some(&7));
        assert_eq!(more.len(), 4);
        let btree: std::collections::BTreeMap<_, _> = more.clone().into();
        assert_eq!(VecMap::from(btree), more);
    }
}
