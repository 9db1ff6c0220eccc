//! `eventTime` to milliseconds since the epoch: a fast path for CloudTrail's usual
//! `YYYY-MM-DDTHH:MM:SSZ`, and RFC 3339 through chrono for everything else.

/// Parses an `eventTime`. Returns `None` when it is not a valid RFC 3339 time.
pub(crate) fn parse_millis(s: &str) -> Option<i64> {
    fast_utc(s).or_else(|| chrono::DateTime::parse_from_rfc3339(s).ok().map(|t| t.timestamp_millis()))
}

/// `2024-08-02T08:53:24Z`, checked field by field; anything else (fractions, offsets, a leap
/// second, an invalid date) is left to chrono.
fn fast_utc(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'Z'
    {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        b[from..to]
            .iter()
            .try_fold(0i64, |acc, &d| d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0')))
    };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    Some((days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second) * 1_000)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(input: &str, expect: Option<i64>) {
        assert_eq!(parse_millis(input), expect, "{input}");
    }

    #[test]
    fn table() {
        check("1970-01-01T00:00:00Z", Some(0));
        check("2024-08-02T08:53:24Z", Some(1_722_588_804_000));
        check("2024-02-29T23:59:59Z", Some(1_709_251_199_000));
        check("2024-08-02T08:53:24.5Z", Some(1_722_588_804_500));
        check("2024-08-02T08:53:24.123456Z", Some(1_722_588_804_123));
        check("2024-08-02T10:53:24+02:00", Some(1_722_588_804_000));
        check("2024-08-02t08:53:24z", Some(1_722_588_804_000));
        check("2023-02-29T00:00:00Z", None);
        check("2024-13-01T00:00:00Z", None);
        check("2024-08-02T24:00:00Z", None);
        check("2024-08-02T08:53:24", None);
        check("2024-08-02", None);
        check("20240802T085324Z", None);
        check("", None);
    }

    proptest! {
        #[test]
        fn fast_path_agrees_with_chrono(secs in -62_000_000_000i64..250_000_000_000i64) {
            let t = chrono::DateTime::from_timestamp(secs, 0).unwrap();
            let text = t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
            prop_assert_eq!(fast_utc(&text), Some(secs * 1000));
        }

        #[test]
        fn never_panics(s in "\\PC{0,30}") {
            let _ = parse_millis(&s);
        }
    }
}
