//! The streaming decoder against good, bad and hostile files.

use std::io::Write;

use flate2::{write::GzEncoder, Compression};
use proptest::prelude::*;
use trailwatch_cloudtrail::{DecodeError, Limits, RecordReader};

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Reads everything: the records as strings, and the errors as strings.
fn read_with(data: &[u8], limits: Limits, buffer: usize) -> (Vec<String>, Vec<String>) {
    let reader = RecordReader::with_buffer_size(data, limits, buffer).unwrap();
    let mut records = Vec::new();
    let mut errors = Vec::new();
    for item in reader {
        match item {
            Ok(r) => records.push(String::from_utf8(r.bytes).unwrap()),
            Err(e) => errors.push(e.to_string()),
        }
    }
    (records, errors)
}

fn read(data: &[u8]) -> (Vec<String>, Vec<String>) {
    read_with(data, Limits::default(), 256 * 1024)
}

const R1: &str = r#"{"eventTime":"2024-08-01T13:33:28Z","eventName":"A","x":{"y":[1,2,{"z":"}]\"{["}]}}"#;
const R2: &str = r#"{"eventTime":"2024-08-01T13:33:29Z","eventName":"B"}"#;

#[test]
fn cloudtrail_document() {
    let doc = format!("{{\"Records\": [ {R1} ,\n{R2}]}}\n");
    assert_eq!(read(doc.as_bytes()), (vec![R1.into(), R2.into()], vec![]));
    assert_eq!(read(&gz(doc.as_bytes())), (vec![R1.into(), R2.into()], vec![]));
}

#[test]
fn multi_member_gzip_split_inside_a_record() {
    let doc = format!("{{\"Records\":[{R1},{R2}]}}");
    let (a, b) = doc.as_bytes().split_at(30);
    let mut data = gz(a);
    data.extend(gz(b));
    assert_eq!(read(&data), (vec![R1.into(), R2.into()], vec![]));
}

#[test]
fn other_shapes() {
    // A bare array, JSON Lines, other keys around Records, a byte order mark, empty Records.
    assert_eq!(read(format!("[{R1},{R2}]").as_bytes()).0, vec![R1, R2]);
    assert_eq!(read(format!("{R1}\n{R2}\n").as_bytes()).0, vec![R1, R2]);
    let doc = format!("{{\"a\":{{\"Records\":1}},\"Records\":[{R1}],\"b\":[\"]\"]}}");
    assert_eq!(read(doc.as_bytes()), (vec![R1.into()], vec![]));
    assert_eq!(read(format!("\u{feff}{{\"Records\":[{R2}]}}").as_bytes()).0, vec![R2]);
    assert_eq!(read(b"{\"Records\":[]}"), (vec![], vec![]));
}

#[test]
fn empty_and_blank_files() {
    assert_eq!(read(b"").1, vec!["file is empty"]);
    assert_eq!(read(b" \n\t ").1, vec!["file is empty"]);
    assert_eq!(read(&gz(b"")).1, vec!["file is empty"]);
}

#[test]
fn truncated_json_keeps_the_records_before() {
    let doc = format!("{{\"Records\":[{R1},{R2},{{\"eventTime\":\"2024");
    let (records, errors) = read(doc.as_bytes());
    assert_eq!(records, vec![R1, R2]);
    assert_eq!(errors.len(), 1);
    assert!(errors[0].starts_with("file ends in the middle of the JSON at byte"), "{errors:?}");
}

#[test]
fn truncated_gzip_keeps_the_records_before() {
    let mut doc = String::from("{\"Records\":[");
    for i in 0..2000 {
        doc.push_str(&format!(
            "{{\"eventTime\":\"2024-08-01T13:33:28Z\",\"n\":{i},\"pad\":\"{}\"}},",
            "x".repeat(i % 50)
        ));
    }
    doc.push_str(&format!("{R2}]}}"));
    let data = gz(doc.as_bytes());
    let (records, errors) = read(&data[..data.len() / 2]);
    assert!(!records.is_empty() && records.len() < 2001, "{}", records.len());
    assert_eq!(errors.len(), 1);
    assert!(errors[0].starts_with("gzip data is corrupt or truncated"), "{errors:?}");
}

#[test]
fn corrupt_gzip_and_garbage() {
    let good = gz(format!("{{\"Records\":[{R1}]}}").as_bytes());
    // A bad CRC trailer: the records were read, then the file is reported corrupt.
    let mut data = good.clone();
    let n = data.len();
    data[n - 8] ^= 0xff;
    let (records, errors) = read(&data);
    assert_eq!(records, vec![R1]);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].starts_with("gzip data is corrupt"), "{errors:?}");
    // A bad header (compression method): nothing can be read.
    let mut data = good.clone();
    data[2] = 0x07;
    let (records, errors) = read(&data);
    assert!(records.is_empty());
    assert!(errors[0].starts_with("gzip data is corrupt"), "{errors:?}");
    // Garbled deflate data: some error, one only, no panic.
    let mut data = good;
    let mid = data.len() / 2;
    for b in &mut data[mid..mid + 8] {
        *b ^= 0x5a;
    }
    assert_eq!(read(&data).1.len(), 1);

    let (records, errors) = read(b"\x00\x01binary");
    assert!(records.is_empty());
    assert_eq!(
        errors,
        vec!["invalid JSON at byte 0: expected { or [ at the start of the file, found byte 0x00"]
    );
}

#[test]
fn structure_errors() {
    assert_eq!(
        read(b"{\"foo\": 1}").1,
        vec!["not a CloudTrail log file: the top-level object has no Records array"]
    );
    assert_eq!(read(b"{}").1, vec!["not a CloudTrail log file: the top-level object has no Records array"]);
    assert_eq!(read(b"{\"Records\": {\"a\": 1}}").1, vec!["Records is not an array (found an object)"]);
    assert_eq!(read(b"{\"Records\": \"x\"}").1, vec!["Records is not an array (found a string)"]);
    let doc = format!("{{\"Records\":[{R1}]}} trailing");
    let (records, errors) = read(doc.as_bytes());
    assert_eq!(records, vec![R1]);
    assert_eq!(errors, vec![format!("unexpected data after the end of the JSON at byte {}", doc.len() - 8)]);
    let doc = format!("{{\"Records\":[{R1} {R2}]}}");
    let (records, errors) = read(doc.as_bytes());
    assert_eq!(records, vec![R1]);
    assert_eq!(
        errors,
        vec![format!("invalid JSON at byte {}: expected , or ] between records, found '{{'", 13 + R1.len())]
    );
}

#[test]
fn record_level_errors_let_the_rest_through() {
    let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
    let huge = format!("{{\"eventTime\":\"x\",\"s\":\"{}\"}}", "a".repeat(3 << 20));
    let doc = format!("{{\"Records\":[{R1}, 42, \"s\", {{\"d\":{deep}}}, {huge}, {R2}]}}");
    let (records, errors) = read(doc.as_bytes());
    assert_eq!(records, vec![R1, R2]);
    assert_eq!(
        errors,
        vec![
            "record 1 is not a JSON object (found a number)",
            "record 2 is not a JSON object (found a string)",
            "record 3 nests deeper than the limit of 64 levels",
            "record 4 is larger than the limit of 1048576 bytes",
        ]
    );
}

#[test]
fn gzip_bomb_stops_at_the_limit() {
    // 64 MiB of blanks inside a record compress to about 64 KiB.
    let mut e = GzEncoder::new(Vec::new(), Compression::best());
    e.write_all(b"{\"Records\":[{\"a\":\"").unwrap();
    let blank = vec![b' '; 1 << 20];
    for _ in 0..64 {
        e.write_all(&blank).unwrap();
    }
    e.write_all(b"\"}]}").unwrap();
    let data = e.finish().unwrap();
    assert!(data.len() < 1 << 20);
    let limits = Limits { max_decompressed_bytes: 8 << 20, ..Limits::default() };
    let reader = RecordReader::new(&data[..], limits).unwrap();
    let items: Vec<_> = reader.collect();
    assert_eq!(items.len(), 1);
    assert!(matches!(items[0], Err(DecodeError::TooLarge { limit }) if limit == 8 << 20));
}

#[test]
fn top_level_record_too_large_or_deep() {
    let limits = Limits { max_record_bytes: 64, max_depth: 3, ..Limits::default() };
    let big = format!("{{\"eventTime\":\"{}\"}}", "x".repeat(100));
    let (records, errors) = read_with(format!("{big}\n{R2}").as_bytes(), limits, 16);
    assert_eq!(records, vec![R2]);
    assert_eq!(errors, vec!["record 0 is larger than the limit of 64 bytes"]);
    let deep = r#"{"eventTime":"x","a":[[[[1]]]]}"#;
    let (records, errors) = read_with(format!("{deep}\n{R2}").as_bytes(), limits, 16);
    assert_eq!(records, vec![R2]);
    assert_eq!(errors, vec!["record 0 nests deeper than the limit of 3 levels"]);
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        "[ -~\\\\\"{}\\[\\]\u{e9}\u{1F600}]{0,12}".prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(serde_json::Value::Array),
            prop::collection::btree_map("[a-z\"\\\\{]{1,6}", inner, 0..5)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn any_records_come_back_byte_for_byte(
        records in prop::collection::vec(prop::collection::btree_map("[a-zA-Z]{1,8}", json_value(), 0..6), 0..8),
        buffer in 1usize..40,
        pretty in any::<bool>(),
        gzip in any::<bool>(),
    ) {
        let texts: Vec<String> = records
            .iter()
            .map(|m| {
                let v = serde_json::Value::Object(m.clone().into_iter().collect());
                if pretty { serde_json::to_string_pretty(&v).unwrap() } else { v.to_string() }
            })
            .collect();
        let doc = format!("{{\"Records\":[{}]}}", texts.join(",\n "));
        let data = if gzip { gz(doc.as_bytes()) } else { doc.into_bytes() };
        let (got, errors) = read_with(&data, Limits::default(), buffer);
        prop_assert!(errors.is_empty(), "{:?}", errors);
        prop_assert_eq!(got, texts);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..300), buffer in 1usize..20) {
        let limits = Limits { max_record_bytes: 64, max_depth: 4, max_decompressed_bytes: 1 << 20 };
        let reader = RecordReader::with_buffer_size(&data[..], limits, buffer).unwrap();
        let mut fatal = 0;
        for item in reader.take(1000) {
            if let Err(e) = item { if e.is_fatal() { fatal += 1; } }
        }
        prop_assert!(fatal <= 1);
    }
}
