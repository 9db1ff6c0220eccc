//! "Did you mean" for unknown field names.

use crate::fields::KnownField;

/// CloudTrail record keys and common words people reach for, and the field that holds them.
const ALIASES: &[(&str, KnownField)] = &[
    ("eventid", KnownField::Id),
    ("eventtime", KnownField::Time),
    ("recipientaccountid", KnownField::Account),
    ("awsregion", KnownField::Region),
    ("eventsource", KnownField::Source),
    ("eventname", KnownField::Action),
    ("eventtype", KnownField::EventType),
    ("eventcategory", KnownField::Category),
    ("readonly", KnownField::ReadOnly),
    ("sourceipaddress", KnownField::SourceIp),
    ("useragent", KnownField::UserAgent),
    ("errorcode", KnownField::ErrorCode),
    ("errormessage", KnownField::ErrorMessage),
    ("requestid", KnownField::RequestId),
    ("resources", KnownField::Resource),
    ("user", KnownField::ActorName),
    ("username", KnownField::ActorName),
    ("ip", KnownField::SourceIp),
    ("status", KnownField::Outcome),
    ("error", KnownField::ErrorCode),
];

/// The message for an unknown field `name`, with the closest known field if one is close.
pub(super) fn unknown_field(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    let alias = ALIASES.iter().find(|(a, _)| *a == lower).map(|(_, f)| *f);
    let close = || {
        KnownField::ALL
            .iter()
            .map(|f| {
                let full = f.name();
                let last = full.rsplit('.').next().unwrap_or(full);
                (distance(&lower, full).min(distance(&lower, last)), *f)
            })
            .min_by_key(|(d, _)| *d)
            .filter(|(d, _)| *d <= 2 && *d < lower.chars().count())
            .map(|(_, f)| f)
    };
    if let Some(f) = alias {
        return format!("unknown field {name}; did you mean {} (or @{name} in the record)?", f.name());
    }
    match close() {
        Some(f) => format!("unknown field {name}; did you mean {}?", f.name()),
        None => format!(
            "unknown field {name}; use @{name} for a path in the record, or quote text that contains :"
        ),
    }
}

/// Levenshtein distance over characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1).min(row[j] + 1).min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(distance("servce", "service"), 1);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("kitten", "sitting"), 3);
    }

    #[test]
    fn suggestions() {
        let check = |name: &str, expected: &str| assert_eq!(unknown_field(name), expected);
        check("servce", "unknown field servce; did you mean service?");
        check("Service", "unknown field Service; did you mean service?");
        check("eventName", "unknown field eventName; did you mean action (or @eventName in the record)?");
        check("arn", "unknown field arn; did you mean actor.arn?");
        check("actor.nmae", "unknown field actor.nmae; did you mean actor.name?");
        check(
            "https",
            "unknown field https; use @https for a path in the record, or quote text that contains :",
        );
    }
}
