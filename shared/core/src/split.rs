//! The hashes under the deterministic train/test split. The rule itself is [`crate::prepare::is_test`]: a
//! row's side depends only on its split key (its cleaned text's sorted distinct words), so the same text, and
//! any reordering of it, lands on the same side in every dataset and held-out rows never leak into a later
//! training set.

/// 64-bit FNV-1a hash: stable across platforms, builds and versions (part of the data contract).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// MurmurHash3's 64-bit finaliser: spreads FNV's weak high bits over the whole word.
pub(crate) fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

/// True when a row whose split key hashes to `h` belongs to the test split: the top 53 bits of
/// `fmix64(h)`, as a fraction of 2^53, fall below `test_fraction`.
pub fn is_test_hash(h: u64, test_fraction: f64) -> bool {
    let u = (fmix64(h) >> 11) as f64 / (1u64 << 53) as f64;
    u < test_fraction
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_reference_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn extremes() {
        assert!(!is_test_hash(fnv1a64(b"anything"), 0.0));
        assert!(is_test_hash(fnv1a64(b"anything"), 1.0));
    }
}
