//! From one raw CloudTrail record to a normalized [`Event`].
//!
//! Architecture Invariant: `normalize` reads the record through borrows, copies out only the
//! short strings the [`Event`] owns, and then moves the parsed record itself into `Event::raw`;
//! it never copies the record. It runs on every record ingested (well over 100k a second).

use crate::json::{Json, JsonError, Object, Value};

use crate::event::{Category, Event, Outcome};
use crate::{actor, agent, id, time, title};

/// What the file a record came from says about it, used where the record itself is silent.
#[derive(Debug, Clone, Default)]
pub struct RecordContext {
    /// The account in the file's S3 key.
    pub account: Option<String>,
    /// The region in the file's S3 key.
    pub region: Option<String>,
    /// When the file was delivered (from its key) or read, in milliseconds since the epoch.
    pub received: i64,
}

/// Why a record could not become an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error(transparent)]
    Json(#[from] JsonError),
    #[error("record is not a JSON object")]
    NotAnObject,
    #[error("record has no eventTime")]
    MissingTime,
    #[error("record has an unparsable eventTime {0:?}")]
    BadTime(String),
}

/// Parses and normalizes one record from its bytes (which the event keeps, in `raw`).
pub fn normalize(bytes: Vec<u8>, ctx: &RecordContext) -> Result<Event, RecordError> {
    let raw = Json::parse(bytes)?;
    let event = normalize_parsed(&raw, ctx)?;
    Ok(Event { raw, ..event })
}

/// Everything but `raw` (left empty), read from `raw`.
fn normalize_parsed(raw: &Json, ctx: &RecordContext) -> Result<Event, RecordError> {
    let Value::Object(record) = raw.root() else {
        return Err(RecordError::NotAnObject);
    };
    let time = match record.get("eventTime") {
        None | Some(Value::Null) => return Err(RecordError::MissingTime),
        Some(Value::String(s)) => time::parse_millis(s).ok_or_else(|| RecordError::BadTime(s.to_owned()))?,
        Some(other) => return Err(RecordError::BadTime(other.to_serde().to_string())),
    };

    // Insights records carry what they are about in `insightDetails`, not at the top level.
    let insight = record.get("insightDetails");
    let source = text(record, "eventSource").or_else(|| insight.and_then(|i| text_at(i, &["eventSource"])));
    let action = text(record, "eventName").or_else(|| insight.and_then(|i| text_at(i, &["eventName"])));
    let source = source.unwrap_or("");
    let event_type = text(record, "eventType").unwrap_or("");

    let actor = actor::actor(record);
    let account = text(record, "recipientAccountId")
        .or(ctx.account.as_deref().filter(|a| !a.is_empty()))
        .or(actor.account.as_deref())
        .unwrap_or("");
    let region = text(record, "awsRegion").or(ctx.region.as_deref().filter(|r| !r.is_empty())).unwrap_or("");
    let user_agent = text(record, "userAgent");
    let error_code = text(record, "errorCode");
    let action = action.unwrap_or("");

    let mut event = Event {
        id: match text(record, "eventID") {
            Some(id) => id.to_owned(),
            None => id::hashed_id(raw.bytes()),
        },
        time,
        received: ctx.received,
        account: account.to_owned(),
        region: region.to_owned(),
        service: service_name(source).to_owned(),
        source: source.to_owned(),
        action: action.to_owned(),
        event_type: event_type.to_owned(),
        category: category(record, event_type),
        read_only: read_only(record.get("readOnly")),
        source_ip: owned(text(record, "sourceIPAddress")),
        agent: user_agent.map(agent::family),
        user_agent: owned(user_agent),
        outcome: outcome(record, error_code.is_some_and(is_error), event_type, source, action),
        error_code: owned(error_code),
        error_message: owned(text(record, "errorMessage")),
        request_id: owned(text(record, "requestID")),
        resources: resources(record),
        actor,
        title: String::new(),
        raw: Json::empty(),
    };
    event.title = title::title(&event, record);
    Ok(event)
}

/// `iam` for `iam.amazonaws.com`; any other host (`example.com`) is kept whole.
pub(crate) fn service_name(source: &str) -> &str {
    source.strip_suffix(".amazonaws.com").filter(|s| !s.is_empty()).unwrap_or(source)
}

fn category(record: Object<'_>, event_type: &str) -> Category {
    let named = text(record, "eventCategory").and_then(|c| {
        [Category::Management, Category::Data, Category::Insight, Category::NetworkActivity]
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(c))
    });
    if let Some(category) = named {
        return category;
    }
    if event_type == "AwsCloudTrailInsight" {
        return Category::Insight;
    }
    match record.get("managementEvent") {
        Some(Value::Bool(false)) => Category::Data,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Category::Data,
        _ => Category::Management,
    }
}

fn read_only(value: Option<Value<'_>>) -> Option<bool> {
    match value? {
        Value::Bool(b) => Some(b),
        Value::String(s) => parse_bool(s),
        _ => None,
    }
}

/// `true`/`false` in any case, as CloudTrail writes some booleans as strings.
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// Failure when CloudTrail gives an `errorCode`, or when a sign-in event says so in its
/// response instead (`"responseElements": {"ConsoleLogin": "Failure"}`, which has no errorCode).
fn outcome(record: Object<'_>, has_error: bool, event_type: &str, source: &str, action: &str) -> Outcome {
    if has_error {
        return Outcome::Failure;
    }
    let Some(Value::Object(response)) = record.get("responseElements") else {
        return Outcome::Success;
    };
    let is_failure = |v: Value<'_>| v.as_str() == Some("Failure");
    // The key is usually the event's own name (ConsoleLogin, CheckMfa, SwitchRole); sign-in
    // events are also checked for any top-level "Failure" in case the key differs.
    let sign_in = event_type == "AwsConsoleSignIn" || source == "signin.amazonaws.com";
    let failed =
        response.get(action).is_some_and(is_failure) || (sign_in && response.values().any(is_failure));
    if failed {
        Outcome::Failure
    } else {
        Outcome::Success
    }
}

/// Whether an `errorCode` names an error. Some services (Amazon Managed Grafana) write the HTTP
/// status of a successful call there (`"errorCode": "200"`); 2xx and 3xx statuses are not errors.
fn is_error(code: &str) -> bool {
    let http_ok = code.len() == 3
        && code.bytes().all(|b| b.is_ascii_digit())
        && matches!(code.as_bytes()[0], b'2' | b'3');
    !http_ok
}

fn resources(record: Object<'_>) -> Vec<String> {
    match record.get("resources") {
        Some(Value::Array(items)) => {
            items.iter().filter_map(|r| text_at(r, &["ARN"])).map(str::to_owned).collect()
        }
        _ => Vec::new(),
    }
}

/// The string at `key`; empty strings count as absent.
pub(crate) fn text<'a>(map: Object<'a>, key: &str) -> Option<&'a str> {
    map.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// The string at the nested `path` of `value`; empty strings count as absent.
pub(crate) fn text_at<'a>(value: Value<'a>, path: &[&str]) -> Option<&'a str> {
    let mut at = value;
    for key in path {
        at = at.get(key)?;
    }
    at.as_str().filter(|s| !s.is_empty())
}

fn owned(s: Option<&str>) -> Option<String> {
    s.map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn norm(record: serde_json::Value) -> Event {
        normalize(serde_json::to_vec(&record).unwrap(), &RecordContext::default()).unwrap()
    }

    fn err(record: serde_json::Value) -> RecordError {
        normalize(serde_json::to_vec(&record).unwrap(), &RecordContext::default()).unwrap_err()
    }

    #[test]
    fn rejects_what_is_not_a_record() {
        assert_eq!(err(json!([1, 2])), RecordError::NotAnObject);
        assert_eq!(err(json!("x")), RecordError::NotAnObject);
        assert_eq!(err(json!({"eventName": "X"})), RecordError::MissingTime);
        assert_eq!(err(json!({"eventTime": null})), RecordError::MissingTime);
        assert_eq!(err(json!({"eventTime": "yesterday"})), RecordError::BadTime("yesterday".into()));
        assert_eq!(err(json!({"eventTime": ""})), RecordError::BadTime("".into()));
        assert_eq!(err(json!({"eventTime": 12})), RecordError::BadTime("12".into()));
        assert_eq!(
            err(json!({"eventTime": "2024-02-30T00:00:00Z"})),
            RecordError::BadTime("2024-02-30T00:00:00Z".into())
        );
        let bad = normalize(b"{\"eventTime\": }".to_vec(), &RecordContext::default()).unwrap_err();
        assert_eq!(bad.to_string(), "invalid JSON at byte 14: expected a value");
    }

    #[test]
    fn times() {
        assert_eq!(norm(json!({"eventTime": "2024-08-02T08:53:24Z"})).time, 1_722_588_804_000);
        assert_eq!(norm(json!({"eventTime": "2024-08-02T08:53:24.250Z"})).time, 1_722_588_804_250);
        assert_eq!(norm(json!({"eventTime": "2024-08-02T10:53:24+02:00"})).time, 1_722_588_804_000);
    }

    #[test]
    fn missing_event_id_gets_a_stable_hash() {
        let bytes = br#"{"eventTime":"2024-08-02T08:53:24Z","eventName":"CreateUser"}"#;
        let a = normalize(bytes.to_vec(), &RecordContext::default()).unwrap();
        let b = normalize(bytes.to_vec(), &RecordContext::default()).unwrap();
        assert_eq!(a.id, b.id);
        assert_eq!(a.id, id::hashed_id(bytes));
        assert_eq!(a.id.len(), 34);
        // An empty eventID is no id at all.
        let empty = br#"{"eventTime":"2024-08-02T08:53:24Z","eventID":""}"#;
        let c = normalize(empty.to_vec(), &RecordContext::default()).unwrap();
        assert_eq!(c.id, id::hashed_id(empty));
    }

    #[test]
    fn context_fills_account_and_region() {
        let ctx = RecordContext {
            account: Some("111111111111".into()),
            region: Some("eu-west-1".into()),
            received: 7,
        };
        let record =
            json!({"eventTime": "2024-08-02T08:53:24Z", "userIdentity": {"accountId": "222222222222"}});
        let e = normalize(serde_json::to_vec(&record).unwrap(), &ctx).unwrap();
        assert_eq!((e.account.as_str(), e.region.as_str(), e.received), ("111111111111", "eu-west-1", 7));
        let e = norm(record);
        assert_eq!((e.account.as_str(), e.region.as_str()), ("222222222222", ""));
        let e = norm(
            json!({"eventTime": "2024-08-02T08:53:24Z", "recipientAccountId": "333333333333", "awsRegion": "us-east-1"}),
        );
        assert_eq!((e.account.as_str(), e.region.as_str()), ("333333333333", "us-east-1"));
    }

    #[test]
    fn services() {
        assert_eq!(service_name("iam.amazonaws.com"), "iam");
        assert_eq!(service_name("ec2-instance-connect.amazonaws.com"), "ec2-instance-connect");
        assert_eq!(service_name("example.com"), "example.com");
        assert_eq!(service_name(""), "");
    }

    #[test]
    fn categories() {
        let cat = |extra: serde_json::Value| {
            let mut record = json!({"eventTime": "2024-08-02T08:53:24Z"});
            record.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            norm(record).category
        };
        assert_eq!(cat(json!({})), Category::Management);
        assert_eq!(cat(json!({"eventCategory": "Data"})), Category::Data);
        assert_eq!(cat(json!({"eventCategory": "networkactivity"})), Category::NetworkActivity);
        assert_eq!(cat(json!({"managementEvent": false})), Category::Data);
        assert_eq!(cat(json!({"eventType": "AwsCloudTrailInsight"})), Category::Insight);
        assert_eq!(cat(json!({"eventCategory": "Weird", "managementEvent": true})), Category::Management);
    }

    #[test]
    fn data_event() {
        let e = norm(json!({
            "eventTime": "2024-08-02T08:53:24Z", "eventSource": "s3.amazonaws.com", "eventName": "GetObject",
            "eventCategory": "Data", "managementEvent": false, "readOnly": "true",
            "resources": [{"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::b/k"}, {"type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::b"}, {"type": "x"}],
            "requestParameters": {"bucketName": "b", "key": "k"},
            "userIdentity": {"type": "IAMUser", "userName": "alice"}
        }));
        assert_eq!(e.category, Category::Data);
        assert_eq!(e.read_only, Some(true));
        assert_eq!(e.resources, ["arn:aws:s3:::b/k", "arn:aws:s3:::b"]);
        assert_eq!(e.title, "alice called s3:GetObject on b");
    }

    #[test]
    fn outcomes() {
        let out = |record: serde_json::Value| norm(record).outcome;
        assert_eq!(
            out(json!({"eventTime": "2024-08-02T08:53:24Z", "errorCode": "AccessDenied"})),
            Outcome::Failure
        );
        assert_eq!(out(json!({"eventTime": "2024-08-02T08:53:24Z", "errorCode": ""})), Outcome::Success);
        let sign_in = |name: &str, result: &str| {
            json!({"eventTime": "2024-08-02T08:53:24Z", "eventType": "AwsConsoleSignIn", "eventSource": "signin.amazonaws.com",
                   "eventName": name, "responseElements": {name: result}})
        };
        assert_eq!(out(sign_in("ConsoleLogin", "Failure")), Outcome::Failure);
        assert_eq!(out(sign_in("CheckMfa", "Failure")), Outcome::Failure);
        assert_eq!(out(sign_in("SwitchRole", "Success")), Outcome::Success);
    }

    #[test]
    fn raw_is_kept_whole() {
        let record = json!({"eventTime": "2024-08-02T08:53:24Z", "eventID": "e1", "x": [1, {"y": "z"}]});
        let e = norm(record.clone());
        assert_eq!(e.raw.to_serde(), record);
        assert_eq!(e.raw.bytes(), serde_json::to_vec(&record).unwrap());
        assert_eq!(e.id, "e1");
    }
}
