//! Who made the call: `userIdentity` as an [`Actor`], with a readable name.

use crate::json::{Object, Value};

use crate::event::Actor;
use crate::normalize::{parse_bool, text, text_at};

/// Reads the actor of a record. Records without `userIdentity` (Insights) get an empty actor.
/// Empty strings count as absent throughout.
pub(crate) fn actor(record: Object<'_>) -> Actor {
    let Some(Value::Object(identity)) = record.get("userIdentity") else {
        return Actor::default();
    };
    let get = |key: &str| text(identity, key);
    let session = identity.get("sessionContext");
    let issuer = session.and_then(|s| s.get("sessionIssuer"));
    let kind = get("type");
    let arn = get("arn");
    let issuer_name = issuer.and_then(|i| text_at(i, &["userName"]));
    let name = match kind.unwrap_or("") {
        "Root" => Some("root".to_owned()),
        "IAMUser" => get("userName").or_else(|| arn.and_then(arn_tail)).map(str::to_owned),
        "AssumedRole" => arn
            .and_then(assumed_role)
            .map(str::to_owned)
            .or_else(|| role_session(issuer_name?, get("principalId")?))
            .or_else(|| issuer_name.or_else(|| get("principalId")).map(str::to_owned)),
        "AWSService" => get("invokedBy").or_else(|| get("principalId")).map(str::to_owned),
        "FederatedUser" => issuer_name.or_else(|| arn.and_then(arn_tail)).map(str::to_owned),
        // IdentityCenterUser, SAMLUser, WebIdentityUser, AWSAccount, Unknown and anything new.
        _ => get("userName")
            .or_else(|| get("principalId"))
            .or_else(|| arn.and_then(arn_tail))
            .or_else(|| identity.get("onBehalfOf").and_then(|o| text_at(o, &["userId"])))
            .map(str::to_owned),
    };
    Actor {
        kind: kind.map(str::to_owned),
        arn: arn.map(str::to_owned),
        name,
        account: get("accountId").map(str::to_owned),
        principal_id: get("principalId").map(str::to_owned),
        access_key_id: get("accessKeyId").map(str::to_owned),
        issuer: issuer.and_then(|i| text_at(i, &["arn"])).map(str::to_owned),
        mfa: mfa(record, session),
        invoked_by: get("invokedBy").map(str::to_owned),
    }
}

/// A console sign-in says whether MFA was used in `additionalEventData.MFAUsed`; other calls
/// made with temporary credentials carry `sessionContext.attributes.mfaAuthenticated`.
fn mfa(record: Object<'_>, session: Option<Value<'_>>) -> Option<bool> {
    if text(record, "eventName") == Some("ConsoleLogin") {
        let used = record.get("additionalEventData").and_then(|d| text_at(d, &["MFAUsed"]));
        match used {
            Some(u) if u.eq_ignore_ascii_case("yes") => return Some(true),
            Some(u) if u.eq_ignore_ascii_case("no") => return Some(false),
            _ => {}
        }
    }
    match session?.get("attributes")?.get("mfaAuthenticated")? {
        Value::Bool(b) => Some(b),
        Value::String(s) => parse_bool(s),
        _ => None,
    }
}

/// `role/session` from `arn:aws:sts::123456789012:assumed-role/role/session`.
fn assumed_role(arn: &str) -> Option<&str> {
    let resource = arn.splitn(6, ':').nth(5)?;
    let role_session = resource.strip_prefix("assumed-role/")?;
    let (role, session) = role_session.split_once('/')?;
    (!role.is_empty() && !session.is_empty()).then_some(role_session)
}

/// `role/session` from the issuing role's name and the session in the principal id
/// (`AROAEXAMPLE:session`), for assumed-role ARNs that lack the session (seen in anonymized logs).
fn role_session(role: &str, principal_id: &str) -> Option<String> {
    let session = principal_id.split_once(':')?.1;
    (!session.is_empty()).then(|| format!("{role}/{session}"))
}

/// The last segment of an ARN: `bob` for `arn:aws:iam::1:user/team/bob`, `root` for
/// `arn:aws:iam::1:root`.
fn arn_tail(arn: &str) -> Option<&str> {
    let tail = arn.rsplit(['/', ':']).next()?;
    (!tail.is_empty()).then_some(tail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn of(record: serde_json::Value) -> Actor {
        let doc = crate::Json::parse(serde_json::to_vec(&record).unwrap()).unwrap();
        actor(doc.root().as_object().unwrap())
    }

    fn name(identity: serde_json::Value) -> Option<String> {
        of(json!({ "userIdentity": identity })).name
    }

    #[test]
    fn root() {
        let a = of(json!({"userIdentity": {
            "type": "Root", "principalId": "111122223333", "arn": "arn:aws:iam::111122223333:root",
            "accountId": "111122223333", "accessKeyId": "ASIAEXAMPLE",
            "sessionContext": {"attributes": {"creationDate": "2024-10-29T14:06:25Z", "mfaAuthenticated": "true"}}
        }}));
        assert_eq!(a.kind.as_deref(), Some("Root"));
        assert_eq!(a.name.as_deref(), Some("root"));
        assert_eq!(a.account.as_deref(), Some("111122223333"));
        assert_eq!(a.access_key_id.as_deref(), Some("ASIAEXAMPLE"));
        assert_eq!(a.mfa, Some(true));
        assert_eq!(a.issuer, None);
    }

    #[test]
    fn assumed_role_with_mfa() {
        let a = of(json!({"userIdentity": {
            "type": "AssumedRole", "principalId": "AROAEXAMPLE:alice@example.com",
            "arn": "arn:aws:sts::111122223333:assumed-role/Admin/alice@example.com", "accountId": "111122223333",
            "sessionContext": {
                "attributes": {"mfaAuthenticated": "true", "creationDate": "2024-01-01T00:00:00Z"},
                "sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::111122223333:role/Admin", "userName": "Admin"}
            }
        }}));
        assert_eq!(a.name.as_deref(), Some("Admin/alice@example.com"));
        assert_eq!(a.issuer.as_deref(), Some("arn:aws:iam::111122223333:role/Admin"));
        assert_eq!(a.mfa, Some(true));
        // Without the ARN, the issuer's name stands in.
        let issuer_only = json!({"type": "AssumedRole", "arn": "", "sessionContext": {"sessionIssuer": {"userName": "Admin"}}});
        assert_eq!(name(issuer_only).as_deref(), Some("Admin"));
        // An ARN without its session (as in some anonymized logs): the principal id has it.
        let no_session = json!({"type": "AssumedRole", "arn": "arn:aws:sts::1:assumed-role/x@example.com",
                                "principalId": "AROAEXAMPLE:s@example.com",
                                "sessionContext": {"sessionIssuer": {"userName": "AWSReservedSSO_admin_1"}}});
        assert_eq!(name(no_session).as_deref(), Some("AWSReservedSSO_admin_1/s@example.com"));
    }

    #[test]
    fn names_by_kind() {
        let check = |identity: serde_json::Value, expect: Option<&str>| {
            assert_eq!(name(identity.clone()).as_deref(), expect, "{identity}")
        };
        check(json!({"type": "IAMUser", "userName": "alice", "arn": "arn:aws:iam::1:user/x"}), Some("alice"));
        check(json!({"type": "IAMUser", "userName": "", "arn": "arn:aws:iam::1:user/team/bob"}), Some("bob"));
        check(json!({"type": "AWSService", "invokedBy": "ec2.amazonaws.com"}), Some("ec2.amazonaws.com"));
        check(
            json!({"type": "FederatedUser", "arn": "arn:aws:sts::1:federated-user/fed",
                   "sessionContext": {"sessionIssuer": {"userName": "issuer-user"}}}),
            Some("issuer-user"),
        );
        check(json!({"type": "FederatedUser", "arn": "arn:aws:sts::1:federated-user/fed"}), Some("fed"));
        check(
            json!({"type": "SAMLUser", "userName": "some.user@example.com"}),
            Some("some.user@example.com"),
        );
        check(
            json!({"type": "WebIdentityUser", "principalId": "accounts.google.com:123"}),
            Some("accounts.google.com:123"),
        );
        check(json!({"type": "IdentityCenterUser", "arn": "arn:aws:iam::1:user/Alice"}), Some("Alice"));
        check(json!({"type": "IdentityCenterUser", "arn": "", "onBehalfOf": {"userId": "u-1"}}), Some("u-1"));
        check(
            json!({"type": "AWSAccount", "principalId": "AIDAEXAMPLE", "accountId": "222222222222"}),
            Some("AIDAEXAMPLE"),
        );
        check(json!({"type": "Unknown"}), None);
        check(json!({}), None);
    }

    #[test]
    fn aws_service() {
        let a = of(json!({"userIdentity": {"type": "AWSService", "invokedBy": "ec2.amazonaws.com"}}));
        assert_eq!(a.invoked_by.as_deref(), Some("ec2.amazonaws.com"));
        assert_eq!(a.name.as_deref(), Some("ec2.amazonaws.com"));
        assert_eq!(a.arn, None);
    }

    #[test]
    fn console_login_mfa_comes_from_additional_data() {
        let login = |used: &str| {
            of(json!({"eventName": "ConsoleLogin", "additionalEventData": {"MFAUsed": used},
                      "userIdentity": {"type": "IAMUser", "userName": "alice"}}))
            .mfa
        };
        assert_eq!(login("Yes"), Some(true));
        assert_eq!(login("No"), Some(false));
        assert_eq!(login(""), None);
    }

    #[test]
    fn no_identity() {
        assert_eq!(of(json!({"eventType": "AwsCloudTrailInsight"})), Actor::default());
        assert_eq!(of(json!({"userIdentity": "odd"})), Actor::default());
    }

    #[test]
    fn arn_parts() {
        assert_eq!(assumed_role("arn:aws:sts::1:assumed-role/r/s"), Some("r/s"));
        assert_eq!(assumed_role("arn:aws:sts::1:assumed-role/r"), None);
        assert_eq!(assumed_role("arn:aws:iam::1:user/u"), None);
        assert_eq!(arn_tail("arn:aws:iam::1:root"), Some("root"));
        assert_eq!(arn_tail("arn:aws:iam::1:user/"), None);
    }
}
