//! A real HTTP/1.1 server (hyper) serving feeds with ETag and Last-Modified,
//! answering conditional requests with 304 and logging every request. It can
//! listen on several loopback addresses (127.0.0.1, 127.0.0.2, …: several
//! "hosts"), compress, delay or never answer, and counts concurrent requests.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

#[derive(Clone)]
struct Resource {
    status: u16,
    body: Vec<u8>,
    etag: String,
    last_modified: String,
    location: Option<String>,
    retry_after: Option<String>,
    extra: Extra,
}

/// What a resource does besides its status and body.
#[derive(Clone, Default)]
pub struct Extra {
    pub headers: Vec<(String, String)>,
    /// Hold the response this long (to make requests overlap).
    pub delay: Option<std::time::Duration>,
    /// Never answer (for timeouts).
    pub hang: bool,
    /// "gzip" or "br": compress when the client accepts it.
    pub compress: Option<&'static str>,
}

#[derive(Debug, Clone)]
pub struct Logged {
    pub accept_encoding: Option<String>,
    pub path: String,
    pub if_none_match: Option<String>,
    pub if_modified_since: Option<String>,
    pub user_agent: Option<String>,
    /// The request's `Connection` header.
    pub connection: Option<String>,
    pub status: u16,
}

#[derive(Default)]
struct State {
    resources: HashMap<String, Resource>,
    log: Vec<Logged>,
    version: u64,
    in_flight: HashMap<String, usize>,
    peak: HashMap<String, usize>,
    in_flight_total: usize,
    peak_total: usize,
}

/// Connections accepted and still open, watched so a test can await a count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Connections {
    pub accepted: usize,
    pub open: usize,
}

#[derive(Clone)]
pub struct FeedServer {
    pub addr: SocketAddr,
    addrs: Vec<SocketAddr>,
    state: Arc<Mutex<State>>,
    connections: tokio::sync::watch::Sender<Connections>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl FeedServer {
    /// Binds 127.0.0.1:0 and serves until the test's runtime ends.
    pub async fn start() -> FeedServer {
        FeedServer::start_hosts(1).await
    }

    /// Listens on 127.0.0.1 … 127.0.0.`hosts` (port 0 each), one shared set of resources.
    pub async fn start_hosts(hosts: u8) -> FeedServer {
        let state = Arc::new(Mutex::new(State::default()));
        let connections = tokio::sync::watch::Sender::new(Connections::default());
        let mut addrs = Vec::new();
        for host in 1..=hosts.max(1) {
            let listener = TcpListener::bind((std::net::Ipv4Addr::new(127, 0, 0, host), 0))
                .await
                .expect("bind loopback");
            addrs.push(listener.local_addr().expect("local addr"));
            let server_state = state.clone();
            let gauge = connections.clone();
            tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        return;
                    };
                    let state = server_state.clone();
                    let gauge = gauge.clone();
                    gauge.send_modify(|c| {
                        c.accepted += 1;
                        c.open += 1;
                    });
                    tokio::spawn(async move {
                        let service = service_fn(move |req| respond(state.clone(), req));
                        let _ = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                        gauge.send_modify(|c| c.open -= 1);
                    });
                }
            });
        }
        FeedServer {
            addr: addrs[0],
            addrs,
            state,
            connections,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The URL of `path` on host number `host` (1-based) of [`FeedServer::start_hosts`].
    pub fn url_on(&self, host: usize, path: &str) -> String {
        format!("http://{}{path}", self.addrs[host - 1])
    }

    /// The most requests that were in flight at once, per Host header and in all.
    pub fn peak_concurrency(&self) -> (HashMap<String, usize>, usize) {
        let state = lock(&self.state);
        (state.peak.clone(), state.peak_total)
    }

    /// Serves `body` at `path` (new validators) with `extra` behaviour.
    pub fn set_with(&self, path: &str, body: impl Into<Vec<u8>>, extra: Extra) {
        self.set(path, body);
        if let Some(resource) = lock(&self.state).resources.get_mut(path) {
            resource.extra = extra;
        }
    }

    /// Serves `body` at `path` with a new ETag and Last-Modified.
    pub fn set(&self, path: &str, body: impl Into<Vec<u8>>) {
        let mut state = lock(&self.state);
        state.version += 1;
        let version = state.version;
        state.resources.insert(
            path.to_owned(),
            Resource {
                status: 200,
                body: body.into(),
                etag: format!("\"v{version}\""),
                last_modified: format!("Mon, 02 Nov 2026 10:{:02}:00 GMT", version % 60),
                location: None,
                retry_after: None,
                extra: Extra::default(),
            },
        );
    }

    /// Answers `path` with a bare status code.
    pub fn set_status(&self, path: &str, status: u16) {
        self.set_bare(path, status, None, None);
    }

    /// Answers `path` with `status` and a `Retry-After` header.
    pub fn set_status_with_retry_after(&self, path: &str, status: u16, retry_after: &str) {
        self.set_bare(path, status, None, Some(retry_after.to_owned()));
    }

    /// A resource without body or validators.
    fn set_bare(&self, path: &str, status: u16, location: Option<String>, retry_after: Option<String>) {
        lock(&self.state).resources.insert(
            path.to_owned(),
            Resource {
                status,
                body: Vec::new(),
                etag: String::new(),
                last_modified: String::new(),
                location,
                retry_after,
                extra: Extra::default(),
            },
        );
    }

    /// Answers `path` with a permanent redirect to `target` (a path on this server).
    pub fn redirect(&self, path: &str, target: &str) {
        self.redirect_with(path, target, 301);
    }

    /// Answers `path` with a redirect of this status to `target` (a path or a URL).
    pub fn redirect_with(&self, path: &str, target: &str, status: u16) {
        let location = if target.starts_with('/') {
            self.url(target)
        } else {
            target.to_owned()
        };
        self.set_bare(path, status, Some(location), None);
    }

    /// Waits (at most `within`) until `done` holds for the connection counts,
    /// and returns the last counts seen.
    pub async fn connections_until(
        &self,
        within: std::time::Duration,
        done: impl FnMut(&Connections) -> bool,
    ) -> Connections {
        let mut watch = self.connections.subscribe();
        let _ = tokio::time::timeout(within, watch.wait_for(done)).await;
        *self.connections.borrow()
    }

    pub fn requests(&self) -> Vec<Logged> {
        lock(&self.state).log.clone()
    }
}

async fn respond(
    state: Arc<Mutex<State>>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let path = req.uri().path().to_owned();
    let host = header("host").unwrap_or_default();
    let if_none_match = header("if-none-match");
    let if_modified_since = header("if-modified-since");
    let accept_encoding = header("accept-encoding");
    let (response, extra) = {
        let mut state = lock(&state);
        let resource = state.resources.get(&path).cloned();
        let (status, mut response) = match &resource {
            None => (404, plain(404, Vec::new())),
            Some(r) if r.status != 200 => {
                let mut response = plain(r.status, Vec::new());
                // As bytes: a test may send raw UTF-8, as some servers do.
                if let Some(location) = r
                    .location
                    .as_deref()
                    .and_then(|l| hyper::header::HeaderValue::from_bytes(l.as_bytes()).ok())
                {
                    response.headers_mut().insert("location", location);
                }
                if let Some(retry_after) = r.retry_after.as_deref().and_then(|v| v.parse().ok()) {
                    response.headers_mut().insert("retry-after", retry_after);
                }
                (r.status, response)
            }
            Some(r) if if_none_match.as_deref() == Some(r.etag.as_str()) => {
                (304, with_validators(304, Vec::new(), r))
            }
            Some(r) => {
                let accepted = |coding: &str| accept_encoding.as_deref().is_some_and(|a| a.contains(coding));
                match r.extra.compress.filter(|c| accepted(c)) {
                    Some(coding) => {
                        let mut response = with_validators(200, compress(coding, &r.body), r);
                        response
                            .headers_mut()
                            .insert("content-encoding", coding.parse().expect("a header value"));
                        (200, response)
                    }
                    None => (200, with_validators(200, r.body.clone(), r)),
                }
            }
        };
        let extra = resource.map(|r| r.extra).unwrap_or_default();
        for (name, value) in &extra.headers {
            if let (Ok(name), Ok(value)) = (
                hyper::header::HeaderName::from_bytes(name.as_bytes()),
                value.parse(),
            ) {
                response.headers_mut().insert(name, value);
            }
        }
        state.log.push(Logged {
            accept_encoding,
            path,
            if_none_match,
            if_modified_since,
            user_agent: header("user-agent"),
            connection: header("connection"),
            status,
        });
        let in_flight = state.in_flight.entry(host.clone()).or_default();
        *in_flight += 1;
        let now = *in_flight;
        let peak = state.peak.entry(host.clone()).or_default();
        *peak = (*peak).max(now);
        state.in_flight_total += 1;
        state.peak_total = state.peak_total.max(state.in_flight_total);
        (response, extra)
    };
    // Counted out however the request ends: hyper drops this future when
    // the client goes away (a killed process) during a delay or a hang.
    let _in_flight = InFlight { state, host };
    if extra.hang {
        std::future::pending::<()>().await;
    }
    if let Some(delay) = extra.delay {
        tokio::time::sleep(delay).await;
    }
    Ok(response)
}

/// One request in flight on `host`, until dropped.
struct InFlight {
    state: Arc<Mutex<State>>,
    host: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut state = lock(&self.state);
        if let Some(n) = state.in_flight.get_mut(&self.host) {
            *n -= 1;
        }
        state.in_flight_total -= 1;
    }
}

fn compress(coding: &str, body: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    match coding {
        "gzip" => {
            let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(body).expect("gzip in memory");
            encoder.finish().expect("gzip in memory")
        }
        _ => {
            let mut out = Vec::new();
            {
                let mut encoder = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
                encoder.write_all(body).expect("brotli in memory");
            }
            out
        }
    }
}

fn plain(status: u16, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response
}

fn with_validators(status: u16, body: Vec<u8>, r: &Resource) -> Response<Full<Bytes>> {
    let mut response = plain(status, body);
    let headers = response.headers_mut();
    if let Ok(v) = r.etag.parse() {
        headers.insert("etag", v);
    }
    if let Ok(v) = r.last_modified.parse() {
        headers.insert("last-modified", v);
    }
    response
}
