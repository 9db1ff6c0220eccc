//! Evaluator tests on hand-built events shaped like real CloudTrail records.

use std::ops::Bound;

use serde_json::{json, Value};
use trailwatch_cloudtrail::{Actor, Category, Event, Outcome};

use super::matches;
use crate::ast::{FieldRef, GlobToken, Predicate, Query, RangeValue, TextQuery};
use crate::fields::KnownField;
use crate::parse::parse;
use crate::text::MAX_KEYWORD_BYTES;

const NOW: i64 = 1_722_519_208_000; // 2024-08-01T13:33:28Z

/// A small stand-in for the normalizer: enough fields for the evaluator to read.
fn event(raw: Value) -> Event {
    let s = |p: &str| raw.pointer(p).and_then(Value::as_str).map(str::to_owned);
    let source = s("/eventSource").unwrap_or_default();
    let error_code = s("/errorCode");
    Event {
        id: s("/eventID").unwrap_or_default(),
        time: crate::time::parse_time(&s("/eventTime").unwrap(), 0).unwrap(),
        received: NOW,
        account: s("/recipientAccountId").unwrap_or_default(),
        region: s("/awsRegion").unwrap_or_default(),
        service: source.split('.').next().unwrap_or_default().to_owned(),
        source,
        action: s("/eventName").unwrap_or_default(),
        event_type: s("/eventType").unwrap_or_default(),
        category: Category::Management,
        read_only: raw.pointer("/readOnly").and_then(Value::as_bool),
        actor: Actor {
            kind: s("/userIdentity/type"),
            arn: s("/userIdentity/arn"),
            name: s("/userIdentity/userName"),
            account: s("/userIdentity/accountId"),
            principal_id: s("/userIdentity/principalId"),
            access_key_id: s("/userIdentity/accessKeyId"),
            ..Actor::default()
        },
        source_ip: s("/sourceIPAddress"),
        user_agent: s("/userAgent"),
        agent: None,
        outcome: if error_code.is_some() || raw.get("errorMessage").is_some() {
            Outcome::Failure
        } else {
            Outcome::Success
        },
        error_code,
        error_message: s("/errorMessage"),
        request_id: s("/requestID"),
        resources: raw
            .pointer("/resources")
            .and_then(Value::as_array)
            .map(|rs| rs.iter().filter_map(|r| r["ARN"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default(),
        title: format!(
            "{} called {}:{}",
            s("/userIdentity/userName").unwrap_or_default(),
            s("/eventSource").unwrap_or_default().split('.').next().unwrap_or_default(),
            s("/eventName").unwrap_or_default()
        ),
        raw: trailwatch_cloudtrail::Json::parse(serde_json::to_vec(&raw).unwrap()).unwrap(),
    }
}

fn stop_logging() -> Event {
    event(json!({
        "awsRegion": "us-east-1",
        "eventCategory": "Management",
        "eventID": "10163ed2-2253-469d-a5ee-cbc6651f8934",
        "eventName": "StopLogging",
        "eventSource": "cloudtrail.amazonaws.com",
        "eventTime": "2024-07-31T13:06:24Z",
        "eventType": "AwsApiCall",
        "eventVersion": "1.10",
        "managementEvent": true,
        "readOnly": false,
        "recipientAccountId": "143434273843",
        "requestID": "14c891b6-11b5-4787-ae97-64a974977078",
        "requestParameters": {"name": "stratus-red-team-ct-stop-trail-buykxbqejv"},
        "responseElements": null,
        "sourceIPAddress": "86.245.153.234",
        "tlsDetails": {
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": "cloudtrail.us-east-1.amazonaws.com",
            "tlsVersion": "TLSv1.3"
        },
        "userAgent": "stratus-red-team_c97089f1-1ae3-4ecc-b006-f5e8fd0f2571",
        "userIdentity": {
            "accessKeyId": "AKIAGGWFBBHBE7D3M9WI",
            "accountId": "143434273843",
            "arn": "arn:aws:iam::143434273843:user/christophe",
            "principalId": "AIDAOC1SYDVN0AF0FMMR",
            "type": "IAMUser",
            "userName": "christophe"
        }
    }))
}

fn failed_login() -> Event {
    event(json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "Root", "principalId": "143434273843", "arn": "arn:aws:iam::143434273843:root", "accountId": "143434273843"},
        "eventTime": "2024-08-01T09:15:02Z",
        "eventSource": "signin.amazonaws.com",
        "eventName": "ConsoleLogin",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "2001:db8::7",
        "userAgent": "Mozilla/5.0 (X11; Linux x86_64)",
        "errorMessage": "Failed authentication",
        "requestParameters": null,
        "responseElements": {"ConsoleLogin": "Failure"},
        "additionalEventData": {"MFAUsed": "No", "MobileVersion": "No", "LoginTo": "https://console.aws.amazon.com/"},
        "eventID": "f3d2b2a8-0a6e-4f0e-9a0e-2b3c4d5e6f70",
        "eventType": "AwsConsoleSignIn",
        "recipientAccountId": "143434273843",
        "resources": [
            {"ARN": "arn:aws:s3:::bucket-a", "type": "AWS::S3::Bucket"},
            {"ARN": "arn:aws:s3:::Bucket-B", "type": "AWS::S3::Bucket"}
        ],
        "stats": {"count": 42, "ratio": 0.5, "flags": [true, null], "empty": {}, "none": null},
        "dotted.key": {"inner": "x"},
        "long": "L".repeat(MAX_KEYWORD_BYTES + 1)
    }))
}

/// Parses `query` and checks it against both events: (stop_logging, failed_login).
fn check(query: &str, expected: (bool, bool)) {
    let q = parse(query, NOW).unwrap_or_else(|e| panic!("{query:?}: {e}"));
    let got = (matches(&q, &stop_logging()), matches(&q, &failed_login()));
    assert_eq!(got, expected, "query {query:?} parsed as {q:?}");
}

#[test]
fn known_keyword_fields() {
    check("service:cloudtrail", (true, false));
    check("service:CLOUDTRAIL", (true, false));
    check("action:StopLogging", (true, false));
    check("action:stop*", (true, false));
    check("action:*login*", (false, true));
    check("action:Console?ogin", (false, true));
    check("actor.type:root", (false, true));
    check("actor.name:*", (true, false));
    check("error_message:*", (false, true));
    check("outcome:success", (true, false));
    check("read_only:false", (true, false));
    check("read_only:*", (true, false));
    check("action:[ConsoleLogin TO StopLogging]", (true, true));
    check("action:{ConsoleLogin TO StopLogging}", (false, false));
    check("action:>d", (true, false));
    check("action:<=consolelogin", (false, true));
    check("resource:arn\\:aws\\:s3\\:\\:\\:bucket-b", (false, true));
    check("resource:arn:aws:s3:::bucket-a", (false, true));
    check("actor.arn:arn:aws:iam::143434273843:user/christophe", (true, false));
}

#[test]
fn cidr_and_ip_fields() {
    check("source_ip:86.245.0.0/16", (true, false));
    check("source_ip:86.245.153.234", (true, false));
    check("source_ip:2001:db8::/32", (false, true));
    check("source_ip:10.0.0.0/8", (false, false));
    check("-source_ip:10.0.0.0/8", (true, true));
    check("source_ip:86.245.*", (true, false));
}

#[test]
fn time_fields() {
    check("time:2024-07-31", (true, false));
    check("time:2024-08-01", (false, true));
    check("time:2024-07-31T13:06", (true, false));
    check("time:2024-07-31T13:06:24Z", (true, false));
    check("time:2024-07-31T13:06:25Z", (false, false));
    check("time:>2024-07-31", (false, true));
    check("time:>=2024-07-31", (true, true));
    check("time:<=2024-07-31", (true, false));
    check("time:<2024-07-31", (false, false));
    check("time:[2024-07-31 TO 2024-08-01}", (true, false));
    check("time:[2024-07-31 TO 2024-08-01]", (true, true));
    check("time:>now-1d", (false, true));
    check("time:*", (true, true));
    check("received:>now-1m", (true, true));
}

#[test]
fn raw_paths() {
    check("@userIdentity.type:IAMUser", (true, false));
    check("@userIdentity.userName:Christoph*", (true, false));
    check("@readOnly:false", (true, false));
    check("@readOnly:FALSE", (true, false));
    check("@managementEvent:true", (true, false));
    check("@stats.count:42", (false, true));
    check("@stats.count:42.0", (false, true));
    check("@stats.count:4.2e1", (false, true));
    check("@stats.count:>40", (false, true));
    check("@stats.count:[* TO 42}", (false, false));
    check("@stats.ratio:<1", (false, true));
    check("@stats.count:4*", (false, false));
    check("@stats.flags:true", (false, true));
    check("@resources.ARN:arn:aws:s3:::bucket-b", (false, true));
    check("@resources.type:*", (false, true));
    check("@responseElements:*", (false, true));
    check("@stats:*", (false, true));
    check("@stats.empty:*", (false, false));
    check("@stats.none:*", (false, false));
    check("@dotted.key.inner:*", (false, true));
    check("@dotted.key.inner:x", (false, false));
    check("@userIdentity.Type:*", (false, false));
    check("@eventTime:>2024-08", (false, true));
    check("@tlsDetails.tlsVersion:[tlsv1.2 TO tlsv1.3]", (true, false));
    check("@userIdentity:*", (true, true));
}

#[test]
fn long_values_are_not_keywords() {
    check("@long:*", (false, true));
    check(&format!("@long:{}", "l".repeat(MAX_KEYWORD_BYTES + 1)), (false, false));
    check("@long:l*", (false, false));
}

#[test]
fn free_text() {
    check("christophe", (true, false));
    check("CHRISTOPHE", (true, false));
    check("\"failed authentication\"", (false, true));
    check("\"authentication failed\"", (false, false));
    check("\"stop trail\"", (true, false));
    check("red-team-ct", (true, false));
    check("team-red", (false, false));
    check("stratus*", (true, false));
    check("consol?login", (false, true));
    check("called", (true, true));
    check("\"christophe called cloudtrail\"", (true, false));
    check("143434273843", (true, true));
    check("42", (false, false));
}

#[test]
fn boolean_structure() {
    check("", (true, true));
    check("*", (true, true));
    check("service:cloudtrail OR service:signin", (true, true));
    check("service:(cloudtrail OR signin) action:ConsoleLogin", (false, true));
    check("action:(StopLogging -ConsoleLogin)", (true, false));
    check("NOT actor.type:root", (true, false));
    check("-(service:signin OR action:stop*)", (false, false));
    check("region:us-east-1 AND NOT outcome:failure", (true, false));
}

#[test]
fn hand_built_queries() {
    let field = |f| FieldRef::Known(f);
    let stop = stop_logging();
    // An Equals on a time field, as the AST allows, matches that millisecond.
    let q = Query::Field(field(KnownField::Time), Predicate::Equals("1722431184000".into()));
    assert!(matches(&q, &stop));
    // Bounds of the wrong kind for the field match nothing.
    let q = Query::Field(
        field(KnownField::Action),
        Predicate::Range(Bound::Included(RangeValue::Number(1.0)), Bound::Unbounded),
    );
    assert!(!matches(&q, &stop));
    let q = Query::Text(TextQuery::Phrase(vec![]));
    assert!(!matches(&q, &stop));
    let q = Query::Text(TextQuery::Wildcard(vec![GlobToken::AnyRun]));
    assert!(matches(&q, &stop));
    // A phrase with a gap (a word too long to index) keeps its relative positions.
    let q = Query::Text(TextQuery::Phrase(vec![(0, "stop".into()), (1, "trail".into())]));
    assert!(matches(&q, &stop));
    let q = Query::Text(TextQuery::Phrase(vec![(0, "stop".into()), (2, "trail".into())]));
    assert!(!matches(&q, &stop));
}

proptest::proptest! {
    /// Any query the parser accepts evaluates without panicking, and wrapping it in `-( … )`
    /// flips the answer.
    #[test]
    fn parsed_queries_evaluate(
        input in "([a-z_.@:()\\[\\]{}\"*?<>=/ -]|AND |OR |NOT |TO |service:|action:|time:|source_ip:|@userIdentity.type:|@stats.count:|@resources.ARN:|now-1d|2024-08-01|86.245.0.0/16|42|root|login|stop){0,20}"
    ) {
        if let Ok(q) = parse(&input, NOW) {
            let negated = parse(&format!("-({input})"), NOW);
            for e in [stop_logging(), failed_login()] {
                let hit = matches(&q, &e);
                if let Ok(n) = &negated {
                    proptest::prop_assert_eq!(matches(n, &e), !hit, "{:?}", input);
                }
            }
        }
    }
}

#[test]
fn raw_existence_is_exactly_the_present_paths() {
    let v = serde_json::json!({
        "a": {"b": 1, "c": null, "d": {}, "e": [[], [null, {"f": "x"}]]},
        "k.dot": {"inner": true}, "k": {"other": 1},
        "r": [{"ARN": "x"}, null], "empty": [], "z": null
    });
    let doc = trailwatch_cloudtrail::Json::parse(serde_json::to_vec(&v).unwrap()).unwrap();
    let v = doc.root();
    let mut present = Vec::new();
    trailwatch_cloudtrail::event::for_each_present_path(v, |p| present.push(p.to_owned()));
    for p in &present {
        assert!(super::raw_exists(p, v), "{p} is present");
    }
    for p in ["a.c", "a.d", "a.e.g", "k.dot.other", "k.inner", "empty", "z", "r.arn", "a.b.c", "nothing"] {
        assert!(!present.contains(&p.to_owned()));
        assert!(!super::raw_exists(p, v), "{p} is not present");
    }
    assert!(present.contains(&"k.dot.inner".to_owned()) && present.contains(&"a.e.f".to_owned()));
}
