//! `GET /api/v1/openapi.json`: the hand-written OpenAPI 3.1 document (`openapi.json` beside
//! this file). A test checks that it lists exactly the routes of [`crate::ROUTES`].

use axum::http::header;
use axum::response::IntoResponse;

pub const DOCUMENT: &str = include_str!("openapi.json");

pub(crate) async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}
