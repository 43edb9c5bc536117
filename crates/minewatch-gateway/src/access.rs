//! Who is asking, and which mines they may see: the seam where bearer-token auth (contract §5) goes.
//!
//! Every handler takes an [`Access`], checks the [`Role`] its route needs and filters mines with
//! [`Access::sees`], so adding tokens changes only [`Access`]'s extractor. Until then every request
//! is an unrestricted `admin` named `anonymous`; the binary binds to loopback in that case.

use crate::AppState;
use crate::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use std::sync::Arc;

/// What a caller may do, in increasing power.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Reads alerts, events, mines and the live stream.
    Viewer,
    /// May also acknowledge alerts.
    Operator,
    /// May also change a mine's status and reload the registry.
    Admin,
}

impl Role {
    /// As written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

/// The caller of one request.
#[derive(Debug, Clone)]
pub struct Access {
    /// Recorded as `by` when a request does not name its author.
    who: Arc<str>,
    role: Role,
    /// The mines the caller may see; `None` for all (`*`).
    mines: Option<Arc<[String]>>,
}

impl Access {
    /// A caller that may see and do everything: every caller until tokens are configured.
    pub fn unrestricted() -> Self {
        Access {
            who: Arc::from("anonymous"),
            role: Role::Admin,
            mines: None,
        }
    }

    /// A caller with a role and, unless `None`, a list of mines.
    pub fn new(who: &str, role: Role, mines: Option<Vec<String>>) -> Self {
        Access {
            who: Arc::from(who),
            role,
            mines: mines.map(Arc::from),
        }
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
}

impl FromRequestParts<AppState> for Access {
    type Rejection = ApiError;

    async fn from_request_parts(_parts: &mut Parts, _state: &AppState) -> Result<Self, ApiError> {
        // Tokens go here: read `Authorization: Bearer …` from `_parts`, look it up in the
        // config in `_state`, answer 401 when it is missing or unknown.
        Ok(Access::unrestricted())
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
}
