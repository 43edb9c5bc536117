//! `GET /api/kinds`: the alert kinds this build raises, as the rules engine describes them.
//!
//! The gateway does not know the rules: the binary hands it the catalogue
//! (`minewatch_rules::kinds::catalogue()`) when it builds the [`AppState`], and the JSON answer is
//! written once, there, since the catalogue cannot change while the process runs.

use crate::AppState;
use crate::access::Access;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use minewatch_core::KindInfo;
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The kind catalogue, serialized once as `{"kinds":[…]}`; cheap to clone.
#[derive(Debug, Clone)]
pub struct KindCatalogue {
    body: Bytes,
    len: usize,
}

impl KindCatalogue {
    /// The catalogue of `kinds`, in the order given (the rules engine gives contract order).
    pub fn new(kinds: &[KindInfo]) -> Self {
        /// A kind with its label in words, from the one table of them (`Kind::label`).
        #[derive(Serialize)]
        struct Labelled<'a> {
            #[serde(flatten)]
            info: &'a KindInfo,
            label: &'static str,
        }
        #[derive(Serialize)]
        struct Body<'a> {
            kinds: Vec<Labelled<'a>>,
        }
        let kinds_out = kinds
            .iter()
            .map(|info| Labelled {
                info,
                label: info.name.label(),
            })
            .collect();
        let body = serde_json::to_vec(&Body { kinds: kinds_out })
            .expect("a kind catalogue is plain data and always serializes");
        KindCatalogue {
            body: Bytes::from(body),
            len: kinds.len(),
        }
    }

    /// How many kinds it lists.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it lists none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// What a bad `kind` parameter was expected to be, with the first kind as an example.
pub(crate) fn expected() -> String {
    format!("an alert kind such as {}", minewatch_core::Kind::ALL[0])
}

/// The route.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_kinds))
}

/// `GET /api/kinds`: `{"kinds":[{"name","label","subject","severity","description","resolves_on_ack",
/// "params":[{"key","default","unit","description"}]}…]}`, in contract order. Any caller the other
/// read-only routes admit may read it; it names no mine.
#[utoipa::path(get, path = "/api/kinds", tag = "alerts",
    responses((status = 200, description = "Every kind this build raises, in contract order", body = crate::openapi::KindList)))]
async fn list_kinds(State(s): State<AppState>, _access: Access) -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], s.kinds.body.clone())
}
