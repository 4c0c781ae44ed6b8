//! `GET /metrics`: Prometheus text. Labels are only the connector's name, a route, a status, an outcome
//! kind — never a credential, a fingerprint or a connection id.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the latency histograms' buckets.
const BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Counters and histograms, each keyed by (metric name, label text).
#[derive(Default)]
pub struct Metrics {
    counters: Mutex<BTreeMap<(&'static str, String), u64>>,
    histograms: Mutex<BTreeMap<(&'static str, String), Histogram>>,
}

/// `name="value"` pairs, values escaped as Prometheus' text format wants.
pub fn labels(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            let v = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}=\"{v}\"")
        })
        .collect::<Vec<_>>()
        .join(",")
}

const HELP: &[(&str, &str, &str)] = &[
    (
        "klairr_http_requests_total",
        "counter",
        "HTTP requests answered, by route and status.",
    ),
    (
        "klairr_queries_total",
        "counter",
        "Queries answered, by connector and outcome (ok or the error kind).",
    ),
    (
        "klairr_cache_hits_total",
        "counter",
        "Queries answered from the shared result cache, by connector.",
    ),
    (
        "klairr_cache_misses_total",
        "counter",
        "Queries that ran against the upstream and were answered, by connector (a query that failed is counted by klairr_queries_total's outcome only; klairr_cache_lookups_total counts every lookup).",
    ),
    (
        "klairr_upstream_requests_total",
        "counter",
        "Requests connectors sent upstream, retries included.",
    ),
    (
        "klairr_denials_total",
        "counter",
        "Requests the host's policy refused, by connector.",
    ),
    (
        "klairr_traps_total",
        "counter",
        "Calls that trapped or ran past their deadline, by connector.",
    ),
    (
        "klairr_reloads_total",
        "counter",
        "Hot swaps, by connector and outcome.",
    ),
    ("klairr_open_connections", "gauge", "Connections open now."),
    (
        "klairr_query_duration_seconds",
        "histogram",
        "Query latency inside the host, by connector.",
    ),
];

/// Each connector's series that exist from the start, at zero, so a dashboard's `rate()` sees their
/// first increase and an alert on a missing series means a missing connector. (Series by outcome kind
/// or route appear with their first event: there are too many to list.)
const PER_CONNECTOR: &[(&str, Option<(&str, &str)>)] = &[
    ("klairr_queries_total", Some(("outcome", "ok"))),
    ("klairr_cache_hits_total", None),
    ("klairr_cache_misses_total", None),
    ("klairr_upstream_requests_total", None),
    ("klairr_denials_total", None),
    ("klairr_traps_total", None),
    ("klairr_reloads_total", Some(("outcome", "swapped"))),
    ("klairr_reloads_total", Some(("outcome", "refused"))),
];

impl Metrics {
    /// Metrics for a platform serving `connectors`: their per-connector series and the open
    /// connections' gauge at zero.
    pub fn starting_at_zero<'a>(connectors: impl IntoIterator<Item = &'a str>) -> Metrics {
        let metrics = Metrics::default();
        for connector in connectors {
            for (name, extra) in PER_CONNECTOR {
                let mut pairs = vec![("connector", connector)];
                pairs.extend(extra);
                metrics.add(name, labels(&pairs), 0);
            }
        }
        metrics.set("klairr_open_connections", String::new(), 0);
        metrics
    }

    pub fn add(&self, name: &'static str, labels: String, n: u64) {
        if let Ok(mut counters) = self.counters.lock() {
            *counters.entry((name, labels)).or_default() += n;
        }
    }

    pub fn set(&self, name: &'static str, labels: String, value: u64) {
        if let Ok(mut counters) = self.counters.lock() {
            counters.insert((name, labels), value);
        }
    }

    pub fn observe(&self, name: &'static str, labels: String, took: Duration) {
        let seconds = took.as_secs_f64();
        if let Ok(mut histograms) = self.histograms.lock() {
            let h = histograms.entry((name, labels)).or_default();
            for (i, bound) in BUCKETS.iter().enumerate() {
                if seconds <= *bound {
                    h.counts[i] += 1;
                }
            }
            h.count += 1;
            h.sum += seconds;
        }
    }

    /// The Prometheus text exposition of everything recorded.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let counters = self.counters.lock().map(|c| {
            c.iter()
                .map(|((n, l), v)| (*n, l.clone(), *v))
                .collect::<Vec<_>>()
        });
        let counters = counters.unwrap_or_default();
        let histograms = self.histograms.lock();
        for (name, kind, help) in HELP {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (n, l, v) in counters.iter().filter(|(n, _, _)| n == name) {
                if l.is_empty() {
                    let _ = writeln!(out, "{n} {v}");
                } else {
                    let _ = writeln!(out, "{n}{{{l}}} {v}");
                }
            }
            if let Ok(histograms) = &histograms {
                for ((n, l), h) in histograms.iter().filter(|((n, _), _)| n == name) {
                    let sep = if l.is_empty() { "" } else { "," };
                    for (i, bound) in BUCKETS.iter().enumerate() {
                        let _ =
                            writeln!(out, "{n}_bucket{{{l}{sep}le=\"{bound}\"}} {}", h.counts[i]);
                    }
                    let _ = writeln!(out, "{n}_bucket{{{l}{sep}le=\"+Inf\"}} {}", h.count);
                    let _ = writeln!(out, "{n}_sum{{{l}}} {}", h.sum);
                    let _ = writeln!(out, "{n}_count{{{l}}} {}", h.count);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_connectors_counters_exist_from_the_start_at_zero() {
        let text = Metrics::starting_at_zero(["ledger", "stripe"]).render();
        for connector in ["ledger", "stripe"] {
            for line in [
                format!("klairr_queries_total{{connector=\"{connector}\",outcome=\"ok\"}} 0"),
                format!("klairr_cache_hits_total{{connector=\"{connector}\"}} 0"),
                format!("klairr_cache_misses_total{{connector=\"{connector}\"}} 0"),
                format!("klairr_upstream_requests_total{{connector=\"{connector}\"}} 0"),
                format!("klairr_denials_total{{connector=\"{connector}\"}} 0"),
                format!("klairr_traps_total{{connector=\"{connector}\"}} 0"),
                format!("klairr_reloads_total{{connector=\"{connector}\",outcome=\"refused\"}} 0"),
            ] {
                assert!(text.contains(&line), "{line} in\n{text}");
            }
        }
        assert!(text.contains("\nklairr_open_connections 0\n"), "{text}");
    }

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let m = Metrics::default();
        m.add(
            "klairr_queries_total",
            labels(&[("connector", "stripe"), ("outcome", "ok")]),
            2,
        );
        m.observe(
            "klairr_query_duration_seconds",
            labels(&[("connector", "stripe")]),
            Duration::from_millis(20),
        );
        let text = m.render();
        assert!(
            text.contains("klairr_queries_total{connector=\"stripe\",outcome=\"ok\"} 2"),
            "{text}"
        );
        assert!(
            text.contains(
                "klairr_query_duration_seconds_bucket{connector=\"stripe\",le=\"0.01\"} 0"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "klairr_query_duration_seconds_bucket{connector=\"stripe\",le=\"0.025\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "klairr_query_duration_seconds_bucket{connector=\"stripe\",le=\"+Inf\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("# TYPE klairr_cache_hits_total counter"),
            "{text}"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(labels(&[("a", "x\"y\\z\n")]), "a=\"x\\\"y\\\\z\\n\"");
    }
}
