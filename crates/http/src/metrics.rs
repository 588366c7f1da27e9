//! Prometheus metrics: request counts and latencies by route and status, rate-limit
//! rejections, how often the rate limiter failed open, token cache hits and misses, how
//! many matching rounds the changes that asked for one shared, how queue status reads were
//! answered, and the requests shed while the server was busy.

use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClassLabels {
    pub class: String,
}

pub struct Metrics {
    registry: Mutex<Registry>,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Family<RequestLabels, Histogram>,
    pub rate_limited: Family<ClassLabels, Counter>,
    pub limiter_fail_open: Counter,
    pub limiter_fail_closed: Counter,
    pub token_cache_hits: Counter,
    pub token_cache_misses: Counter,
    pub token_cache_unheard: Counter,
    pub matching_round_requests: Counter,
    pub matching_rounds: Counter,
    pub shed: Family<ClassLabels, Counter>,
    pub queue_status_kept: Counter,
    pub queue_status_read: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("jobby");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RequestLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        let rate_limited = Family::<ClassLabels, Counter>::default();
        let limiter_fail_open = Counter::default();
        let limiter_fail_closed = Counter::default();
        registry.register(
            "http_requests",
            "HTTP requests by method, route pattern and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by method, route pattern and status",
            latency.clone(),
        );
        registry.register(
            "rate_limit_rejections",
            "Requests refused with 429, by rate-limit class",
            rate_limited.clone(),
        );
        registry.register(
            "rate_limiter_fail_open",
            "Requests let through because the rate limiter store was unreachable",
            limiter_fail_open.clone(),
        );
        registry.register(
            "rate_limiter_fail_closed",
            "Cost requests refused with 503 because the rate limiter store was unreachable",
            limiter_fail_closed.clone(),
        );
        let token_cache_hits = Counter::default();
        let token_cache_misses = Counter::default();
        registry.register(
            "token_cache_hits",
            "Authentications answered from the in-process token cache (no store round trip)",
            token_cache_hits.clone(),
        );
        registry.register(
            "token_cache_misses",
            "Authentications that looked the token up in the store",
            token_cache_misses.clone(),
        );
        let token_cache_unheard = Counter::default();
        registry.register(
            "token_cache_unheard_refreshes",
            "Store lookups of a cached token made because access changes were not heard lately (the short lifetime applied)",
            token_cache_unheard.clone(),
        );
        let matching_round_requests = Counter::default();
        registry.register(
            "matching_round_requests",
            "Changes (joins, declines) that waited for a matching round of their event",
            matching_round_requests.clone(),
        );
        let matching_rounds = Counter::default();
        registry.register(
            "matching_rounds",
            "Matching rounds run for those changes; requests arriving together share one",
            matching_rounds.clone(),
        );
        let queue_status_kept = Counter::default();
        registry.register(
            "queue_status_kept_entries",
            "Queue status reads answered from the entry this process keeps (no store read)",
            queue_status_kept.clone(),
        );
        let queue_status_read = Counter::default();
        registry.register(
            "queue_status_store_reads",
            "Queue status reads that read the seeker's entry from the store",
            queue_status_read.clone(),
        );
        let shed = Family::<ClassLabels, Counter>::default();
        registry.register(
            "requests_shed",
            "Requests refused with 503 SERVER_BUSY before any work, by kind (read, join, change)",
            shed.clone(),
        );
        Metrics {
            shed,
            queue_status_kept,
            queue_status_read,
            matching_round_requests,
            matching_rounds,
            token_cache_unheard,
            token_cache_hits,
            token_cache_misses,
            registry: Mutex::new(registry),
            requests,
            latency,
            rate_limited,
            limiter_fail_open,
            limiter_fail_closed,
        }
    }

    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let labels = RequestLabels {
            method: method.to_owned(),
            route: route.to_owned(),
            status,
        };
        self.requests.get_or_create(&labels).inc();
        self.latency.get_or_create(&labels).observe(seconds);
    }

    pub fn rate_limited(&self, class: &str) {
        self.rate_limited
            .get_or_create(&ClassLabels {
                class: class.to_owned(),
            })
            .inc();
    }

    /// An authentication served from the token cache (`hit`) or looked up in the store.
    pub fn token_cache(&self, hit: bool) {
        if hit {
            self.token_cache_hits.inc();
        } else {
            self.token_cache_misses.inc();
        }
    }

    /// A request refused for want of a place (see [`crate::admission`]).
    pub fn shed(&self, kind: crate::admission::Kind) {
        self.shed
            .get_or_create(&ClassLabels {
                class: kind.as_str().to_owned(),
            })
            .inc();
    }

    /// A queue status read; `kept` when the seeker's entry came from this process's memory.
    pub fn queue_status_read(&self, kept: bool) {
        if kept {
            self.queue_status_kept.inc();
        } else {
            self.queue_status_read.inc();
        }
    }

    /// A change waited for a matching round; `ran` when its own call ran it.
    pub fn matching_round(&self, ran: bool) {
        self.matching_round_requests.inc();
        if ran {
            self.matching_rounds.inc();
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().expect("metrics registry lock");
        prometheus_client::encoding::text::encode(&mut out, &registry)
            .expect("metrics encode to a String");
        out
    }
}
