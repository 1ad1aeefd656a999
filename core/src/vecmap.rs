//! A map kept as one sorted `Vec` of pairs: what the engine and the
//! machines use for pipes, contexts and request ids.
//!
//! The keys are small ids that mostly grow (pipe ids come from a counter),
//! so inserts are usually pushes; lookups are a binary search. Against
//! `BTreeMap` it is a fraction of the code per key and value type (a
//! firmware links one of these per map, not a B-tree's node machinery), one
//! allocation instead of one per node, and it iterates in key order just the
//! same.

use alloc::vec::Vec;

/// A sorted map of `K` to `V` in one vector.
pub(crate) struct VecMap<K, V> {
    v: Vec<(K, V)>,
}

impl<K, V> Default for VecMap<K, V> {
    fn default() -> Self {
        VecMap { v: Vec::new() }
    }
}

impl<K: Ord + Copy, V> VecMap<K, V> {
    pub(crate) const fn new() -> Self {
        VecMap { v: Vec::new() }
    }

    fn find(&self, k: &K) -> Result<usize, usize> {
        // Most lookups are for the newest key: check the end first.
        match self.v.last() {
            Some((last, _)) if last == k => Ok(self.v.len() - 1),
            Some((last, _)) if last < k => Err(self.v.len()),
            None => Err(0),
            _ => self.v.binary_search_by(|(x, _)| x.cmp(k)),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.v.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.v.is_empty()
    }

    pub(crate) fn contains_key(&self, k: &K) -> bool {
        self.find(k).is_ok()
    }

    pub(crate) fn get(&self, k: &K) -> Option<&V> {
        self.find(k).ok().map(|i| &self.v[i].1)
    }

    pub(crate) fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        match self.find(k) {
            Ok(i) => Some(&mut self.v[i].1),
            Err(_) => None,
        }
    }

    /// Inserts or replaces; the value replaced, if any.
    pub(crate) fn insert(&mut self, k: K, val: V) -> Option<V> {
        match self.find(&k) {
            Ok(i) => Some(core::mem::replace(&mut self.v[i].1, val)),
            Err(i) => {
                if self.v.capacity() == 0 {
                    // Many maps hold one entry (a socket's own context, a
                    // client's one pipe): no room for four to start with.
                    self.v.reserve_exact(1);
                }
                self.v.insert(i, (k, val));
                None
            }
        }
    }

    pub(crate) fn remove(&mut self, k: &K) -> Option<V> {
        let i = self.find(k).ok()?;
        let (_, val) = self.v.remove(i);
        // A server's map of thousands of pipes gives memory back as they
        // go; firmware and browser maps stay small (and skip the code).
        #[cfg(feature = "std")]
        if self.v.capacity() > 64 && self.v.len() < self.v.capacity() / 4 {
            self.v.shrink_to(self.v.len() * 2);
        }
        Some(val)
    }

    // Used by the contexts' map (and tests).
    #[cfg_attr(not(feature = "contexts"), allow(dead_code))]
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = (&K, &V)> {
        self.v.iter().map(|(k, v)| (k, v))
    }

    #[cfg_attr(not(feature = "contexts"), allow(dead_code))]
    pub(crate) fn iter_mut(&mut self) -> impl DoubleEndedIterator<Item = (&K, &mut V)> {
        self.v.iter_mut().map(|(k, v)| (&*k, v))
    }

    pub(crate) fn keys(&self) -> impl DoubleEndedIterator<Item = &K> {
        self.v.iter().map(|(k, _)| k)
    }

    pub(crate) fn values(&self) -> impl DoubleEndedIterator<Item = &V> {
        self.v.iter().map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::VecMap;
    use alloc::collections::BTreeMap;
    use alloc::vec::Vec;
    use proptest::prelude::*;

    proptest! {
        /// Same answers as a BTreeMap for any sequence of inserts, removes
        /// and lookups, and the same iteration order.
        #[test]
        fn behaves_as_a_btreemap(ops in proptest::collection::vec((0u8..3, 0u16..64, any::<u32>()), 0..300)) {
            let mut a = VecMap::new();
            let mut b = BTreeMap::new();
            for (op, k, v) in ops {
                match op {
                    0 => prop_assert_eq!(a.insert(k, v), b.insert(k, v)),
                    1 => prop_assert_eq!(a.remove(&k), b.remove(&k)),
                    _ => {
                        prop_assert_eq!(a.get(&k), b.get(&k));
                        prop_assert_eq!(a.contains_key(&k), b.contains_key(&k));
                    }
                }
                prop_assert_eq!(a.len(), b.len());
            }
            let x: Vec<_> = a.iter().map(|(k, v)| (*k, *v)).collect();
            let y: Vec<_> = b.iter().map(|(k, v)| (*k, *v)).collect();
            prop_assert_eq!(x, y);
        }
    }
}
