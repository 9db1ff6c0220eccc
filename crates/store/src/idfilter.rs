//! A Bloom filter over event-id hashes: most new events are told apart from stored ones without
//! touching the index; only a "maybe" costs an index lookup.

/// A fixed-size Bloom filter with `k` probes by double hashing.
pub struct IdFilter {
    bits: Vec<u64>,
    mask: u64,
    k: u32,
    inserted: u64,
    capacity: u64,
}

impl IdFilter {
    /// A filter sized for `capacity` ids at about a 0.05% false-positive rate: every "maybe"
    /// costs a look at each segment's sorted id hashes, whose pages then count as resident.
    pub fn with_capacity(capacity: u64) -> IdFilter {
        let capacity = capacity.max(1 << 16);
        // ~16 bits per id, rounded up to a power of two.
        let nbits = (capacity * 16).next_power_of_two();
        IdFilter { bits: vec![0; (nbits / 64) as usize], mask: nbits - 1, k: 11, inserted: 0, capacity }
    }

    pub fn insert(&mut self, hash: u64) {
        let (mut h, step) = (hash, hash.rotate_left(32) | 1);
        for _ in 0..self.k {
            let bit = h & self.mask;
            self.bits[(bit / 64) as usize] |= 1 << (bit % 64);
            h = h.wrapping_add(step);
        }
        self.inserted += 1;
    }

    pub fn maybe_contains(&self, hash: u64) -> bool {
        let (mut h, step) = (hash, hash.rotate_left(32) | 1);
        for _ in 0..self.k {
            let bit = h & self.mask;
            if self.bits[(bit / 64) as usize] & (1 << (bit % 64)) == 0 {
                return false;
            }
            h = h.wrapping_add(step);
        }
        true
    }

    /// Whether more ids went in than it was sized for (its error rate is climbing).
    pub fn is_full(&self) -> bool {
        self.inserted > self.capacity
    }

    pub fn capacity(&self) -> u64 {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_false_negatives_and_few_false_positives() {
        let mut f = IdFilter::with_capacity(100_000);
        let h = |i: u64| crate::id_hash(&format!("id-{i}"));
        for i in 0..100_000 {
            f.insert(h(i));
        }
        assert!((0..100_000).all(|i| f.maybe_contains(h(i))));
        let fp = (100_000..200_000).filter(|&i| f.maybe_contains(h(i))).count();
        assert!(fp < 2_000, "{fp} false positives in 100000");
    }
}
