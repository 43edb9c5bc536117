//! MQTT input (contract §1): topics `{prefix}/{mine}/{system}` and their JSON batches.
//!
//! Decoding borrows ids straight from the payload (ids may not contain escapes, so a borrowed
//! `&str` is always possible for a valid one) and parses each element of a batch on its own, so one
//! bad element is rejected with its reason while the rest of the batch goes on.

use crate::id;
use crate::time::{Millis, parse_rfc3339};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// The five feeds a mine publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum System {
    Safety,
    Personnel,
    Video,
    Power,
    Explosives,
}

impl System {
    /// Every system, in a fixed order (see [`System::index`]).
    pub const ALL: [System; 5] = [
        System::Safety,
        System::Personnel,
        System::Video,
        System::Power,
        System::Explosives,
    ];

    /// The topic segment.
    pub fn as_str(self) -> &'static str {
        match self {
            System::Safety => "safety",
            System::Personnel => "personnel",
            System::Video => "video",
            System::Power => "power",
            System::Explosives => "explosives",
        }
    }

    /// Position in [`System::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Parses a topic segment.
    pub fn parse(s: &str) -> Option<System> {
        System::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// Why input was rejected: a small fixed set, so it can label a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The topic is not `{prefix}/{mine}/{system}` with a valid mine id and a known system.
    BadTopic,
    /// The payload is not a JSON object of the system's shape.
    BadJson,
    /// A `ts` is missing or not RFC 3339 with offset.
    BadTimestamp,
    /// A `ts` is further ahead of the wall clock than `max_clock_skew`.
    ClockSkew,
    /// An element lacks a required field or has one of the wrong type.
    BadElement,
    /// An id is not 1-64 characters of `A-Z a-z 0-9 _ - .`.
    BadId,
    /// A number is not finite or out of its domain.
    BadValue,
}

impl Reason {
    /// Every reason, for pre-registering metrics.
    pub const ALL: [Reason; 7] = [
        Reason::BadTopic,
        Reason::BadJson,
        Reason::BadTimestamp,
        Reason::ClockSkew,
        Reason::BadElement,
        Reason::BadId,
        Reason::BadValue,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::BadTopic => "bad_topic",
            Reason::BadJson => "bad_json",
            Reason::BadTimestamp => "bad_timestamp",
            Reason::ClockSkew => "clock_skew",
            Reason::BadElement => "bad_element",
            Reason::BadId => "bad_id",
            Reason::BadValue => "bad_value",
        }
    }
}

/// One rejected message or element, as kept in the dead-letter record.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    pub reason: Reason,
    /// What exactly was wrong.
    pub detail: String,
    /// The start of the offending text (at most [`EXCERPT_LEN`] bytes).
    pub excerpt: String,
}

/// How much of a bad message or element the dead-letter record keeps.
pub const EXCERPT_LEN: usize = 256;

/// The first [`EXCERPT_LEN`] bytes of `s`, cut at a character boundary.
pub fn excerpt(s: &str) -> String {
    if s.len() <= EXCERPT_LEN {
        return s.to_string();
    }
    let mut end = EXCERPT_LEN;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Splits `{prefix}/{mine}/{system}`.
pub fn parse_topic<'t>(prefix: &str, topic: &'t str) -> Option<(&'t str, System)> {
    let rest = topic.strip_prefix(prefix)?.strip_prefix('/')?;
    let (mine, system) = rest.split_once('/')?;
    if !id::is_valid(mine) {
        return None;
    }
    Some((mine, System::parse(system)?))
}

/// A safety reading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading<'a> {
    pub point: &'a str,
    pub value: f64,
    /// Status bits (domain.md): 4 calibration, 8|16|32|128 faults.
    pub status: u32,
    pub ts: Millis,
}

/// A personnel tag observation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TagObs<'a> {
    pub tag: &'a str,
    pub person: Option<&'a str>,
    pub leader: bool,
    pub area: Option<&'a str>,
    pub underground: bool,
    pub down_at: Option<Millis>,
    pub distress: bool,
    pub ts: Millis,
}

/// A camera's diagnostic state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CameraState {
    Ok,
    Offline,
    SignalLoss,
    Frozen,
    Occluded,
    SceneChange,
    Degraded,
}

/// A camera observation.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraObs<'a> {
    pub camera: &'a str,
    pub state: CameraState,
    pub events: Vec<&'a str>,
    pub ts: Millis,
}

/// A meter reading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeterObs<'a> {
    pub meter: &'a str,
    pub kw: f64,
    pub ts: Millis,
}

/// An explosives issue.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IssueObs<'a> {
    pub area: &'a str,
    pub kg: f64,
    pub detonators: u32,
    pub ts: Millis,
}

/// The decoded elements of one batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Items<'a> {
    Safety(Vec<Reading<'a>>),
    Personnel(Vec<TagObs<'a>>),
    Video(Vec<CameraObs<'a>>),
    Power(Vec<MeterObs<'a>>),
    Explosives(Vec<IssueObs<'a>>),
}

impl Items<'_> {
    /// How many elements were accepted.
    pub fn len(&self) -> usize {
        match self {
            Items::Safety(v) => v.len(),
            Items::Personnel(v) => v.len(),
            Items::Video(v) => v.len(),
            Items::Power(v) => v.len(),
            Items::Explosives(v) => v.len(),
        }
    }

    /// Whether no element was accepted.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A decoded batch: the accepted elements and the rejected ones.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch<'a> {
    /// The batch's observation time.
    pub ts: Millis,
    pub items: Items<'a>,
    pub rejected: Vec<Rejected>,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    ts: Option<&'a str>,
    #[serde(borrow, default)]
    readings: Option<Vec<&'a RawValue>>,
    #[serde(borrow, default)]
    tags: Option<Vec<&'a RawValue>>,
    #[serde(borrow, default)]
    cameras: Option<Vec<&'a RawValue>>,
    #[serde(borrow, default)]
    meters: Option<Vec<&'a RawValue>>,
    #[serde(borrow, default)]
    issues: Option<Vec<&'a RawValue>>,
}

#[derive(Deserialize)]
struct ReadingRaw<'a> {
    point: &'a str,
    value: f64,
    #[serde(default)]
    status: u32,
    #[serde(default)]
    ts: Option<&'a str>,
}

fn default_true() -> bool {
    true
}

#[derive(Deserialize)]
struct TagRaw<'a> {
    tag: &'a str,
    #[serde(default)]
    person: Option<&'a str>,
    #[serde(default)]
    leader: bool,
    #[serde(default)]
    area: Option<&'a str>,
    #[serde(default = "default_true")]
    underground: bool,
    #[serde(default)]
    down_at: Option<&'a str>,
    #[serde(default)]
    distress: bool,
    #[serde(default)]
    ts: Option<&'a str>,
}

#[derive(Deserialize)]
struct CameraRaw<'a> {
    camera: &'a str,
    state: CameraState,
    #[serde(borrow, default)]
    events: Vec<&'a str>,
    #[serde(default)]
    ts: Option<&'a str>,
}

#[derive(Deserialize)]
struct MeterRaw<'a> {
    meter: &'a str,
    kw: f64,
    #[serde(default)]
    ts: Option<&'a str>,
}

#[derive(Deserialize)]
struct IssueRaw<'a> {
    area: &'a str,
    kg: f64,
    #[serde(default)]
    detonators: u32,
    #[serde(default)]
    ts: Option<&'a str>,
}

/// Decoding context: the wall clock and the skew allowed, for the clock-skew check.
#[derive(Debug, Clone, Copy)]
pub struct DecodeCtx {
    pub now: Millis,
    pub max_skew: Millis,
}

impl DecodeCtx {
    fn ts(&self, s: &str, what: &str) -> Result<Millis, (Reason, String)> {
        let t = parse_rfc3339(s).ok_or_else(|| {
            (
                Reason::BadTimestamp,
                format!("{what} {s:?} is not RFC 3339 with offset"),
            )
        })?;
        if t > self.now.saturating_add(self.max_skew) {
            return Err((
                Reason::ClockSkew,
                format!(
                    "{what} {s:?} is {}s ahead of the wall clock",
                    (t - self.now) / 1000
                ),
            ));
        }
        Ok(t)
    }

    fn elem_ts(&self, own: Option<&str>, batch: Millis) -> Result<Millis, (Reason, String)> {
        match own {
            None => Ok(batch),
            Some(s) => self.ts(s, "element ts"),
        }
    }
}

fn check_id<'a>(s: &'a str, what: &str) -> Result<&'a str, (Reason, String)> {
    if id::is_valid(s) {
        Ok(s)
    } else {
        Err((
            Reason::BadId,
            format!(
                "{what} id {:?} is not 1-64 characters of A-Z a-z 0-9 _ - .",
                excerpt(s)
            ),
        ))
    }
}

fn finite(v: f64, what: &str) -> Result<f64, (Reason, String)> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err((Reason::BadValue, format!("{what} is not a finite number")))
    }
}

/// Decodes each raw element with `f`; failures become [`Rejected`] entries.
fn each<'a, T>(
    raws: Vec<&'a RawValue>,
    rejected: &mut Vec<Rejected>,
    mut f: impl FnMut(&'a str) -> Result<T, (Reason, String)>,
) -> Vec<T> {
    let mut out = Vec::with_capacity(raws.len());
    for raw in raws {
        match f(raw.get()) {
            Ok(v) => out.push(v),
            Err((reason, detail)) => rejected.push(Rejected {
                reason,
                detail,
                excerpt: excerpt(raw.get()),
            }),
        }
    }
    out
}

fn element<'a, T: Deserialize<'a>>(s: &'a str) -> Result<T, (Reason, String)> {
    serde_json::from_str(s).map_err(|e| (Reason::BadElement, e.to_string()))
}

/// Decodes one message of `system`. `Err` rejects the whole message (not JSON, no `ts`, no array
/// for the system, `ts` too far ahead); otherwise every element is accepted or rejected on its own.
pub fn decode<'a>(
    system: System,
    payload: &'a [u8],
    ctx: DecodeCtx,
) -> Result<Batch<'a>, Rejected> {
    let whole = |reason, detail: String| Rejected {
        reason,
        detail,
        excerpt: excerpt(&String::from_utf8_lossy(
            &payload[..payload.len().min(EXCERPT_LEN + 4)],
        )),
    };
    let env: Envelope<'a> =
        serde_json::from_slice(payload).map_err(|e| whole(Reason::BadJson, e.to_string()))?;
    let ts_text = env
        .ts
        .ok_or_else(|| whole(Reason::BadTimestamp, "the batch has no ts".into()))?;
    let ts = ctx.ts(ts_text, "batch ts").map_err(|(r, d)| whole(r, d))?;
    let field = match system {
        System::Safety => ("readings", env.readings),
        System::Personnel => ("tags", env.tags),
        System::Video => ("cameras", env.cameras),
        System::Power => ("meters", env.meters),
        System::Explosives => ("issues", env.issues),
    };
    let raws = field.1.ok_or_else(|| {
        whole(
            Reason::BadJson,
            format!("a {} batch needs a `{}` array", system.as_str(), field.0),
        )
    })?;
    let mut rejected = Vec::new();
    let items = match system {
        System::Safety => Items::Safety(each(raws, &mut rejected, |s| {
            let r: ReadingRaw = element(s)?;
            Ok(Reading {
                point: check_id(r.point, "point")?,
                value: finite(r.value, "value")?,
                status: r.status,
                ts: ctx.elem_ts(r.ts, ts)?,
            })
        })),
        System::Personnel => Items::Personnel(each(raws, &mut rejected, |s| {
            let r: TagRaw = element(s)?;
            let down_at = match r.down_at {
                None => None,
                Some(d) => Some(parse_rfc3339(d).ok_or((
                    Reason::BadTimestamp,
                    format!("down_at {d:?} is not RFC 3339"),
                ))?),
            };
            Ok(TagObs {
                tag: check_id(r.tag, "tag")?,
                person: r.person,
                leader: r.leader,
                area: r.area.map(|a| check_id(a, "area")).transpose()?,
                underground: r.underground,
                down_at,
                distress: r.distress,
                ts: ctx.elem_ts(r.ts, ts)?,
            })
        })),
        System::Video => Items::Video(each(raws, &mut rejected, |s| {
            let r: CameraRaw = element(s)?;
            Ok(CameraObs {
                camera: check_id(r.camera, "camera")?,
                state: r.state,
                events: r.events,
                ts: ctx.elem_ts(r.ts, ts)?,
            })
        })),
        System::Power => Items::Power(each(raws, &mut rejected, |s| {
            let r: MeterRaw = element(s)?;
            let kw = finite(r.kw, "kw")?;
            if kw < 0.0 {
                return Err((Reason::BadValue, format!("kw {kw} is negative")));
            }
            Ok(MeterObs {
                meter: check_id(r.meter, "meter")?,
                kw,
                ts: ctx.elem_ts(r.ts, ts)?,
            })
        })),
        System::Explosives => Items::Explosives(each(raws, &mut rejected, |s| {
            let r: IssueRaw = element(s)?;
            let kg = finite(r.kg, "kg")?;
            if kg < 0.0 {
                return Err((Reason::BadValue, format!("kg {kg} is negative")));
            }
            Ok(IssueObs {
                area: check_id(r.area, "area")?,
                kg,
                detonators: r.detonators,
                ts: ctx.elem_ts(r.ts, ts)?,
            })
        })),
    };
    Ok(Batch {
        ts,
        items,
        rejected,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> DecodeCtx {
        DecodeCtx {
            now: parse_rfc3339("2026-11-23T08:10:00+08:00").unwrap_or(0),
            max_skew: 300_000,
        }
    }

    #[test]
    fn topics_split_into_mine_and_system() {
        assert_eq!(
            parse_topic("mines", "mines/140100001/safety"),
            Some(("140100001", System::Safety))
        );
        assert_eq!(parse_topic("mines", "mines/140100001/weather"), None);
        assert_eq!(parse_topic("mines", "other/140100001/safety"), None);
        assert_eq!(parse_topic("mines", "mines/bad mine/safety"), None);
        assert_eq!(
            parse_topic("a/b", "a/b/M1/video"),
            Some(("M1", System::Video))
        );
    }

    #[test]
    fn the_contract_safety_example_decodes() {
        let p = br#"{"ts":"2026-11-23T08:00:05+08:00","readings":[
            {"point":"P0101","value":0.42},{"point":"P0102","value":0.0,"status":4},{"point":"F0150","value":1}]}"#;
        let b = decode(System::Safety, p, ctx()).expect("decodes");
        assert!(b.rejected.is_empty());
        let Items::Safety(r) = b.items else {
            panic!("safety")
        };
        assert_eq!(r.len(), 3);
        assert_eq!(r[1].status, 4);
        assert_eq!(r[2].value, 1.0);
        assert_eq!(r[0].ts, b.ts);
    }

    #[test]
    fn one_bad_element_is_rejected_alone() {
        let p = br#"{"ts":"2026-11-23T08:00:05+08:00","readings":[
            {"point":"P0101","value":0.42},{"point":"P0102","value":"high"},{"point":"P 3","value":1},
            {"value":1},{"point":"P0104","value":0.1,"ts":"2026-11-23T09:00:00+08:00"},{"point":"P0105","value":0.3}]}"#;
        let b = decode(System::Safety, p, ctx()).expect("decodes");
        assert_eq!(b.items.len(), 2);
        let reasons: Vec<_> = b.rejected.iter().map(|r| r.reason).collect();
        assert_eq!(
            reasons,
            vec![
                Reason::BadElement,
                Reason::BadId,
                Reason::BadElement,
                Reason::ClockSkew
            ]
        );
        assert!(b.rejected[0].excerpt.contains("high"));
    }

    #[test]
    fn whole_message_rejections_say_why() {
        let c = ctx();
        assert_eq!(
            decode(System::Safety, b"not json", c)
                .map(|_| ())
                .expect_err("json")
                .reason,
            Reason::BadJson
        );
        assert_eq!(
            decode(System::Safety, br#"{"readings":[]}"#, c)
                .map(|_| ())
                .expect_err("ts")
                .reason,
            Reason::BadTimestamp
        );
        assert_eq!(
            decode(
                System::Safety,
                br#"{"ts":"2026-11-23T09:00:00+08:00","readings":[]}"#,
                c
            )
            .map(|_| ())
            .expect_err("skew")
            .reason,
            Reason::ClockSkew
        );
        assert_eq!(
            decode(
                System::Video,
                br#"{"ts":"2026-11-23T08:00:00+08:00","readings":[]}"#,
                c
            )
            .map(|_| ())
            .expect_err("shape")
            .reason,
            Reason::BadJson
        );
    }

    #[test]
    fn other_systems_decode_with_defaults() {
        let c = ctx();
        let p = br#"{"ts":"2026-11-23T08:00:00+08:00","tags":[{"tag":"T1","area":"A1","down_at":"2026-11-23T06:10:00+08:00"}],"extra":1}"#;
        let Items::Personnel(t) = decode(System::Personnel, p, c).expect("tags").items else {
            panic!()
        };
        assert!(t[0].underground && !t[0].leader && !t[0].distress);
        let p = br#"{"ts":"2026-11-23T08:00:00+08:00","cameras":[{"camera":"C01","state":"occluded","events":["no_helmet"]},{"camera":"C02","state":"melted"}]}"#;
        let b = decode(System::Video, p, c).expect("video");
        assert_eq!(b.items.len(), 1);
        assert_eq!(b.rejected.len(), 1);
        let p = br#"{"ts":"2026-11-23T08:00:00+08:00","meters":[{"meter":"M01","kw":312.5},{"meter":"M02","kw":-1}]}"#;
        let b = decode(System::Power, p, c).expect("power");
        assert_eq!((b.items.len(), b.rejected[0].reason), (1, Reason::BadValue));
        let p = br#"{"ts":"2026-11-23T08:00:00+08:00","issues":[{"area":"A1201","kg":24.0,"detonators":60}]}"#;
        assert_eq!(
            decode(System::Explosives, p, c)
                .expect("explosives")
                .items
                .len(),
            1
        );
    }
}
