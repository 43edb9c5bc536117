//! Every alert kind of contract §3 can be injected by name through the public API: parsed from its
//! name alone or with a subject, built from the `Kind`, and scheduled on the example mine, each
//! raising the kind it is named after.

mod common;

use common::{example_mines, ms};
use minewatch_core::payload::{decode, parse_topic};
use minewatch_sim::{Anomaly, Kind, Sim, SimConfig};

const MINE: &str = "140100001";

#[test]
fn every_kind_is_named_and_injected_through_the_public_api() {
    assert_eq!(Anomaly::NAMES.len(), Kind::ALL.len());
    for &kind in Kind::ALL {
        let name = kind.as_str();
        assert!(Anomaly::NAMES.contains(&name), "{name} is listed");
        let parsed = Anomaly::parse(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(parsed, Anomaly::new(kind));
        assert_eq!(parsed, Anomaly::from(kind));
        assert_eq!(
            (parsed.kind, parsed.name(), parsed.subject()),
            (kind, name, None)
        );
        let on = Anomaly::parse(&format!("{name}:S1")).expect("with a subject");
        assert_eq!(on, Anomaly::on(kind, "S1"));
        assert_eq!(on.to_string(), format!("{name}:S1"));
        assert!(parsed.duration_ms() >= 0, "{name}");
    }
    let mut automatic = Anomaly::automatic_kinds();
    automatic.sort_unstable();
    automatic.dedup();
    assert_eq!(automatic.len(), 22);

    // Each on a fresh simulator, at a time of full production: suspended first for the one kind
    // that needs a suspended mine.
    let at = ms("2026-11-23T10:00:00+08:00");
    for &kind in Kind::ALL {
        let mut sim = Sim::new(example_mines(), SimConfig::default());
        let suspended = sim.inject(MINE, Anomaly::new(kind), at).is_err();
        if suspended {
            sim.set_suspended(MINE, true, at - 3_600_000)
                .expect("suspends");
            sim.inject(MINE, Anomaly::new(kind), at)
                .unwrap_or_else(|e| panic!("{}: {e}", kind.as_str()));
        }
        let inj = sim.injections().last().expect("injected").clone();
        assert_eq!(inj.kind, kind.as_str());
        assert_eq!((inj.mine.as_str(), inj.at), (MINE, at));
        assert!(!inj.subject.is_empty());
        assert!(inj.until >= inj.at);
        assert!(inj.also.iter().all(|(k, _)| *k != inj.kind));
        // The subject picked is accepted when named.
        let mut again = Sim::new(example_mines(), SimConfig::default());
        if suspended {
            again
                .set_suspended(MINE, true, at - 3_600_000)
                .expect("suspends");
        }
        again
            .inject(MINE, Anomaly::on(kind, inj.subject.clone()), at)
            .unwrap_or_else(|e| panic!("{}:{}: {e}", kind.as_str(), inj.subject));
        assert_eq!(again.injections()[0], inj);
        // It shows in the data: a minute of ticks decodes (but for the kind whose data is
        // rejected: its safety batches do not).
        for k in 0..6 {
            for m in sim.tick(at + k * 10_000) {
                if kind == Kind::DataRejected && m.topic == format!("mines/{MINE}/safety") {
                    let (_, system) = parse_topic("mines", &m.topic).expect("topic");
                    assert!(decode(system, &m.payload, common::far_future()).is_err());
                } else {
                    common::decode_clean(&m);
                }
            }
        }
    }
}
