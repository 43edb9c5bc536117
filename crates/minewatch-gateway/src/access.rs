//! Who is asking, and which mines they may see: bearer-token auth (contract §5).
//!
//! Every handler takes an [`Access`], checks the [`Role`] its route needs and filters mines with
//! [`Access::sees`]. With no `[[http.tokens]]` configured every request is an unrestricted `admin`
//! named `anonymous` (the binary then binds only to loopback). With tokens, a request must carry
//! `Authorization: Bearer <token>`; `/ws` also takes `?token=<token>`, because browsers cannot set
//! headers on a WebSocket. A missing or unknown token is a 401 with `WWW-Authenticate: Bearer`.
//!
//! Only SHA-256 digests of the secrets are kept; a presented token is hashed and compared with
//! each digest in constant time. Auth failures are logged at debug, never with the token.

use crate::AppState;
use crate::config::HttpConfig;
use crate::error::ApiError;
pub use crate::token::{Role, TokenDigest, hash_token};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// The caller of one request.
#[derive(Debug, Clone)]
pub struct Access {
    /// The token's name (`anonymous` without tokens): recorded as the audit entry's `token`, and
    /// as `by` where a request may leave that out.
    who: Arc<str>,
    role: Role,
    /// The mines the caller may see; `None` for all (`*`).
    mines: Option<Arc<[String]>>,
    /// The peer's IP address, when the server that accepted the connection gave it (see
    /// [`Access::source`]).
    source: Option<IpAddr>,
}

impl Access {
    /// A caller that may see and do everything: every caller until tokens are configured.
    pub fn unrestricted() -> Self {
        Access {
            who: Arc::from("anonymous"),
            role: Role::Admin,
            mines: None,
            source: None,
        }
    }

    /// A caller with a role and, unless `None`, a list of mines.
    pub fn new(who: &str, role: Role, mines: Option<Vec<String>>) -> Self {
        Access {
            who: Arc::from(who),
            role,
            mines: mines.map(Arc::from),
            source: None,
        }
    }

    /// The same caller, connected from `source`.
    pub fn with_source(self, source: Option<IpAddr>) -> Self {
        Access { source, ..self }
    }

    /// The IP address the request came from, as text: the TCP peer of the connection, which
    /// [`serve`](crate::serve) records. Behind a reverse proxy that is the proxy's address:
    /// `X-Forwarded-For` and the like are not trusted, since any client can send them. `unknown`
    /// when the router is served without the peer's address.
    pub fn source(&self) -> String {
        self.source
            .map_or_else(|| "unknown".to_owned(), |ip| ip.to_canonical().to_string())
    }

    /// Who the caller is, for the record.
    pub fn who(&self) -> &str {
        &self.who
    }

    /// Whether the caller may see this mine.
    pub fn sees(&self, mine: &str) -> bool {
        self.mines
            .as_ref()
            .is_none_or(|m| m.iter().any(|x| x == mine))
    }

    /// The mines the caller may see, or `None` for all: for store queries.
    pub fn mines(&self) -> Option<&[String]> {
        self.mines.as_deref()
    }

    /// 403 unless the caller has at least `role`.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.role >= role {
            Ok(())
        } else {
            tracing::debug!(token = %self.who, role = self.role.as_str(), needs = role.as_str(), "request refused: role too low");
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "this needs the {} role; {} is {}",
                    role.as_str(),
                    self.who,
                    self.role.as_str()
                ),
            ))
        }
    }

    /// 403 unless the caller covers every mine (`mines = ["*"]`): for what changes them all.
    /// `why` says what the request would do.
    pub fn require_all_mines(&self, why: &str) -> Result<(), ApiError> {
        let Some(mines) = &self.mines else {
            return Ok(());
        };
        tracing::debug!(token = %self.who, "request refused: not a token for every mine");
        const SHOWN: usize = 5;
        let mut covered = mines[..mines.len().min(SHOWN)].join(", ");
        if mines.len() > SHOWN {
            covered.push_str(&format!(" and {} more", mines.len() - SHOWN));
        }
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "{why}, so it needs a token for every mine (mines = [\"*\"]); {} covers only {covered}",
                self.who
            ),
        ))
    }
}

/// A 401: no token, or one that is not configured.
#[derive(Debug)]
pub struct Unauthorized {
    /// Whether a token was presented (and is unknown), as RFC 6750's `invalid_token`.
    presented: bool,
}

impl IntoResponse for Unauthorized {
    fn into_response(self) -> Response {
        let (challenge, message) = if self.presented {
            (r#"Bearer error="invalid_token""#, "unknown bearer token")
        } else {
            ("Bearer", "a bearer token is required")
        };
        let mut response = ApiError::new(StatusCode::UNAUTHORIZED, message).into_response();
        response
            .headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        response
    }
}

/// The caller of the token `presented`, or a 401.
fn authenticate(config: &HttpConfig, presented: Option<&str>) -> Result<Access, Unauthorized> {
    if !config.auth_enabled() {
        return Ok(Access::unrestricted());
    }
    let Some(secret) = presented.map(str::trim).filter(|t| !t.is_empty()) else {
        tracing::debug!("request refused: no bearer token");
        return Err(Unauthorized { presented: false });
    };
    let digest = TokenDigest::of(secret);
    // Every digest is compared, so the time taken does not tell which entry matched.
    let found = config
        .tokens
        .iter()
        .filter(|t| t.digest.matches(&digest))
        .fold(None, |found, t| found.or(Some(t)));
    match found {
        Some(t) => Ok(Access::new(&t.name, t.role, t.mines.clone())),
        None => {
            tracing::debug!("request refused: unknown bearer token");
            Err(Unauthorized { presented: true })
        }
    }
}

/// The caller of a request with these headers (its bearer token), or a 401: for a route that
/// asks for a token only when configured to (`/metrics`).
pub(crate) fn authenticate_headers(
    config: &HttpConfig,
    headers: &axum::http::HeaderMap,
) -> Result<Access, Unauthorized> {
    authenticate(config, bearer_of(headers))
}

/// The peer address [`serve`](crate::serve) put on the request, if any.
fn peer(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
}

/// The token of an `Authorization: Bearer …` header. A header of another scheme counts as none.
fn bearer(parts: &Parts) -> Option<&str> {
    bearer_of(&parts.headers)
}

fn bearer_of(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token)
}

impl FromRequestParts<AppState> for Access {
    type Rejection = Unauthorized;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Unauthorized> {
        authenticate(&state.auth.current(), bearer(parts)).map(|a| a.with_source(peer(parts)))
    }
}

/// The caller of a WebSocket request: like [`Access`], but the token may also come as `?token=`,
/// because browsers cannot set headers on a WebSocket. The header wins when both are given.
pub(crate) struct StreamAccess(pub Access);

impl FromRequestParts<AppState> for StreamAccess {
    type Rejection = Unauthorized;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Unauthorized> {
        let query = axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
            .ok()
            .and_then(|q| q.0.into_iter().find(|(n, _)| n == "token").map(|(_, v)| v));
        let presented = bearer(parts).or(query.as_deref());
        authenticate(&state.auth.current(), presented)
            .map(|a| StreamAccess(a.with_source(peer(parts))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restricted_caller_sees_only_its_mines_and_only_what_its_role_allows() {
        let a = Access::new("ops", Role::Operator, Some(vec!["m1".into()]));
        assert!(a.sees("m1"));
        assert!(!a.sees("m2"));
        assert!(a.require(Role::Viewer).is_ok());
        assert!(a.require(Role::Operator).is_ok());
        assert_eq!(
            a.require(Role::Admin).err().map(|e| e.status),
            Some(StatusCode::FORBIDDEN)
        );
        let all = Access::unrestricted();
        assert!(all.sees("anything") && all.mines().is_none() && all.require(Role::Admin).is_ok());
    }

    #[test]
    fn a_token_is_known_by_its_digest_and_hex_round_trips() {
        // `printf abc | sha256sum`
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(hash_token("abc"), abc);
        assert_eq!(
            TokenDigest::from_hex(&abc.to_uppercase()),
            Some(TokenDigest::of("abc"))
        );
        assert_eq!(TokenDigest::from_hex("abc"), None);
        assert_eq!(TokenDigest::from_hex(&"zz".repeat(32)), None);
        let config = HttpConfig {
            tokens: vec![crate::config::TokenConfig::with_secret(
                "ops",
                Role::Operator,
                Some(vec!["m1".into()]),
                "s3cret",
            )],
            ..HttpConfig::default()
        };
        let ops = authenticate(&config, Some("s3cret")).expect("known");
        assert_eq!(ops.who(), "ops");
        assert!(authenticate(&config, Some("s3cret!")).is_err());
        assert!(authenticate(&config, None).is_err());
        assert!(authenticate(&HttpConfig::default(), None).is_ok());
    }
}
