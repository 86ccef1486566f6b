//! A small HTTP/1.1 feed server for the polling benchmark (`scripts/bench-poll.py`).
//!
//! ```sh
//! cargo run --release --example bench_feed_server -- DIR [--threads N] [--delay-ms MS]
//! ```
//!
//! `--threads` sets the runtime's worker threads (default 1). `--delay-ms`
//! holds every feed response that long before answering (default 0), as a
//! distant server would; with it, the in-flight peaks below show the client's
//! real concurrency (without it, a loopback response is gone before the next
//! request arrives).
//!
//! Serves every file of DIR (read into memory once) at `/<file name>` with a
//! strong ETag (SHA-256 of the content) and Last-Modified (the file's mtime),
//! and answers 304 to a matching `If-None-Match`, or, when the request has no
//! `If-None-Match`, to an `If-Modified-Since` not older than the file.
//! Content-Type is `application/atom+xml` for files whose root element is
//! `<feed`, else `application/rss+xml`.
//!
//! Binds `0.0.0.0:0`, so `127.0.0.1` … `127.0.0.254` all reach it (Linux routes
//! all of 127/8 to loopback), prints `port=N` on stdout, then serves.
//!
//! It counts, overall and per host: requests, 200s, 304s, 404s, bytes sent,
//! the peak number of open connections (per local address the client
//! connected to, i.e. per `127.0.0.X`) and the peak number of requests in
//! flight (per `Host` header, without the port; a request is in flight from
//! its arrival until hyper has taken its whole body). `GET /_stats` returns
//! them as JSON (`GET /_stats?reset=1` also zeroes the counters afterwards);
//! SIGTERM or SIGINT prints them on stdout and exits.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http_body_util::Full;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{CONTENT_TYPE, ETAG, HOST, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;

struct Resource {
    body: Bytes,
    etag: String,
    last_modified: String,
    /// Whole seconds since the epoch (HTTP dates have no finer resolution).
    modified_secs: i64,
    content_type: &'static str,
}

#[derive(Default, Clone, Copy)]
struct Gauge {
    current: u64,
    peak: u64,
}

impl Gauge {
    fn up(&mut self) {
        self.current += 1;
        self.peak = self.peak.max(self.current);
    }
    fn down(&mut self) {
        self.current = self.current.saturating_sub(1);
    }
}

#[derive(Default, Clone)]
struct Counts {
    requests: u64,
    ok: u64,
    not_modified: u64,
    not_found: u64,
    bytes: u64,
    in_flight: Gauge,
}

#[derive(Default)]
struct Stats {
    total: Counts,
    by_host: HashMap<String, Counts>,
    connections: Gauge,
    connections_total: u64,
    connections_by_addr: HashMap<IpAddr, (Gauge, u64)>,
    first_request: Option<Instant>,
    last_request: Option<Instant>,
}

type Shared = Arc<Mutex<Stats>>;

fn lock(stats: &Mutex<Stats>) -> MutexGuard<'_, Stats> {
    stats.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn http_date(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

fn load(dir: &str) -> std::io::Result<HashMap<String, Arc<Resource>>> {
    let mut resources = HashMap::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if !entry.file_type()?.is_file() {
            continue;
        }
        let body = std::fs::read(entry.path())?;
        let modified: DateTime<Utc> = entry
            .metadata()?
            .modified()
            .unwrap_or(SystemTime::UNIX_EPOCH)
            .into();
        let digest = Sha256::digest(&body);
        let etag = format!(
            "\"{}\"",
            digest[..16]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        let head = String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned();
        let content_type = if head.contains("<feed") {
            "application/atom+xml; charset=utf-8"
        } else {
            "application/rss+xml; charset=utf-8"
        };
        let name = entry.file_name().to_string_lossy().into_owned();
        resources.insert(
            format!("/{name}"),
            Arc::new(Resource {
                body: Bytes::from(body),
                etag,
                last_modified: http_date(modified),
                modified_secs: modified.timestamp(),
                content_type,
            }),
        );
    }
    Ok(resources)
}

/// Decrements the in-flight gauges of its host when hyper drops the body.
struct InFlight {
    stats: Shared,
    host: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut stats = lock(&self.stats);
        stats.total.in_flight.down();
        if let Some(counts) = stats.by_host.get_mut(&self.host) {
            counts.in_flight.down();
        }
    }
}

/// A response body that holds its request's [`InFlight`] guard.
struct Tracked {
    inner: Full<Bytes>,
    _guard: Option<InFlight>,
}

impl Body for Tracked {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

fn response(status: StatusCode, body: Bytes, guard: Option<InFlight>) -> Response<Tracked> {
    let mut response = Response::new(Tracked {
        inner: Full::new(body),
        _guard: guard,
    });
    *response.status_mut() = status;
    response
}

fn not_modified(req: &Request<Incoming>, resource: &Resource) -> bool {
    let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    if let Some(tags) = header(IF_NONE_MATCH) {
        // RFC 9110 13.1.2: weak comparison, and If-Modified-Since is then ignored.
        return tags.trim() == "*"
            || tags
                .split(',')
                .any(|t| t.trim().trim_start_matches("W/") == resource.etag);
    }
    header(IF_MODIFIED_SINCE)
        .and_then(|v| DateTime::parse_from_rfc2822(v.trim()).ok())
        .is_some_and(|since| resource.modified_secs <= since.timestamp())
}

fn stats_json(stats: &Stats, elapsed_since_start: f64) -> String {
    let counts = |c: &Counts| {
        serde_json::json!({
            "requests": c.requests,
            "ok": c.ok,
            "not_modified": c.not_modified,
            "not_found": c.not_found,
            "bytes": c.bytes,
            "peak_in_flight": c.in_flight.peak,
        })
    };
    let by_host: BTreeMap<&String, serde_json::Value> =
        stats.by_host.iter().map(|(h, c)| (h, counts(c))).collect();
    let by_addr: BTreeMap<String, serde_json::Value> = stats
        .connections_by_addr
        .iter()
        .map(|(a, (g, n))| {
            (
                a.to_string(),
                serde_json::json!({"connections": n, "peak_open": g.peak}),
            )
        })
        .collect();
    let max_host_in_flight = stats
        .by_host
        .values()
        .map(|c| c.in_flight.peak)
        .max()
        .unwrap_or(0);
    let max_addr_open = stats
        .connections_by_addr
        .values()
        .map(|(g, _)| g.peak)
        .max()
        .unwrap_or(0);
    let span = match (stats.first_request, stats.last_request) {
        (Some(a), Some(b)) => b.duration_since(a).as_secs_f64(),
        _ => 0.0,
    };
    serde_json::json!({
        "total": counts(&stats.total),
        "connections": stats.connections_total,
        "open_connections": stats.connections.current,
        "peak_open_connections": stats.connections.peak,
        "max_peak_in_flight_per_host": max_host_in_flight,
        "max_peak_open_connections_per_addr": max_addr_open,
        "hosts": stats.by_host.len(),
        "first_to_last_request_s": span,
        "uptime_s": elapsed_since_start,
        "by_host": by_host,
        "by_addr": by_addr,
    })
    .to_string()
}

fn reset(stats: &mut Stats) {
    // Open connections stay counted; their peaks restart from the current value.
    stats.total = Counts {
        in_flight: Gauge {
            current: stats.total.in_flight.current,
            peak: stats.total.in_flight.current,
        },
        ..Counts::default()
    };
    stats.by_host.retain(|_, c| c.in_flight.current > 0);
    for counts in stats.by_host.values_mut() {
        *counts = Counts {
            in_flight: Gauge {
                current: counts.in_flight.current,
                peak: counts.in_flight.current,
            },
            ..Counts::default()
        };
    }
    stats.connections.peak = stats.connections.current;
    stats.connections_total = 0;
    stats.connections_by_addr.retain(|_, (g, _)| g.current > 0);
    for (gauge, n) in stats.connections_by_addr.values_mut() {
        gauge.peak = gauge.current;
        *n = 0;
    }
    stats.first_request = None;
    stats.last_request = None;
}

async fn respond(
    resources: Arc<HashMap<String, Arc<Resource>>>,
    stats: Shared,
    started: Instant,
    delay: Duration,
    req: Request<Incoming>,
) -> Result<Response<Tracked>, Infallible> {
    let path = req.uri().path();
    if path == "/_stats" {
        let mut s = lock(&stats);
        let body = stats_json(&s, started.elapsed().as_secs_f64());
        if req
            .uri()
            .query()
            .is_some_and(|q| q.split('&').any(|p| p == "reset=1"))
        {
            reset(&mut s);
        }
        let mut r = response(StatusCode::OK, Bytes::from(body), None);
        r.headers_mut().insert(
            CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("application/json"),
        );
        return Ok(r);
    }
    let host = req
        .headers()
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .map(|h| h.rsplit_once(':').map_or(h, |(name, _port)| name).to_owned())
        .unwrap_or_else(|| "-".to_owned());
    let resource = resources.get(path).cloned();
    let (status, len) = match &resource {
        None => (StatusCode::NOT_FOUND, 0),
        Some(r) if not_modified(&req, r) => (StatusCode::NOT_MODIFIED, 0),
        Some(r) => (StatusCode::OK, r.body.len() as u64),
    };
    {
        let mut guard = lock(&stats);
        let s = &mut *guard;
        let now = Instant::now();
        s.first_request.get_or_insert(now);
        s.last_request = Some(now);
        for counts in [&mut s.total, s.by_host.entry(host.clone()).or_default()] {
            counts.requests += 1;
            counts.bytes += len;
            match status {
                StatusCode::OK => counts.ok += 1,
                StatusCode::NOT_MODIFIED => counts.not_modified += 1,
                _ => counts.not_found += 1,
            }
            counts.in_flight.up();
        }
    }
    let guard = Some(InFlight {
        stats: stats.clone(),
        host,
    });
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut r = match (&resource, status) {
        (Some(r), StatusCode::OK) => response(status, r.body.clone(), guard),
        _ => response(status, Bytes::new(), guard),
    };
    if let Some(resource) = resource {
        let headers = r.headers_mut();
        for (name, value) in [
            (ETAG, resource.etag.as_str()),
            (LAST_MODIFIED, resource.last_modified.as_str()),
            (CONTENT_TYPE, resource.content_type),
        ] {
            if let Ok(value) = value.parse() {
                headers.insert(name, value);
            }
        }
    }
    Ok(r)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(dir) = args.first().cloned() else {
        eprintln!("usage: bench_feed_server DIR [--threads N] [--delay-ms MS]");
        std::process::exit(2);
    };
    let option = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|n| n.parse::<u64>().ok())
    };
    let threads = option("--threads").unwrap_or(1).max(1) as usize;
    let delay = Duration::from_millis(option("--delay-ms").unwrap_or(0));
    let resources = Arc::new(load(&dir)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?;
    runtime.block_on(serve(resources, delay))
}

async fn serve(
    resources: Arc<HashMap<String, Arc<Resource>>>,
    delay: Duration,
) -> Result<(), Box<dyn std::error::Error>> {
    let listener = TcpListener::bind("0.0.0.0:0").await?;
    let port = listener.local_addr()?.port();
    println!("port={port}");
    eprintln!("bench_feed_server: {} files on 0.0.0.0:{port}", resources.len());
    use std::io::Write;
    std::io::stdout().flush()?;
    let stats: Shared = Arc::new(Mutex::new(Stats::default()));
    let started = Instant::now();
    let accept_stats = stats.clone();
    let accept_loop = async move {
        loop {
            let Ok((stream, _peer)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let local: Option<SocketAddr> = stream.local_addr().ok();
            let ip = local.map(|a| a.ip());
            {
                let mut s = lock(&accept_stats);
                s.connections.up();
                s.connections_total += 1;
                if let Some(ip) = ip {
                    let entry = s.connections_by_addr.entry(ip).or_default();
                    entry.0.up();
                    entry.1 += 1;
                }
            }
            let resources = resources.clone();
            let stats = accept_stats.clone();
            tokio::spawn(async move {
                let service_stats = stats.clone();
                let service = service_fn(move |req| {
                    respond(resources.clone(), service_stats.clone(), started, delay, req)
                });
                let _ = http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
                let mut s = lock(&stats);
                s.connections.down();
                if let Some(ip) = ip
                    && let Some(entry) = s.connections_by_addr.get_mut(&ip)
                {
                    entry.0.down();
                }
            });
        }
    };
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        () = accept_loop => {}
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    let s = lock(&stats);
    println!("{}", stats_json(&s, started.elapsed().as_secs_f64()));
    std::io::stdout().flush()?;
    Ok(())
}
