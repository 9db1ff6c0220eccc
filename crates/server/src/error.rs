//! What can go wrong in a request, and the one place where that becomes an HTTP status and a
//! JSON body `{"error": "..."}` (with `"column"` for a bad query).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

/// A request's failure.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Bad input; the message says which parameter and why.
    #[error("{0}")]
    BadRequest(String),
    /// A query that does not parse, with the 1-based column of the offending token.
    #[error("bad query: {message}")]
    BadQuery { message: String, column: usize },
    /// No valid session or token, or a wrong password.
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// Authenticated, but the request may not be made (a missing CSRF token).
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    NotFound(String),
    /// The path exists, but not with this method.
    #[error("method not allowed here")]
    MethodNotAllowed,
    /// Too many failed logins; try again after this many seconds.
    #[error("too many failed logins; try again later")]
    RateLimited { retry_after_secs: u64 },
    /// Every live tail the server keeps open at once is taken.
    #[error("too many live tails are open (at most {limit}); try again later")]
    TooManyTails { limit: usize },
    /// Anything else. The reason is logged, never sent: it may name files or SQL.
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

impl ApiError {
    pub fn internal(e: impl std::fmt::Display) -> ApiError {
        ApiError::Internal(e.to_string())
    }
}

impl From<trailwatch_store::Error> for ApiError {
    fn from(e: trailwatch_store::Error) -> ApiError {
        match e {
            trailwatch_store::Error::Query(_) | trailwatch_store::Error::Invalid(_) => {
                ApiError::BadRequest(e.to_string())
            }
            e => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<trailwatch_query::ParseError> for ApiError {
    fn from(e: trailwatch_query::ParseError) -> ApiError {
        ApiError::BadQuery { message: e.message, column: e.column }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = self.to_string();
        let (status, body) = match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, serde_json::json!({ "error": message })),
            ApiError::BadQuery { column, .. } => {
                (StatusCode::BAD_REQUEST, serde_json::json!({ "error": message, "column": column }))
            }
            ApiError::Unauthenticated(_) => {
                (StatusCode::UNAUTHORIZED, serde_json::json!({ "error": message }))
            }
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, serde_json::json!({ "error": message })),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, serde_json::json!({ "error": message })),
            ApiError::MethodNotAllowed => {
                (StatusCode::METHOD_NOT_ALLOWED, serde_json::json!({ "error": message }))
            }
            ApiError::RateLimited { retry_after_secs } => {
                let mut r = (StatusCode::TOO_MANY_REQUESTS, Json(serde_json::json!({ "error": message })))
                    .into_response();
                r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs.max(1)));
                return r;
            }
            ApiError::TooManyTails { .. } => {
                let mut r = (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({ "error": message })))
                    .into_response();
                r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(5));
                return r;
            }
            ApiError::Internal(reason) => {
                tracing::error!(error = %reason, "request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, serde_json::json!({ "error": "internal error" }))
            }
        };
        (status, Json(body)).into_response()
    }
}
