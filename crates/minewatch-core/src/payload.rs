//! MQTT input (contract §1): topics `{prefix}/{mine}/{system}` and their JSON batches.
//!
//! Decoding borrows strings straight from the payload when they hold no escape, and owns them
//! when they do ([`Text`]): what Python's `json.dumps` writes (`"\u738b\u4e94"`), `\/`, or an id
//! spelled `"P\u0030101"` all decode to what they mean. Each element of a batch is parsed on its
//! own, so one bad element is rejected with its reason while the rest of the batch goes on; the
//! rejections are summarised per reason ([`RejectedElements`]: a count and the first few), and at
//! most [`DecodeCtx::max_elements`] elements of a message are looked at, so the work one message
//! can cause is bounded whatever it holds.

use crate::id;
use crate::time::{Millis, parse_rfc3339};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// A string from a payload: borrowed from the message when it holds no escape, owned when it does.
pub type Text<'a> = Cow<'a, str>;

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

    /// The name of the batch's element array.
    pub fn array(self) -> &'static str {
        match self {
            System::Safety => "readings",
            System::Personnel => "tags",
            System::Video => "cameras",
            System::Power => "meters",
            System::Explosives => "issues",
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
    /// A `ts` is further ahead of the wall clock than `max_clock_skew`: noted, and the `ts` taken
    /// as the wall clock's time (what it reports is still judged).
    ClockSkew,
    /// An element lacks a required field or has one of the wrong type.
    BadElement,
    /// An id is not 1-64 characters of `A-Z a-z 0-9 _ - .`.
    BadId,
    /// A number is not finite or out of its domain.
    BadValue,
    /// The message is larger than `mqtt.max_packet_bytes`: acked and kept only as an excerpt.
    TooLarge,
    /// Elements beyond `engine.max_elements` in one message: not looked at.
    TooManyElements,
    /// The mine is not in the registry and this instance refuses unknown mines, or already
    /// watches as many as `engine.max_unknown_mines`.
    UnknownMine,
    /// Handling the message failed inside minewatch (a bug): the message is kept here, acked,
    /// and the other mines go on.
    Internal,
}

impl Reason {
    /// Every reason, for pre-registering metrics.
    pub const ALL: [Reason; 11] = [
        Reason::BadTopic,
        Reason::BadJson,
        Reason::BadTimestamp,
        Reason::ClockSkew,
        Reason::BadElement,
        Reason::BadId,
        Reason::BadValue,
        Reason::TooLarge,
        Reason::TooManyElements,
        Reason::UnknownMine,
        Reason::Internal,
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
            Reason::TooLarge => "too_large",
            Reason::TooManyElements => "too_many_elements",
            Reason::UnknownMine => "unknown_mine",
            Reason::Internal => "internal_error",
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

impl Rejected {
    /// A rejection of a whole message: its excerpt is the start of the payload, decoded lossily.
    pub fn message(reason: Reason, detail: String, payload: &[u8]) -> Rejected {
        let head = &payload[..payload.len().min(EXCERPT_LEN + 4)];
        Rejected {
            reason,
            detail,
            excerpt: excerpt(&String::from_utf8_lossy(head)),
        }
    }
}

/// The elements of one message rejected for one reason: how many, and the first few of them.
#[derive(Debug, Clone, PartialEq)]
pub struct RejectedElements {
    pub reason: Reason,
    /// How many elements were rejected for this reason.
    pub count: u64,
    /// The first [`EXAMPLES`] of them, in message order.
    pub examples: Vec<Rejected>,
}

/// Elements of one message decoded unless configured otherwise (`engine.max_elements`): forty
/// times a large mine's several hundred points, so no honest batch comes near it.
pub const DEFAULT_MAX_ELEMENTS: usize = 10_000;

/// How many rejected elements per reason a message's dead letter keeps in full.
pub const EXAMPLES: usize = 3;

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
#[derive(Debug, Clone, PartialEq)]
pub struct Reading<'a> {
    pub point: Text<'a>,
    pub value: f64,
    /// Status bits (domain.md): 4 calibration, 8|16|32|128 faults.
    pub status: u32,
    pub ts: Millis,
}

/// A personnel tag observation.
#[derive(Debug, Clone, PartialEq)]
pub struct TagObs<'a> {
    pub tag: Text<'a>,
    pub person: Option<Text<'a>>,
    pub leader: bool,
    pub area: Option<Text<'a>>,
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
    pub camera: Text<'a>,
    pub state: CameraState,
    pub events: Vec<Text<'a>>,
    pub ts: Millis,
}

/// A meter reading.
#[derive(Debug, Clone, PartialEq)]
pub struct MeterObs<'a> {
    pub meter: Text<'a>,
    pub kw: f64,
    pub ts: Millis,
}

/// An explosives issue.
#[derive(Debug, Clone, PartialEq)]
pub struct IssueObs<'a> {
    pub area: Text<'a>,
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
    /// The rejected elements, one entry per reason in order of first appearance.
    pub rejected: Vec<RejectedElements>,
    /// How far the furthest `ts` of the message ran ahead of the wall clock, when that was
    /// beyond `max_skew` (0: none was). Such a `ts` is taken as the wall clock's time, so what it
    /// reports is still judged; each is also noted under [`Reason::ClockSkew`].
    pub ahead: Millis,
    /// Safety readings whose element was rejected but whose point and value could still be
    /// read: judged at the batch's time against the point's limits, so a dangerous value is not
    /// lost with the rest of its element.
    pub salvaged: Vec<Salvaged<'a>>,
}

impl<'a> Batch<'a> {
    /// A batch at `ts` of `items`, all accepted, none salvaged, no `ts` ahead of the wall clock.
    pub fn new(ts: Millis, items: Items<'a>) -> Self {
        Batch {
            ts,
            items,
            rejected: Vec::new(),
            ahead: 0,
            salvaged: Vec::new(),
        }
    }

    /// How many elements were rejected, over every reason.
    pub fn rejected_count(&self) -> u64 {
        self.rejected.iter().map(|r| r.count).sum()
    }

    /// A copy with every time (the batch's, each element's, `down_at`) moved by `by`.
    pub fn shifted(&self, by: Millis) -> Self {
        let mut b = self.clone();
        b.ts += by;
        match &mut b.items {
            Items::Safety(v) => v.iter_mut().for_each(|r| r.ts += by),
            Items::Personnel(v) => v.iter_mut().for_each(|t| {
                t.ts += by;
                if let Some(d) = &mut t.down_at {
                    *d += by;
                }
            }),
            Items::Video(v) => v.iter_mut().for_each(|c| c.ts += by),
            Items::Power(v) => v.iter_mut().for_each(|m| m.ts += by),
            Items::Explosives(v) => v.iter_mut().for_each(|i| i.ts += by),
        }
        b
    }
}

/// A JSON string, borrowed from the payload when it has no escapes, owned when it has.
///
/// serde borrows a `Cow<str>` field only when it is exactly that type; inside an `Option` or a
/// `Vec` it would always copy (or, as `&str`, fail on an escape), hence this wrapper.
struct Str<'a>(Text<'a>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Str<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(s)))
            }
        }
        d.deserialize_str(V(std::marker::PhantomData))
    }
}

/// The parts of a batch that decoding reads: its `ts` and the system's element array (at most
/// `max_elements` of them as raw text, the rest only counted). Every other field is skipped
/// unread, as the contract says unknown fields are ignored.
struct Envelope<'a> {
    ts: Option<Str<'a>>,
    elements: Option<Elements<'a>>,
}

/// A batch's element array, cut at the cap.
struct Elements<'a> {
    /// The first `max_elements` elements, unparsed.
    raws: Vec<&'a RawValue>,
    /// How many more the array held, and the first of them.
    beyond: usize,
    first_beyond: Option<&'a RawValue>,
}

/// Reads an [`Envelope`] for one system with one cap, in a single pass over the payload.
#[derive(Clone, Copy)]
struct EnvelopeSeed {
    array: &'static str,
    max_elements: usize,
}

impl<'de> DeserializeSeed<'de> for EnvelopeSeed {
    type Value = Envelope<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EnvelopeSeed {
    type Value = Envelope<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut env = Envelope {
            ts: None,
            elements: None,
        };
        let mut seen_ts = false;
        while let Some(Str(key)) = map.next_key::<Str<'de>>()? {
            if key == "ts" {
                if std::mem::replace(&mut seen_ts, true) {
                    return Err(de::Error::duplicate_field("ts"));
                }
                env.ts = map.next_value::<Option<Str<'de>>>()?;
            } else if key == self.array {
                if env.elements.is_some() {
                    return Err(de::Error::duplicate_field(self.array));
                }
                env.elements = Some(map.next_value_seed(ElementsSeed(self.max_elements))?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(env)
    }
}

/// Reads an element array, keeping at most `.0` elements.
struct ElementsSeed(usize);

impl<'de> DeserializeSeed<'de> for ElementsSeed {
    type Value = Elements<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ElementsSeed {
    type Value = Elements<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of elements")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let cap = self.0;
        let mut raws = Vec::with_capacity(seq.size_hint().unwrap_or(16).min(cap));
        while raws.len() < cap {
            match seq.next_element::<&'de RawValue>()? {
                Some(raw) => raws.push(raw),
                None => {
                    return Ok(Elements {
                        raws,
                        beyond: 0,
                        first_beyond: None,
                    });
                }
            }
        }
        let first_beyond = seq.next_element::<&'de RawValue>()?;
        let mut beyond = usize::from(first_beyond.is_some());
        if first_beyond.is_some() {
            while seq.next_element::<IgnoredAny>()?.is_some() {
                beyond += 1;
            }
        }
        Ok(Elements {
            raws,
            beyond,
            first_beyond,
        })
    }
}

#[derive(Deserialize)]
struct ReadingRaw<'a> {
    #[serde(borrow)]
    point: Str<'a>,
    value: f64,
    #[serde(default)]
    status: u32,
    #[serde(borrow, default)]
    ts: Option<Str<'a>>,
}

fn default_true() -> bool {
    true
}

#[derive(Deserialize)]
struct TagRaw<'a> {
    #[serde(borrow)]
    tag: Str<'a>,
    #[serde(borrow, default)]
    person: Option<Str<'a>>,
    #[serde(default)]
    leader: bool,
    #[serde(borrow, default)]
    area: Option<Str<'a>>,
    #[serde(default = "default_true")]
    underground: bool,
    #[serde(borrow, default)]
    down_at: Option<Str<'a>>,
    #[serde(default)]
    distress: bool,
    #[serde(borrow, default)]
    ts: Option<Str<'a>>,
}

#[derive(Deserialize)]
struct CameraRaw<'a> {
    #[serde(borrow)]
    camera: Str<'a>,
    state: CameraState,
    #[serde(borrow, default)]
    events: Vec<Str<'a>>,
    #[serde(borrow, default)]
    ts: Option<Str<'a>>,
}

#[derive(Deserialize)]
struct MeterRaw<'a> {
    #[serde(borrow)]
    meter: Str<'a>,
    kw: f64,
    #[serde(borrow, default)]
    ts: Option<Str<'a>>,
}

#[derive(Deserialize)]
struct IssueRaw<'a> {
    #[serde(borrow)]
    area: Str<'a>,
    kg: f64,
    #[serde(default)]
    detonators: u32,
    #[serde(borrow, default)]
    ts: Option<Str<'a>>,
}

/// Decoding context: the wall clock and the skew allowed, for the clock-skew check, and how many
/// elements of one message are looked at.
#[derive(Debug, Clone, Copy)]
pub struct DecodeCtx {
    pub now: Millis,
    pub max_skew: Millis,
    /// Elements beyond this many in one message are counted and dead-lettered, not decoded.
    pub max_elements: usize,
}

fn check_id<'a>(Str(s): Str<'a>, what: &str) -> Result<Text<'a>, (Reason, String)> {
    if id::is_valid(&s) {
        Ok(s)
    } else {
        Err((
            Reason::BadId,
            format!(
                "{what} id {:?} is not 1-64 characters of A-Z a-z 0-9 _ - .",
                excerpt(&s)
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

/// Adds one rejected element to the per-reason summary.
fn note(rejected: &mut Vec<RejectedElements>, reason: Reason, detail: String, raw: &str) {
    let group = match rejected.iter().position(|g| g.reason == reason) {
        Some(i) => &mut rejected[i],
        None => {
            rejected.push(RejectedElements {
                reason,
                count: 0,
                examples: Vec::new(),
            });
            let last = rejected.len() - 1;
            &mut rejected[last]
        }
    };
    group.count += 1;
    if group.examples.len() < EXAMPLES {
        group.examples.push(Rejected {
            reason,
            detail,
            excerpt: excerpt(raw),
        });
    }
}

/// Decodes each raw element with `f`; failures join the per-reason summary.
fn each<'a, T>(
    raws: Vec<&'a RawValue>,
    rejected: &mut Vec<RejectedElements>,
    mut f: impl FnMut(&'a str) -> Result<T, (Reason, String)>,
) -> Vec<T> {
    let mut out = Vec::with_capacity(raws.len());
    for raw in raws {
        match f(raw.get()) {
            Ok(v) => out.push(v),
            Err((reason, detail)) => note(rejected, reason, detail, raw.get()),
        }
    }
    out
}

fn element<'a, T: Deserialize<'a>>(s: &'a str) -> Result<T, (Reason, String)> {
    serde_json::from_str(s).map_err(|e| (Reason::BadElement, e.to_string()))
}

/// The UTF-8 byte order mark some writers (Windows tools, .NET) put before a document.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Decodes one message of `system`. `Err` rejects the whole message (not JSON, no `ts`, no array
/// for the system, `ts` too far ahead); otherwise every element is accepted or rejected on its own
/// (at most `ctx.max_elements` of them; the rest are rejected together as too many).
pub fn decode<'a>(
    system: System,
    payload: &'a [u8],
    ctx: DecodeCtx,
) -> Result<Batch<'a>, Rejected> {
    let whole = |reason, detail: String| Rejected::message(reason, detail, payload);
    let body = payload.strip_prefix(BOM).unwrap_or(payload);
    let seed = EnvelopeSeed {
        array: system.array(),
        max_elements: ctx.max_elements,
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    let env = seed
        .deserialize(&mut de)
        .and_then(|env| de.end().map(|()| env))
        .map_err(|e| whole(Reason::BadJson, e.to_string()))?;
    let Str(ts_text) = env
        .ts
        .ok_or_else(|| whole(Reason::BadTimestamp, "the batch has no ts".into()))?;
    let ctx = Clock {
        ctx,
        ahead: Default::default(),
        skewed: Default::default(),
    };
    let ts = ctx.ts(&ts_text, "batch ts").map_err(|(r, d)| whole(r, d))?;
    let elements = env.elements.ok_or_else(|| {
        whole(
            Reason::BadJson,
            format!(
                "a {} batch needs a `{}` array",
                system.as_str(),
                system.array()
            ),
        )
    })?;
    let mut rejected = Vec::new();
    let mut salvaged = Vec::new();
    let raws = elements.raws;
    let items = match system {
        System::Safety => Items::Safety(each(raws, &mut rejected, |s| {
            let read = || {
                let r: ReadingRaw = element(s)?;
                Ok(Reading {
                    point: check_id(r.point, "point")?,
                    value: finite(r.value, "value")?,
                    status: r.status,
                    ts: ctx.elem_ts(r.ts, ts)?,
                })
            };
            let r = read();
            if r.is_err()
                && let Some(v) = salvage_element(s.as_bytes())
            {
                salvaged.push(v);
            }
            r
        })),
        System::Personnel => Items::Personnel(each(raws, &mut rejected, |s| {
            let r: TagRaw = element(s)?;
            let down_at = match r.down_at {
                None => None,
                Some(Str(d)) => Some(parse_rfc3339(&d).ok_or_else(|| {
                    (
                        Reason::BadTimestamp,
                        format!("down_at {:?} is not RFC 3339", excerpt(&d)),
                    )
                })?),
            };
            Ok(TagObs {
                tag: check_id(r.tag, "tag")?,
                person: r.person.map(|Str(p)| p),
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
                events: r.events.into_iter().map(|Str(e)| e).collect(),
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
    if let Some(first) = elements.first_beyond {
        rejected.push(RejectedElements {
            reason: Reason::TooManyElements,
            count: elements.beyond as u64,
            examples: vec![Rejected {
                reason: Reason::TooManyElements,
                detail: format!(
                    "the `{}` array holds {} elements; only the first {} (engine.max_elements) were looked at",
                    system.array(),
                    ctx.ctx.max_elements.saturating_add(elements.beyond),
                    ctx.ctx.max_elements
                ),
                excerpt: excerpt(first.get()),
            }],
        });
    }
    let skewed = ctx.skewed.take();
    if !skewed.is_empty() {
        rejected.push(RejectedElements {
            reason: Reason::ClockSkew,
            count: skewed.len() as u64,
            examples: skewed
                .into_iter()
                .take(EXAMPLES)
                .map(|(detail, raw)| Rejected {
                    reason: Reason::ClockSkew,
                    detail,
                    excerpt: excerpt(&raw),
                })
                .collect(),
        });
    }
    Ok(Batch {
        ts,
        items,
        rejected,
        ahead: ctx.ahead.get(),
        salvaged,
    })
}

mod clock;
mod salvage;
#[cfg(test)]
mod tests;

use clock::Clock;
use salvage::salvage_element;
pub use salvage::{Salvaged, salvage};
