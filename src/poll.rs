//! One poll of every feed: fetch → parse → plan → store, with bounded
//! concurrency. One broken feed never stops the others; its error names it.

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use futures_util::stream;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, FeedConfig};
use crate::fetch::{FetchError, FetchOutcome, Fetcher, Validators};
use crate::parse::{ParseError, parse_feed_with};
use crate::store::{FeedState, IngestBatch, Store, StoreError};
use crate::{digest, ingest};

#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("feed {feed}: {source}")]
    Fetch {
        feed: String,
        #[source]
        source: FetchError,
    },
    #[error("feed {feed}: {source}")]
    Parse {
        feed: String,
        #[source]
        source: ParseError,
    },
    #[error("feed {feed}: {source}")]
    Store {
        feed: String,
        #[source]
        source: StoreError,
    },
    #[error("feed {feed}: poll abandoned at shutdown")]
    Cancelled { feed: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedOutcome {
    NotModified,
    /// Not fetched: the server's Retry-After, a 410, or our backoff.
    Skipped {
        reason: String,
    },
    Fetched {
        new_articles: usize,
        baseline: usize,
        /// New items over `max_new_per_poll`, left for the next poll.
        held_back: usize,
        items: usize,
    },
}

#[derive(Debug)]
pub struct FeedReport {
    pub feed_key: String,
    pub name: String,
    pub result: Result<FeedOutcome, PollError>,
}

/// Polls every configured feed once and stores what is new. The store is
/// flushed before returning.
pub async fn poll_all(
    config: &Config,
    store: &Store,
    fetcher: &Fetcher,
    cancel: &CancellationToken,
) -> Result<Vec<FeedReport>, StoreError> {
    poll_all_with_progress(config, store, fetcher, cancel, false, &mut |_, _| {}).await
}

/// [`poll_all`], calling `progress(done, total)` as each feed finishes.
pub async fn poll_all_with_progress(
    config: &Config,
    store: &Store,
    fetcher: &Fetcher,
    cancel: &CancellationToken,
    force: bool,
    progress: &mut (dyn FnMut(usize, usize) + Send),
) -> Result<Vec<FeedReport>, StoreError> {
    // Futures collected first: a closure inside `map` would make the borrow of
    // `config` higher-ranked, which `tokio::spawn` cannot prove `Send`.
    let polls: Vec<_> = config
        .feeds
        .iter()
        .map(|feed| poll_reported(config, store, fetcher, feed, cancel, force))
        .collect();
    let total = polls.len();
    let mut reports: Vec<FeedReport> = Vec::with_capacity(total);
    let mut finished = stream::iter(polls).buffer_unordered(config.fetch.concurrency);
    while let Some(report) = finished.next().await {
        reports.push(report);
        progress(reports.len(), total);
    }
    store.flush().await?;
    // Report in config order, whatever order the fetches finished in.
    let mut ordered = reports;
    ordered.sort_by_key(|r| config.feeds.iter().position(|f| f.key == r.feed_key));
    Ok(ordered)
}

async fn poll_reported(
    config: &Config,
    store: &Store,
    fetcher: &Fetcher,
    feed: &FeedConfig,
    cancel: &CancellationToken,
    force: bool,
) -> FeedReport {
    let result = tokio::select! {
        () = cancel.cancelled() => Err(PollError::Cancelled { feed: feed.key.clone() }),
        result = poll_one(config, store, fetcher, feed, Utc::now(), force) => result,
    };
    let title = store.feed_state(&feed.key).ok().flatten().and_then(|s| s.title);
    FeedReport {
        feed_key: feed.key.clone(),
        name: digest::feed_display_name(feed, title.as_deref()),
        result,
    }
}

async fn poll_one(
    config: &Config,
    store: &Store,
    fetcher: &Fetcher,
    feed: &FeedConfig,
    now: DateTime<Utc>,
    force: bool,
) -> Result<FeedOutcome, PollError> {
    let store_error = |source| PollError::Store {
        feed: feed.key.clone(),
        source,
    };
    let mut state = store
        .feed_state(&feed.key)
        .map_err(store_error)?
        .unwrap_or_default();
    if let Some(reason) = state.skip_reason(now, force) {
        return Ok(FeedOutcome::Skipped { reason });
    }
    let known = Validators {
        etag: state.etag.clone(),
        last_modified: state.last_modified.clone(),
    };
    let outcome = match fetcher.fetch(&feed.source, &known).await {
        Ok(outcome) => outcome,
        Err(source) => {
            state.gone =
                matches!(&source, FetchError::Status { status, .. } if *status == reqwest::StatusCode::GONE);
            if let FetchError::Status { retry_after, .. } = &source {
                state.retry_after = *retry_after;
            }
            record_failure(store, feed, &mut state, source.to_string(), now).map_err(store_error)?;
            return Err(PollError::Fetch {
                feed: feed.key.clone(),
                source,
            });
        }
    };
    let (body, validators, final_url) = match outcome {
        FetchOutcome::NotModified => {
            state.last_success = Some(now);
            state.last_error = None;
            state.gone = false;
            state.failures = 0;
            state.next_attempt = None;
            state.retry_after = None;
            store.put_feed_state(&feed.key, &state).map_err(store_error)?;
            return Ok(FeedOutcome::NotModified);
        }
        FetchOutcome::Fetched {
            body,
            validators,
            final_url,
        } => (body, validators, final_url),
    };
    let parsed = match parse_feed_with(&body, final_url.as_deref(), &feed.strip) {
        Ok(parsed) => parsed,
        Err(source) => {
            // Old validators stay, so the next poll fetches the body again.
            record_failure(store, feed, &mut state, source.to_string(), now).map_err(store_error)?;
            return Err(PollError::Parse {
                feed: feed.key.clone(),
                source,
            });
        }
    };
    let first_poll = !state.baselined;
    let batch: IngestBatch =
        ingest::plan(config, feed, &parsed, first_poll, now, store).map_err(store_error)?;
    let new_articles = batch.deliver.len();
    let baseline = batch.baseline.len();
    let held_back = batch.held_back;
    state.title = parsed.title.clone().or(state.title);
    state.etag = validators.etag;
    state.last_modified = validators.last_modified;
    state.last_success = Some(now);
    state.last_error = None;
    state.gone = false;
    state.failures = 0;
    state.next_attempt = None;
    state.retry_after = None;
    // Where redirects led, for `status`; the configured URL stays the key.
    state.redirected_to = final_url.filter(|url| match &feed.source {
        crate::config::FeedSource::Http(configured) => configured.as_str() != url,
        crate::config::FeedSource::File(_) => false,
    });
    if new_articles > 0 || state.last_new.is_none() {
        state.last_new = Some(now);
    }
    state.baselined = true;
    state.held_back = held_back as u64;
    state.items_known += (new_articles + baseline + batch.churned.len() + batch.cross_feed.len()) as u64;
    if held_back > 0 {
        tracing::warn!(feed = %feed.key, held_back, "flood cap: some new items wait for the next poll");
    }
    store
        .ingest(&feed.key, &state, &batch, now)
        .map_err(store_error)?;
    Ok(FeedOutcome::Fetched {
        new_articles,
        baseline,
        held_back,
        items: parsed.items.len(),
    })
}

fn record_failure(
    store: &Store,
    feed: &FeedConfig,
    state: &mut FeedState,
    message: String,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    // The caller reports the failure (a warning in the daemon, a line from `poll`).
    tracing::debug!(feed = %feed.key, error = %message, "feed poll failed");
    state.last_error = Some(message);
    state.last_error_at = Some(now);
    state.failures = state.failures.saturating_add(1);
    state.next_attempt = Some(now + FeedState::backoff(state.failures));
    store.put_feed_state(&feed.key, state)
}
