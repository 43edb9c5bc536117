//! Request parts as handlers want them: query parameters, a path id and a JSON body, each
//! rejected with a JSON 400 that names what was wrong.

use crate::error::ApiError;
use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use minewatch_core::id;
use serde::de::DeserializeOwned;

/// The page size when a request gives no `limit`.
pub const DEFAULT_LIMIT: u32 = 100;
/// The largest `limit` accepted.
pub const MAX_LIMIT: u32 = 1000;

/// The query string as name/value pairs. An empty value counts as absent, so a form's empty
/// `mine=` means "any mine".
pub struct Params(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        Query::try_from_uri(&parts.uri)
            .map(|Query(pairs)| Params(pairs))
            .map_err(|e| ApiError::bad_request(e.body_text()))
    }
}

/// Shortens a client's value for quoting in an error message.
fn quote(value: &str) -> String {
    const MAX: usize = 40;
    match value.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}…", &value[..cut]),
        None => format!("{value:?}"),
    }
}

impl Params {
    /// Rejects a parameter not in `allowed`, or given twice: a typo must not silently widen a query.
    pub fn only(&self, allowed: &[&str]) -> Result<(), ApiError> {
        for (i, (name, _)) in self.0.iter().enumerate() {
            if !allowed.contains(&name.as_str()) {
                return Err(ApiError::bad_request(format!(
                    "unknown parameter {}: expected {}",
                    quote(name),
                    allowed.join(", ")
                )));
            }
            if self.0[..i].iter().any(|(n, _)| n == name) {
                return Err(ApiError::bad_request(format!(
                    "parameter {name} given twice"
                )));
            }
        }
        Ok(())
    }

    /// The value of a parameter, unless absent or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, v)| n == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// Parses a parameter; the error names it and what was expected.
    pub fn parse<T>(
        &self,
        name: &str,
        expected: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<Option<T>, ApiError> {
        let Some(raw) = self.get(name) else {
            return Ok(None);
        };
        match parse(raw) {
            Some(v) => Ok(Some(v)),
            None => Err(ApiError::bad_request(format!(
                "invalid {name}={}: expected {expected}",
                quote(raw)
            ))),
        }
    }

    /// A mine id parameter.
    pub fn mine(&self, name: &str) -> Result<Option<String>, ApiError> {
        self.parse(name, "a mine id (1-64 of A-Z a-z 0-9 _ - .)", |s| {
            id::is_valid(s).then(|| s.to_string())
        })
    }

    /// `limit`: 1 to [`MAX_LIMIT`], [`DEFAULT_LIMIT`] when absent.
    pub fn limit(&self) -> Result<u32, ApiError> {
        let expected = format!("a number from 1 to {MAX_LIMIT}");
        let limit = self.parse("limit", &expected, |s| {
            s.parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
        })?;
        Ok(limit.unwrap_or(DEFAULT_LIMIT))
    }
}

/// A path's single `{id}` segment.
pub struct PathId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| PathId(id))
            .map_err(|e| ApiError::new(e.status(), e.body_text()))
    }
}

/// A JSON request body. axum's 422 for a body of the wrong shape becomes 400, like every other
/// malformed request; its message names the field.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(body)) => Ok(JsonBody(body)),
            Err(e) => {
                let status = match e.status() {
                    StatusCode::UNPROCESSABLE_ENTITY => StatusCode::BAD_REQUEST,
                    other => other,
                };
                Err(ApiError::new(status, e.body_text()))
            }
        }
    }
}

/// A free-text field of a request body: at most `max` characters, and not blank when `required`.
pub fn text_field(name: &str, value: &str, max: usize, required: bool) -> Result<String, ApiError> {
    let value = value.trim();
    if required && value.is_empty() {
        return Err(ApiError::bad_request(format!("{name} must not be empty")));
    }
    if value.chars().count() > max {
        return Err(ApiError::bad_request(format!(
            "{name} is longer than {max} characters"
        )));
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params(
            pairs
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn unknown_or_repeated_parameters_are_rejected_by_name() {
        let p = params(&[("mine", "m1"), ("sevrity", "major")]);
        let e = p
            .only(&["mine", "severity"])
            .err()
            .map(|e| e.message)
            .unwrap_or_default();
        assert!(e.contains("\"sevrity\""), "{e}");
        let p = params(&[("mine", "m1"), ("mine", "m2")]);
        assert!(p.only(&["mine"]).is_err());
        assert!(params(&[("mine", "m1")]).only(&["mine"]).is_ok());
    }

    #[test]
    fn empty_values_count_as_absent_and_bad_values_name_their_parameter() {
        let p = params(&[("mine", ""), ("limit", "0")]);
        assert!(matches!(p.mine("mine"), Ok(None)));
        let e = p.limit().err().map(|e| e.message).unwrap_or_default();
        assert!(e.starts_with("invalid limit=\"0\""), "{e}");
        assert!(matches!(params(&[]).limit(), Ok(DEFAULT_LIMIT)));
        assert!(params(&[("mine", "a/b")]).mine("mine").is_err());
    }

    #[test]
    fn long_values_are_shortened_in_messages() {
        let q = quote(&"x".repeat(100));
        assert!(q.chars().count() < 50, "{q}");
    }
}
