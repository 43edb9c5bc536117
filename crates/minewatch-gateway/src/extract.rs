//! Request parts as handlers want them: query parameters, a path id and a JSON body, each
//! rejected with a JSON 400 whose message starts with the field at fault: `limit: …`,
//! `by: invalid type: integer `5`, expected a string`, `id: …`.

use crate::conn::BodyTimeout;
use crate::error::ApiError;
use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use minewatch_core::id;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

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
        Params::from_uri(&parts.uri)
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
    /// The parameters of `uri`'s query string, percent-decoded (bytes that are not UTF-8 become
    /// U+FFFD).
    pub fn from_uri(uri: &axum::http::Uri) -> Result<Self, ApiError> {
        Query::try_from_uri(uri)
            .map(|Query(pairs)| Params(pairs))
            .map_err(|e| ApiError::bad_request(format!("query: {}", e.body_text())))
    }

    /// Rejects a parameter not in `allowed`, or given twice: a typo must not silently widen a query.
    pub fn only(&self, allowed: &[&str]) -> Result<(), ApiError> {
        for (i, (name, _)) in self.0.iter().enumerate() {
            if !allowed.contains(&name.as_str()) {
                return Err(ApiError::bad_request(format!(
                    "{}: unknown parameter, expected one of {}",
                    quote(name),
                    allowed.join(", ")
                )));
            }
            if self.0[..i].iter().any(|(n, _)| n == name) {
                return Err(ApiError::bad_request(format!("{name}: given twice")));
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
                "{name}: invalid value {}, expected {expected}",
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
            .map_err(|e| ApiError::new(e.status(), format!("id: {}", e.body_text())))
    }
}

/// A JSON request body, an object. Every malformed one is a 400 (axum answers 422 for a body of the wrong
/// shape) whose message starts with the field at fault, found by `serde_path_to_error`
/// (`by: invalid type: …`, `urgent: unknown field, …`, `reason: is required`), or with `body:` when the
/// body as a whole is wrong (not JSON, not an object). A body sent without
/// `Content-Type: application/json` stays a 415; one that does not arrive within the header
/// timeout (served by [`serve`](crate::serve)) is a 408.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let limit = req.extensions().get::<BodyTimeout>().map(|t| t.0);
        // axum checks the content type and the syntax; the fields are read here, with their path.
        let read = Json::<Box<RawValue>>::from_request(req, state);
        let read = match limit {
            None => read.await,
            Some(limit) => match tokio::time::timeout(limit, read).await {
                Ok(read) => read,
                // Answered before the body is read through, so hyper closes the connection.
                Err(_) => {
                    return Err(ApiError::new(
                        StatusCode::REQUEST_TIMEOUT,
                        format!("body: not received within {limit:?}"),
                    ));
                }
            },
        };
        let raw = match read {
            Ok(Json(raw)) => raw,
            Err(e) if e.status() == StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                return Err(ApiError::new(e.status(), e.body_text()));
            }
            Err(e) => {
                let status = match e.status() {
                    StatusCode::UNPROCESSABLE_ENTITY => StatusCode::BAD_REQUEST,
                    other => other,
                };
                return Err(ApiError::new(status, format!("body: {}", e.body_text())));
            }
        };
        // Every body is an object; serde would also read a struct from an array, by position.
        if !raw.get().trim_start().starts_with('{') {
            return Err(ApiError::bad_request("body: expected a JSON object"));
        }
        let mut de = serde_json::Deserializer::from_str(raw.get());
        serde_path_to_error::deserialize(&mut de)
            .map(JsonBody)
            .map_err(|e| {
                let path = e.path().to_string();
                let inner = e.into_inner();
                ApiError::bad_request(field_message(&path, &serde_message(&inner)))
            })
    }
}

/// A serde_json error's message without its ` at line L column C`, which points into the
/// request body, not at anything the client named.
fn serde_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let at = format!(" at line {} column {}", e.line(), e.column());
    text.strip_suffix(&at).unwrap_or(&text).to_owned()
}

/// `message` about the value at `path` (`.` for the body itself), led by the field's name:
/// serde names a missing or unknown field inside its message, with the path of its object.
fn field_message(path: &str, message: &str) -> String {
    let join = |field: &str| match path {
        "." => field.to_owned(),
        _ => format!("{path}.{field}"),
    };
    let named = |prefix: &str| {
        message
            .strip_prefix(prefix)
            .and_then(|rest| rest.split_once('`'))
    };
    if let Some((field, _)) = named("missing field `") {
        return format!("{}: is required", join(field));
    }
    if let Some((field, rest)) = named("unknown field `") {
        // The path already ends with the unknown field: it was being read when refused.
        let at = match path.strip_suffix(field) {
            Some(parent) if parent.is_empty() || parent.ends_with('.') => path.to_owned(),
            _ => join(field),
        };
        return format!("{at}: unknown field{rest}");
    }
    match path {
        "." => format!("body: {message}"),
        _ => format!("{path}: {message}"),
    }
}

/// The longest `by` (who did it) of an ack, a status order or a silence.
pub const MAX_BY: usize = 128;
/// The longest `note` of an ack or a status order, and `reason` of a silence.
pub const MAX_NOTE: usize = 1024;

/// A free-text field of a request body: at most `max` characters, and not blank when `required`.
pub fn text_field(name: &str, value: &str, max: usize, required: bool) -> Result<String, ApiError> {
    let value = value.trim();
    if required && value.is_empty() {
        return Err(ApiError::bad_request(format!("{name}: must not be empty")));
    }
    if value.chars().count() > max {
        return Err(ApiError::bad_request(format!(
            "{name}: longer than {max} characters"
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
        assert!(e.starts_with("limit: invalid value \"0\""), "{e}");
        assert!(matches!(params(&[]).limit(), Ok(DEFAULT_LIMIT)));
        assert!(params(&[("mine", "a/b")]).mine("mine").is_err());
    }

    /// Every byte but the unreserved ones percent-encoded.
    fn encode(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    }

    /// How an error names `param`: bare when the route knows it, quoted (and shortened) when not.
    fn named(message: &str, param: &str) -> bool {
        message.starts_with(&format!("{param}: "))
            || message.starts_with(&format!("{}: ", quote(param)))
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        const KNOWN: [&str; 6] = ["state", "mine", "kind", "severity", "limit", "after"];

        fn name() -> impl Strategy<Value = String> {
            prop_oneof![
                4 => proptest::sample::select(KNOWN.to_vec()).prop_map(str::to_owned),
                1 => any::<String>(),
            ]
        }

        fn value() -> impl Strategy<Value = String> {
            prop_oneof![
                Just(String::new()),
                "[a-z0-9_.-]{1,70}",
                any::<i64>().prop_map(|n| n.to_string()),
                any::<u64>().prop_map(|n| n.to_string()),
                any::<String>(),
                Just("%FF%FE".to_owned()),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn any_query_string_is_read_or_refused_with_a_400_naming_the_parameter(
                pairs in proptest::collection::vec((name(), value()), 0..6),
                raw_tail in "[ -~]{0,12}",
            ) {
                let mut query: Vec<String> = pairs
                    .iter()
                    .map(|(n, v)| format!("{}={}", encode(n), encode(v)))
                    .collect();
                // Raw printable text too: stray `=`, `&`, `%` and `+`.
                query.push(raw_tail.replace(['#', ' '], "+"));
                let Ok(uri) = format!("/api/alerts?{}", query.join("&")).parse::<axum::http::Uri>() else {
                    return Ok(());
                };
                let params = match Params::from_uri(&uri) {
                    Ok(p) => p,
                    Err(e) => {
                        prop_assert_eq!(e.status, StatusCode::BAD_REQUEST);
                        return Ok(());
                    }
                };
                let names: Vec<String> = params.0.iter().map(|(n, _)| n.clone()).collect();
                let checks: [Result<(), ApiError>; 5] = [
                    params.only(&KNOWN),
                    params.mine("mine").map(drop),
                    params.limit().map(drop),
                    params.parse("after", "a seq number", |s| s.parse::<u64>().ok()).map(drop),
                    params.parse("severity", "a severity", minewatch_core::Severity::parse).map(drop),
                ];
                for e in checks.into_iter().filter_map(Result::err) {
                    prop_assert_eq!(e.status, StatusCode::BAD_REQUEST);
                    prop_assert!(
                        names.iter().any(|n| named(&e.message, n)),
                        "{:?} does not name one of {:?}", e.message, names
                    );
                }
            }
        }
    }

    #[test]
    fn long_values_are_shortened_in_messages() {
        let q = quote(&"x".repeat(100));
        assert!(q.chars().count() < 50, "{q}");
    }
}
