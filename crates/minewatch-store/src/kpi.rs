//! Alarm-system performance (EEMUA 191, ISA-18.2 clause 16): [`Store::kpis`] reads a window's
//! activations (`raised` events), acknowledgements (`acked` events) and the alerts still active
//! after [`STALE_AFTER`], and `Activity::compute` turns them into [`Kpis`] with no I/O.
//!
//! An activation is a `raised` event, not a distinct alert id: an alert that clears and is raised
//! again under the same id counts once per raise. Two activations are "within 10 minutes" when
//! they are less than [`SPAN`] apart: an instant `x` counts the activations in `(x - 10 min, x]`,
//! as a live flood banner would.

use crate::codec::{parse_time, time_text};
use crate::pool::{Where, bind_params, on_pool};
use crate::{Store, StoreError};
use chrono::{DateTime, TimeDelta, Utc};
use futures_util::TryStreamExt;
use minewatch_core::{AlertState, EventType, Severity};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// EEMUA 191's reference flood: more than 10 activations in 10 minutes for one operator.
pub const DEFAULT_FLOOD: u32 = 10;
/// The most events (`raised` and `acked` together) one report reads: bounds the time and memory
/// of one request. The newest are read; see [`Kpis::capped`].
pub const MAX_KPI_EVENTS: u32 = 1_000_000;
/// The span every rate, peak, flood and chattering count is taken over.
pub const SPAN: TimeDelta = TimeDelta::minutes(10);
/// Activations of one key within [`SPAN`] that make it chattering.
pub const CHATTER_MIN: usize = 3;
/// How long an alert may stay active before it counts as stale: the same as
/// `minewatch_mine_alerts_stale` counts with.
pub const STALE_AFTER: TimeDelta = minewatch_core::metrics::STALE_AFTER;
/// Bad actors listed per mine (and in the total).
pub const BAD_ACTORS: usize = 10;
/// Chattering keys and stale alerts listed per mine (and in the total); all are counted.
pub const LISTED: usize = 20;

/// What [`Store::kpis`] reports on.
#[derive(Debug, Clone)]
pub struct KpiQuery {
    /// Only these mines, each with a row even when it had no activity; `None`: every mine with
    /// activity in the window. An empty list reports nothing.
    pub mines: Option<Vec<String>>,
    /// Start of the window (inclusive), on the events' `at` clock.
    pub since: DateTime<Utc>,
    /// End of the window (inclusive): "now" for the API; stale alerts are measured from here.
    pub until: DateTime<Utc>,
    /// A mine is in flood while the last 10 minutes hold more than this many activations.
    pub flood: u32,
    /// At most this many events are read ([`MAX_KPI_EVENTS`] for the API).
    pub max_events: u32,
}

/// The report: one row per mine and the same figures over all of them.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Kpis {
    /// The window asked for.
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// Where the figures start: `since`, unless [`capped`](Self::capped), then the oldest event
    /// read (rates are taken over `[covered_since, until]`).
    pub covered_since: DateTime<Utc>,
    /// The flood threshold used.
    pub flood: u32,
    /// Whether more events than `max_events` fell in the window, so the oldest were not read.
    pub capped: bool,
    /// Events read (activations and acknowledgements).
    pub events_read: u64,
    /// Every mine reported on taken together, as if one operator watched them all.
    pub total: Activity,
    /// One row per mine, by mine id.
    pub mines: Vec<MineKpis>,
}

/// One mine's row.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MineKpis {
    pub mine: String,
    #[serde(flatten)]
    pub kpis: Activity,
}

/// The figures of one mine, or of all of them.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Activity {
    /// `raised` events in the window.
    pub activations: u64,
    /// Activations per hour, averaged over the window.
    pub per_hour: f64,
    /// Activations per 10 minutes, averaged over the window.
    pub per_10min: f64,
    /// The busiest 10 minutes.
    pub peak_10min: Peak,
    /// Seconds of the window during which the last 10 minutes held more than `flood`
    /// activations.
    pub flood_seconds: f64,
    /// `flood_seconds` as a percentage of the window.
    pub flood_percent: f64,
    /// The keys (`mine/kind/subject`) with most activations, at most [`BAD_ACTORS`].
    pub bad_actors: Vec<KeyCount>,
    /// Keys with at least [`CHATTER_MIN`] activations within 10 minutes.
    pub chattering: Listed<Chatter>,
    /// Alerts active at `until` that started more than [`STALE_AFTER`] before it.
    pub stale: Listed<StaleAlert>,
    /// Time from activation to acknowledgement, most severe first; severities with no ack are
    /// left out.
    pub ack_seconds: Vec<AckTimes>,
}

/// The most activations within 10 minutes.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Peak {
    pub count: u64,
    /// The first activation of that span; `None` when there was none.
    pub at: Option<DateTime<Utc>>,
}

/// A key and how many activations it had.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct KeyCount {
    pub key: String,
    pub count: u64,
}

/// A chattering key.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Chatter {
    pub key: String,
    /// Its activations in the window.
    pub activations: u64,
    /// Its most activations within 10 minutes.
    pub max_10min: u64,
}

/// An alert active for longer than [`STALE_AFTER`].
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StaleAlert {
    pub id: String,
    pub key: String,
    pub severity: Severity,
    pub started_at: DateTime<Utc>,
}

/// A count and the first [`LISTED`] of what was counted.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Listed<T> {
    pub count: u64,
    pub items: Vec<T>,
}

/// Acknowledgement times of one severity, in seconds.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AckTimes {
    pub severity: Severity,
    pub count: u64,
    /// Linear interpolation between the closest ranks (as spreadsheets' `PERCENTILE`).
    pub median: f64,
    pub p90: f64,
}

/// What an `acked` event's JSON must tell: the alert's severity then, and its start (used when
/// the activation's `raised` event is no longer stored).
#[derive(Deserialize)]
struct AckedAlert {
    severity: Severity,
    started_at: DateTime<Utc>,
}

/// The rows read for one mine (or all): activations as `(at, key)`, acknowledgement times as
/// `(severity, seconds)`, stale alerts.
#[derive(Default)]
struct Rows {
    raises: Vec<(DateTime<Utc>, u32)>,
    acks: Vec<(Severity, f64)>,
    stale: Vec<StaleAlert>,
}

/// Keys as small numbers while rows are read: a million activations share a few thousand keys.
#[derive(Default)]
struct Keys {
    ids: HashMap<String, u32>,
    names: Vec<String>,
}

impl Keys {
    fn id(&mut self, key: String) -> u32 {
        if let Some(&id) = self.ids.get(&key) {
            return id;
        }
        let id = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.names.push(key.clone());
        self.ids.insert(key, id);
        id
    }
}

/// An event row of the window: `(at, mine, key, the JSON of an ack, the time of the raise an
/// ack answers)`.
type EventRow = (String, String, String, Option<String>, Option<String>);

/// What one event row of the window was: an activation of a key, or an ack after so many
/// seconds.
enum Read {
    Raise(u32),
    Ack(Severity, f64),
}

/// Stale alert row: `(id, key, mine, severity, started_at)`.
type StaleRow = (String, String, String, String, String);

impl Store {
    /// The alarm KPIs of `q`'s window (see the module doc for the definitions).
    pub async fn kpis(&self, q: &KpiQuery) -> Result<Kpis, StoreError> {
        let mut per_mine: BTreeMap<String, Rows> = BTreeMap::new();
        if let Some(mines) = &q.mines {
            for m in mines {
                per_mine.entry(m.clone()).or_default();
            }
        }
        let mut keys = Keys::default();
        let cap = q.max_events.max(1);
        let no_mines = q.mines.as_ref().is_some_and(Vec::is_empty);
        let (mut capped, mut covered_since, mut events_read) = (false, q.since, 0u64);

        if !no_mines {
            // Activations and acknowledgements in one pass over the log, newest first so that a
            // capped report covers the most recent part. By seq, the log's order and primary key,
            // not by `at`: the two differ only across a step of the recording clock. An ack is
            // measured from the activation it answers: the alert's latest `raised` event before
            // it.
            let mut w = Where::default();
            let (raised, acked) = (
                w.param(EventType::Raised.as_str()),
                w.param(EventType::Acked.as_str()),
            );
            w.clauses.push(format!("e.type IN ({raised}, {acked})"));
            let since = w.param(time_text(&q.since));
            let until = w.param(time_text(&q.until));
            w.clauses
                .push(format!("e.at >= {since} AND e.at <= {until}"));
            if let Some(mines) = &q.mines {
                w.any_of("a.mine", mines);
            }
            let sql = format!(
                "SELECT e.at, a.mine, a.key,
                        CASE WHEN e.type = {acked} THEN e.json END,
                        CASE WHEN e.type = {acked} THEN
                            (SELECT MAX(r.at) FROM events r
                             WHERE r.alert_id = e.alert_id AND r.type = {raised} AND r.seq < e.seq)
                        END
                 FROM events e JOIN alerts a ON a.id = e.alert_id{}
                 ORDER BY e.seq DESC LIMIT {}",
                w.clause(),
                w.param(i64::from(cap) + 1)
            );
            let mut read: Vec<(DateTime<Utc>, String, Read)> = Vec::new();
            on_pool!(&self.pool, |p| {
                let mut rows = bind_params!(sqlx::query_as::<_, EventRow>(&sql), w).fetch(p);
                while let Some((at, mine, key, acked, raised_at)) = rows.try_next().await? {
                    let at = parse_time(&at)?;
                    let what = match acked {
                        None => Read::Raise(keys.id(key)),
                        Some(json) => {
                            let alert: AckedAlert = serde_json::from_str(&json)?;
                            let from = match raised_at {
                                Some(r) => parse_time(&r)?,
                                None => alert.started_at,
                            };
                            let secs = (at - from).num_milliseconds().max(0) as f64 / 1000.0;
                            Read::Ack(alert.severity, secs)
                        }
                    };
                    read.push((at, mine, what));
                }
            });
            if read.len() > cap as usize {
                read.truncate(cap as usize);
                capped = true;
                covered_since = read.iter().map(|r| r.0).min().unwrap_or(q.since);
            }
            events_read = read.len() as u64;
            read.sort_unstable_by_key(|r| r.0);
            for (at, mine, what) in read {
                let rows = per_mine.entry(mine).or_default();
                match what {
                    Read::Raise(key) => rows.raises.push((at, key)),
                    Read::Ack(severity, secs) => rows.acks.push((severity, secs)),
                }
            }

            // Active alerts that started more than STALE_AFTER before `until`.
            let mut w = Where::default();
            w.eq("state", AlertState::Active.as_str());
            let before = w.param(time_text(&(q.until - STALE_AFTER)));
            w.clauses.push(format!("started_at < {before}"));
            if let Some(mines) = &q.mines {
                w.any_of("mine", mines);
            }
            let sql = format!(
                "SELECT id, key, mine, severity, started_at FROM alerts{}
                 ORDER BY started_at, id LIMIT {}",
                w.clause(),
                w.param(i64::from(cap))
            );
            let rows: Vec<StaleRow> = on_pool!(&self.pool, |p| {
                bind_params!(sqlx::query_as(&sql), w).fetch_all(p).await?
            });
            for (id, key, mine, severity, started_at) in rows {
                let severity = Severity::parse(&severity).ok_or_else(|| {
                    StoreError::Corrupt(format!("alert {id}: unknown severity {severity:?}"))
                })?;
                per_mine.entry(mine).or_default().stale.push(StaleAlert {
                    id,
                    key,
                    severity,
                    started_at: parse_time(&started_at)?,
                });
            }
        }

        let window = (covered_since, q.until);
        let mut all = Rows::default();
        let mut mines = Vec::with_capacity(per_mine.len());
        for (mine, rows) in per_mine {
            mines.push(MineKpis {
                mine,
                kpis: Activity::compute(&rows, &keys.names, window, q.flood),
            });
            all.raises.extend(rows.raises);
            all.acks.extend(rows.acks);
            all.stale.extend(rows.stale);
        }
        all.raises.sort_unstable_by_key(|r| r.0);
        all.stale
            .sort_by(|a, b| (a.started_at, &a.id).cmp(&(b.started_at, &b.id)));
        Ok(Kpis {
            since: q.since,
            until: q.until,
            covered_since,
            flood: q.flood,
            capped,
            events_read,
            total: Activity::compute(&all, &keys.names, window, q.flood),
            mines,
        })
    }
}

impl Activity {
    /// The figures of `rows` (activations ascending by time) over `window`; `names` spells the
    /// keys.
    fn compute(
        rows: &Rows,
        names: &[String],
        (since, until): (DateTime<Utc>, DateTime<Utc>),
        flood: u32,
    ) -> Activity {
        let times: Vec<DateTime<Utc>> = rows.raises.iter().map(|r| r.0).collect();
        let window_secs = seconds(until - since).max(f64::MIN_POSITIVE);
        let n = times.len() as u64;
        let (peak_count, peak_at) = busiest_span(&times);
        let flood_seconds = flood_seconds(&times, since, until, flood);

        let mut by_key: HashMap<u32, Vec<DateTime<Utc>>> = HashMap::new();
        for &(at, key) in &rows.raises {
            by_key.entry(key).or_default().push(at);
        }
        let name = |k: u32| names.get(k as usize).cloned().unwrap_or_default();
        let mut counts: Vec<(u64, String)> = by_key
            .iter()
            .map(|(&k, t)| (t.len() as u64, name(k)))
            .collect();
        counts.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        let bad_actors = counts
            .iter()
            .take(BAD_ACTORS)
            .map(|(count, key)| KeyCount {
                key: key.clone(),
                count: *count,
            })
            .collect();
        let mut chattering: Vec<Chatter> = by_key
            .iter()
            .filter_map(|(&k, t)| {
                let max = busiest_span(t).0;
                (max >= CHATTER_MIN).then(|| Chatter {
                    key: name(k),
                    activations: t.len() as u64,
                    max_10min: max as u64,
                })
            })
            .collect();
        chattering.sort_by(|a, b| {
            (b.max_10min, b.activations)
                .cmp(&(a.max_10min, a.activations))
                .then_with(|| a.key.cmp(&b.key))
        });

        Activity {
            activations: n,
            per_hour: n as f64 * 3600.0 / window_secs,
            per_10min: n as f64 * seconds(SPAN) / window_secs,
            peak_10min: Peak {
                count: peak_count as u64,
                at: peak_at,
            },
            flood_seconds,
            flood_percent: 100.0 * flood_seconds / window_secs,
            bad_actors,
            chattering: listed(chattering),
            stale: listed(rows.stale.clone()),
            ack_seconds: ack_times(&rows.acks),
        }
    }
}

/// A duration in seconds.
fn seconds(d: TimeDelta) -> f64 {
    d.num_milliseconds() as f64 / 1000.0
}

/// The count and the first [`LISTED`] of `items`.
fn listed<T>(mut items: Vec<T>) -> Listed<T> {
    let count = items.len() as u64;
    items.truncate(LISTED);
    Listed { count, items }
}

/// The most of `times` (ascending) within one [`SPAN`] (`[t, t + 10 min)`), and the first of them.
fn busiest_span(times: &[DateTime<Utc>]) -> (usize, Option<DateTime<Utc>>) {
    let mut best = (0, None);
    let mut end = 0;
    for (start, &t) in times.iter().enumerate() {
        end = end.max(start);
        while end < times.len() && times[end] - t < SPAN {
            end += 1;
        }
        if end - start > best.0 {
            best = (end - start, Some(t));
        }
    }
    best
}

/// The seconds of `[since, until]` at which the activations in the 10 minutes up to then
/// (`(x - 10 min, x]`) number more than `flood`; `times` ascending.
fn flood_seconds(
    times: &[DateTime<Utc>],
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    flood: u32,
) -> f64 {
    // Each activation counts from its time until 10 minutes later: a sweep over those edges.
    let mut edges: Vec<(DateTime<Utc>, i64)> = Vec::with_capacity(times.len() * 2);
    for &t in times {
        edges.push((t, 1));
        edges.push((t + SPAN, -1));
    }
    edges.sort_unstable();
    let (mut count, mut total) = (0i64, TimeDelta::zero());
    let mut i = 0;
    while i < edges.len() {
        let at = edges[i].0;
        while i < edges.len() && edges[i].0 == at {
            count += edges[i].1;
            i += 1;
        }
        if count > i64::from(flood) {
            let next = edges.get(i).map_or(at, |e| e.0);
            let (from, to) = (at.max(since), next.min(until));
            if to > from {
                total += to - from;
            }
        }
    }
    seconds(total)
}

/// Median and 90th percentile of the acknowledgement times, per severity, most severe first.
fn ack_times(acks: &[(Severity, f64)]) -> Vec<AckTimes> {
    Severity::ALL
        .iter()
        .rev()
        .filter_map(|&severity| {
            let mut secs: Vec<f64> = acks
                .iter()
                .filter(|a| a.0 == severity)
                .map(|a| a.1)
                .collect();
            if secs.is_empty() {
                return None;
            }
            secs.sort_by(f64::total_cmp);
            Some(AckTimes {
                severity,
                count: secs.len() as u64,
                median: percentile(&secs, 0.5),
                p90: percentile(&secs, 0.9),
            })
        })
        .collect()
}

/// The `p` quantile of `sorted` (not empty), interpolating linearly between the closest ranks.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = p * (sorted.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_795_000_000 + secs, 0)
            .single()
            .expect("a valid instant")
    }

    #[test]
    fn the_busiest_span_counts_activations_less_than_ten_minutes_apart() {
        let times = [t(0), t(100), t(599), t(600), t(1300)];
        assert_eq!(busiest_span(&times), (3, Some(t(0))));
        assert_eq!(busiest_span(&[t(0), t(600)]), (1, Some(t(0))));
        assert_eq!(busiest_span(&[]), (0, None));
    }

    #[test]
    fn flood_time_is_while_the_last_ten_minutes_hold_more_than_the_threshold() {
        let eleven: Vec<_> = (0..11).map(|i| t(i * 10)).collect();
        // The 11th arrives at 100 s; the first leaves the 10 minutes at 600 s.
        assert_eq!(flood_seconds(&eleven, t(0), t(3600), 10), 500.0);
        assert_eq!(flood_seconds(&eleven[..10], t(0), t(3600), 10), 0.0);
        // Clipped to the window.
        assert_eq!(flood_seconds(&eleven, t(0), t(300), 10), 200.0);
        assert_eq!(flood_seconds(&eleven, t(0), t(3600), 11), 0.0);
    }

    #[test]
    fn percentiles_interpolate_between_the_closest_ranks() {
        assert_eq!(percentile(&[30.0, 90.0], 0.5), 60.0);
        assert!((percentile(&[30.0, 90.0], 0.9) - 84.0).abs() < 1e-9);
        assert_eq!(percentile(&[7.0], 0.9), 7.0);
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&ten, 0.5), 5.5);
        assert!((percentile(&ten, 0.9) - 9.1).abs() < 1e-9);
    }
}
