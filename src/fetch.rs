//! Getting feed bytes: HTTP(S) with conditional GET, timeouts, a streamed size
//! cap and compression, or a local file. Nothing here parses a feed.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};

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

#[derive(Debug)]
pub enum FetchOutcome {
    /// 304, or an unchanged local file.
    NotModified,
    Fetched {
        body: Vec<u8>,
        validators: Validators,
        /// Where the body came from after redirects (to resolve relative links).
        final_url: Option<String>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cannot build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    #[error("request to {url} failed: {source}")]
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
    #[error("{location} is larger than the {limit}-byte limit")]
    TooLarge { location: String, limit: u64 },
    #[error("cannot read {}: {source}", path.display())]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
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
    chrono::DateTime::parse_from_rfc2822(value)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
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
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .map_err(FetchError::Client)?;
        Ok(Fetcher {
            client,
            max_body_bytes: settings.max_body_bytes,
        })
    }

    pub async fn fetch(&self, source: &FeedSource, known: &Validators) -> Result<FetchOutcome, FetchError> {
        match source {
            FeedSource::Http(url) => self.fetch_http(url.as_str(), known).await,
            FeedSource::File(path) => self.fetch_file(path, known).await,
        }
    }

    async fn fetch_http(&self, url: &str, known: &Validators) -> Result<FetchOutcome, FetchError> {
        let request_error = |source| FetchError::Request {
            url: url.to_owned(),
            source,
        };
        let mut request = self.client.get(url).header(ACCEPT, ACCEPT_FEEDS);
        if let Some(etag) = &known.etag {
            request = request.header(IF_NONE_MATCH, etag);
        }
        if let Some(last_modified) = &known.last_modified {
            request = request.header(IF_MODIFIED_SINCE, last_modified);
        }
        let mut response = request.send().await.map_err(request_error)?;
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED {
            return Ok(FetchOutcome::NotModified);
        }
        if !status.is_success() {
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, chrono::Utc::now()));
            return Err(FetchError::Status {
                url: url.to_owned(),
                status,
                retry_after,
            });
        }
        let too_large = || FetchError::TooLarge {
            location: url.to_owned(),
            limit: self.max_body_bytes,
        };
        if response.content_length().is_some_and(|n| n > self.max_body_bytes) {
            return Err(too_large());
        }
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let validators = Validators {
            etag: header(ETAG),
            last_modified: header(LAST_MODIFIED),
        };
        let final_url = Some(response.url().to_string());
        // The cap holds while streaming: a lying or absent Content-Length cannot
        // make us buffer more than the limit.
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(request_error)? {
            if body.len() as u64 + chunk.len() as u64 > self.max_body_bytes {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(FetchOutcome::Fetched {
            body,
            validators,
            final_url,
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
            return Ok(FetchOutcome::NotModified);
        }
        let body = tokio::fs::read(path).await.map_err(file_error)?;
        Ok(FetchOutcome::Fetched {
            body,
            validators: Validators {
                etag: None,
                last_modified: modified,
            },
            final_url: None,
        })
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
        let date = parse_retry_after("Thu, 26 Nov 2026 08:00:00 GMT", now).map(|t| t.to_rfc3339());
        assert_eq!(date.as_deref(), Some("2026-11-26T08:00:00+00:00"));
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
