//! Stable ids for records that have no `eventID`: `h-` and 32 hex digits of a 128-bit hash of
//! the record's bytes.
//!
//! Architecture Invariant: the hash never changes between versions. Stored events are keyed by
//! id, so a record read twice (by two versions of trailwatch) must get the same id both times.
//! The test vectors below pin it; do not update them.

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
/// The second lane starts elsewhere and multiplies by a different odd constant (the 64-bit
/// golden ratio), so the two halves do not move together.
const LANE2_OFFSET: u64 = 0x6c62_272e_07bb_0142;
const LANE2_PRIME: u64 = 0x9e37_79b9_7f4a_7c15;

/// `h-` followed by 32 lowercase hex digits.
pub(crate) fn hashed_id(bytes: &[u8]) -> String {
    let [hi, lo] = hash128(bytes);
    format!("h-{hi:016x}{lo:016x}")
}

/// Two FNV-1a style lanes over the bytes, each finished with the splitmix64 finalizer; the
/// length and the first lane are folded into the second.
fn hash128(bytes: &[u8]) -> [u64; 2] {
    let (mut a, mut b) = (FNV_OFFSET, LANE2_OFFSET);
    for &byte in bytes {
        a = (a ^ u64::from(byte)).wrapping_mul(FNV_PRIME);
        b = (b ^ u64::from(byte)).wrapping_mul(LANE2_PRIME);
    }
    let a = mix(a ^ bytes.len() as u64);
    let b = mix(b ^ a.rotate_left(32));
    [a, b]
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_vectors() {
        // These values are part of the on-disk format: never change them. They were checked
        // against an independent Python implementation of the same construction.
        assert_eq!(hashed_id(b""), "h-f52a15e9a9b5e89b081d9b0b6aa55416");
        assert_eq!(hashed_id(b"a"), "h-8097ca68b9cc797bc5b28e3e1b80b1e1");
        assert_eq!(
            hashed_id(br#"{"eventTime":"2024-08-02T08:53:24Z"}"#),
            "h-c105b0eca481137fa2862d1c5e15a400"
        );
    }

    #[test]
    fn differs_on_small_changes() {
        let ids: std::collections::HashSet<String> =
            ["a", "b", "ab", "ba", "a ", " a", "aa", ""].iter().map(|s| hashed_id(s.as_bytes())).collect();
        assert_eq!(ids.len(), 8);
    }
}
