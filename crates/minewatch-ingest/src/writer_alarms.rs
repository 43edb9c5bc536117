//! The alert writer's alarm management (ISA-18.2, EEMUA 191): cleared alerts kept until
//! acknowledged, re-activation within `rearm_window`, chattering, floods and shelves running out.
//! The policy itself is [`minewatch_core::alarm_policy`].

use super::*;

impl Writer {
    /// The active or cleared-unacknowledged alert with this id.
    pub(super) fn open_alert(&mut self, id: &str) -> Option<&mut Alert> {
        match self.by_id.get(id) {
            Some(k) => self.active.get_mut(k),
            None => self.latched.get_mut(id),
        }
    }

    /// Keeps a cleared alert listed until it is acknowledged (at most `latched_max`: past it the
    /// oldest waiting is let go of, with a warning; it stays in the store as it was).
    pub(super) fn latch(&mut self, a: Alert) {
        if self.latched.len() >= self.alarms.latched_max
            && let Some(oldest) = self
                .latched
                .values()
                .min_by_key(|a| (a.resolved_at, a.id.clone()))
                .map(|a| a.id.clone())
        {
            tracing::warn!(alert = %oldest, max = self.alarms.latched_max,
                "too many cleared alerts waiting for an ack: the oldest is no longer listed");
            self.latched.remove(&oldest);
            self.live.cleared.remove(&oldest);
        }
        self.latched.insert(a.id.clone(), a);
        self.metrics
            .alerts_cleared_unacked
            .set(self.latched.len() as i64);
    }

    /// The alert of `key` resolved within `rearm_window` (event time) before `at`, taken out of
    /// the recent and latched alerts to be re-activated.
    pub(super) fn rearm(&mut self, key: &str, at: Millis) -> Option<Alert> {
        let (a, _) = self.recent.get(key)?;
        let resolved = a.resolved_at.map_or(Millis::MIN, |t| t.timestamp_millis());
        if at.saturating_sub(resolved) > self.alarms.rearm_window {
            return None;
        }
        let (a, _) = self.recent.remove(key)?;
        // The copy in `latched` is the current one (acks there are copied here too).
        let a = self.latched.remove(&a.id).unwrap_or(a);
        self.live.cleared.remove(&a.id);
        self.metrics
            .alerts_cleared_unacked
            .set(self.latched.len() as i64);
        Some(a)
    }

    /// `prev` active again for `c`: the same id, its earlier activation kept in `activations`,
    /// `count` one up, waiting for an ack again.
    pub(super) fn reactivate(&self, prev: Alert, c: Change) -> Alert {
        let at = to_datetime(c.at);
        let mut a = prev;
        a.alarm.activations.push(Activation {
            started_at: a.started_at,
            resolved_at: a.resolved_at,
            value: a.alarm.raised_value.or(a.value),
            acked_by: a.ack.take().map(|k| k.by),
        });
        if a.alarm.activations.len() > ACTIVATIONS_KEPT {
            a.alarm.activations.remove(0);
        }
        a.alarm.count = a.alarm.count.saturating_add(1);
        let starts = a
            .alarm
            .activations
            .iter()
            .map(|x| x.started_at.timestamp_millis())
            .chain(std::iter::once(c.at))
            .collect::<Vec<_>>();
        a.alarm.chattering = a.alarm.chattering || self.alarms.chattering(starts.into_iter());
        a.alarm.raised_value = c.value;
        a.alarm.alarm_state = AlarmState::ActiveUnacked;
        a.state = AlertState::Active;
        a.severity = c.severity;
        a.message = c.message;
        a.value = c.value;
        a.limit = c.limit;
        a.evidence = c.evidence;
        a.started_at = at;
        a.updated_at = at;
        a.resolved_at = None;
        a
    }

    /// Counts a new activation of `mine` toward a flood.
    pub(super) fn flood(&mut self, mine: &str, wall: Millis) {
        let w = self.floods.entry(mine.to_string()).or_default();
        if w.push(wall, &self.alarms) {
            self.show_flood(mine);
        } else if let Some(mut f) = self.live.floods.get_mut(mine) {
            f.count = w.count();
            f.peak = w.peak;
        }
    }

    /// Puts a mine's flood state into the live view and the metrics.
    pub(super) fn show_flood(&mut self, mine: &str) {
        let Some(w) = self.floods.get(mine) else {
            return;
        };
        if w.flooding() {
            tracing::warn!(mine, count = w.count(), "alarm flood");
            self.metrics.alarm_floods.inc();
            self.live.floods.insert(
                mine.to_string(),
                Flood {
                    since: to_datetime(w.since),
                    count: w.count(),
                    peak: w.peak,
                },
            );
        } else {
            tracing::info!(mine, "alarm flood over");
            self.live.floods.remove(mine);
        }
        self.metrics
            .mines_in_flood
            .set(self.live.floods.len() as i64);
    }

    /// Whether anything waits on the clock: a shelf, a flood window, a re-activation window.
    pub(super) fn timers_pending(&self) -> bool {
        !self.shelves.is_empty() || !self.floods.is_empty() || !self.recent.is_empty()
    }

    /// Brings back alerts whose shelf ran out, ends floods whose window emptied and forgets
    /// resolved alerts past `rearm_window`. Runs at most once per [`HOUSEKEEPING`].
    pub(super) async fn housekeeping(&mut self) {
        if self.last_housekeeping.elapsed() < HOUSEKEEPING {
            return;
        }
        self.last_housekeeping = Instant::now();
        let wall = now_millis();
        let mut due = Vec::new();
        while let Some(Reverse((until, _))) = self.shelves.peek() {
            if *until > wall {
                break;
            }
            let Some(Reverse((until, id))) = self.shelves.pop() else {
                break;
            };
            let Some(a) = self.open_alert(&id) else {
                continue;
            };
            // A shelf replaced by a later one, or taken back, leaves a stale entry.
            if a.alarm
                .shelved
                .as_ref()
                .is_none_or(|s| s.until.timestamp_millis() != until)
            {
                continue;
            }
            let op = ChangeOp::Unshelve {
                id,
                by: "shelf time ran out".into(),
            };
            due.push(Change::command(op, a, wall));
        }
        if !due.is_empty() {
            let mut msgs = [WriterMsg {
                changes: due,
                ..WriterMsg::default()
            }];
            self.process(&mut msgs).await;
        }
        let window = self.alarms.rearm_window;
        self.recent
            .retain(|_, (_, resolved)| wall - *resolved <= window);
        let mut changed = Vec::new();
        self.floods.retain(|mine, w| {
            if w.settle(wall, &self.alarms) {
                changed.push(mine.clone());
            }
            !w.is_empty()
        });
        for mine in changed {
            match self.floods.get(&mine) {
                Some(_) => self.show_flood(&mine),
                None => {
                    self.live.floods.remove(&mine);
                    self.metrics
                        .mines_in_flood
                        .set(self.live.floods.len() as i64);
                }
            }
        }
    }
}
