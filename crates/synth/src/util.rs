//! Small fast helpers shared by the generator: seed mixing, skewed picks, ids and timestamps.
//!
//! Everything here writes into a caller's byte buffer so the hot loop allocates nothing per record.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Mixes two numbers into a well-spread 64-bit seed (one splitmix64 step over their combination).
pub fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A fast generator seeded from a parent seed and a salt, so every unit of work is reproducible
/// whatever thread runs it.
pub fn rng_for(seed: u64, salt: u64) -> SmallRng {
    SmallRng::seed_from_u64(mix(seed, salt))
}

/// A cumulative distribution over indices, sampled by binary search.
#[derive(Debug, Clone)]
pub struct Cdf {
    cumulative: Vec<f64>,
}

impl Cdf {
    /// Builds a distribution from non-negative weights (at least one must be positive).
    pub fn from_weights(weights: impl IntoIterator<Item = f64>) -> Cdf {
        let mut total = 0.0;
        let cumulative = weights
            .into_iter()
            .map(|w| {
                total += w.max(0.0);
                total
            })
            .collect::<Vec<_>>();
        Cdf { cumulative }
    }

    /// A Zipf-like distribution over `n` ranks: rank `k` has weight `1 / (k + 1)^s`.
    pub fn zipf(n: usize, s: f64) -> Cdf {
        Cdf::from_weights((0..n).map(|k| 1.0 / ((k + 1) as f64).powf(s)))
    }

    pub fn sample(&self, rng: &mut SmallRng) -> usize {
        let total = *self.cumulative.last().unwrap_or(&0.0);
        let x = rng.random::<f64>() * total;
        self.cumulative.partition_point(|&c| c <= x).min(self.cumulative.len().saturating_sub(1))
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";
const ALNUM: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const UPPER_DIGITS: &[u8; 36] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn push_from(buf: &mut Vec<u8>, mut bits: u64, n: usize, alphabet: &[u8], rng: &mut SmallRng) {
    // Draw a fresh 64-bit word every ten characters; modulo bias is irrelevant for synthetic ids.
    for i in 0..n {
        if i % 10 == 0 && i > 0 {
            bits = rng.random();
        }
        buf.push(alphabet[(bits % alphabet.len() as u64) as usize]);
        bits /= alphabet.len() as u64;
    }
}

/// Appends `n` random lowercase hex digits.
pub fn push_hex(buf: &mut Vec<u8>, n: usize, rng: &mut SmallRng) {
    let first = rng.random();
    push_from(buf, first, n, HEX, rng);
}

/// Appends `n` random characters from `[0-9A-Za-z]`.
pub fn push_alnum(buf: &mut Vec<u8>, n: usize, rng: &mut SmallRng) {
    let first = rng.random();
    push_from(buf, first, n, ALNUM, rng);
}

/// Appends `n` random base64 characters (session tokens, encoded failure messages).
pub fn push_base64(buf: &mut Vec<u8>, n: usize, rng: &mut SmallRng) {
    let first = rng.random();
    push_from(buf, first, n, BASE64, rng);
}

/// Appends `n` characters from `[A-Z0-9]` derived only from `bits` (for ids that must be stable,
/// such as access key ids); `n` must be at most 12.
pub fn push_key_chars(buf: &mut Vec<u8>, mut bits: u64, n: usize) {
    for _ in 0..n {
        buf.push(UPPER_DIGITS[(bits % 36) as usize]);
        bits /= 36;
    }
}

/// A stable `[A-Z0-9]` string of length `n` derived from a seed (any length).
pub fn key_chars(seed: u64, n: usize) -> String {
    let mut buf = Vec::with_capacity(n);
    let mut s = seed;
    while buf.len() < n {
        s = mix(s, 0x5eed);
        let take = (n - buf.len()).min(12);
        push_key_chars(&mut buf, s, take);
    }
    String::from_utf8(buf).unwrap_or_default()
}

/// Appends a random version-4 UUID in its hyphenated lowercase form.
pub fn push_uuid(buf: &mut Vec<u8>, rng: &mut SmallRng) {
    let hi: u64 = rng.random();
    let lo: u64 = rng.random();
    let bytes = ((hi as u128) << 64 | lo as u128).to_be_bytes();
    for (i, b) in bytes.iter().enumerate() {
        let b = match i {
            6 => (b & 0x0f) | 0x40,
            8 => (b & 0x3f) | 0x80,
            _ => *b,
        };
        if matches!(i, 4 | 6 | 8 | 10) {
            buf.push(b'-');
        }
        buf.push(HEX[(b >> 4) as usize]);
        buf.push(HEX[(b & 0xf) as usize]);
    }
}

/// Converts days since 1970-01-01 to a civil `(year, month, day)` (Howard Hinnant's algorithm).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The parts of a UTC instant given in milliseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl Civil {
    pub fn from_ms(ms: i64) -> Civil {
        let secs = ms.div_euclid(1000);
        let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
        let sod = secs.rem_euclid(86_400) as u32;
        Civil { year, month, day, hour: sod / 3600, minute: sod / 60 % 60, second: sod % 60 }
    }
}

fn push_2(buf: &mut Vec<u8>, v: u32) {
    buf.push(b'0' + (v / 10 % 10) as u8);
    buf.push(b'0' + (v % 10) as u8);
}

fn push_4(buf: &mut Vec<u8>, v: i64) {
    let v = v.rem_euclid(10_000) as u32;
    push_2(buf, v / 100);
    push_2(buf, v % 100);
}

/// Appends `YYYY-MM-DDTHH:MM:SSZ`, the form CloudTrail uses for `eventTime`.
pub fn push_iso(buf: &mut Vec<u8>, ms: i64) {
    let c = Civil::from_ms(ms);
    push_4(buf, c.year);
    buf.push(b'-');
    push_2(buf, c.month);
    buf.push(b'-');
    push_2(buf, c.day);
    buf.push(b'T');
    push_2(buf, c.hour);
    buf.push(b':');
    push_2(buf, c.minute);
    buf.push(b':');
    push_2(buf, c.second);
    buf.push(b'Z');
}

/// Appends the `Oct 8, 2024, 4:15:32 PM` form STS uses for credential expirations.
pub fn push_expiration(buf: &mut Vec<u8>, ms: i64) {
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let c = Civil::from_ms(ms);
    buf.extend_from_slice(MONTHS[(c.month - 1) as usize].as_bytes());
    buf.push(b' ');
    push_u64(buf, u64::from(c.day));
    let hour12 = match c.hour % 12 {
        0 => 12,
        h => h,
    };
    buf.extend_from_slice(b", ");
    push_u64(buf, c.year as u64);
    buf.extend_from_slice(b", ");
    push_u64(buf, u64::from(hour12));
    buf.push(b':');
    push_2(buf, c.minute);
    buf.push(b':');
    push_2(buf, c.second);
    buf.extend_from_slice(if c.hour < 12 { b" AM" } else { b" PM" });
}

/// Appends a decimal number.
pub fn push_u64(buf: &mut Vec<u8>, v: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    let mut v = v;
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_matches_chrono() {
        for ms in [0i64, 1_722_375_081_000, 951_782_400_000, 4_102_444_799_999] {
            let mut buf = Vec::new();
            push_iso(&mut buf, ms);
            let want =
                chrono::DateTime::from_timestamp_millis(ms).unwrap().format("%Y-%m-%dT%H:%M:%SZ").to_string();
            assert_eq!(String::from_utf8(buf).unwrap(), want);
        }
    }

    #[test]
    fn expiration_reads_like_sts() {
        let mut buf = Vec::new();
        push_expiration(&mut buf, 1_728_404_132_000);
        assert_eq!(String::from_utf8(buf).unwrap(), "Oct 8, 2024, 4:15:32 PM");
    }

    #[test]
    fn uuid_is_version_4() {
        let mut rng = rng_for(1, 2);
        let mut buf = Vec::new();
        push_uuid(&mut buf, &mut rng);
        let s = String::from_utf8(buf).unwrap();
        assert_eq!(s.len(), 36);
        assert_eq!(&s[14..15], "4");
        assert_eq!(s.matches('-').count(), 4);
    }

    #[test]
    fn zipf_prefers_the_head() {
        let cdf = Cdf::zipf(50, 1.1);
        let mut rng = rng_for(3, 4);
        let mut counts = [0u32; 50];
        for _ in 0..10_000 {
            counts[cdf.sample(&mut rng)] += 1;
        }
        assert!(counts[0] > counts[10] * 5);
        assert!(counts.iter().all(|&c| c < 10_000));
    }
}
