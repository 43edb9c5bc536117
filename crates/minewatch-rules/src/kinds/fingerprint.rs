//! Fingerprints of what points report, for the kinds that look for data repeated from elsewhere
//! (an earlier stretch of the same mine, another mine's feed).
//!
//! - [`Chunker`]: per point, cuts the stream of readings into chunks and fingerprints each. Where
//!   a chunk ends depends only on the last dozen values (content-defined chunking with a gear
//!   hash, as backup tools do), so the same values replayed an hour later, or copied with a lag,
//!   are cut in the same places and give the same fingerprints whatever the shift in time. Values
//!   are quantised to hundredths first (the resolution a point is printed with at most). A chunk
//!   whose value changed fewer than [`MIN_CHANGES`] times is not handed on: a constant or nearly
//!   constant sensor repeats by nature (and is the business of the kind for flat sensors).
//! - [`Sketch`]: the few smallest fingerprints of a window of the mine clock, a sample of the
//!   window chosen by content: two windows carrying the same chunks choose the same ones. It is
//!   what the kinds keep or share per window, so their memory does not grow with the readings.
//!
//! The engine steps each point's chunker once per new reading (O(1), no allocation) and tells the
//! kinds, through [`super::MineState::chunk_ended`], which fingerprint that reading completed.

use minewatch_core::registry::Idx;
use minewatch_core::time::Millis;

/// Readings a chunk has at least before a content boundary may end it.
pub const MIN_LEN: u8 = 16;
/// A chunk is cut at this length whatever its content (a stretch with no boundary).
pub const MAX_LEN: u8 = 128;
/// Value changes (between consecutive readings) a chunk needs to be handed on.
pub const MIN_CHANGES: u8 = 4;
/// Bits of the rolling hash that are zero at a boundary: one reading in 16 after [`MIN_LEN`], so
/// chunks are about 32 readings long (5 min at a 10 s cycle). Bits 8-11 of the gear hash depend
/// on the last 12 values only.
const BOUNDARY: u16 = 0x0F00;

/// A 64-bit finaliser (splitmix64): spreads every input bit over the output.
#[inline]
pub fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A value in hundredths, as the fingerprints see it.
#[inline]
pub fn quantise(v: f64) -> i32 {
    // Half away from zero, as `round` does, without its library call (this runs per reading);
    // `as` saturates and maps NaN to 0: no value can make this panic.
    let x = v * 100.0;
    (x + if x < 0.0 { -0.5 } else { 0.5 }) as i32
}

/// The gear value of a quantised value: one multiply (Fibonacci hashing), upper bits kept.
#[inline]
fn gear(q: i32) -> u16 {
    ((q as u32).wrapping_mul(0x9E37_79B1) >> 16) as u16
}

/// The chunk being read of one point. 16 bytes, `Copy`: one per point.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Chunker {
    /// Fingerprint of the chunk so far (a multiply-xor fold of its quantised values).
    acc: u64,
    /// The previous quantised value, to count changes.
    prev: i32,
    /// Gear hash of the latest values: the content that decides where a chunk ends.
    roll: u16,
    /// Readings in the chunk so far.
    len: u8,
    /// Value changes in the chunk so far (saturating).
    changes: u8,
}

impl Chunker {
    /// Takes the next reading's value; returns the fingerprint of the chunk it completes, when it
    /// completes one whose value varied.
    #[inline]
    pub fn push(&mut self, value: f64) -> Option<u64> {
        let q = quantise(value);
        if self.len == 0 {
            self.acc = 0xcbf2_9ce4_8422_2325;
            self.changes = 0;
        } else if q != self.prev {
            self.changes = self.changes.saturating_add(1);
        }
        self.prev = q;
        self.acc = (self.acc ^ u64::from(q as u32)).wrapping_mul(0x0000_0100_0000_01b3);
        self.roll = (self.roll << 1).wrapping_add(gear(q));
        self.len += 1;
        let cut = (self.len >= MIN_LEN && self.roll & BOUNDARY == 0) || self.len >= MAX_LEN;
        if !cut {
            return None;
        }
        let varied = self.changes >= MIN_CHANGES;
        let fp = mix(self.acc ^ u64::from(self.len));
        self.len = 0;
        varied.then_some(fp)
    }

    /// A reading that is not a reading of the air (calibration, a fault): the chunk so far is
    /// dropped and the next reading starts a new one.
    #[inline]
    pub fn reset(&mut self) {
        self.len = 0;
    }
}

/// One chunk in a [`Sketch`]: its fingerprint, the point it came from and when it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sampled {
    pub fp: u64,
    pub point: Idx,
    pub at: Millis,
}

/// The `K` smallest distinct chunk fingerprints of a window, in ascending order.
#[derive(Debug, Clone, Copy)]
pub struct Sketch<const K: usize> {
    items: [Sampled; K],
    len: usize,
}

impl<const K: usize> Default for Sketch<K> {
    fn default() -> Self {
        Sketch {
            items: [Sampled {
                fp: 0,
                point: 0,
                at: 0,
            }; K],
            len: 0,
        }
    }
}

impl<const K: usize> Sketch<K> {
    /// Offers a chunk; kept when it is among the `K` smallest so far. O(K).
    #[inline]
    pub fn offer(&mut self, s: Sampled) {
        // Most chunks are not among the smallest: one comparison.
        if self.len == K && (K == 0 || s.fp >= self.items[K - 1].fp) {
            return;
        }
        let items = &mut self.items[..self.len];
        if items.iter().any(|x| x.fp == s.fp) {
            return;
        }
        if self.len == K {
            if K == 0 || s.fp >= self.items[K - 1].fp {
                return;
            }
            self.len -= 1;
        }
        let mut k = self.len;
        while k > 0 && self.items[k - 1].fp > s.fp {
            self.items[k] = self.items[k - 1];
            k -= 1;
        }
        self.items[k] = s;
        self.len += 1;
    }

    /// The chunks kept, smallest fingerprint first.
    pub fn items(&self) -> &[Sampled] {
        &self.items[..self.len]
    }

    /// Empties it for the next window.
    pub fn clear(&mut self) {
        self.len = 0;
    }
}

/// The window of length `len` that `at` falls in, on the mine clock (aligned to the epoch).
#[inline]
pub fn window_of(at: Millis, len: Millis) -> i64 {
    at.div_euclid(len.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A noisy but deterministic series.
    fn series(seed: u64, n: usize) -> Vec<f64> {
        (0..n)
            .map(|k| 0.3 + (mix(seed ^ k as u64) % 40) as f64 / 1000.0)
            .collect()
    }

    fn chunks(values: &[f64]) -> Vec<u64> {
        let mut c = Chunker::default();
        values.iter().filter_map(|&v| c.push(v)).collect()
    }

    #[test]
    fn the_same_values_shifted_in_time_give_the_same_chunks_after_a_few_readings() {
        let v = series(1, 2000);
        let a = chunks(&v);
        // The same stream with 37 other readings in front (a replay an odd time later).
        let mut shifted = series(2, 37);
        shifted.extend_from_slice(&v);
        let b = chunks(&shifted);
        assert!(a.len() > 30, "{}", a.len());
        let common = a.iter().filter(|f| b.contains(f)).count();
        assert!(common + 2 >= a.len(), "{common} of {}", a.len());
        // An unrelated stream shares none.
        let c = chunks(&series(3, 2000));
        assert!(c.iter().all(|f| !a.contains(f)));
    }

    #[test]
    fn a_constant_or_barely_changing_sensor_hands_on_no_chunk() {
        let mut c = Chunker::default();
        for k in 0..1000 {
            // One blip in every 128 readings: two changes in any chunk at most.
            let v = if k % 128 == 0 { 0.31 } else { 0.30 };
            assert_eq!(c.push(v), None, "at {k}");
        }
        let mut c = Chunker::default();
        assert!((0..1000).all(|_| c.push(20.8).is_none()));
    }

    #[test]
    fn chunks_stay_within_their_lengths_and_a_reset_starts_afresh() {
        let mut c = Chunker::default();
        let mut len = 0;
        for v in series(4, 5000) {
            len += 1;
            if c.push(v).is_some() {
                assert!(
                    (MIN_LEN as usize..=MAX_LEN as usize).contains(&len),
                    "{len}"
                );
                len = 0;
            }
        }
        c.reset();
        assert_eq!(c.len, 0);
        assert_eq!(std::mem::size_of::<Chunker>(), 16);
    }

    #[test]
    fn a_sketch_keeps_the_smallest_distinct_fingerprints() {
        let mut s = Sketch::<3>::default();
        for (k, fp) in [50u64, 10, 40, 10, 30, 20, 60].into_iter().enumerate() {
            s.offer(Sampled {
                fp,
                point: k as Idx,
                at: 0,
            });
        }
        let fps: Vec<u64> = s.items().iter().map(|x| x.fp).collect();
        assert_eq!(fps, vec![10, 20, 30]);
        assert_eq!(s.items()[0].point, 1, "the first point with 10");
        s.clear();
        assert!(s.items().is_empty());
        assert_eq!(window_of(-1, 600_000), -1);
    }
}
