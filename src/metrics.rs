//! Prometheus metrics. One [`Metrics`] value is made at startup and handed to
//! every component that counts something (no global registry).

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

/// Actor names as `/v1/status` reports them (the `actor` label).
pub const ACTORS: [&str; 8] = [
    "supervisor",
    "ids",
    "cache",
    "project",
    "sync",
    "webhook",
    "jira",
    "outbox",
];

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Webhook deliveries by outcome (`assigned`, `stale`, `bad-token`, ...).
    pub deliveries: IntCounterVec,
    /// Webhook deliveries refused with 503 because the sync path was saturated.
    pub overloaded: IntCounter,
    /// Webhook deliveries holding a slot of `http.max_inflight` now.
    pub webhook_inflight: IntGauge,
    /// `http.max_inflight`, so a dashboard can show the headroom.
    pub webhook_max_inflight: IntGauge,
    /// Webhook bodies not received whole within `http.body_timeout_secs` (408).
    pub body_timeouts: IntCounter,
    /// Outbound tries, by kind (`assign`, ...) and outcome (`sent`, `failed`, `dead`).
    pub outbound: IntCounterVec,
    /// Outbox entries waiting to be pushed.
    pub outbox_pending: IntGauge,
    /// Age of the oldest pending outbox entry, seconds.
    pub outbox_oldest_pending_seconds: IntGauge,
    pub webhook_seconds: Histogram,
    pub assignments: IntCounter,
    pub deassignments: IntCounter,
    pub cache_hits: IntCounter,
    pub cache_misses: IntCounter,
    pub cache_invalidations: IntCounter,
    pub cache_entries: IntGauge,
    /// Duration of each storage flush (group commit or periodic).
    pub flush_seconds: Histogram,
    pub ids_issued: IntCounter,
    /// Actor restarts after a panic, by actor.
    pub actor_restarts: IntCounterVec,
    /// HTTP requests answered, by listener (`public`, `admin`) and status code.
    pub http_requests: IntCounterVec,
    /// Time to answer an HTTP request, by listener.
    pub http_seconds: HistogramVec,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let counter = |name: &str, help: &str| {
            let c = IntCounter::with_opts(Opts::new(name, help)).expect("metric");
            registry.register(Box::new(c.clone())).expect("register");
            c
        };
        let counter_vec = |name: &str, help: &str, label: &str| {
            let c = IntCounterVec::new(Opts::new(name, help), &[label]).expect("metric");
            registry.register(Box::new(c.clone())).expect("register");
            c
        };
        let histogram = |name: &str, help: &str, buckets: Vec<f64>| {
            let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))
                .expect("metric");
            registry.register(Box::new(h.clone())).expect("register");
            h
        };
        let fast = vec![
            0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
            2.5,
        ];
        let cache_entries = IntGauge::with_opts(Opts::new(
            "synclink_cache_entries",
            "Groups in the ownership cache",
        ))
        .expect("metric");
        registry
            .register(Box::new(cache_entries.clone()))
            .expect("register");
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::with_opts(Opts::new(name, help)).expect("metric");
            registry.register(Box::new(g.clone())).expect("register");
            g
        };
        let deliveries = counter_vec(
            "synclink_webhook_deliveries_total",
            "Webhook deliveries by outcome",
            "outcome",
        );
        // Make every outcome visible from the start, at 0.
        for o in crate::domain::DeliveryOutcome::ALL {
            deliveries.with_label_values(&[o.as_str()]);
        }
        Metrics {
            deliveries,
            overloaded: counter(
                "synclink_webhook_overloaded_total",
                "Webhook deliveries answered 503 because the sync path was saturated",
            ),
            webhook_inflight: gauge(
                "synclink_webhook_inflight",
                "Webhook deliveries holding a slot of http.max_inflight",
            ),
            webhook_max_inflight: gauge(
                "synclink_webhook_max_inflight",
                "Webhook deliveries allowed in flight (http.max_inflight)",
            ),
            body_timeouts: counter(
                "synclink_webhook_body_timeouts_total",
                "Webhook bodies not received whole within http.body_timeout_secs (408)",
            ),
            outbound: {
                let c = IntCounterVec::new(
                    Opts::new(
                        "synclink_outbound_total",
                        "Outbound tries to Jira, by kind and outcome (sent, failed, dead)",
                    ),
                    &["kind", "outcome"],
                )
                .expect("metric");
                registry.register(Box::new(c.clone())).expect("register");
                for kind in crate::domain::outbox::OutboxKind::ALL {
                    for outcome in ["sent", "failed", "dead"] {
                        c.with_label_values(&[kind.as_str(), outcome]);
                    }
                }
                c
            },
            outbox_pending: gauge(
                "synclink_outbox_pending",
                "Outbox entries waiting to be pushed to Jira",
            ),
            outbox_oldest_pending_seconds: gauge(
                "synclink_outbox_oldest_pending_seconds",
                "Age of the oldest pending outbox entry, seconds",
            ),
            webhook_seconds: histogram(
                "synclink_webhook_duration_seconds",
                "Time to answer a webhook delivery",
                fast.clone(),
            ),
            assignments: counter("synclink_assignments_total", "Groups assigned"),
            deassignments: counter("synclink_deassignments_total", "Groups unassigned"),
            cache_hits: counter("synclink_cache_hits_total", "Ownership cache hits"),
            cache_misses: counter("synclink_cache_misses_total", "Ownership cache misses"),
            cache_invalidations: counter(
                "synclink_cache_invalidations_total",
                "Ownership cache invalidations",
            ),
            cache_entries,
            flush_seconds: histogram(
                "synclink_flush_duration_seconds",
                "Duration of storage flushes",
                fast.clone(),
            ),
            ids_issued: counter("synclink_ids_issued_total", "Snowflake IDs issued"),
            actor_restarts: counter_vec(
                "synclink_actor_restarts_total",
                "Actor restarts after a panic",
                "actor",
            ),
            http_requests: {
                let c = IntCounterVec::new(
                    Opts::new(
                        "synclink_http_requests_total",
                        "HTTP requests answered, by listener and status code",
                    ),
                    &["listener", "status"],
                )
                .expect("metric");
                registry.register(Box::new(c.clone())).expect("register");
                c
            },
            http_seconds: {
                let h = HistogramVec::new(
                    HistogramOpts::new(
                        "synclink_http_request_duration_seconds",
                        "Time to answer an HTTP request, by listener",
                    )
                    .buckets(fast),
                    &["listener"],
                )
                .expect("metric");
                registry.register(Box::new(h.clone())).expect("register");
                h
            },
            registry,
        }
        .with_actors_at_zero()
    }

    /// Show every actor's restart count from the start, at 0 (a counter
    /// family without samples would be missing from `/metrics`).
    fn with_actors_at_zero(self) -> Metrics {
        for actor in ACTORS {
            self.actor_restarts.with_label_values(&[actor]);
        }
        for listener in ["public", "admin"] {
            self.http_seconds.with_label_values(&[listener]);
        }
        self
    }

    pub fn delivery(&self, outcome: crate::domain::DeliveryOutcome) {
        self.deliveries.with_label_values(&[outcome.as_str()]).inc();
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}
