//! `GET /api/openapi.json`: the OpenAPI 3.1 document of the whole HTTP surface, generated from
//! the code. Every handler carries its `#[utoipa::path]` (method, path, parameters, answers) and
//! is registered through utoipa-axum's `routes!`, which adds it to the router and to the document
//! at once: a route cannot be served without being described. The bodies are the types the
//! handlers answer (`ToSchema` derived beside `Serialize`); the few answers a handler builds as
//! JSON by hand are described by the schema-only types below, and the gateway's tests validate
//! real answers of every route against the document, so a description cannot drift from the
//! answer unnoticed.

use minewatch_core::registry::MineStatus;
use minewatch_core::{Alert, Event, KindInfo};
use minewatch_store::{AuditEntry, DeadLetter, Delivery, Silence};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::openapi::OpenApi as Document;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// The document's frame: title, version, auth; the paths come from the routers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "minewatch",
        description = "Real-time monitor of coal-mine safety telemetry: alerts, mines, silences, \
            deliveries, audit, alarm KPIs. Tokens, when configured, go in \
            `Authorization: Bearer …`; see docs/api.md.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "alerts", description = "Alerts, their events and the operator's actions on them"),
        (name = "mines", description = "The live picture of each mine and regulators' orders"),
        (name = "notify", description = "Silences and notification deliveries"),
        (name = "admin", description = "Audit trail, dead letters, reload"),
        (name = "ops", description = "Metrics, health, readiness, the page, this document"),
    ),
)]
struct Frame;

/// The bearer token scheme of `[http] tokens`.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document's frame (info, security, tags), which the routes fill with their paths.
pub(crate) fn frame() -> Document {
    Frame::openapi()
}

// Schema-only types: the answers handlers build as JSON by hand (live-view pictures, lists with
// a flag added), described here. They are never built; the tests hold them to real answers.

/// `{"error": "…"}`: every failed request. A 400's message starts with the field at fault.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct ErrorBody {
    error: String,
}

/// An alert as listed: the alert object and whether a silence in effect covers it now.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct ListedAlert {
    #[serde(flatten)]
    alert: Alert,
    silenced: bool,
}

/// `GET /api/alerts`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct AlertList {
    alerts: Vec<ListedAlert>,
}

/// `GET /api/alerts/{id}`: the alert and every event of it, oldest first.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct AlertDetail {
    alert: ListedAlert,
    events: Vec<Event>,
}

/// A mine in an alarm flood.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct Flood {
    /// When the window that first held too many began.
    since: chrono::DateTime<chrono::Utc>,
    /// New alerts inside the window now.
    count: u64,
    /// The most inside one window during this flood.
    peak: u64,
}

/// `GET /api/floods`: the mines in flood, by mine id.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct FloodList {
    floods: BTreeMap<String, Flood>,
}

/// `GET /api/events`: a page of the event log.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct EventPage {
    events: Vec<Event>,
    /// The last seq this page looked at: the next page starts after it.
    next_after: u64,
    /// The newest seq stored.
    last_seq: u64,
}

/// One mine in `GET /api/mines`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct MineSummary {
    id: String,
    name: String,
    /// `+08:00`.
    utc_offset: String,
    /// In the registry (`false`: only seen in data).
    registered: bool,
    status: MineStatus,
    /// The mine's latest event time, RFC 3339; `null` before any data.
    clock: Option<String>,
    points: u64,
    points_reporting: u64,
    underground: u64,
    cameras: u64,
    meters: u64,
    unregistered_devices: u64,
    active_alerts: u64,
}

/// `GET /api/mines`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct MineList {
    mines: Vec<MineSummary>,
}

/// `GET /api/mines/{id}`: the mine's whole live picture.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct MineDetail {
    id: String,
    name: String,
    utc_offset: String,
    registered: bool,
    /// In force: a stored order outranks the registry's.
    status: MineStatus,
    /// As the registry file declares it.
    registry_status: MineStatus,
    max_underground: u64,
    suspended_crew: u64,
    shift_hours: f64,
    clock: Option<String>,
    underground: u64,
    leaders_underground: u64,
    /// Each area: `id`, `name`, `kind`, `quota`, `declared`, `people`.
    areas: Vec<Value>,
    /// Each point: `id`, `area`, `kind`, `location`, `limits`, `value`, `unit`, `status`,
    /// `status_words`, `ts`, and for methane points `history`.
    points: Vec<Value>,
    /// Each camera: `id`, `area`, `watches`, `state`, `events`, `ts`.
    cameras: Vec<Value>,
    /// Each meter: `id`, `area`, `load`, `idle_kw`, `kw`, `ts`.
    meters: Vec<Value>,
    /// Devices seen in data that the registry does not define: `id`, `device`.
    unregistered: Vec<Value>,
    /// Each system's latest message time, `null` before any.
    systems_last_seen: BTreeMap<String, Option<String>>,
    active_alerts: Vec<ListedAlert>,
}

/// `PUT /api/mines/{id}/status`: the order as recorded.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct StatusOrder {
    mine: String,
    status: MineStatus,
    by: String,
    note: String,
}

/// `GET /api/dead-letters`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct DeadLetterList {
    dead_letters: Vec<DeadLetter>,
}

/// `GET /api/silences`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct SilenceList {
    silences: Vec<Silence>,
}

/// `GET /api/deliveries`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct DeliveryList {
    deliveries: Vec<Delivery>,
}

/// `GET /api/audit`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct AuditList {
    audit: Vec<AuditEntry>,
}

/// A kind with its label in words.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct LabelledKind {
    #[serde(flatten)]
    info: KindInfo,
    label: String,
}

/// `GET /api/kinds`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct KindList {
    kinds: Vec<LabelledKind>,
}
