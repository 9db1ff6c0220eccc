//! How results look on the terminal: tables, JSON, human-readable numbers.

use chrono::{TimeZone, Utc};
use serde::Serialize;
use trailwatch_query::KnownField;
use trailwatch_store::{FacetResult, Histogram, StoreStats, StoredEvent};

pub fn json<T: Serialize>(value: &T) {
    println!("{}", serde_json::to_string_pretty(value).expect("serializable"));
}

pub fn json_line<T: Serialize>(value: &T) {
    println!("{}", serde_json::to_string(value).expect("serializable"));
}

pub fn time(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map_or_else(|| ms.to_string(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string())
}

pub fn human_count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Prints rows with columns padded to their widest cell (the last column is not padded).
pub fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        println!("{}", s.trim_end());
    };
    line(header.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}

pub fn events_table(events: &[StoredEvent]) {
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|s| {
            let e = &s.event;
            vec![
                time(e.time),
                e.account.clone(),
                e.region.clone(),
                e.source_ip.clone().unwrap_or_default(),
                e.error_code.clone().unwrap_or_else(|| e.outcome.as_str().to_owned()),
                e.title.clone(),
            ]
        })
        .collect();
    table(&["TIME (UTC)", "ACCOUNT", "REGION", "SOURCE IP", "OUTCOME", "EVENT"], &rows);
}

pub fn facets_table(f: &FacetResult) {
    let total: u64 = f.values.iter().map(|v| v.count).sum::<u64>() + f.other;
    let mut rows: Vec<Vec<String>> = f
        .values
        .iter()
        .map(|v| vec![human_count(v.count), percent(v.count, total), v.value.clone()])
        .collect();
    if f.other > 0 {
        rows.push(vec![human_count(f.other), percent(f.other, total), "(other values)".into()]);
    }
    if f.missing > 0 {
        rows.push(vec![human_count(f.missing), String::new(), format!("(no {})", f.field)]);
    }
    table(&["COUNT", "SHARE", &f.field.to_uppercase()], &rows);
}

fn percent(n: u64, total: u64) -> String {
    if total == 0 {
        String::new()
    } else {
        format!("{:.1}%", n as f64 * 100.0 / total as f64)
    }
}

pub fn histogram_table(h: &Histogram) {
    let buckets = h.series.first().map_or(0, |s| s.counts.len());
    let mut header = vec!["BUCKET (UTC)".to_owned()];
    header.extend(h.series.iter().map(|s| {
        s.value.clone().unwrap_or_else(|| if h.series.len() > 1 { "(other)".into() } else { "COUNT".into() })
    }));
    let max = h.series.iter().flat_map(|s| s.counts.iter()).copied().max().unwrap_or(0).max(1);
    let mut rows = Vec::new();
    for b in 0..buckets {
        let mut row = vec![time(h.start + b as i64 * h.interval_ms)];
        let mut sum = 0;
        for s in &h.series {
            row.push(human_count(s.counts[b]));
            sum += s.counts[b];
        }
        if h.series.len() == 1 {
            row.push("#".repeat(((sum as f64 / max as f64) * 40.0).ceil() as usize));
        }
        rows.push(row);
    }
    if h.series.len() == 1 {
        header.push(String::new());
    }
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    table(&header, &rows);
}

pub fn stats(s: &StoreStats) {
    println!("events:   {}", human_count(s.events));
    println!("oldest:   {}", s.oldest.map_or("-".into(), time));
    println!("newest:   {}", s.newest.map_or("-".into(), time));
    println!("segments: {}", s.segments);
    println!("on disk:  {}", human_bytes(s.index_bytes));
}

pub fn fields() {
    let rows: Vec<Vec<String>> = KnownField::ALL
        .iter()
        .map(|f| vec![f.name().to_owned(), format!("{:?}", f.kind()).to_lowercase(), f.doc().to_owned()])
        .collect();
    table(&["FIELD", "KIND", "WHAT IT HOLDS"], &rows);
    println!("\nAny field of the original record: @path, e.g. @userIdentity.sessionContext.attributes.mfaAuthenticated");
}
