use proptest::prelude::*;
use serde_json::json;

use super::*;

fn parse(s: &str) -> Result<Json, JsonError> {
    Json::parse(s.as_bytes().to_vec())
}

#[test]
fn reads_like_serde_json() {
    let text = r#" {"a": {"b": 1, "c": null, "d": {}}, "e": [], "f": [1, -2.5e3, "x", true, false, [[]]],
        "g\u00e9\"": "tab\tq\"\u00e9\ud83d\ude00/\/", "h": "plain é ü", "": 0} "#;
    let doc = parse(text).unwrap();
    let expected: serde_json::Value = serde_json::from_str(text).unwrap();
    assert_eq!(doc.to_serde(), expected);
    let root = doc.root();
    assert_eq!(root.get("h").and_then(Value::as_str), Some("plain é ü"));
    assert_eq!(root.get("gé\"").and_then(Value::as_str), Some("tab\tq\"é😀//"));
    assert!(root.get("a").and_then(|a| a.get("c")).unwrap().is_null());
    assert!(root.get("missing").is_none());
    let Some(Value::Array(f)) = root.get("f") else { panic!("f is an array") };
    assert_eq!(f.len(), 6);
    let Some(Value::Number(n)) = f.iter().nth(1) else { panic!("a number") };
    assert_eq!((n.as_f64(), n.as_str()), (Some(-2500.0), "-2.5e3"));
    let keys: Vec<&str> = root.as_object().unwrap().iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["a", "e", "f", "gé\"", "h", ""], "document order");
    assert!(matches!(root.get("e"), Some(Value::Array(a)) if a.is_empty()));
    assert!(matches!(root.get("a").unwrap().get("d"), Some(Value::Object(o)) if o.is_empty()));
    assert_eq!(doc.bytes(), text.as_bytes());
}

#[test]
fn scalars_at_the_top_and_negative_zero() {
    assert_eq!(parse(" 12 ").unwrap().to_serde(), json!(12));
    assert_eq!(parse("\"s\"").unwrap().root().as_str(), Some("s"));
    let zero = parse("-0").unwrap();
    let Value::Number(z) = zero.root() else { panic!("a number") };
    assert!(z.as_f64().unwrap().is_sign_positive());
    // Tiny numbers read as 0, as serde_json reads them; huge ones are refused (above).
    assert_eq!(
        parse("1e-400").unwrap().to_serde(),
        serde_json::from_str::<serde_json::Value>("1e-400").unwrap()
    );
}

#[test]
fn errors_name_the_problem_and_the_byte() {
    let cases: &[(&[u8], usize, &str)] = &[
        (b"", 0, "unexpected end"),
        (b"{\"a\": 1", 7, "end of the record in an object"),
        (b"{\"a\": \"x", 8, "end of the record in a string"),
        (b"[1 2]", 3, "expected , or ]"),
        (b"{\"a\" 1}", 5, "expected :"),
        (b"{1: 2}", 1, "expected a key"),
        (b"{\"a\": tru}", 6, "expected a value"),
        (b"01", 1, "unexpected data after"),
        (b"1.", 2, "after the decimal point"),
        (b"1e+", 3, "exponent"),
        (b"-", 1, "invalid number"),
        (b"\"a\x01\"", 2, "control character"),
        (b"\"\\x\"", 1, "invalid escape"),
        (b"\"\\u12\"", 1, "\\u escape"),
        (b"\"\\u+123\"", 1, "invalid \\u escape"),
        (b"\"\\ud800\"", 1, "lone leading surrogate"),
        (b"\"\\udc00\"", 1, "lone trailing surrogate"),
        (b"\"\\ud800\\u0041\"", 1, "low surrogate"),
        (b"{\"a\": 1, \"a\": 2}", 0, "duplicate key \"a\""),
        (b"[\"ok\", \"\xff\"]", 8, "invalid UTF-8"),
        (b"{} x", 3, "unexpected data after"),
        (b"[1, 100e00309]", 4, "number out of range"),
        (b"-1e400", 0, "number out of range"),
    ];
    for &(input, offset, message) in cases {
        let e = Json::parse(input.to_vec()).expect_err(&String::from_utf8_lossy(input));
        assert!(e.message.contains(message), "{:?}: {e}", String::from_utf8_lossy(input));
        assert_eq!(e.offset, offset, "{:?}: {e}", String::from_utf8_lossy(input));
    }
}

#[test]
fn duplicate_keys_in_large_objects_and_escaped_keys() {
    let mut members: Vec<String> = (0..40).map(|i| format!("\"k{i}\": {i}")).collect();
    assert!(parse(&format!("{{{}}}", members.join(","))).is_ok());
    members.push("\"k\\u0031\": 0".into()); // "k1" again, written with an escape
    let e = parse(&format!("{{{}}}", members.join(","))).unwrap_err();
    assert!(e.message.contains("duplicate key \"k1\""), "{e}");
    // The same key in two different objects is fine.
    assert!(parse(r#"{"a": {"x": 1}, "b": {"x": 2}, "x": [{"x": 1}, {"x": 2}]}"#).is_ok());
}

#[test]
fn depth_is_limited() {
    let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    assert!(parse(&deep(MAX_DEPTH)).is_ok());
    let e = parse(&deep(MAX_DEPTH + 1)).unwrap_err();
    assert!(e.message.contains("nested too deep"), "{e}");
    assert_eq!(e.offset, MAX_DEPTH);
}

#[test]
fn string_scan_finds_specials_at_every_position() {
    // Every position in and around one 8-byte word, each special byte, after ASCII and UTF-8.
    for prefix in ["", "é", "abcdefg", "abcdefgh", "0123456789abcdef"] {
        for len in 0..20 {
            let body: String = prefix.chars().chain("xyzé".chars().cycle()).take(len).collect();
            let quoted = format!("[\"{body}\\\"{body}\"]");
            let doc = parse(&quoted).unwrap();
            let Value::Array(a) = doc.root() else { panic!() };
            assert_eq!(a.iter().next().and_then(Value::as_str), Some(format!("{body}\"{body}").as_str()));
            let control = format!("[\"{body}\u{1}\"]");
            assert!(parse(&control).unwrap_err().message.contains("control character"), "{control:?}");
        }
    }
}

fn arb_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |x| x.is_finite()).prop_map(|x| json!(x)),
        ".{0,12}".prop_map(serde_json::Value::String),
        "[a-z\"\\\\/\u{0}-\u{1f}é😀]{0,12}".prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(5, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(serde_json::Value::Array),
            prop::collection::btree_map("[a-zé\"\\\\.]{0,6}", inner, 0..20)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    /// What serde_json writes, `Json` reads as serde_json does, pretty or compact. (Not always
    /// `v` itself: serde_json's own float parsing may be off by one ulp.)
    #[test]
    fn round_trips_serde_json(v in arb_value(), pretty in any::<bool>()) {
        let text = if pretty { serde_json::to_string_pretty(&v) } else { serde_json::to_string(&v) }.unwrap();
        let expected: serde_json::Value = serde_json::from_str(&text).unwrap();
        let doc = Json::parse(text.into_bytes()).unwrap();
        prop_assert_eq!(doc.to_serde(), expected);
    }

    /// On damaged input, `Json` accepts exactly what serde_json accepts (but duplicate keys,
    /// which it refuses), and reads it the same.
    #[test]
    fn agrees_with_serde_json_on_damaged_input(v in arb_value(), cut in any::<prop::sample::Index>(),
                                                byte in any::<u8>(), mode in 0..3u8) {
        let mut bytes = serde_json::to_vec(&v).unwrap();
        let at = cut.index(bytes.len() + 1);
        match mode {
            0 => bytes.truncate(at),
            1 => bytes.insert(at, byte),
            _ => if at < bytes.len() { bytes[at] = byte },
        }
        let serde: Result<serde_json::Value, _> = serde_json::from_slice(&bytes);
        match Json::parse(bytes.clone()) {
            Ok(doc) => prop_assert_eq!(Some(doc.to_serde()), serde.ok(), "on {:?}", String::from_utf8_lossy(&bytes)),
            Err(e) => prop_assert!(serde.is_err() || e.message.contains("duplicate key"),
                "Json refused what serde_json read: {} in {:?}", e, String::from_utf8_lossy(&bytes)),
        }
    }
}
