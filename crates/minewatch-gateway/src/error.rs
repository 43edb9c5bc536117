//! Every failed request answers `{"error":"…"}` with a status that says whose fault it was.

use crate::control::ControlError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::fmt::Display;

/// An error answered to an HTTP client.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What went wrong, for the client; never internal details.
    pub message: String,
}

impl ApiError {
    /// An error with a status and a message for the client.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    /// 400: the request is malformed; the message names the offending parameter or field.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 500 for a failed store query: logged here with its cause, answered without it.
    pub fn store(what: &str, err: impl Display) -> Self {
        tracing::error!(error = %err, "store query failed: {what}");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "store error")
    }
}

impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> Self {
        let status = match &e {
            ControlError::NotFound(_) => StatusCode::NOT_FOUND,
            ControlError::Conflict(_) => StatusCode::CONFLICT,
            ControlError::Invalid(_) => StatusCode::BAD_REQUEST,
            ControlError::Unavailable(_) => {
                tracing::warn!(error = %e, "pipeline unavailable");
                StatusCode::SERVICE_UNAVAILABLE
            }
        };
        ApiError::new(status, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}
