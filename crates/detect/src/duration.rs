//! Durations in rule files and on the command line: `30s`, `15m`, `1h`, `14d`, `2w`.

/// Reads a duration such as `90d`, `12w`, `720h`, `15m`, `30s` or `500ms`, in milliseconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: i64 = n
        .parse()
        .map_err(|_| format!("bad duration {s:?}: expected a number and a unit, like 15m or 90d"))?;
    let ms = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        _ => return Err(format!("bad duration {s:?}: the unit must be ms, s, m, h, d or w")),
    };
    if n <= 0 {
        return Err(format!("bad duration {s:?}: must be more than zero"));
    }
    n.checked_mul(ms).ok_or_else(|| format!("bad duration {s:?}: too large"))
}

/// The shortest way to write `ms` back (`90m` → `90m`, `7200000` → `2h`).
pub fn format_duration(ms: i64) -> String {
    for (unit, size) in
        [("w", 7 * 86_400_000), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)]
    {
        if ms >= size && ms % size == 0 {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15m"), Ok(900_000));
        assert_eq!(parse_duration("2w"), Ok(14 * 86_400_000));
        assert_eq!(parse_duration(" 500ms "), Ok(500));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("5").unwrap_err().contains("unit"));
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("99999999999999999w").unwrap_err().contains("too large"));
        assert_eq!(format_duration(7_200_000), "2h");
        assert_eq!(format_duration(90 * 60_000), "90m");
        assert_eq!(format_duration(1_500), "1500ms");
    }
}
