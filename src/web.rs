//! The readers' web endpoint (`[web]`, off by default): one-click
//! unsubscribe (RFC 8058) and its undo, at links signed per subscriber
//! ([`crate::links`]).
//!
//! - `POST …/u/TOKEN` (what mail providers send, and the page's button)
//!   unsubscribes at once and answers 200.
//! - `GET …/u/TOKEN` (a person's click, or a link scanner) only shows a page
//!   with one button that POSTs: a prefetch never unsubscribes anyone.
//! - `GET`/`POST …/r/TOKEN`: the same for subscribing again.
//! - `GET …/a/NAME.html`: a sent digest's archive page ([`crate::archive`]).
//! - A forged, altered or unknown token gets the same plain 404 and changes
//!   nothing; no page shows an address.
//!
//! Routes match the path's last two segments, so a reverse proxy may mount
//! the endpoint under any prefix.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use chrono::Utc;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::i18n::Language;
use crate::serve::{self, Limits};
use crate::store::Backend;
use crate::subscriber::{OptOut, OptOutWay};

/// How long a client may take, and how much it may send.
#[derive(Debug, Clone, Copy)]
pub struct WebLimits {
    /// To send a request's headers.
    pub header_timeout: Duration,
    /// For a whole connection, keep-alive included.
    pub connection_timeout: Duration,
    /// Of a request body (a one-click POST is 26 bytes).
    pub max_body: usize,
    pub max_connections: usize,
}

impl Default for WebLimits {
    fn default() -> WebLimits {
        WebLimits {
            header_timeout: Duration::from_secs(10),
            connection_timeout: Duration::from_secs(30),
            max_body: 4096,
            max_connections: 64,
        }
    }
}

pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

struct App<S> {
    store: S,
    config: watch::Receiver<Config>,
    max_body: usize,
}

/// Serves readers until `cancel`; connections in flight get a second to end.
pub async fn serve<S: Backend>(
    listener: TcpListener,
    config: watch::Receiver<Config>,
    store: S,
    limits: WebLimits,
    cancel: CancellationToken,
) {
    let app = Arc::new(App {
        store,
        config,
        max_body: limits.max_body,
    });
    let serve_limits = Limits {
        connection_timeout: Some(limits.connection_timeout),
        max_connections: limits.max_connections,
        drain: Duration::from_secs(1),
    };
    serve::serve("web", listener, serve_limits, cancel, move |stream, cancel| {
        connection(stream, app.clone(), limits, cancel)
    })
    .await;
}

async fn connection<S: Backend>(
    stream: TcpStream,
    app: Arc<App<S>>,
    limits: WebLimits,
    cancel: CancellationToken,
) {
    let service = hyper::service::service_fn(move |request| {
        let app = app.clone();
        async move { Ok::<_, Infallible>(answer(&app, request).await) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(16 * 1024);
    let connection = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(err) = result {
                tracing::debug!(error = %err, "web connection ended");
            }
        }
        () = cancel.cancelled() => {
            // Finish the request in flight, then close; an idle one closes now.
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

/// What a reader's token path asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Unsubscribe,
    Resubscribe,
}

#[derive(Debug, PartialEq, Eq)]
enum Route<'a> {
    /// `u/TOKEN` or `r/TOKEN`.
    Reader(Action, &'a str),
    /// A sent digest's page, `a/NAME.html`.
    Archive(&'a str),
}

fn route(path: &str) -> Option<Route<'_>> {
    let mut segments = path.trim_end_matches('/').rsplit('/');
    let last = segments.next()?;
    Some(match segments.next()? {
        "u" => Route::Reader(Action::Unsubscribe, last),
        "r" => Route::Reader(Action::Resubscribe, last),
        "a" => Route::Archive(last),
        _ => return None,
    })
}

async fn answer<S: Backend>(app: &App<S>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    if path == "/healthz" && request.method() == Method::GET {
        return plain(StatusCode::OK, "ok\n");
    }
    let (action, token) = match route(&path) {
        Some(Route::Reader(action, token)) => (action, token),
        Some(Route::Archive(file)) => return archive_page(app, request.method(), file),
        None => return not_found(),
    };
    // The config as it is now (a reload may have changed the subscribers);
    // the borrow must not be held across the awaits below.
    let (email, language) = {
        let config = app.config.borrow();
        let key = config.web.as_ref().and_then(|web| web.key.as_ref());
        let found = key.and_then(|key| {
            let tag = key.verify(token)?;
            let emails: Vec<String> = config.subscribers.iter().map(|s| s.email()).collect();
            let email = key.find(tag, emails.iter().map(String::as_str))?.to_owned();
            let language = config.subscriber(&email).map(|s| s.language).unwrap_or_default();
            Some((email, language))
        });
        match found {
            Some(found) => found,
            None => return not_found(),
        }
    };
    let words = Words::of(language);
    let via_page = request
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|p| p == "via=page"));
    match *request.method() {
        Method::GET | Method::HEAD => {
            let opted_out = match app.store.opted_out(&email).await {
                Ok(opted_out) => opted_out.is_some(),
                Err(err) => return failed(&err),
            };
            match (action, opted_out) {
                (Action::Unsubscribe, false) => {
                    page(language, words.confirm, Some(words.unsubscribe_form(token)))
                }
                (Action::Unsubscribe, true) | (Action::Resubscribe, true) => {
                    page(language, words.unsubscribed, Some(words.resubscribe_form(token)))
                }
                (Action::Resubscribe, false) => page(language, words.resubscribed, None),
            }
        }
        Method::POST => {
            let content_type = request
                .headers()
                .get(hyper::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = match Limited::new(request.into_body(), app.max_body).collect().await {
                Ok(body) => body.to_bytes(),
                Err(err) if err.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
                    return plain(StatusCode::PAYLOAD_TOO_LARGE, "request too large\n");
                }
                Err(_) => return plain(StatusCode::BAD_REQUEST, "bad request\n"),
            };
            match action {
                Action::Unsubscribe => {
                    if !is_one_click(content_type.as_deref(), &body) {
                        return plain(StatusCode::BAD_REQUEST, "expected List-Unsubscribe=One-Click\n");
                    }
                    let opt_out = OptOut {
                        since: Utc::now(),
                        by: if via_page {
                            OptOutWay::Page
                        } else {
                            OptOutWay::OneClick
                        },
                    };
                    if let Err(err) = app.store.opt_out(&email, &opt_out).await {
                        return failed(&err);
                    }
                    if let Err(err) = app.store.flush().await {
                        return failed(&err);
                    }
                    tracing::info!(recipient = %local_part(&email), by = %opt_out.by, "unsubscribed");
                    page(language, words.unsubscribed, Some(words.resubscribe_form(token)))
                }
                Action::Resubscribe => {
                    match app.store.opt_in(&email).await {
                        Ok(true) => tracing::info!(recipient = %local_part(&email), "subscribed again"),
                        Ok(false) => {}
                        Err(err) => return failed(&err),
                    }
                    if let Err(err) = app.store.flush().await {
                        return failed(&err);
                    }
                    page(language, words.resubscribed, None)
                }
            }
        }
        _ => {
            let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD, POST"));
            response
        }
    }
}

/// The page's name is its signature: 128 bits only the key makes.
fn archive_page<S>(app: &App<S>, method: &Method, file: &str) -> Response<Full<Bytes>> {
    if method != Method::GET && method != Method::HEAD {
        return not_found();
    }
    let Some(dir) = app
        .config
        .borrow()
        .web
        .as_ref()
        .map(|web| web.archive_dir.clone())
    else {
        return not_found();
    };
    let Some(name) = file.strip_suffix(".html") else {
        return not_found();
    };
    match crate::archive::read(&dir, name) {
        Ok(Some(html)) => {
            let mut response = respond(StatusCode::OK, "text/html; charset=utf-8", html);
            // The digest's own rendering: inline styles and remote images.
            response.headers_mut().insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'none'; img-src https: http: data:; style-src 'unsafe-inline'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
                ),
            );
            response
        }
        Ok(None) => not_found(),
        Err(err) => {
            tracing::error!(error = %err, "cannot read an archive page");
            plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "Something went wrong. Please try again later.\n",
            )
        }
    }
}

/// Logs carry no whole addresses.
fn local_part(email: &str) -> String {
    let user = email.split('@').next().unwrap_or_default();
    format!("{user}@…")
}

/// The words of one page.
#[derive(Clone, Copy)]
struct Text {
    heading: &'static str,
    message: &'static str,
}

struct Words {
    confirm: Text,
    unsubscribed: Text,
    resubscribed: Text,
    unsubscribe_button: &'static str,
    resubscribe_button: &'static str,
}

impl Words {
    fn of(language: Language) -> Words {
        match language {
            Language::En => Words {
                confirm: Text {
                    heading: "Unsubscribe?",
                    message: "No more digests will be sent to this address. Press the button to confirm.",
                },
                unsubscribed: Text {
                    heading: "You are unsubscribed",
                    message: "No more digests will be sent to this address. Changed your mind?",
                },
                resubscribed: Text {
                    heading: "You are subscribed",
                    message: "Digests come to this address again, on their usual schedule.",
                },
                unsubscribe_button: "Unsubscribe",
                resubscribe_button: "Subscribe again",
            },
            Language::ZhCn => Words {
                confirm: Text {
                    heading: "要退订吗？",
                    message: "此地址将不再收到摘要。请按下按钮确认。",
                },
                unsubscribed: Text {
                    heading: "已退订",
                    message: "此地址不会再收到摘要。改变主意了？",
                },
                resubscribed: Text {
                    heading: "已订阅",
                    message: "摘要将照常发送到此地址。",
                },
                unsubscribe_button: "退订",
                resubscribe_button: "重新订阅",
            },
        }
    }

    /// Posts back to this same route (relative: any proxy prefix holds).
    fn unsubscribe_form(&self, token: &str) -> Form {
        Form {
            // From the last two segments, as the resubscribe form: the page
            // may be at `/u/TOKEN/`, where a bare `TOKEN` would resolve to
            // `/u/TOKEN/TOKEN`, no route.
            action: format!("../u/{token}?via=page"),
            field: "List-Unsubscribe",
            value: "One-Click",
            button: self.unsubscribe_button,
        }
    }

    fn resubscribe_form(&self, token: &str) -> Form {
        Form {
            action: format!("../r/{token}"),
            field: "resubscribe",
            value: "yes",
            button: self.resubscribe_button,
        }
    }
}

struct Form {
    action: String,
    field: &'static str,
    value: &'static str,
    button: &'static str,
}

#[derive(Template)]
#[template(path = "web/page.html")]
struct Page<'a> {
    lang: &'a str,
    heading: &'a str,
    message: &'a str,
    form: Option<Form>,
}

fn page(language: Language, text: Text, form: Option<Form>) -> Response<Full<Bytes>> {
    let page = Page {
        lang: language.tag(),
        heading: text.heading,
        message: text.message,
        form,
    };
    match page.render() {
        Ok(html) => respond(StatusCode::OK, "text/html; charset=utf-8", html),
        Err(err) => {
            tracing::error!(error = %err, "cannot render a web page");
            plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n")
        }
    }
}

/// The one answer for every link that is not valid, whatever is wrong with it.
fn not_found() -> Response<Full<Bytes>> {
    plain(
        StatusCode::NOT_FOUND,
        "This link is not valid. If you copied it from a digest, copy the whole link.\n此链接无效。如果是从摘要中复制的，请复制完整链接。\n",
    )
}

fn failed(err: &crate::store::StoreError) -> Response<Full<Bytes>> {
    tracing::error!(error = %err, "web request failed on the store");
    plain(
        StatusCode::SERVICE_UNAVAILABLE,
        "Something went wrong; nothing was changed. Please try again later.\n",
    )
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    respond(status, "text/plain; charset=utf-8", text.to_owned())
}

fn respond(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    response
}

/// Whether a POST's body says `List-Unsubscribe=One-Click` (RFC 8058 §3.1):
/// as `multipart/form-data`, which the RFC prefers, or urlencoded. The one
/// field is read here rather than with a multipart crate: the body is at
/// most a few KB (`max_body`) and nothing else of it is used.
fn is_one_click(content_type: Option<&str>, body: &[u8]) -> bool {
    let boundary = content_type.and_then(|ct| {
        let (kind, params) = ct.split_once(';')?;
        if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
            return None;
        }
        params.split(';').find_map(|param| {
            let (name, value) = param.split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("boundary")
                .then(|| value.trim().trim_matches('"').to_owned())
        })
    });
    let Some(boundary) = boundary.filter(|b| !b.is_empty()) else {
        return url::form_urlencoded::parse(body)
            .any(|(name, value)| name == "List-Unsubscribe" && value.trim() == "One-Click");
    };
    let Ok(body) = std::str::from_utf8(body) else {
        return false;
    };
    body.split(&format!("--{boundary}")).any(|part| {
        let Some((head, content)) = part.split_once("\r\n\r\n").or_else(|| part.split_once("\n\n")) else {
            return false;
        };
        let named = head.lines().any(|line| {
            let line = line.to_ascii_lowercase();
            line.starts_with("content-disposition:")
                && line.contains("form-data")
                && line.contains("name=\"list-unsubscribe\"")
        });
        named && content.trim() == "One-Click"
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_click_is_read_from_either_form_encoding() {
        use super::is_one_click;
        let urlencoded = Some("application/x-www-form-urlencoded");
        assert!(is_one_click(urlencoded, b"List-Unsubscribe=One-Click"));
        assert!(is_one_click(urlencoded, b"List-Unsubscribe=One-Click\r\n"));
        assert!(is_one_click(None, b"a=b&List-Unsubscribe=One-Click"));
        assert!(!is_one_click(urlencoded, b"List-Unsubscribe=Later"));
        let multipart = Some("multipart/form-data; boundary=\"B0\"");
        let body = "--B0\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--B0--\r\n";
        assert!(is_one_click(multipart, body.as_bytes()));
        let other = body.replace("\"List-Unsubscribe\"", "\"Other\"");
        assert!(!is_one_click(multipart, other.as_bytes()));
        assert!(!is_one_click(multipart, b"List-Unsubscribe=One-Click"));
    }

    use super::*;

    #[test]
    fn the_pages_forms_post_to_a_route_from_either_form_of_the_path() {
        let words = Words::of(Language::default());
        for page in ["https://d.example/news/u/T0K", "https://d.example/news/u/T0K/"] {
            let base = url::Url::parse(page).unwrap_or_else(|e| panic!("{e}"));
            let target = |action: String| base.join(&action).map(|u| u.path().to_owned());
            let unsubscribe = target(words.unsubscribe_form("T0K").action);
            assert_eq!(
                unsubscribe.as_deref().ok().and_then(route),
                Some(Route::Reader(Action::Unsubscribe, "T0K")),
                "{page}: {unsubscribe:?}"
            );
            let resubscribe = target(words.resubscribe_form("T0K").action);
            assert_eq!(
                resubscribe.as_deref().ok().and_then(route),
                Some(Route::Reader(Action::Resubscribe, "T0K")),
                "{page}: {resubscribe:?}"
            );
        }
    }

    #[test]
    fn routes_match_the_last_two_segments_under_any_prefix() {
        assert_eq!(route("/u/abc"), Some(Route::Reader(Action::Unsubscribe, "abc")));
        assert_eq!(
            route("/digest/r/abc/"),
            Some(Route::Reader(Action::Resubscribe, "abc"))
        );
        assert_eq!(route("/news/a/0a.html"), Some(Route::Archive("0a.html")));
        assert_eq!(route("/x/abc"), None);
        assert_eq!(route("/abc"), None);
        assert_eq!(route("/"), None);
    }
}
