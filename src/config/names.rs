//! [`NameMap`]: a map from names to values kept as one sorted vector.

use std::borrow::Borrow;

/// A map from names to values, sorted by name, stored as one vector.
///
/// The model holds one for each resource's attributes, and most hold one or
/// two: a `BTreeMap` allocates a node of eleven slots for a single entry,
/// a tenth of the model's memory at 100,000 resources. Lookups are a binary
/// search; inserting shifts the entries after it, which is cheap for the few
/// attributes a block has. Iteration is in name order, as a `BTreeMap`'s.
#[derive(Clone, PartialEq)]
pub struct NameMap<V> {
    entries: Vec<(String, V)>,
}

impl<V> Default for NameMap<V> {
    fn default() -> Self {
        NameMap {
            entries: Vec::new(),
        }
    }
}

impl<V> NameMap<V> {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    fn find(&self, name: &str) -> Result<usize, usize> {
        self.entries
            .binary_search_by(|(key, _)| key.as_str().cmp(name))
    }

    /// The value named `name`.
    pub fn get<Q: Borrow<str> + ?Sized>(&self, name: &Q) -> Option<&V> {
        let index = self.find(name.borrow()).ok()?;
        self.entries.get(index).map(|(_, value)| value)
    }

    /// The value named `name`, to change.
    pub fn get_mut<Q: Borrow<str> + ?Sized>(&mut self, name: &Q) -> Option<&mut V> {
        let index = self.find(name.borrow()).ok()?;
        self.entries.get_mut(index).map(|(_, value)| value)
    }

    /// Whether a value is named `name`.
    pub fn contains_key<Q: Borrow<str> + ?Sized>(&self, name: &Q) -> bool {
        self.find(name.borrow()).is_ok()
    }

    /// Sets `name` to `value`; the value it replaces, if any.
    pub fn insert(&mut self, name: String, value: V) -> Option<V> {
        match self.find(&name) {
            Ok(index) => self
                .entries
                .get_mut(index)
                .map(|(_, old)| std::mem::replace(old, value)),
            Err(index) => {
                self.entries.insert(index, (name, value));
                None
            }
        }
    }

    /// Takes the value named `name` out.
    pub fn remove<Q: Borrow<str> + ?Sized>(&mut self, name: &Q) -> Option<V> {
        let index = self.find(name.borrow()).ok()?;
        Some(self.entries.remove(index).1)
    }

    /// How many names.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Names and values, in name order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&String, &V)> + ExactSizeIterator {
        self.entries.iter().map(|(name, value)| (name, value))
    }

    /// Names and values to change, in name order.
    pub fn iter_mut(
        &mut self,
    ) -> impl DoubleEndedIterator<Item = (&String, &mut V)> + ExactSizeIterator {
        self.entries.iter_mut().map(|(name, value)| (&*name, value))
    }

    /// The names, in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &String> + ExactSizeIterator {
        self.entries.iter().map(|(name, _)| name)
    }

    /// The values, in name order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> + ExactSizeIterator {
        self.entries.iter().map(|(_, value)| value)
    }

    /// The values to change, in name order.
    pub fn values_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut V> + ExactSizeIterator {
        self.entries.iter_mut().map(|(_, value)| value)
    }

    /// Gives back the room kept for entries not inserted.
    pub fn shrink_to_fit(&mut self) {
        self.entries.shrink_to_fit();
    }
}

impl<V: std::fmt::Debug> std::fmt::Debug for NameMap<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<V> FromIterator<(String, V)> for NameMap<V> {
    fn from_iter<I: IntoIterator<Item = (String, V)>>(iter: I) -> Self {
        let mut entries: Vec<(String, V)> = iter.into_iter().collect();
        // Stable, so that of equal names the last stays, as with inserts.
        entries.sort_by(|(a, _), (b, _)| a.cmp(b));
        let mut deduplicated: Vec<(String, V)> = Vec::with_capacity(entries.len());
        for (name, value) in entries {
            match deduplicated.last_mut() {
                Some((last, old)) if *last == name => *old = value,
                _ => deduplicated.push((name, value)),
            }
        }
        NameMap {
            entries: deduplicated,
        }
    }
}

impl<V> Extend<(String, V)> for NameMap<V> {
    fn extend<I: IntoIterator<Item = (String, V)>>(&mut self, iter: I) {
        for (name, value) in iter {
            self.insert(name, value);
        }
    }
}

impl<V> IntoIterator for NameMap<V> {
    type Item = (String, V);
    type IntoIter = std::vec::IntoIter<(String, V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<'a, V> IntoIterator for &'a NameMap<V> {
    type Item = (&'a String, &'a V);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, V)>,
        fn(&'a (String, V)) -> (&'a String, &'a V),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(name, value)| (name, value))
    }
}

impl<V, Q: Borrow<str> + ?Sized> std::ops::Index<&Q> for NameMap<V> {
    type Output = V;

    /// # Panics
    /// When nothing is named `name`, as a `BTreeMap` does; for tests and
    /// for names known to be there.
    fn index(&self, name: &Q) -> &V {
        match self.get(name) {
            Some(value) => value,
            None => panic!("no entry named {:?}", name.borrow()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::NameMap;

    #[test]
    fn a_name_map_keeps_names_sorted_and_the_last_value_of_a_name() {
        let mut map = NameMap::new();
        assert_eq!(map.insert("b".to_owned(), 2), None);
        assert_eq!(map.insert("a".to_owned(), 1), None);
        assert_eq!(map.insert("c".to_owned(), 3), None);
        assert_eq!(map.insert("b".to_owned(), 20), Some(2));
        assert_eq!(
            map.keys().map(String::as_str).collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        assert_eq!(map.get("b"), Some(&20));
        assert_eq!(map["c"], 3);
        assert!(map.contains_key("a") && !map.contains_key("d"));
        assert_eq!(map.remove("a"), Some(1));
        assert_eq!(map.len(), 2);
        let collected: NameMap<i32> = [("y", 1), ("x", 2), ("y", 3)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        assert_eq!(
            collected.iter().collect::<Vec<_>>(),
            [(&"x".to_owned(), &2), (&"y".to_owned(), &3)]
        );
        assert_eq!(format!("{collected:?}"), r#"{"x": 2, "y": 3}"#);
    }
}
