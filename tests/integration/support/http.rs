//! A real HTTP/1.1 server (hyper) serving feeds with ETag and Last-Modified,
//! answering conditional requests with 304 and logging every request.

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
}

#[derive(Debug, Clone)]
pub struct Logged {
    pub path: String,
    pub if_none_match: Option<String>,
    pub if_modified_since: Option<String>,
    pub user_agent: Option<String>,
    pub status: u16,
}

#[derive(Default)]
struct State {
    resources: HashMap<String, Resource>,
    log: Vec<Logged>,
    version: u64,
}

#[derive(Clone)]
pub struct FeedServer {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl FeedServer {
    /// Binds 127.0.0.1:0 and serves until the test's runtime ends.
    pub async fn start() -> FeedServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(Mutex::new(State::default()));
        let server_state = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let state = server_state.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| respond(state.clone(), req));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FeedServer { addr, state }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
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
            },
        );
    }

    /// Answers `path` with a bare status code.
    pub fn set_status(&self, path: &str, status: u16) {
        let mut state = lock(&self.state);
        state.resources.insert(
            path.to_owned(),
            Resource {
                status,
                body: Vec::new(),
                etag: String::new(),
                last_modified: String::new(),
                location: None,
                retry_after: None,
            },
        );
    }

    /// Answers `path` with `status` and a `Retry-After` header.
    pub fn set_status_with_retry_after(&self, path: &str, status: u16, retry_after: &str) {
        lock(&self.state).resources.insert(
            path.to_owned(),
            Resource {
                status,
                body: Vec::new(),
                etag: String::new(),
                last_modified: String::new(),
                location: None,
                retry_after: Some(retry_after.to_owned()),
            },
        );
    }

    /// Answers `path` with a permanent redirect to `target` (a path on this server).
    pub fn redirect(&self, path: &str, target: &str) {
        let location = self.url(target);
        lock(&self.state).resources.insert(
            path.to_owned(),
            Resource {
                status: 301,
                body: Vec::new(),
                etag: String::new(),
                last_modified: String::new(),
                location: Some(location),
                retry_after: None,
            },
        );
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
    let if_none_match = header("if-none-match");
    let if_modified_since = header("if-modified-since");
    let mut state = lock(&state);
    let resource = state.resources.get(&path).cloned();
    let (status, response) = match resource {
        None => (404, plain(404, Vec::new())),
        Some(r) if r.status != 200 => {
            let mut response = plain(r.status, Vec::new());
            if let Some(location) = r.location.as_deref().and_then(|l| l.parse().ok()) {
                response.headers_mut().insert("location", location);
            }
            if let Some(retry_after) = r.retry_after.as_deref().and_then(|v| v.parse().ok()) {
                response.headers_mut().insert("retry-after", retry_after);
            }
            (r.status, response)
        }
        Some(r) if if_none_match.as_deref() == Some(r.etag.as_str()) => {
            (304, with_validators(304, Vec::new(), &r))
        }
        Some(r) => (200, with_validators(200, r.body.clone(), &r)),
    };
    state.log.push(Logged {
        path,
        if_none_match,
        if_modified_since,
        user_agent: header("user-agent"),
        status,
    });
    Ok(response)
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
