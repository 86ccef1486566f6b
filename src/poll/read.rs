//! One feed's document, read the same way by `poll`, `check --connect` and
//! `fetch`: fetched (conditionally when validators are given), then parsed
//! off the async workers with the response's charset, its base URL and the
//! feed's strip rules. The three can never disagree on what a feed holds.

use std::sync::LazyLock;

use tokio::sync::Semaphore;

use crate::boilerplate::StripRules;
use crate::config::FeedSource;
use crate::fetch::{Connection, FetchError, FetchOutcome, Fetcher, ResponseInfo, Validators};
use crate::parse::{ParseError, ParsedFeed, parse_response};

/// Parses running at once, process-wide: one per core.
static PARSE_SLOTS: LazyLock<Semaphore> =
    LazyLock::new(|| Semaphore::new(std::thread::available_parallelism().map_or(2, std::num::NonZero::get)));

/// What reading a feed gave.
#[derive(Debug)]
pub enum Read {
    /// The server (or the file's mtime) says nothing changed.
    NotModified(ResponseInfo),
    Parsed {
        /// Boxed: a parsed feed is large beside a 304's facts.
        parsed: Box<ParsedFeed>,
        info: ResponseInfo,
        /// To send next time.
        validators: Validators,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Parse(#[from] ParseError),
}

/// Fetches `source` and parses what it sent.
pub async fn fetch_and_parse(
    fetcher: &Fetcher,
    source: &FeedSource,
    known: &Validators,
    connection: Connection,
    strip: &StripRules,
) -> Result<Read, ReadError> {
    let (body, info, validators) = match fetcher.fetch(source, known, connection).await? {
        FetchOutcome::NotModified(info) => return Ok(Read::NotModified(info)),
        FetchOutcome::Fetched {
            body,
            info,
            validators,
        } => (body, info, validators),
    };
    let base = info.base_url(source);
    let content_type = info.content_type.clone();
    let strip = strip.clone();
    // Parsing is CPU work: off the async workers, so fetches keep flowing;
    // no more parses at once than cores (more only costs memory and threads).
    let parsed = {
        let _core = PARSE_SLOTS.acquire().await;
        tokio::task::spawn_blocking(move || {
            parse_response(&body, content_type.as_deref(), base.as_deref(), &strip)
        })
        .await
        .unwrap_or_else(|join_error| Err(ParseError::crashed(&join_error)))?
    };
    Ok(Read::Parsed {
        parsed: Box::new(parsed),
        info,
        validators,
    })
}
