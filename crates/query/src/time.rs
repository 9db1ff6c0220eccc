//! Time values in queries and on the command line: `now-7d`, `-24h`, `2024-08-01T13:33:28Z`,
//! epoch milliseconds.

use chrono::NaiveDate;

/// How precisely a time was written. An absolute time names a whole interval of this length:
/// `2024-08-01` is that UTC day, `2024-08-01T13:33` that minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimePrecision {
    Day,
    Hour,
    Minute,
    Second,
    /// Fractional seconds, epoch milliseconds and relative times (`now-1h`).
    Millisecond,
}

impl TimePrecision {
    /// The length of the interval, in milliseconds.
    pub fn millis(self) -> i64 {
        match self {
            TimePrecision::Day => 86_400_000,
            TimePrecision::Hour => 3_600_000,
            TimePrecision::Minute => 60_000,
            TimePrecision::Second => 1_000,
            TimePrecision::Millisecond => 1,
        }
    }
}

const EXPECTED: &str = "expected now, now-7d, -24h, 2024-08-01, 2024-08-01T13:33:28Z or epoch milliseconds";

/// Reads a time as milliseconds since the epoch. Relative times count from `now_ms`; naive
/// times are UTC. The error is a lowercase message naming the value.
pub fn parse_time(s: &str, now_ms: i64) -> Result<i64, String> {
    parse_time_with_precision(s, now_ms).map(|(t, _)| t)
}

/// Like [`parse_time`], also saying how precisely the time was written (the start of the
/// interval is returned).
pub fn parse_time_with_precision(s: &str, now_ms: i64) -> Result<(i64, TimePrecision), String> {
    let s = s.trim();
    let bad = || format!("invalid time {s:?}: {EXPECTED}");
    if let Some(rest) = s.strip_prefix("now") {
        return relative(rest, now_ms).ok_or_else(bad).map(|t| (t, TimePrecision::Millisecond));
    }
    if s.starts_with(['-', '+']) {
        return relative(s, now_ms).ok_or_else(bad).map(|t| (t, TimePrecision::Millisecond));
    }
    if s.len() == 13 && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().map(|t| (t, TimePrecision::Millisecond)).map_err(|_| bad());
    }
    parse_absolute(s).ok_or_else(bad)
}

/// An absolute time only (no `now`): ISO-8601 or epoch milliseconds.
pub fn parse_absolute_millis(s: &str) -> Option<i64> {
    if s.len() == 13 && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok();
    }
    parse_absolute(s).map(|(t, _)| t)
}

/// `""` (now), or a sign, a count and a unit: `-7d`, `+1h`.
fn relative(rest: &str, now_ms: i64) -> Option<i64> {
    if rest.is_empty() {
        return Some(now_ms);
    }
    let (sign, rest) = match rest.as_bytes()[0] {
        b'-' => (-1i64, &rest[1..]),
        b'+' => (1i64, &rest[1..]),
        _ => return None,
    };
    let unit = rest.chars().last()?;
    let digits = &rest[..rest.len() - unit.len_utf8()];
    if digits.is_empty() || digits.len() > 12 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let count: i64 = digits.parse().ok()?;
    let unit_ms: i64 = match unit {
        's' => 1_000,
        'm' => 60_000,
        'h' => 3_600_000,
        'd' => 86_400_000,
        'w' => 7 * 86_400_000,
        _ => return None,
    };
    now_ms.checked_add(sign * count.checked_mul(unit_ms)?)
}

/// A cursor over the ASCII bytes of an absolute time.
struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn digits(&mut self, n: usize) -> Option<u32> {
        let part = self.b.get(self.i..self.i + n)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.i += n;
        Some(part.iter().fold(0, |acc, d| acc * 10 + u32::from(d - b'0')))
    }

    fn eat(&mut self, c: u8) -> bool {
        let hit = self.b.get(self.i) == Some(&c);
        self.i += usize::from(hit);
        hit
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn done(&self) -> bool {
        self.i == self.b.len()
    }
}

/// `YYYY-MM-DD[(T| )HH[:MM[:SS[.fff]]][Z|±HH[:MM]]]`.
fn parse_absolute(s: &str) -> Option<(i64, TimePrecision)> {
    let mut c = Cursor { b: s.as_bytes(), i: 0 };
    let year = c.digits(4)?;
    let month = c.eat(b'-').then(|| c.digits(2))??;
    let day = c.eat(b'-').then(|| c.digits(2))??;
    let date = NaiveDate::from_ymd_opt(year as i32, month, day)?;
    if c.done() {
        return Some((date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis(), TimePrecision::Day));
    }
    if !(c.eat(b'T') || c.eat(b't') || c.eat(b' ')) {
        return None;
    }
    let hour = c.digits(2)?;
    let (mut minute, mut second, mut milli) = (0, 0, 0);
    let mut precision = TimePrecision::Hour;
    if c.eat(b':') {
        minute = c.digits(2)?;
        precision = TimePrecision::Minute;
        if c.eat(b':') {
            second = c.digits(2)?;
            precision = TimePrecision::Second;
            if c.eat(b'.') || c.eat(b',') {
                let start = c.i;
                while c.peek().is_some_and(|b| b.is_ascii_digit()) {
                    c.i += 1;
                }
                let frac = &s[start..c.i];
                if frac.is_empty() || frac.len() > 9 {
                    return None;
                }
                // Milliseconds: the first three digits, padded; finer digits are dropped.
                milli = format!("{frac:0<3}")[..3].parse().ok()?;
                precision = TimePrecision::Millisecond;
            }
        }
    }
    let offset_minutes: i64 = if c.done() || c.eat(b'Z') || c.eat(b'z') {
        0
    } else {
        let sign = match c.peek()? {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        c.i += 1;
        let h = c.digits(2)?;
        let m = if c.done() {
            0
        } else {
            c.eat(b':');
            c.digits(2)?
        };
        if h > 23 || m > 59 {
            return None;
        }
        sign * i64::from(h * 60 + m)
    };
    if !c.done() {
        return None;
    }
    let local = date.and_hms_milli_opt(hour, minute, second, milli)?.and_utc().timestamp_millis();
    Some((local - offset_minutes * 60_000, precision))
}

#[cfg(test)]
mod tests {
    use super::*;
    use TimePrecision::*;

    const NOW: i64 = 1_722_519_208_000; // 2024-08-01T13:33:28Z

    fn check(input: &str, expected: Option<(i64, TimePrecision)>) {
        let got = parse_time_with_precision(input, NOW).ok();
        assert_eq!(got, expected, "input {input:?}");
    }

    #[test]
    fn relative_times() {
        check("now", Some((NOW, Millisecond)));
        check("now-7d", Some((NOW - 7 * 86_400_000, Millisecond)));
        check("now+1h", Some((NOW + 3_600_000, Millisecond)));
        check("-24h", Some((NOW - 86_400_000, Millisecond)));
        check("-15m", Some((NOW - 900_000, Millisecond)));
        check("-30s", Some((NOW - 30_000, Millisecond)));
        check("now-2w", Some((NOW - 14 * 86_400_000, Millisecond)));
        check(" now-1d ", Some((NOW - 86_400_000, Millisecond)));
        check("now-", None);
        check("now-d", None);
        check("now-5y", None);
        check("now5d", None);
        check("-", None);
        check("-5", None);
        check("now-999999999999w", None);
        check("nowé", None);
        check("-é", None);
    }

    #[test]
    fn absolute_times() {
        check("2024-08-01", Some((1_722_470_400_000, Day)));
        check("2024-08-01T13", Some((1_722_517_200_000, Hour)));
        check("2024-08-01T13:33", Some((1_722_519_180_000, Minute)));
        check("2024-08-01T13:33:28Z", Some((NOW, Second)));
        check("2024-08-01t13:33:28z", Some((NOW, Second)));
        check("2024-08-01 13:33:28", Some((NOW, Second)));
        check("2024-08-01T13:33:28.5Z", Some((NOW + 500, Millisecond)));
        check("2024-08-01T13:33:28.123456Z", Some((NOW + 123, Millisecond)));
        check("2024-08-01T15:33:28+02:00", Some((NOW, Second)));
        check("2024-08-01T08:33:28-0500", Some((NOW, Second)));
        check("2024-08-01T15:33:28+02", Some((NOW, Second)));
        check("1722519208000", Some((NOW, Millisecond)));
        check("172251920800", None);
        check("2024-13-01", None);
        check("2024-02-30", None);
        check("2024-08-01T24:00", None);
        check("2024-08-01T13:60", None);
        check("2024-08-01T", None);
        check("2024-08-01T13:33:28.Z", None);
        check("2024-08-01T13:33:28+25:00", None);
        check("2024-08-01Z", None);
        check("2024-8-1", None);
        check("yesterday", None);
        check("", None);
    }

    #[test]
    fn errors_name_the_value() {
        let err = parse_time("yesterday", NOW).unwrap_err();
        assert!(err.starts_with("invalid time \"yesterday\": expected now"), "{err}");
    }

    #[test]
    fn absolute_only() {
        assert_eq!(parse_absolute_millis("2024-08-01T13:33:28Z"), Some(NOW));
        assert_eq!(parse_absolute_millis("1722519208000"), Some(NOW));
        assert_eq!(parse_absolute_millis("now"), None);
    }
}
