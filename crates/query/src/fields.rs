//! The catalogue of normalized fields a query can name, and how to read each from an event.

use std::borrow::Cow;

use trailwatch_cloudtrail::Event;

/// How a field's values are matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Exact, case-insensitive strings; wildcards; lexicographic ranges. Booleans are the
    /// keywords `true` and `false`.
    Keyword,
    /// A point in time (milliseconds); ranges and relative times (`now-1h`).
    Time,
    /// A keyword that also accepts CIDR blocks (`10.0.0.0/8`) when its value is an IP address.
    Ip,
}

macro_rules! known_fields {
    ($( $variant:ident => $name:literal, $kind:ident, $doc:literal; )*) => {
        /// A normalized field of an event, by its query name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum KnownField { $( #[doc = $doc] $variant, )* }

        impl KnownField {
            /// Every known field, in catalogue order.
            pub const ALL: &'static [KnownField] = &[ $( KnownField::$variant, )* ];

            /// The name used in queries (`actor.name`).
            pub fn name(self) -> &'static str {
                match self { $( KnownField::$variant => $name, )* }
            }

            pub fn kind(self) -> FieldKind {
                match self { $( KnownField::$variant => FieldKind::$kind, )* }
            }

            /// One line saying what the field holds.
            pub fn doc(self) -> &'static str {
                match self { $( KnownField::$variant => $doc, )* }
            }

            pub fn from_name(name: &str) -> Option<KnownField> {
                match name { $( $name => Some(KnownField::$variant), )* _ => None }
            }
        }
    };
}

known_fields! {
    Id => "id", Keyword, "eventID";
    Time => "time", Time, "eventTime";
    Received => "received", Time, "when CloudTrail delivered the record's file (from its key), else when it was read";
    Account => "account", Keyword, "recipientAccountId (else the account in the file's key)";
    Region => "region", Keyword, "awsRegion";
    Service => "service", Keyword, "service short name: iam for iam.amazonaws.com";
    Source => "source", Keyword, "eventSource: iam.amazonaws.com";
    Action => "action", Keyword, "eventName: CreateAccessKey";
    EventType => "event_type", Keyword, "eventType: AwsApiCall, AwsConsoleSignIn, AwsServiceEvent…";
    Category => "category", Keyword, "management, data, insight or networkactivity";
    ReadOnly => "read_only", Keyword, "readOnly: true or false";
    ActorType => "actor.type", Keyword, "userIdentity.type: Root, IAMUser, AssumedRole, AWSService…";
    ActorArn => "actor.arn", Keyword, "userIdentity.arn";
    ActorName => "actor.name", Keyword, "a readable name: user name, role/session, root, service";
    ActorAccount => "actor.account", Keyword, "userIdentity.accountId";
    ActorPrincipalId => "actor.principal_id", Keyword, "userIdentity.principalId";
    ActorAccessKey => "actor.access_key", Keyword, "userIdentity.accessKeyId";
    ActorIssuer => "actor.issuer", Keyword, "ARN of the role or user that issued the session";
    ActorMfa => "actor.mfa", Keyword, "true when the session was MFA-authenticated, false when not";
    ActorInvokedBy => "actor.invoked_by", Keyword, "userIdentity.invokedBy: the service acting for the actor";
    SourceIp => "source_ip", Ip, "sourceIPAddress (an IP, or a service name); accepts CIDR blocks";
    UserAgent => "user_agent", Keyword, "userAgent";
    Agent => "agent", Keyword, "client family: console, aws-cli, boto3, terraform, aws-sdk-go…";
    Outcome => "outcome", Keyword, "success, or failure when the call failed";
    ErrorCode => "error_code", Keyword, "errorCode";
    ErrorMessage => "error_message", Keyword, "errorMessage";
    RequestId => "request_id", Keyword, "requestID";
    Resource => "resource", Keyword, "ARNs of the resources the call touched (resources[].ARN)";
    Title => "title", Keyword, "the one-line human description of the event";
}

/// The values of a field in one event.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValues<'a> {
    /// Keyword (and IP) fields: zero, one or several strings, as the event has them (not yet
    /// lowercased).
    Keywords(Vec<Cow<'a, str>>),
    /// Time fields: milliseconds since the epoch.
    Time(i64),
}

impl KnownField {
    /// Reads this field from an event.
    pub fn values(self, e: &Event) -> FieldValues<'_> {
        use KnownField::*;
        fn one(v: &str) -> Vec<Cow<'_, str>> {
            vec![Cow::Borrowed(v)]
        }
        fn opt(v: &Option<String>) -> Vec<Cow<'_, str>> {
            v.as_deref().map(one).unwrap_or_default()
        }
        fn opt_bool(v: Option<bool>) -> Vec<Cow<'static, str>> {
            match v {
                Some(true) => vec![Cow::Borrowed("true")],
                Some(false) => vec![Cow::Borrowed("false")],
                None => Vec::new(),
            }
        }
        let kw = match self {
            Time => return FieldValues::Time(e.time),
            Received => return FieldValues::Time(e.received),
            Id => one(&e.id),
            Account => one(&e.account),
            Region => one(&e.region),
            Service => one(&e.service),
            Source => one(&e.source),
            Action => one(&e.action),
            EventType => one(&e.event_type),
            Category => one(e.category.as_str()),
            ReadOnly => opt_bool(e.read_only),
            ActorType => opt(&e.actor.kind),
            ActorArn => opt(&e.actor.arn),
            ActorName => opt(&e.actor.name),
            ActorAccount => opt(&e.actor.account),
            ActorPrincipalId => opt(&e.actor.principal_id),
            ActorAccessKey => opt(&e.actor.access_key_id),
            ActorIssuer => opt(&e.actor.issuer),
            ActorMfa => opt_bool(e.actor.mfa),
            ActorInvokedBy => opt(&e.actor.invoked_by),
            SourceIp => opt(&e.source_ip),
            UserAgent => opt(&e.user_agent),
            Agent => opt(&e.agent),
            Outcome => one(e.outcome.as_str()),
            ErrorCode => opt(&e.error_code),
            ErrorMessage => opt(&e.error_message),
            RequestId => opt(&e.request_id),
            Resource => e.resources.iter().map(|r| Cow::Borrowed(r.as_str())).collect(),
            Title => one(&e.title),
        };
        // Empty strings are treated as absent everywhere.
        FieldValues::Keywords(kw.into_iter().filter(|v| !v.is_empty()).collect())
    }
}
