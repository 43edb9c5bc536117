//! [`FeedIndex`]: where the mines of every shard hand the sampled chunk fingerprints of their
//! windows ([`super::fingerprint`]), so that one mine's data uploaded under another's code is seen
//! whichever shards the two mines are on.
//!
//! It is touched **once per mine per window** (a few fingerprints each time), never per reading:
//! the lock inside is off the hot path. One index is created for the whole process and given to
//! every shard's engine ([`crate::Engine::with_feed_index`]); an engine built without one shares a
//! private index among its own mines.
//!
//! A fingerprint is remembered with its first sighting (mine, point, end of the chunk on that
//! mine's clock) for `horizon` of that mine's clock. When a mine hands in a fingerprint another
//! mine handed in before, the one whose chunk ended later copies the other: if that is the mine
//! handing in, the match is returned at once; if it is the other, the match is kept as a credit
//! for it, handed over with its own next window. Chunks that end at the same moment credit both.

use minewatch_core::registry::Idx;
use minewatch_core::time::Millis;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

/// Credits kept per mine at most until it collects them.
const MAX_CREDITS: usize = 256;

/// One chunk a mine hands in: its fingerprint, the point it came from, when it ended.
#[derive(Debug, Clone, Copy)]
pub struct Handed {
    pub fp: u64,
    pub point: Idx,
    pub at: Millis,
}

/// A chunk of a mine found to repeat, at the same time or later, a chunk another mine sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Copied {
    /// The other mine, and when its chunk ended (on its clock).
    pub source: Arc<str>,
    pub source_at: Millis,
    /// This mine's point (index in its definition), and when its chunk ended.
    pub point: Idx,
    pub at: Millis,
}

/// First sighting of a fingerprint: 16 bytes (mines are numbered by the index).
#[derive(Debug, Clone, Copy)]
struct Sighting {
    mine: u32,
    point: Idx,
    at: Millis,
}

#[derive(Debug, Default)]
struct Inner {
    /// First sighting of each fingerprint still within its mine's horizon.
    seen: HashMap<u64, Sighting>,
    /// The mines by number, and their numbers.
    names: Vec<Arc<str>>,
    numbers: HashMap<Arc<str>, u32>,
    /// Each mine's fingerprints in `seen`, oldest first, to let them go (by mine number).
    owned: Vec<VecDeque<(Millis, u64)>>,
    /// Matches found for a mine by another's later hand-in, until it collects them.
    credits: HashMap<u32, Vec<Copied>>,
}

impl Inner {
    fn number(&mut self, mine: &Arc<str>) -> u32 {
        if let Some(&n) = self.numbers.get(mine) {
            return n;
        }
        let n = self.names.len() as u32;
        self.names.push(mine.clone());
        self.numbers.insert(mine.clone(), n);
        self.owned.push(VecDeque::new());
        n
    }
}

/// The fingerprints of every mine's recent windows, shared by the shards.
#[derive(Debug, Default)]
pub struct FeedIndex {
    inner: Mutex<Inner>,
}

impl FeedIndex {
    /// A new, empty index to share.
    pub fn shared() -> Arc<FeedIndex> {
        Arc::new(FeedIndex::default())
    }

    /// `mine` hands in the chunks sampled from its window ending at `now` (its clock); returns
    /// every chunk of `mine` found to copy another mine's, this time or credited since its last
    /// hand-in. Fingerprints older than `horizon` before `now` are let go (for this mine) and
    /// not matched.
    pub fn hand_in(
        &self,
        mine: &Arc<str>,
        chunks: &[Handed],
        now: Millis,
        horizon: Millis,
    ) -> Vec<Copied> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let me = inner.number(mine);
        let Inner {
            seen,
            names,
            owned,
            credits,
            ..
        } = &mut *inner;
        let since = now.saturating_sub(horizon);
        let own = &mut owned[me as usize];
        while let Some(&(at, fp)) = own.front() {
            if at >= since {
                break;
            }
            own.pop_front();
            if seen.get(&fp).is_some_and(|s| s.mine == me && s.at == at) {
                seen.remove(&fp);
            }
        }
        let mut found = credits.remove(&me).unwrap_or_default();
        found.retain(|c| c.at >= since);
        // Grown exactly: thousands of mines keep a full horizon each.
        own.reserve_exact(chunks.len());
        for c in chunks {
            match seen.get(&c.fp).copied() {
                Some(s) if s.mine != me && (s.at - c.at).abs() <= horizon => {
                    if c.at >= s.at {
                        found.push(Copied {
                            source: names[s.mine as usize].clone(),
                            source_at: s.at,
                            point: c.point,
                            at: c.at,
                        });
                    }
                    if s.at >= c.at {
                        let theirs = credits.entry(s.mine).or_default();
                        if theirs.len() < MAX_CREDITS {
                            theirs.push(Copied {
                                source: mine.clone(),
                                source_at: c.at,
                                point: s.point,
                                at: s.at,
                            });
                        }
                    }
                }
                Some(_) => {}
                None => {
                    seen.insert(
                        c.fp,
                        Sighting {
                            mine: me,
                            point: c.point,
                            at: c.at,
                        },
                    );
                    own.push_back((c.at, c.fp));
                }
            }
        }
        found
    }

    /// Fingerprints remembered, over every mine (for tests and metrics).
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .seen
            .len()
    }

    /// Whether it remembers nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(fp: u64, point: Idx, at: Millis) -> Handed {
        Handed { fp, point, at }
    }

    #[test]
    fn the_later_mine_copies_whichever_hands_in_first_and_a_tie_credits_both() {
        let idx = FeedIndex::default();
        let (a, b): (Arc<str>, Arc<str>) = (Arc::from("A"), Arc::from("B"));
        // B first, A later by 10 s: A's hand-in finds it at once.
        assert!(idx.hand_in(&b, &[h(1, 1, 1_000)], 1_000, 60_000).is_empty());
        let got = idx.hand_in(&a, &[h(1, 7, 11_000)], 11_000, 60_000);
        assert_eq!(got.len(), 1);
        assert_eq!((&*got[0].source, got[0].point), ("B", 7));
        // A first this time: B's later hand-in credits A, who collects it next time.
        assert!(
            idx.hand_in(&a, &[h(2, 7, 21_000)], 21_000, 60_000)
                .is_empty()
        );
        assert!(
            idx.hand_in(&b, &[h(2, 1, 11_000)], 21_000, 60_000)
                .is_empty()
        );
        let got = idx.hand_in(&a, &[], 31_000, 60_000);
        assert_eq!(got.len(), 1);
        assert_eq!(&*got[0].source, "B");
        // The same moment: both copy each other.
        idx.hand_in(&a, &[h(3, 1, 40_000)], 40_000, 60_000);
        assert_eq!(idx.hand_in(&b, &[h(3, 1, 40_000)], 40_000, 60_000).len(), 1);
        assert_eq!(idx.hand_in(&a, &[], 41_000, 60_000).len(), 1);
        // A mine repeating itself is not a copy.
        assert!(
            idx.hand_in(&a, &[h(3, 2, 45_000)], 45_000, 60_000)
                .is_empty()
        );
    }

    #[test]
    fn fingerprints_older_than_the_horizon_are_let_go() {
        let idx = FeedIndex::default();
        let (a, b): (Arc<str>, Arc<str>) = (Arc::from("A"), Arc::from("B"));
        idx.hand_in(&b, &[h(1, 1, 0)], 0, 60_000);
        assert_eq!(idx.len(), 1);
        // 70 s later: out of the horizon for the match.
        assert!(
            idx.hand_in(&a, &[h(1, 1, 70_000)], 70_000, 60_000)
                .is_empty()
        );
        // B's own clock moving on lets its old fingerprint go.
        idx.hand_in(&b, &[], 70_000, 60_000);
        assert!(
            !idx.hand_in(&a, &[], 80_000, 60_000)
                .iter()
                .any(|c| &*c.source == "B")
        );
        assert_eq!(idx.len(), 0);
    }
}
