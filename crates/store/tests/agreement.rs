//! The store's answer and the in-memory evaluation of the same query agree on every event.
//!
//! The events are the Stratus Red Team records plus generated records with awkward shapes
//! (numbers, booleans, nested arrays, unicode, long strings, dotted keys, IPv6 and mapped IPv4
//! addresses). Queries are random ASTs built from the values those events really hold, so most
//! of them match something.

use std::collections::BTreeSet;
use std::ops::Bound;
use std::path::Path;
use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use rand::{rngs::SmallRng, Rng, SeedableRng};
use serde_json::json;
use trailwatch_cloudtrail::event::for_each_present_path;
use trailwatch_cloudtrail::json::Value as RawValue;
use trailwatch_cloudtrail::{normalize, Event, RecordContext};
use trailwatch_query::{
    matches, text, FieldKind, FieldRef, FieldValues, GlobToken, KnownField, Predicate, Query, RangeValue,
    TextQuery,
};
use trailwatch_store::{EmbeddedStore, EventStore, NewEvent, SearchRequest, StoreOptions, TimeRange};

struct Fixture {
    _dir: tempfile::TempDir,
    store: EmbeddedStore,
    events: Vec<Event>,
    /// Raw paths present in some event.
    paths: Vec<String>,
    /// Every string found in any searchable place, to pick values and words from.
    strings: Vec<String>,
    numbers: Vec<f64>,
}

fn stratus_records() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cloudtrail/tests/data/stratus");
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    for f in files.iter().filter(|f| f.extension().is_some_and(|e| e == "jsonl")) {
        for line in std::fs::read_to_string(f).unwrap().lines().filter(|l| !l.trim().is_empty()) {
            out.push(line.as_bytes().to_vec());
        }
    }
    assert!(out.len() > 300, "expected the Stratus records in {}", dir.display());
    out
}

fn odd_records() -> Vec<Vec<u8>> {
    let mut rng = SmallRng::seed_from_u64(7);
    let words = ["Alpha", "beta", "GAMMA", "delta-epsilon", "été", "Zürich", "x1", "42", "true", "a.b"];
    let ips =
        ["10.1.2.3", "192.168.0.9", "2001:db8::7", "::ffff:10.9.9.9", "ec2.amazonaws.com", "AWS Internal"];
    let mut out = Vec::new();
    for i in 0..120 {
        let w = |rng: &mut SmallRng| words[rng.random_range(0..words.len())];
        let region = ["us-east-1", "eu-west-1"][i % 2];
        let account = ["111111111111", "222222222222"][i % 2];
        let source = ["iam", "s3", "ec2", "sts"][i % 4];
        let verb = ["Create", "Delete", "Get", "List"][i % 4];
        let kind = ["IAMUser", "Root", "AssumedRole"][i % 3];
        let long = "L".repeat(if i % 17 == 0 { 3000 } else { 45 });
        let mut rec = json!({
            "eventVersion": "1.08",
            "eventID": format!("odd-{i}"),
            "eventTime": format!("2024-08-0{}T1{}:0{}:00Z", 1 + i % 3, i % 10, i % 7),
            "eventSource": format!("{source}.amazonaws.com"),
            "eventName": format!("{verb}{}", w(&mut rng)),
            "awsRegion": region,
            "sourceIPAddress": ips[i % ips.len()],
            "userAgent": format!("aws-cli/2.{} {}", i % 5, w(&mut rng)),
            "readOnly": i % 3 == 0,
            "recipientAccountId": account,
            "userIdentity": {"type": kind, "userName": w(&mut rng),
                              "arn": format!("arn:aws:iam::111111111111:user/{}", w(&mut rng))},
            "requestParameters": {
                "n": rng.random_range(-5..50),
                "f": (rng.random_range(-500..500) as f64) / 10.0,
                "flag": rng.random_bool(0.5),
                "name": format!("{} {} {}", w(&mut rng), w(&mut rng), w(&mut rng)),
                "list": [w(&mut rng), {"k": w(&mut rng), "v": rng.random_range(0..3)}, [w(&mut rng)]],
                "dotted.key": w(&mut rng),
                "long": long,
                "nothing": null,
                "empty": {},
            },
            "resources": [{"ARN": format!("arn:aws:s3:::bucket-{}", i % 4)}, {"ARN": format!("arn:aws:s3:::b/{}", w(&mut rng))}],
        });
        if i % 4 == 0 {
            rec["errorCode"] = json!(if i % 8 == 0 { "AccessDenied" } else { "NoSuchEntity" });
            rec["errorMessage"] = json!(format!("{} is not authorized", w(&mut rng)));
        }
        if i % 5 == 0 {
            rec.as_object_mut().unwrap().remove("readOnly");
        }
        if i % 9 == 0 {
            // Shapes where a normalized field is not a copy of its raw path.
            rec["userIdentity"]["type"] = json!([kind, "Root"]);
            rec["awsRegion"] = json!(["r1", region]);
            rec["eventID"] = json!("");
        }
        out.push(serde_json::to_vec(&rec).unwrap());
    }
    out
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(
            dir.path(),
            StoreOptions { writer_memory_bytes: 32 << 20, writer_threads: 1 },
        )
        .unwrap();
        let mut events = Vec::new();
        let mut batch = Vec::new();
        let ctx = RecordContext {
            account: Some("999999999999".into()),
            region: Some("xx-test-1".into()),
            received: 1,
        };
        for bytes in stratus_records().into_iter().chain(odd_records()) {
            let event = normalize(bytes, &ctx).unwrap();
            events.push(event.clone());
            batch.push(NewEvent { event });
        }
        // Ten commits make ten segments; retention then deletes the oldest events from some of
        // them, and merges (which start after the eighth commit) combine the small ones, so
        // queries run on merged segments, on segments with deletions and on untouched ones.
        let per = batch.len().div_ceil(10);
        while !batch.is_empty() {
            let rest = batch.split_off(per.min(batch.len()));
            store.add(std::mem::replace(&mut batch, rest)).unwrap();
            store.commit().unwrap();
        }
        // Stratus records repeat some event ids: the store keeps the first of each.
        let mut seen = BTreeSet::new();
        events.retain(|e| seen.insert(e.id.to_lowercase()));
        let mut times: Vec<i64> = events.iter().map(|e| e.time).collect();
        times.sort_unstable();
        let cutoff = times[times.len() / 20];
        let deleted = store.delete_before(cutoff).unwrap();
        events.retain(|e| e.time >= cutoff);
        store.finish().unwrap();
        let stats = store.stats().unwrap();
        assert!(deleted > 0 && stats.segments < 10, "{deleted} deleted, {} segments", stats.segments);
        assert_eq!(stats.events, events.len() as u64);

        let mut paths = BTreeSet::new();
        let mut strings = BTreeSet::new();
        let mut numbers = BTreeSet::new();
        for e in &events {
            for_each_present_path(e.raw.root(), |p| {
                paths.insert(p.to_owned());
            });
            strings.insert(e.title.clone());
            for s in e.raw_strings() {
                strings.insert(s.to_owned());
            }
            collect_numbers(e.raw.root(), &mut numbers);
        }
        paths.insert("no.such.path".into());
        Fixture {
            _dir: dir,
            store,
            events,
            paths: paths.into_iter().collect(),
            strings: strings.into_iter().collect(),
            numbers: numbers.into_iter().map(|n: i64| n as f64 / 10.0).collect(),
        }
    })
}

fn collect_numbers(v: RawValue<'_>, out: &mut BTreeSet<i64>) {
    match v {
        RawValue::Number(n) => {
            out.insert((n.as_f64().unwrap_or(0.0) * 10.0).round() as i64);
        }
        RawValue::Array(a) => a.iter().for_each(|x| collect_numbers(x, out)),
        RawValue::Object(m) => m.values().for_each(|x| collect_numbers(x, out)),
        _ => {}
    }
}

/// A random value of a known field, from some event.
fn value_of(f: &Fixture, field: KnownField, pick: usize) -> String {
    let e = &f.events[pick % f.events.len()];
    match field.values(e) {
        FieldValues::Keywords(v) if !v.is_empty() => v[pick % v.len()].to_string(),
        FieldValues::Time(t) => t.to_string(),
        _ => f.strings[pick % f.strings.len()].clone(),
    }
}

fn glob_from(s: &str, pick: usize) -> Vec<GlobToken> {
    let lower = text::keyword(s).unwrap_or_default();
    let chars: Vec<char> = lower.chars().take(60).collect();
    let cut = if chars.is_empty() { 0 } else { pick % chars.len() };
    let head: String = chars[..cut].iter().collect();
    let tail: String = chars[cut..].iter().skip(1).collect();
    match pick % 4 {
        0 => vec![GlobToken::Literal(head), GlobToken::AnyRun],
        1 => vec![GlobToken::AnyRun, GlobToken::Literal(tail)],
        2 => vec![GlobToken::Literal(head), GlobToken::AnyChar, GlobToken::Literal(tail)],
        _ => vec![
            GlobToken::AnyRun,
            GlobToken::Literal(head.chars().rev().take(2).collect()),
            GlobToken::AnyRun,
        ],
    }
    .into_iter()
    .filter(|t| !matches!(t, GlobToken::Literal(s) if s.is_empty()))
    .collect()
}

fn bound<T>(kind: usize, v: T) -> Bound<T> {
    match kind % 3 {
        0 => Bound::Included(v),
        1 => Bound::Excluded(v),
        _ => Bound::Unbounded,
    }
}

fn leaf(f: &'static Fixture) -> impl Strategy<Value = Query> {
    (0usize..12, any::<usize>(), any::<usize>(), 0usize..9).prop_map(move |(kind, a, b, c)| {
        let known = KnownField::ALL[a % KnownField::ALL.len()];
        let path = f.paths[a % f.paths.len()].clone();
        match kind {
            0 => Query::Field(FieldRef::Known(known), Predicate::Exists),
            1 | 2 => {
                if known.kind() == FieldKind::Time {
                    let t1 = f.events[a % f.events.len()].time;
                    let t2 = f.events[b % f.events.len()].time;
                    let (lo, hi) = (t1.min(t2), t1.max(t2));
                    let pred =
                        Predicate::Range(bound(c, RangeValue::Time(lo)), bound(c / 3, RangeValue::Time(hi)));
                    Query::Field(FieldRef::Known(known), pred)
                } else {
                    let v = value_of(f, known, b);
                    Query::Field(FieldRef::Known(known), Predicate::Equals(text::keyword(&v).unwrap_or(v)))
                }
            }
            3 => {
                let v = value_of(f, known, b);
                Query::Field(FieldRef::Known(known), Predicate::Wildcard(glob_from(&v, c + b)))
            }
            4 => {
                let x = text::keyword(&value_of(f, known, b)).unwrap_or_default();
                let y = text::keyword(&value_of(f, known, a ^ b)).unwrap_or_default();
                let (lo, hi) = if x <= y { (x, y) } else { (y, x) };
                let pred =
                    Predicate::Range(bound(c, RangeValue::Text(lo)), bound(c / 3, RangeValue::Text(hi)));
                Query::Field(FieldRef::Known(known), pred)
            }
            5 => {
                let nets = [
                    "0.0.0.0/0",
                    "10.0.0.0/8",
                    "192.168.0.0/16",
                    "200.0.0.0/7",
                    "::/0",
                    "2001:db8::/32",
                    "::ffff:0:0/96",
                    "10.9.9.9/32",
                ];
                Query::Field(
                    FieldRef::Known(KnownField::SourceIp),
                    Predicate::Cidr(nets[c % nets.len()].parse().unwrap()),
                )
            }
            6 => Query::Field(FieldRef::Raw(path), Predicate::Exists),
            7 => {
                // A value at that path in some event, or any string, or a number.
                let e = &f.events[b % f.events.len()];
                let mut vals = Vec::new();
                trailwatch_cloudtrail::event::for_each_value_at(e.raw.root(), &path, &mut |v| vals.push(v));
                let v = match vals.get(c % vals.len().max(1)) {
                    Some(RawValue::String(s)) => s.to_string(),
                    Some(RawValue::Number(n)) => n.to_string(),
                    Some(RawValue::Bool(x)) => x.to_string(),
                    _ => f.strings[b % f.strings.len()].clone(),
                };
                Query::Field(FieldRef::Raw(path), Predicate::Equals(text::keyword(&v).unwrap_or(v)))
            }
            8 => Query::Field(
                FieldRef::Raw(path),
                Predicate::Wildcard(glob_from(&f.strings[b % f.strings.len()], c + a)),
            ),
            9 => {
                let n1 = f.numbers[b % f.numbers.len()];
                let n2 = f.numbers[(a / 7) % f.numbers.len()];
                let (lo, hi) = (n1.min(n2), n1.max(n2));
                let pred =
                    Predicate::Range(bound(c, RangeValue::Number(lo)), bound(c / 3, RangeValue::Number(hi)));
                Query::Field(FieldRef::Raw(path), pred)
            }
            10 => {
                let x = text::keyword(&f.strings[b % f.strings.len()]).unwrap_or_default();
                let pred = Predicate::Range(bound(c, RangeValue::Text(x)), Bound::Unbounded);
                Query::Field(FieldRef::Raw(path), pred)
            }
            _ => {
                let s = &f.strings[b % f.strings.len()];
                let words = text::words(s);
                if words.is_empty() || c == 0 {
                    let w = words.first().map(|w| w.1.clone()).unwrap_or_else(|| "zzz".into());
                    Query::Text(TextQuery::Wildcard(glob_from(&w, a)))
                } else {
                    let start = a % words.len();
                    let len = 1 + c % 3;
                    Query::Text(TextQuery::Phrase(words[start..(start + len).min(words.len())].to_vec()))
                }
            }
        }
    })
}

fn query(f: &'static Fixture) -> impl Strategy<Value = Query> {
    leaf(f).prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4).prop_map(Query::And),
            prop::collection::vec(inner.clone(), 1..4).prop_map(Query::Or),
            inner.prop_map(|q| Query::Not(Box::new(q))),
        ]
    })
}

fn store_ids(f: &Fixture, q: &Query) -> BTreeSet<String> {
    let req = SearchRequest {
        query: q.clone(),
        range: TimeRange::default(),
        limit: 10_000,
        offset: 0,
        order: Default::default(),
    };
    let res = f.store.search(&req).unwrap();
    assert_eq!(res.total as usize, res.events.len());
    res.events.into_iter().map(|e| e.event.id).collect()
}

fn memory_ids(f: &Fixture, q: &Query) -> BTreeSet<String> {
    f.events.iter().filter(|e| matches(q, e)).map(|e| e.id.clone()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn store_and_memory_agree(q in query(fixture())) {
        let f = fixture();
        prop_assert_eq!(store_ids(f, &q), memory_ids(f, &q), "query: {:?}", q);
    }
}

#[test]
fn leaf_kinds_each_match_something() {
    // Guards against a generator that only produces queries matching nothing.
    let f = fixture();
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut hits = 0;
    for _ in 0..400 {
        let q = leaf(f).new_tree(&mut runner).unwrap().current();
        if !memory_ids(f, &q).is_empty() {
            hits += 1;
        }
    }
    assert!(hits > 150, "only {hits} of 400 generated leaf queries match any event");
}

#[test]
fn the_parsed_language_agrees_too() {
    let f = fixture();
    let now = 1_800_000_000_000;
    for q in [
        "service:iam action:Create*",
        "-outcome:failure @userIdentity.type:IAMUser",
        "@errorCode:* OR error_code:AccessDenied",
        "source_ip:10.0.0.0/8 OR source_ip:2001:db8::/32",
        "\"is not authorized\"",
        "@requestParameters.n:>=10 @requestParameters.flag:true",
        "@requestParameters.f:[-10 TO 10.5}",
        "actor.type:(Root OR AssumedRole) read_only:false",
        "time:[2024-08-01 TO 2024-08-02}",
        "zürich OR été",
        "@resources.ARN:arn\\:aws\\:s3\\:\\:\\:bucket-*",
        "stratus*",
        "-(title:* source_ip:2001:db8::/32)",
    ] {
        let parsed = trailwatch_query::parse(q, now).unwrap();
        let (s, m) = (store_ids(f, &parsed), memory_ids(f, &parsed));
        assert_eq!(s, m, "{q}");
        assert!(!m.is_empty(), "{q} should match something");
    }
}

#[test]
fn facets_and_histograms_count_what_memory_counts() {
    let f = fixture();
    for field in trailwatch_store::facetable_fields() {
        let res = f
            .store
            .facets(&trailwatch_store::FacetRequest {
                query: Query::All,
                range: TimeRange::default(),
                field,
                size: 1000,
            })
            .unwrap();
        let mut want: std::collections::BTreeMap<String, u64> = Default::default();
        let mut missing = 0;
        for e in &f.events {
            let FieldValues::Keywords(vs) = field.values(e) else { continue };
            if vs.is_empty() {
                missing += 1;
            }
            for v in vs {
                *want.entry(v.into_owned()).or_default() += 1;
            }
        }
        let got: std::collections::BTreeMap<String, u64> =
            res.values.iter().map(|v| (v.value.clone(), v.count)).collect();
        assert_eq!(res.other, 0, "{}", field.name());
        assert_eq!(got, want, "{}", field.name());
        assert_eq!(res.missing, missing, "{}", field.name());
    }
    let (lo, hi) =
        (f.events.iter().map(|e| e.time).min().unwrap(), f.events.iter().map(|e| e.time).max().unwrap());
    let interval = 86_400_000;
    let h = f
        .store
        .histogram(&trailwatch_store::HistogramRequest {
            query: Query::All,
            range: TimeRange { from: Some(lo), to: Some(hi + 1) },
            interval_ms: interval,
            by: Some((KnownField::Service, 3)),
        })
        .unwrap();
    let total: u64 = h.series.iter().flat_map(|s| s.counts.iter()).sum();
    assert_eq!(total, f.events.len() as u64);
    for s in h.series.iter().filter(|s| s.value.is_some()) {
        let name = s.value.as_deref().unwrap();
        let mut want = vec![0u64; s.counts.len()];
        for e in f.events.iter().filter(|e| e.service == name) {
            want[((e.time - h.start) / interval) as usize] += 1;
        }
        assert_eq!(s.counts, want, "service {name}");
    }
}
