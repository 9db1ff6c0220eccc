//! The one-line title of an event: "alice called iam:CreateAccessKey for bob".
//!
//! Shapes:
//! - `<actor> called <service>:<action>[ for|on <target>]`
//! - `<actor> failed to call <service>:<action>[ for|on <target>][ (<errorCode>)]`
//! - `<actor> signed in to the console[ without MFA]`, `<actor> failed to sign in to the console`
//! - `Insight: unusual <insight type> for <service>:<action>[ (<state>)]`
//!
//! The actor is its readable name, or `someone`. The target is the first request parameter
//! found in [`TARGETS`]; principals (users, roles, groups) are written `for`, resources `on`.

use crate::json::{Object, Value};

use crate::event::{for_each_value_at, Event, Outcome};
use crate::normalize::text_at;

/// Where a call's target is read from in `requestParameters`, in order of preference: a dotted
/// path (arrays are walked), the word written before it, and the one service it applies to
/// (`None` for any).
const TARGETS: &[(&str, &str, Option<&str>)] = &[
    ("userName", "for", None),
    ("roleName", "for", None),
    ("groupName", "for", Some("iam")),
    ("policyArn", "on", None),
    ("policyName", "on", None),
    ("instanceProfileName", "on", None),
    ("serialNumber", "on", Some("iam")),
    ("bucketName", "on", None),
    ("functionName", "on", None),
    ("trailName", "on", None),
    ("name", "on", Some("cloudtrail")),
    ("keyId", "on", None),
    ("secretId", "on", None),
    ("secretIdList", "on", None),
    ("name", "on", Some("ssm")),
    ("names", "on", Some("ssm")),
    ("name", "for", Some("sts")),
    ("roleArn", "for", None),
    ("instanceId", "on", None),
    ("instancesSet.items.instanceId", "on", None),
    ("instancesSet.items.imageId", "on", Some("ec2")),
    ("instanceIds", "on", None),
    ("target", "on", Some("ssm")),
    ("targetId", "on", Some("ssm")),
    ("sessionId", "on", Some("ssm")),
    ("snapshotId", "on", None),
    ("imageId", "on", None),
    ("volumeId", "on", None),
    ("dBInstanceIdentifier", "on", None),
    ("dBSnapshotIdentifier", "on", None),
    ("dBClusterIdentifier", "on", None),
    ("dBClusterSnapshotIdentifier", "on", None),
    ("globalClusterIdentifier", "on", None),
    ("groupId", "on", None),
    ("groupName", "on", None),
    ("detectorId", "on", None),
    ("logGroupName", "on", None),
    ("topicArn", "on", None),
    ("queueUrl", "on", None),
    ("stackName", "on", None),
    ("stackSetName", "on", None),
    ("clusterName", "on", None),
    ("repositoryName", "on", None),
    ("tableName", "on", None),
    ("modelId", "on", None),
    ("fileSystemId", "on", None),
    ("mountTargetId", "on", None),
    ("networkAclId", "on", None),
    ("vpcId", "on", None),
    ("subnetId", "on", None),
    ("keyName", "on", None),
    ("resolverQueryLogConfigId", "on", None),
    ("DeleteFlowLogsRequest.FlowLogId.content", "on", None),
    ("flowLogIds", "on", None),
    ("alarmNames", "on", None),
    ("configurationRecorderName", "on", None),
    ("documentName", "on", None),
    ("name", "on", None),
];

/// Targets longer than this many characters are cut, so a title stays one readable line.
const MAX_TARGET_CHARS: usize = 120;

/// Writes the title of `event`, built from `record` (the record `event` was made from).
pub(crate) fn title(event: &Event, record: Object<'_>) -> String {
    let who = event.actor.name.as_deref().unwrap_or("someone");
    let call = call(&event.service, &event.action);
    if event.event_type == "AwsCloudTrailInsight" {
        let details = record.get("insightDetails");
        let kind = details.and_then(|d| text_at(d, &["insightType"]));
        let kind = match kind {
            Some("ApiCallRateInsight") => "API call rate",
            Some("ApiErrorRateInsight") => "API error rate",
            Some(other) => other,
            None => "activity",
        };
        let state =
            details.and_then(|d| text_at(d, &["state"])).map(|s| format!(" ({s})")).unwrap_or_default();
        return format!("Insight: unusual {kind} for {call}{state}");
    }
    if event.action == "ConsoleLogin" {
        return match (event.outcome, event.actor.mfa) {
            (Outcome::Failure, _) => format!("{who} failed to sign in to the console"),
            (Outcome::Success, Some(false)) => {
                format!("{who} signed in to the console without MFA")
            }
            (Outcome::Success, _) => format!("{who} signed in to the console"),
        };
    }
    let target = record
        .get("requestParameters")
        .and_then(|p| target(&event.service, p))
        .or_else(|| denied_resource(event.error_message.as_deref()?).map(|r| ("on", cut(r))))
        .map(|(word, t)| format!(" {word} {t}"))
        .unwrap_or_default();
    match event.outcome {
        Outcome::Success => format!("{who} called {call}{target}"),
        Outcome::Failure => {
            let code = event.error_code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default();
            format!("{who} failed to call {call}{target}{code}")
        }
    }
}

fn call(service: &str, action: &str) -> String {
    match (service, action) {
        ("", "") => "an unknown API".to_owned(),
        ("", action) => action.to_owned(),
        (service, "") => service.to_owned(),
        (service, action) => format!("{service}:{action}"),
    }
}

/// The first target found in `params`, with the word to write before it. Several values (an
/// array) read as "first and N more".
fn target(service: &str, params: Value<'_>) -> Option<(&'static str, String)> {
    for &(path, word, only) in TARGETS {
        if only.is_some_and(|s| s != service) {
            continue;
        }
        let mut values = Vec::new();
        for_each_value_at(params, path, &mut |v| values.extend(v.as_str().filter(|s| !s.is_empty())));
        if let Some(first) = values.first() {
            let mut text = cut(first);
            if values.len() > 1 {
                text.push_str(&format!(" and {} more", values.len() - 1));
            }
            return Some((word, text));
        }
    }
    None
}

/// The resource named in an authorization failure, for calls whose request parameters are
/// withheld: "User: … is not authorized to perform: sts:AssumeRole on resource: arn:… because …".
fn denied_resource(message: &str) -> Option<&str> {
    let (_, rest) = message.split_once(" on resource: ")?;
    let resource = rest.split_whitespace().next()?;
    (!resource.is_empty()).then_some(resource)
}

fn cut(s: &str) -> String {
    match s.char_indices().nth(MAX_TARGET_CHARS) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use crate::normalize::{normalize, RecordContext};
    use serde_json::{json, Value};

    fn title_of(mut record: Value) -> String {
        let map = record.as_object_mut().unwrap();
        map.entry("eventTime").or_insert(json!("2024-08-02T08:53:24Z"));
        map.entry("userIdentity").or_insert(json!({"type": "IAMUser", "userName": "alice"}));
        normalize(serde_json::to_vec(&record).unwrap(), &RecordContext::default()).unwrap().title
    }

    fn call(source: &str, name: &str, params: Value) -> String {
        title_of(json!({"eventSource": source, "eventName": name, "requestParameters": params}))
    }

    #[test]
    fn targets() {
        let check = |got: String, expect: &str| assert_eq!(got, expect);
        check(
            call("iam.amazonaws.com", "CreateAccessKey", json!({"userName": "bob"})),
            "alice called iam:CreateAccessKey for bob",
        );
        check(
            call(
                "iam.amazonaws.com",
                "AttachRolePolicy",
                json!({"policyArn": "arn:aws:iam::aws:policy/Admin", "roleName": "r"}),
            ),
            "alice called iam:AttachRolePolicy for r",
        );
        check(
            call("iam.amazonaws.com", "GetPolicy", json!({"policyArn": "arn:p"})),
            "alice called iam:GetPolicy on arn:p",
        );
        check(
            call("cloudtrail.amazonaws.com", "StopLogging", json!({"name": "trail"})),
            "alice called cloudtrail:StopLogging on trail",
        );
        check(
            call("ssm.amazonaws.com", "GetParameters", json!({"names": ["/a", "/b", "/c"]})),
            "alice called ssm:GetParameters on /a and 2 more",
        );
        check(
            call(
                "ec2.amazonaws.com",
                "StopInstances",
                json!({"instancesSet": {"items": [{"instanceId": "i-1"}, {"instanceId": "i-2"}]}}),
            ),
            "alice called ec2:StopInstances on i-1 and 1 more",
        );
        check(
            call("ssm.amazonaws.com", "StartSession", json!({"target": "i-1"})),
            "alice called ssm:StartSession on i-1",
        );
        check(
            call(
                "ec2.amazonaws.com",
                "AuthorizeSecurityGroupIngress",
                json!({"groupId": "sg-1", "cidrIp": "0.0.0.0/0"}),
            ),
            "alice called ec2:AuthorizeSecurityGroupIngress on sg-1",
        );
        check(
            call("rds.amazonaws.com", "ModifyDBSnapshotAttribute", json!({"dBSnapshotIdentifier": "snap"})),
            "alice called rds:ModifyDBSnapshotAttribute on snap",
        );
        check(
            call("sts.amazonaws.com", "GetFederationToken", json!({"name": "fed"})),
            "alice called sts:GetFederationToken for fed",
        );
        check(
            call("sts.amazonaws.com", "GetCallerIdentity", Value::Null),
            "alice called sts:GetCallerIdentity",
        );
        check(
            call("ec2.amazonaws.com", "DescribeInstances", json!({"instancesSet": {}})),
            "alice called ec2:DescribeInstances",
        );
        let long = "x".repeat(200);
        let got = call("s3.amazonaws.com", "PutObject", json!({"bucketName": long}));
        assert!(got.ends_with("…") && got.chars().count() < 160, "{got}");
    }

    #[test]
    fn failures_and_unknown_actors() {
        let t = title_of(
            json!({"eventSource": "ec2.amazonaws.com", "eventName": "GetPasswordData", "errorCode": "Client.UnauthorizedOperation",
                                "requestParameters": {"instanceId": "i-1"}, "userIdentity": {}}),
        );
        assert_eq!(t, "someone failed to call ec2:GetPasswordData on i-1 (Client.UnauthorizedOperation)");
        let t = title_of(
            json!({"eventSource": "organizations.amazonaws.com", "eventName": "LeaveOrganization", "errorCode": "AccessDenied"}),
        );
        assert_eq!(t, "alice failed to call organizations:LeaveOrganization (AccessDenied)");
        assert_eq!(title_of(json!({})), "alice called an unknown API");
    }

    #[test]
    fn console_sign_in() {
        let login = |result: &str, mfa: &str| {
            title_of(
                json!({"eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin", "eventType": "AwsConsoleSignIn",
                            "responseElements": {"ConsoleLogin": result}, "additionalEventData": {"MFAUsed": mfa}}),
            )
        };
        assert_eq!(login("Success", "No"), "alice signed in to the console without MFA");
        assert_eq!(login("Success", "Yes"), "alice signed in to the console");
        // A failed sign-in has no errorCode, only the response and usually an errorMessage.
        assert_eq!(login("Failure", "No"), "alice failed to sign in to the console");
    }

    #[test]
    fn insight() {
        let record = json!({
            "eventVersion": "1.07", "eventTime": "2020-09-09T23:00:00Z", "awsRegion": "us-east-1",
            "eventID": "e1", "eventType": "AwsCloudTrailInsight", "recipientAccountId": "123456789012",
            "insightDetails": {"state": "Start", "eventSource": "iam.amazonaws.com", "eventName": "AttachUserPolicy",
                               "insightType": "ApiCallRateInsight", "insightContext": {}},
            "eventCategory": "Insight"
        });
        let e = normalize(serde_json::to_vec(&record).unwrap(), &RecordContext::default()).unwrap();
        assert_eq!(e.title, "Insight: unusual API call rate for iam:AttachUserPolicy (Start)");
        assert_eq!(
            (e.service.as_str(), e.source.as_str(), e.action.as_str()),
            ("iam", "iam.amazonaws.com", "AttachUserPolicy")
        );
        assert_eq!(e.category, crate::Category::Insight);
        assert_eq!(e.actor, crate::Actor::default());
        assert_eq!(e.account, "123456789012");
    }
}
