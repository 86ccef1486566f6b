//! Optional Prometheus metrics (`metrics_listen`): counters the daemon keeps,
//! and gauges read from the store at scrape time, served as text on loopback.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::store::Backend;

/// Counters since the daemon started.
#[derive(Debug, Default)]
pub struct Metrics {
    pub polls: AtomicU64,
    pub last_poll_millis: AtomicU64,
    pub articles_ingested: AtomicU64,
    pub digests_sent: AtomicU64,
    pub digests_failed: AtomicU64,
}

impl Metrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// The Prometheus text exposition of `metrics` and the store's current state.
pub async fn render<S: Backend>(metrics: &Metrics, config: &Config, store: &S) -> String {
    // The store first: the writer below holds `out` for the rest.
    let mut feed_states = Vec::with_capacity(config.feeds.len());
    for feed in &config.feeds {
        feed_states.push(
            store
                .feed_state(&feed.key)
                .await
                .ok()
                .flatten()
                .unwrap_or_default(),
        );
    }
    let mut pending_counts = Vec::with_capacity(config.subscribers.len());
    for subscriber in &config.subscribers {
        let email = subscriber.email();
        let n = store.pending(&email).await.map_or(0, |p| p.len());
        pending_counts.push((email, n));
    }
    let size = store.size_on_disk().await.unwrap_or(0) as f64;
    let seen = store.seen_count().await.unwrap_or(0) as f64;
    // Each instance serves its own metrics (Prometheus labels the target);
    // these say which process it is and what it holds of the shared work.
    let me = crate::store::Holder::this_process();
    let (feed_leases, subscriber_leases) = store.leases().await.unwrap_or_default();
    let mine = |leases: &[crate::store::Lease]| leases.iter().filter(|l| &l.holder == me).count() as f64;
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, samples: &[(String, f64)]| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed) as f64;
    metric(
        "feed_digest_polls_total",
        "counter",
        "Polls of all feeds.",
        &[(String::new(), load(&metrics.polls))],
    );
    metric(
        "feed_digest_poll_duration_seconds",
        "gauge",
        "Duration of the last poll of all feeds.",
        &[(String::new(), load(&metrics.last_poll_millis) / 1000.0)],
    );
    metric(
        "feed_digest_articles_ingested_total",
        "counter",
        "New articles stored.",
        &[(String::new(), load(&metrics.articles_ingested))],
    );
    metric(
        "feed_digest_digests_sent_total",
        "counter",
        "Digests the server accepted.",
        &[(String::new(), load(&metrics.digests_sent))],
    );
    metric(
        "feed_digest_digests_failed_total",
        "counter",
        "Digest sends that failed.",
        &[(String::new(), load(&metrics.digests_failed))],
    );
    let mut states = [
        ("ok", 0.0),
        ("failing", 0.0),
        ("new", 0.0),
        ("stale", 0.0),
        ("gone", 0.0),
    ];
    let now = chrono::Utc::now();
    for state in &feed_states {
        let health = state.health(now, config.fetch.stale_after());
        if let Some((_, count)) = states.iter_mut().find(|(name, _)| *name == health) {
            *count += 1.0;
        }
    }
    let samples: Vec<(String, f64)> = states
        .iter()
        .map(|(s, n)| (format!("{{state=\"{s}\"}}"), *n))
        .collect();
    metric(
        "feed_digest_feeds",
        "gauge",
        "Configured feeds by state.",
        &samples,
    );
    let pending: Vec<(String, f64)> = pending_counts
        .iter()
        .map(|(email, n)| {
            (
                format!("{{subscriber=\"{}\"}}", email.replace(['"', '\\', '\n'], "")),
                *n as f64,
            )
        })
        .collect();
    metric(
        "feed_digest_pending_articles",
        "gauge",
        "Articles waiting for a subscriber's next digest.",
        &pending,
    );
    metric(
        "feed_digest_store_bytes",
        "gauge",
        "Size of the store on disk.",
        &[(String::new(), size)],
    );
    metric(
        "feed_digest_seen_ids",
        "gauge",
        "Article ids remembered.",
        &[(String::new(), seen)],
    );
    metric(
        "feed_digest_instance_info",
        "gauge",
        "This instance: the holder name its leases carry (host:pid).",
        &[(
            format!("{{holder=\"{}\"}}", me.0.replace(['"', '\\', '\n'], "")),
            1.0,
        )],
    );
    metric(
        "feed_digest_leases_held",
        "gauge",
        "Leases this instance holds now on a shared store (none on sled).",
        &[
            ("{kind=\"feed\"}".to_owned(), mine(&feed_leases)),
            ("{kind=\"subscriber\"}".to_owned(), mine(&subscriber_leases)),
        ],
    );
    out
}

/// Binds `addr`; the caller logs the bound address (port 0 picks one).
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves `GET /metrics` until `cancel`: one request per connection, each
/// cut off after 10 seconds.
pub async fn serve<S: Backend>(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    config: watch::Receiver<Config>,
    store: S,
    cancel: CancellationToken,
) {
    let limits = crate::serve::Limits {
        connection_timeout: Some(std::time::Duration::from_secs(10)),
        max_connections: 16,
        drain: std::time::Duration::from_secs(1),
    };
    crate::serve::serve("metrics", listener, limits, cancel, move |stream, _cancel| {
        let (metrics, config, store) = (metrics.clone(), config.clone(), store.clone());
        async move {
            // Not the borrow itself: it must not be held across the store's awaits.
            let running = config.borrow().clone();
            let body = render(&metrics, &running, &store).await;
            if let Err(err) = respond(stream, &body).await {
                tracing::debug!(error = %err, "metrics request failed");
            }
        }
    })
    .await;
}

async fn respond(mut stream: TcpStream, body: &str) -> std::io::Result<()> {
    // Read the request head (bounded); only its first line matters.
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let request_line = String::from_utf8_lossy(&head)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    let response = if request_line.starts_with("GET /metrics ") || request_line.starts_with("GET / ") {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    } else {
        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned()
    };
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}
