//! The S3 key layout CloudTrail delivers files under:
//! `[prefix/]AWSLogs/[o-org/]<account>/CloudTrail[-Digest|-Insight]/<region>/<yyyy>/<mm>/<dd>/<file>`.

use chrono::{NaiveDate, NaiveDateTime, TimeZone, Utc};

/// What kind of file a key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// `CloudTrail/`: management and data events.
    Log,
    /// `CloudTrail-Insight/`: Insights events.
    Insight,
    /// `CloudTrail-Digest/`: integrity digests, not events (kept for a later integrity feature).
    Digest,
}

/// What a CloudTrail key says about the file it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogKey {
    /// Everything before `AWSLogs/`, without the trailing slash (empty when none).
    pub prefix: String,
    /// The organization id of an organization trail (`o-abc123`).
    pub org_id: Option<String>,
    pub account: String,
    pub kind: KeyKind,
    pub region: String,
    /// The day folder.
    pub date: NaiveDate,
    /// The delivery stamp in the file name (`20240801T1335Z`), in milliseconds since the epoch.
    pub delivered: Option<i64>,
}

impl LogKey {
    /// Parses a key (or a local path laid out the same way; `\` separators are accepted).
    /// Returns `None` when the key does not follow the layout.
    pub fn parse(key: &str) -> Option<LogKey> {
        let key = key.replace('\\', "/");
        let parts: Vec<&str> = key.split('/').collect();
        // The last `AWSLogs` segment wins, so a prefix may itself contain one.
        let at = parts.iter().rposition(|p| *p == "AWSLogs")?;
        let prefix = parts[..at].join("/");
        let mut rest = &parts[at + 1..];
        let mut org_id = None;
        if rest.first().is_some_and(|p| p.starts_with("o-")) {
            org_id = Some(rest[0].to_owned());
            rest = &rest[1..];
        }
        let [account, kind, region, yyyy, mm, dd, file] = rest else {
            return None;
        };
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let kind = match *kind {
            "CloudTrail" => KeyKind::Log,
            "CloudTrail-Insight" => KeyKind::Insight,
            "CloudTrail-Digest" => KeyKind::Digest,
            _ => return None,
        };
        let date = NaiveDate::from_ymd_opt(yyyy.parse().ok()?, mm.parse().ok()?, dd.parse().ok()?)?;
        Some(LogKey {
            prefix,
            org_id,
            account: (*account).to_owned(),
            kind,
            region: (*region).to_owned(),
            date,
            delivered: delivery_stamp(file),
        })
    }
}

/// Reads the delivery stamp from a file name such as
/// `123456789012_CloudTrail_us-east-1_20240801T1335Z_AbCdEf.json.gz`.
fn delivery_stamp(file: &str) -> Option<i64> {
    let stamp = file.split('_').find(|p| p.len() == 14 && p.as_bytes()[8] == b'T' && p.ends_with('Z'))?;
    let t = NaiveDateTime::parse_from_str(&stamp[..13], "%Y%m%dT%H%M").ok()?;
    Some(Utc.from_utc_datetime(&t).timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// prefix, org id, account, kind, region, day, delivery time
    type Expected<'a> = (&'a str, Option<&'a str>, &'a str, KeyKind, &'a str, &'a str, Option<&'a str>);

    fn check(key: &str, expect: Option<Expected<'_>>) {
        let got = LogKey::parse(key);
        let got = got.as_ref().map(|k| {
            (
                k.prefix.as_str(),
                k.org_id.as_deref(),
                k.account.as_str(),
                k.kind,
                k.region.as_str(),
                k.date.to_string(),
                k.delivered.map(|d| Utc.timestamp_millis_opt(d).unwrap().to_rfc3339()),
            )
        });
        let expect = expect.map(|(p, o, a, k, r, d, t)| (p, o, a, k, r, d.to_owned(), t.map(str::to_owned)));
        assert_eq!(got, expect, "{key}");
    }

    #[test]
    fn layouts() {
        check(
            "AWSLogs/123456789012/CloudTrail/us-east-1/2024/08/01/123456789012_CloudTrail_us-east-1_20240801T1335Z_AbCd.json.gz",
            Some(("", None, "123456789012", KeyKind::Log, "us-east-1", "2024-08-01", Some("2024-08-01T13:35:00+00:00"))),
        );
        check(
            "logs/prod/AWSLogs/o-abc123def4/123456789012/CloudTrail-Insight/eu-west-1/2024/12/31/x_CloudTrail-Insight_eu-west-1_20241231T2355Z_q.json.gz",
            Some(("logs/prod", Some("o-abc123def4"), "123456789012", KeyKind::Insight, "eu-west-1", "2024-12-31", Some("2024-12-31T23:55:00+00:00"))),
        );
        check(
            "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/08/01/123456789012_CloudTrail-Digest_us-east-1_trail_us-east-1_20240801T133528Z.json.gz",
            Some(("", None, "123456789012", KeyKind::Digest, "us-east-1", "2024-08-01", None)),
        );
        check("/tmp/x/AWSLogs/123456789012/CloudTrail/us-east-1/2024/02/30/f.json.gz", None);
        check("AWSLogs/1234/CloudTrail/us-east-1/2024/02/01/f.json.gz", None);
        check("some/file.json.gz", None);
        check("AWSLogs/123456789012/Other/us-east-1/2024/02/01/f.json.gz", None);
    }
}
