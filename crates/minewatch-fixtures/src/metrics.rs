//! Samples read from the Prometheus/OpenMetrics text of `/metrics`, through prometheus-parse.
//!
//! prometheus-parse reads the exposition prometheus-client writes (OpenMetrics 1.0: `# HELP`,
//! `# TYPE`, `# UNIT`, counters' `_total` samples, the closing `# EOF`); a counter's sample keeps
//! its `_total` name. Labels are read naively (split at `,` and `=`), which holds for our label
//! values: ids, kinds, reasons and phases never contain either. The tests below check it against
//! our own exposition.

use prometheus_parse::{Sample, Scrape, Value};

/// Label pairs a sample must carry (it may carry more).
pub type Labels<'a> = &'a [(&'a str, &'a str)];

/// Every sample of an exposition.
#[derive(Debug)]
pub struct Samples(Vec<Sample>);

/// Reads `text` (it cannot fail: lines that are not samples are skipped).
pub fn parse(text: &str) -> Samples {
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    Samples(Scrape::parse(lines).map_or_else(|_| Vec::new(), |s| s.samples))
}

impl Samples {
    /// The samples named `name` whose labels include every pair of `labels`.
    fn matching<'a>(&'a self, name: &'a str, labels: Labels<'a>) -> impl Iterator<Item = f64> + 'a {
        self.0
            .iter()
            .filter(move |s| {
                s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v))
            })
            .filter_map(|s| match s.value {
                Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => Some(v),
                Value::Histogram(_) | Value::Summary(_) => None,
            })
    }

    /// The first sample named `name` whose labels include `labels`.
    pub fn value(&self, name: &str, labels: Labels<'_>) -> Option<f64> {
        self.matching(name, labels).next()
    }

    /// The sum of the samples named `name` whose labels include `labels` (0 when none).
    pub fn sum(&self, name: &str, labels: Labels<'_>) -> f64 {
        self.matching(name, labels).sum()
    }
}

/// The first sample named `name` whose labels include `labels`, in `text`.
pub fn value(text: &str, name: &str, labels: Labels<'_>) -> Option<f64> {
    parse(text).value(name, labels)
}

/// The sum of the samples named `name` whose labels include `labels`, in `text`.
pub fn sum(text: &str, name: &str, labels: Labels<'_>) -> f64 {
    parse(text).sum(name, labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use minewatch_core::metrics::Metrics;
    use minewatch_core::payload::{Reason, System};

    #[test]
    fn our_own_exposition_is_read_to_its_eof_with_labels_counters_and_gauges() {
        let m = Metrics::new();
        m.messages[System::Safety.index()].inc_by(3);
        m.reject(System::Power, Reason::BadId, 2);
        m.mqtt_connected.set(1);
        m.startup_phase("registry", 1.5);
        let text = m.encode();
        assert!(text.trim_end().ends_with("# EOF"), "{text}");
        let s = parse(&text);
        assert_eq!(
            s.value("minewatch_messages_total", &[("system", "safety")]),
            Some(3.0)
        );
        assert_eq!(
            s.value(
                "minewatch_rejected_total",
                &[("system", "power"), ("reason", "bad_id")]
            ),
            Some(2.0)
        );
        assert_eq!(s.sum("minewatch_rejected_total", &[]), 2.0);
        assert_eq!(s.value("minewatch_mqtt_connected", &[]), Some(1.0));
        assert_eq!(
            s.value("minewatch_startup_seconds", &[("phase", "registry")]),
            Some(1.5)
        );
        assert_eq!(s.value("minewatch_no_such_metric", &[]), None);
        // Every sample line is read: none is lost to a parse the crate gave up on.
        let lines = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .filter(|l| !l.contains("_bucket{"))
            .count();
        let read =
            s.0.iter()
                .filter(|x| !matches!(x.value, Value::Histogram(_)))
                .count();
        assert_eq!(read, lines, "{text}");
    }
}
