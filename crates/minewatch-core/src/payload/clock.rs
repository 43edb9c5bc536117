//! The times of one message, as the decoder reads them.

use super::{DecodeCtx, Reason, Str, excerpt};
use crate::time::{Millis, parse_rfc3339};

/// Reads the times of one message: a `ts` too far ahead of the wall clock is taken as the wall
/// clock's time, and noted.
pub(super) struct Clock {
    pub(super) ctx: DecodeCtx,
    /// The furthest ahead seen, in ms (0: none beyond the skew allowed).
    pub(super) ahead: std::cell::Cell<Millis>,
    /// The ones taken at the wall clock's time: (detail, excerpt source).
    pub(super) skewed: std::cell::RefCell<Vec<(String, String)>>,
}

impl Clock {
    pub(super) fn ts(&self, s: &str, what: &str) -> Result<Millis, (Reason, String)> {
        let t = parse_rfc3339(s).ok_or_else(|| {
            (
                Reason::BadTimestamp,
                format!("{what} {:?} is not RFC 3339 with offset", excerpt(s)),
            )
        })?;
        if t > self.ctx.now.saturating_add(self.ctx.max_skew) {
            let by = t.saturating_sub(self.ctx.now);
            self.ahead.set(self.ahead.get().max(by));
            self.skewed.borrow_mut().push((
                format!(
                    "{what} {s:?} is {}s ahead of the wall clock: taken at the wall clock's time",
                    by / 1000
                ),
                s.to_string(),
            ));
            return Ok(self.ctx.now);
        }
        Ok(t)
    }

    pub(super) fn elem_ts(
        &self,
        own: Option<Str<'_>>,
        batch: Millis,
    ) -> Result<Millis, (Reason, String)> {
        match own {
            None => Ok(batch),
            Some(Str(s)) => self.ts(&s, "element ts"),
        }
    }
}
