//! Errors, and how an AWS SDK error is told apart: permission denied (also a raw HTTP 403
//! without a parseable code), throttling, server faults, KMS denials.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("config: {0}")]
    Config(String),
    /// An AWS call failed; `call` names it and what it was about (`s3:ListBucket on my-bucket`).
    #[error("{call}: {detail}")]
    Aws { call: String, kind: ErrorKind, detail: String },
    #[error(transparent)]
    Store(#[from] trailwatch_store::Error),
    #[error(transparent)]
    Ingest(#[from] trailwatch_ingest::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of failure an AWS error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// AccessDenied and the like, or an HTTP 403 whatever its body.
    Denied,
    /// KMS refused to decrypt an SSE-KMS object.
    KmsDenied,
    /// Throttling or a 5xx: worth retrying.
    Transient,
    /// The thing asked for does not exist.
    NotFound,
    Other,
}

impl Error {
    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            Error::Aws { kind, .. } => Some(*kind),
            _ => None,
        }
    }
}

/// Classifies an SDK error and describes it: code, message and HTTP status when known.
pub fn describe<E, R>(err: &SdkError<E, R>) -> (ErrorKind, String)
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + HttpStatus,
{
    let status = err.raw_response().map(|r| r.status());
    let (code, message) = match err {
        SdkError::ServiceError(s) => {
            (s.err().code().map(str::to_owned), s.err().message().map(str::to_owned))
        }
        _ => (None, None),
    };
    let kind = classify(code.as_deref(), message.as_deref(), status);
    let mut detail = match (&code, &message) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.clone(),
        (None, Some(m)) => m.clone(),
        (None, None) => match err {
            SdkError::ServiceError(_) => "the service refused the request".to_owned(),
            other => {
                let mut s = other.to_string();
                let mut source = std::error::Error::source(other);
                while let Some(e) = source {
                    s.push_str(": ");
                    s.push_str(&e.to_string());
                    source = e.source();
                }
                s
            }
        },
    };
    if let Some(st) = status {
        detail.push_str(&format!(" (HTTP {st})"));
    }
    (kind, detail)
}

/// The status of a raw response (implemented for the SDK's HTTP response).
pub trait HttpStatus {
    fn status(&self) -> u16;
}

impl HttpStatus for aws_smithy_runtime_api::http::Response {
    fn status(&self) -> u16 {
        self.status().as_u16()
    }
}

/// The kind of an error from its code, message and HTTP status.
pub fn classify(code: Option<&str>, message: Option<&str>, status: Option<u16>) -> ErrorKind {
    let code = code.unwrap_or("");
    let message = message.unwrap_or("");
    if code.starts_with("KMS.") || code == "KMS.AccessDeniedException" || message.contains("kms:Decrypt") {
        return ErrorKind::KmsDenied;
    }
    if matches!(
        code,
        "AccessDenied"
            | "AccessDeniedException"
            | "UnauthorizedOperation"
            | "InvalidClientTokenId"
            | "SignatureDoesNotMatch"
            | "ExpiredToken"
            | "AllAccessDisabled"
            | "InvalidAccessKeyId"
    ) || status == Some(403)
    {
        return ErrorKind::Denied;
    }
    if matches!(
        code,
        "Throttling"
            | "ThrottlingException"
            | "SlowDown"
            | "RequestLimitExceeded"
            | "TooManyRequestsException"
            | "InternalError"
            | "ServiceUnavailable"
            | "RequestTimeout"
    ) || status.is_some_and(|s| s == 429 || s >= 500)
    {
        return ErrorKind::Transient;
    }
    if code.starts_with("NoSuch") || code.ends_with("NotFoundException") || status == Some(404) {
        return ErrorKind::NotFound;
    }
    ErrorKind::Other
}

/// Wraps an SDK error as [`Error::Aws`] for `call`.
pub fn aws_error<E, R>(call: impl Into<String>, err: &SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + HttpStatus,
{
    let (kind, detail) = describe(err);
    Error::Aws { call: call.into(), kind, detail }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_classified() {
        use ErrorKind::*;
        for (code, message, status, want) in [
            (Some("AccessDenied"), None, Some(403), Denied),
            (None, None, Some(403), Denied),
            (Some("SlowDown"), None, Some(503), Transient),
            (None, None, Some(500), Transient),
            (Some("ThrottlingException"), None, Some(400), Transient),
            (
                Some("AccessDenied"),
                Some("User is not authorized to perform kms:Decrypt on key X"),
                Some(403),
                KmsDenied,
            ),
            (Some("NoSuchBucket"), None, Some(404), NotFound),
            (Some("TrailNotFoundException"), None, Some(400), NotFound),
            (Some("ValidationError"), None, Some(400), Other),
        ] {
            assert_eq!(classify(code, message, status), want, "{code:?} {status:?}");
        }
    }
}
