//! Getting feed bytes: HTTP(S) with conditional GET, timeouts, a streamed size
//! cap and compression, or a local file. Nothing here parses a feed.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONNECTION, IF_MODIFIED_SINCE, IF_NONE_MATCH};

use crate::config::{FeedSource, FetchSettings};

pub const USER_AGENT: &str = concat!(
    "feed-digest/",
    env!("CARGO_PKG_VERSION"),
    " (+https://github.com/feed-digest/feed-digest)"
);

const ACCEPT_FEEDS: &str = "application/rss+xml, application/atom+xml, application/feed+json, \
     application/json;q=0.9, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5";

/// The validators a server gave for the last good response, verbatim.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// Whether the connection may serve another request of this poll round.
/// The last requests to a host ask the server to close it: an idle pooled
/// connection holds a read buffer here (up to 400 KB each in hyper) and a
/// socket on the server, and the next round is minutes away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connection {
    KeepAlive,
    Close,
}

/// What a response said besides its body: for the next-poll time, redirects
/// and `feed-digest fetch`.
#[derive(Debug, Clone, Default)]
pub struct ResponseInfo {
    /// The final HTTP status (None for a local file).
    pub status: Option<u16>,
    /// Where the body came from after redirects, when that is not where we asked.
    pub final_url: Option<String>,
    /// The final URL when every redirect on the way was permanent (301/308).
    pub permanent_redirect: Option<String>,
    /// Each redirect followed: status and target.
    pub redirects: Vec<(u16, String)>,
    pub content_type: Option<String>,
    /// Freshness the server declared (Cache-Control max-age, Expires).
    pub cache_hint: Option<chrono::TimeDelta>,
    /// The headers that matter to a feed reader, as received.
    pub headers: Vec<(String, String)>,
}

#[derive(Debug)]
pub enum FetchOutcome {
    /// 304, or an unchanged local file.
    NotModified(ResponseInfo),
    Fetched {
        body: Vec<u8>,
        validators: Validators,
        info: ResponseInfo,
    },
}

impl ResponseInfo {
    /// What relative links in the body are relative to: where the body came
    /// from after redirects, else the URL asked (none for a local file).
    pub fn base_url(&self, source: &FeedSource) -> Option<String> {
        self.final_url.clone().or_else(|| match source {
            FeedSource::Http(url) => Some(url.to_string()),
            FeedSource::File(_) => None,
        })
    }
}

impl FetchOutcome {
    pub fn info(&self) -> &ResponseInfo {
        match self {
            FetchOutcome::NotModified(info) | FetchOutcome::Fetched { info, .. } => info,
        }
    }
}

/// Headers shown by `feed-digest fetch`.
const HEADERS_SHOWN: [&str; 10] = [
    "content-type",
    "content-length",
    "content-encoding",
    "etag",
    "last-modified",
    "cache-control",
    "expires",
    "date",
    "retry-after",
    "location",
];

/// At most this many redirects per fetch.
const MAX_REDIRECTS: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cannot build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    #[error("request to {url} failed: {}", describe(source))]
    Request {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{url} answered {status}")]
    Status {
        url: String,
        status: StatusCode,
        /// When a 429/503 says to come back (`Retry-After`, seconds or a date).
        retry_after: Option<chrono::DateTime<chrono::Utc>>,
    },
    #[error("{url}: more than {MAX_REDIRECTS} redirects")]
    TooManyRedirects { url: String },
    #[error("{url} redirects to an invalid location {location:?}")]
    BadRedirect { url: String, location: String },
    #[error("{location} is larger than the {limit}-byte limit")]
    TooLarge { location: String, limit: u64 },
    #[error("cannot read {}: {source}", path.display())]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is gzip-compressed but does not decompress: {source}", path.display())]
    Gzip {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// reqwest's own message ("error sending request") hides the cause; users
/// need it ("timed out", "connection refused", "invalid certificate").
fn describe(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        return "timed out".to_owned();
    }
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    max_body_bytes: u64,
}

/// `Retry-After`: delay seconds, or an HTTP date.
pub fn parse_retry_after(
    value: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<i64>() {
        return Some(now + chrono::TimeDelta::seconds(seconds.clamp(0, 7 * 24 * 3600)));
    }
    // A date is held to the same week as a number of seconds: a server's
    // typo must not silence a feed for good.
    crate::cadence::http_date(value).map(|t| t.min(now + chrono::TimeDelta::days(7)))
}

/// rustls needs one process-wide crypto provider; we use ring (it builds faster
/// than aws-lc-rs). Installing twice is harmless.
pub fn install_crypto_provider() {
    let _already_installed = rustls::crypto::ring::default_provider().install_default();
}

impl Fetcher {
    pub fn new(settings: &FetchSettings) -> Result<Fetcher, FetchError> {
        install_crypto_provider();
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.timeout)
            // Redirects are followed by hand, to tell permanent ones from the rest.
            .redirect(reqwest::redirect::Policy::none())
            // A poll round reuses a host's connection within milliseconds and
            // closes it after the host's last feed; one that raced back into
            // the pool after that close is dropped soon.
            .pool_idle_timeout(std::time::Duration::from_secs(5))
            .build()
            .map_err(FetchError::Client)?;
        Ok(Fetcher {
            client,
            max_body_bytes: settings.max_body_bytes,
        })
    }

    pub async fn fetch(
        &self,
        source: &FeedSource,
        known: &Validators,
        connection: Connection,
    ) -> Result<FetchOutcome, FetchError> {
        match source {
            FeedSource::Http(url) => self.fetch_http(url.as_str(), known, connection).await,
            FeedSource::File(path) => self.fetch_file(path, known).await,
        }
    }

    async fn fetch_http(
        &self,
        url: &str,
        known: &Validators,
        connection: Connection,
    ) -> Result<FetchOutcome, FetchError> {
        let mut current = url.to_owned();
        let mut redirects: Vec<(u16, String)> = Vec::new();
        let mut response = loop {
            let response = self.request(&current, known, connection).await?;
            let status = response.status();
            if !matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308) {
                break response;
            }
            if redirects.len() == MAX_REDIRECTS {
                return Err(FetchError::TooManyRedirects { url: url.to_owned() });
            }
            // Raw UTF-8 (`/新闻/rss.xml`, as some servers send it) is taken
            // as browsers take it: joining the URL percent-encodes it.
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_owned())
                .unwrap_or_default();
            let next = url::Url::parse(&current)
                .and_then(|base| base.join(&location))
                .ok()
                // An empty Location would "redirect" to the same URL.
                .filter(|_| !location.is_empty())
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .ok_or_else(|| FetchError::BadRedirect {
                    url: current.clone(),
                    location: location.clone(),
                })?;
            redirects.push((status.as_u16(), next.to_string()));
            current = next.to_string();
        };
        let status = response.status();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let permanent = !redirects.is_empty() && redirects.iter().all(|(s, _)| matches!(s, 301 | 308));
        let info = ResponseInfo {
            status: Some(status.as_u16()),
            final_url: (!redirects.is_empty()).then(|| current.clone()),
            permanent_redirect: permanent.then(|| current.clone()),
            redirects,
            content_type: header("content-type"),
            cache_hint: crate::cadence::http_hint(
                header("cache-control").as_deref(),
                header("expires").as_deref(),
                header("date").as_deref(),
                chrono::Utc::now(),
            ),
            headers: HEADERS_SHOWN
                .iter()
                .filter_map(|name| header(name).map(|value| ((*name).to_owned(), value)))
                .collect(),
        };
        if status == StatusCode::NOT_MODIFIED {
            return Ok(FetchOutcome::NotModified(info));
        }
        if !status.is_success() {
            let retry_after = header("retry-after").and_then(|v| parse_retry_after(&v, chrono::Utc::now()));
            return Err(FetchError::Status {
                url: current,
                status,
                retry_after,
            });
        }
        let too_large = || FetchError::TooLarge {
            location: current.clone(),
            limit: self.max_body_bytes,
        };
        if response.content_length().is_some_and(|n| n > self.max_body_bytes) {
            return Err(too_large());
        }
        let validators = Validators {
            etag: header("etag"),
            last_modified: header("last-modified"),
        };
        // The cap holds while streaming: a lying or absent Content-Length cannot
        // make us buffer more than the limit.
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|source| FetchError::Request {
            url: current.clone(),
            source,
        })? {
            if body.len() as u64 + chunk.len() as u64 > self.max_body_bytes {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(FetchOutcome::Fetched {
            body,
            validators,
            info,
        })
    }

    /// One conditional GET, without following redirects.
    async fn request(
        &self,
        url: &str,
        known: &Validators,
        connection: Connection,
    ) -> Result<reqwest::Response, FetchError> {
        let mut request = self.client.get(url).header(ACCEPT, ACCEPT_FEEDS);
        if connection == Connection::Close {
            request = request.header(CONNECTION, "close");
        }
        if let Some(etag) = &known.etag {
            request = request.header(IF_NONE_MATCH, etag);
        }
        if let Some(last_modified) = &known.last_modified {
            request = request.header(IF_MODIFIED_SINCE, last_modified);
        }
        request.send().await.map_err(|source| FetchError::Request {
            url: url.to_owned(),
            source,
        })
    }

    /// Local files use their modification time as the validator.
    async fn fetch_file(&self, path: &Path, known: &Validators) -> Result<FetchOutcome, FetchError> {
        let file_error = |source| FetchError::File {
            path: path.to_path_buf(),
            source,
        };
        let metadata = tokio::fs::metadata(path).await.map_err(file_error)?;
        if metadata.len() > self.max_body_bytes {
            return Err(FetchError::TooLarge {
                location: path.display().to_string(),
                limit: self.max_body_bytes,
            });
        }
        let modified = metadata
            .modified()
            .ok()
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map(|d| format!("mtime:{}.{:09}", d.as_secs(), d.subsec_nanos()));
        if modified.is_some() && modified == known.last_modified {
            return Ok(FetchOutcome::NotModified(ResponseInfo::default()));
        }
        let mut body = tokio::fs::read(path).await.map_err(file_error)?;
        let mut info = ResponseInfo::default();
        // A saved `.xml.gz` is read like a `Content-Encoding: gzip` body.
        if body.starts_with(&[0x1f, 0x8b]) {
            body = gunzip(&body, self.max_body_bytes).map_err(|source| match source.kind() {
                std::io::ErrorKind::FileTooLarge => FetchError::TooLarge {
                    location: path.display().to_string(),
                    limit: self.max_body_bytes,
                },
                _ => FetchError::Gzip {
                    path: path.to_path_buf(),
                    source,
                },
            })?;
            info.headers
                .push(("content-encoding".to_owned(), "gzip (local file)".to_owned()));
        }
        Ok(FetchOutcome::Fetched {
            body,
            validators: Validators {
                etag: None,
                last_modified: modified,
            },
            info,
        })
    }
}

/// Decompresses gzip bytes, refusing more than `limit` bytes out (a small
/// file can expand enormously).
fn gunzip(bytes: &[u8], limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)?;
    if out.len() as u64 > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            "over the size limit",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod gzip_tests {
    #[test]
    fn gzip_bytes_decompress_within_the_limit() {
        use std::io::Write as _;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let _ = encoder.write_all(&[b'a'; 10_000]);
        let packed = encoder.finish().unwrap_or_default();
        assert_eq!(super::gunzip(&packed, 10_000).map(|b| b.len()).ok(), Some(10_000));
        let too_big = super::gunzip(&packed, 9_999).map_err(|e| e.kind());
        assert_eq!(too_big, Err(std::io::ErrorKind::FileTooLarge));
        assert!(
            super::gunzip(&packed[..20], 10_000).is_err(),
            "a cut-off stream is an error"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let now = chrono::DateTime::from_timestamp(1_795_000_000, 0).unwrap_or_default();
        assert_eq!(
            parse_retry_after("120", now),
            Some(now + chrono::TimeDelta::seconds(120))
        );
        let date = parse_retry_after("Sat, 21 Nov 2026 08:00:00 GMT", now).map(|t| t.to_rfc3339());
        assert_eq!(date.as_deref(), Some("2026-11-21T08:00:00+00:00"));
        assert_eq!(
            parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now),
            Some(now + chrono::TimeDelta::days(7))
        );
        assert_eq!(parse_retry_after("soon", now), None);
        // RFC 9110's two obsolete forms, which a recipient must accept.
        for obsolete in ["Saturday, 21-Nov-26 08:00:00 GMT", "Sat Nov 21 08:00:00 2026"] {
            let date = parse_retry_after(obsolete, now).map(|t| t.to_rfc3339());
            assert_eq!(date.as_deref(), Some("2026-11-21T08:00:00+00:00"), "{obsolete}");
        }
        let zoned = parse_retry_after("Sat, 21 Nov 2026 16:00:00 +0800", now).map(|t| t.to_rfc3339());
        assert_eq!(zoned.as_deref(), Some("2026-11-21T08:00:00+00:00"));
    }
}
