//! One poll of every feed: fetch → parse → plan → store, with bounded
//! concurrency. One broken feed never stops the others; its error names it.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, FeedConfig, FeedSource};
use crate::feed_state::FeedState;
use crate::fetch::{Connection, FetchError, Fetcher, Validators};
use crate::ingest;
use crate::ingest::IngestBatch;
use crate::parse::ParseError;
use crate::store::{Feeds, Holder, LeaseTerm, StoreError};

mod bookkeeping;
mod lanes;
mod read;

pub use bookkeeping::reschedule;
use bookkeeping::{record_failure, record_fetch_failure, record_success};
use lanes::HostQueue;
pub use read::{Read, ReadError, fetch_and_parse};

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

/// Which feeds a poll fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every feed now (`feed-digest poll`), except those skipped for a reason;
    /// `force` overrides our backoff and a 410, never the server's Retry-After.
    All { force: bool },
    /// The feeds whose next-poll time has come (the daemon).
    Due,
}

/// Polls every configured feed once and stores what is new. The store is
/// flushed before returning.
pub async fn poll_all<S: Feeds>(
    config: &Config,
    store: &S,
    fetcher: &Fetcher,
    cancel: &CancellationToken,
) -> Result<Vec<FeedReport>, StoreError> {
    poll_with_progress(
        config,
        store,
        fetcher,
        cancel,
        Scope::All { force: false },
        &mut |_, _| {},
    )
    .await
}

/// Polls the feeds in `scope`, calling `progress(done, total)` as each
/// finishes. At most `fetch.concurrency` fetches run at once, and at most
/// `fetch.per_host` to any one host.
pub async fn poll_with_progress<S: Feeds>(
    config: &Config,
    store: &S,
    fetcher: &Fetcher,
    cancel: &CancellationToken,
    scope: Scope,
    progress: &mut (dyn FnMut(usize, usize) + Send),
) -> Result<Vec<FeedReport>, StoreError> {
    poll_at(config, store, fetcher, cancel, scope, Utc::now(), progress).await
}

/// [`poll_with_progress`] with the round's clock given: `now` decides what
/// is due, and is each feed's poll time (tests set it).
pub async fn poll_at<S: Feeds>(
    config: &Config,
    store: &S,
    fetcher: &Fetcher,
    cancel: &CancellationToken,
    scope: Scope,
    now: DateTime<Utc>,
    progress: &mut (dyn FnMut(usize, usize) + Send),
) -> Result<Vec<FeedReport>, StoreError> {
    // On a cron line the tick is the schedule: a feed due a moment after it
    // (its wait plus jitter) is due now, or it would wait a whole period more.
    let due_by = match &config.poll {
        crate::config::PollSchedule::Every(_) => now,
        crate::config::PollSchedule::Cron(_) => now + chrono::TimeDelta::minutes(2),
    };
    let force = matches!(scope, Scope::All { force: true });
    let mut feeds = Vec::new();
    let mut reports: Vec<FeedReport> = Vec::new();
    for feed in &config.feeds {
        let state = match store.feed_state(&feed.key).await {
            Ok(state) => state.unwrap_or_default(),
            // One unreadable record stops that feed, not the poll.
            Err(source) => {
                reports.push(FeedReport {
                    feed_key: feed.key.clone(),
                    name: feed.display_name(None),
                    result: Err(PollError::Store {
                        feed: feed.key.clone(),
                        source,
                    }),
                });
                continue;
            }
        };
        if scope == Scope::Due && !state.is_due(due_by) {
            continue;
        }
        // Decided here, so that only feeds that are fetched count towards a
        // host's lanes and its last (closing) requests.
        if let Some(reason) = state.skip_reason(now, force) {
            reports.push(skip(store, feed, state, reason, now).await);
            continue;
        }
        feeds.push((feed, state));
    }
    // Loaded when a feed has news, dropped with the round.
    let meaning = crate::meaning::Meaning::for_poll(config);
    let round = Round {
        config,
        store,
        fetcher,
        force,
        now,
        meaning: &meaning,
    };
    let claim = Claim { scope, due_by };
    let mut hosts = HostQueue::group(feeds, config.fetch.per_host);
    // Alone, the longest host first is what matters, and the order stays.
    crate::store::in_round_order(store, &mut hosts);
    let global = Semaphore::new(config.fetch.concurrency);
    let global = &global;
    let lanes = hosts.iter().flat_map(|host| {
        (0..host.lanes).map(move |_| {
            // A lane keeps its global slot while its host has feeds left, so
            // a host's feeds go in one stretch and its connections can close
            // after it, rather than every host staying open for the whole poll.
            Box::pin(futures_util::stream::unfold(None, move |slot| async move {
                let slot = match slot {
                    Some(slot) => slot,
                    // Never closed, so this always waits for a slot.
                    None => global.acquire().await.ok()?,
                };
                // Leased as a lane comes to it, not all at the start: the
                // instances sharing a store then share a round by how fast
                // each goes, and a killed one strands only what it had in
                // flight.
                let report = loop {
                    let (feed, state, connection) = host.next()?;
                    match claim.take(round, feed, state).await {
                        Taken::Mine(state) => {
                            let report = poll_reported(round, feed, *state, cancel, connection).await;
                            // Done: the lease ends now rather than when it
                            // lapses, so that the next poll (another instance,
                            // a restart, a one-shot `poll`) may take it.
                            claim.give_back(round, feed).await;
                            break report;
                        }
                        Taken::Elsewhere => {}
                        Taken::Failed(report) => break report,
                    }
                };
                Some((report, Some(slot)))
            }))
        })
    });
    let total = hosts.iter().map(HostQueue::len).sum::<usize>() + reports.len();
    let mut polls = futures_util::stream::select_all(lanes);
    while let Some(report) = polls.next().await {
        reports.push(report);
        progress(reports.len(), total);
    }
    drop(polls);
    if meaning.encoded() > 0 {
        tracing::info!(
            titles = meaning.encoded(),
            "encoded the new articles' titles for story folding"
        );
    }
    meaning.release().await;
    store.flush().await?;
    // Report in config order, whatever order the fetches finished in.
    let order: HashMap<&str, usize> = config
        .feeds
        .iter()
        .enumerate()
        .map(|(i, f)| (f.key.as_str(), i))
        .collect();
    reports.sort_by_key(|r| order.get(r.feed_key.as_str()).copied());
    Ok(reports)
}

/// How a lane takes a feed of its round: the lease, then the feed's state
/// read again under it (another instance may have polled it a moment ago).
#[derive(Clone, Copy)]
struct Claim {
    scope: Scope,
    due_by: DateTime<Utc>,
}

enum Taken {
    /// This instance polls it now, from this (fresh) state.
    Mine(Box<FeedState>),
    /// Another instance polls it, or just did.
    Elsewhere,
    /// The store failed: the feed's report says so.
    Failed(FeedReport),
}

impl Claim {
    async fn take<S: Feeds>(self, round: Round<'_, S>, feed: &FeedConfig, state: FeedState) -> Taken {
        let Round {
            config, store, now, ..
        } = round;
        let failed = |source| {
            Taken::Failed(FeedReport {
                feed_key: feed.key.clone(),
                name: feed.display_name(state.title.as_deref()),
                result: Err(PollError::Store {
                    feed: feed.key.clone(),
                    source,
                }),
            })
        };
        match store
            .lease_feed(
                &feed.key,
                Holder::this_process(),
                LeaseTerm::Take(config.store_lease),
            )
            .await
        {
            Ok(true) => {}
            Ok(false) => return Taken::Elsewhere,
            Err(source) => return failed(source),
        }
        // Alone on the store, nobody else can have changed it.
        if !store.shared() {
            return Taken::Mine(Box::new(state));
        }
        let fresh = match store.feed_state(&feed.key).await {
            Ok(fresh) => fresh.unwrap_or_default(),
            Err(source) => {
                self.give_back(round, feed).await;
                return failed(source);
            }
        };
        // Polled by another instance since this round read the states: not
        // due now (a poll of every feed, `poll`, fetches it again anyway).
        let polled_meanwhile = fresh != state;
        if self.scope == Scope::Due
            && polled_meanwhile
            && (!fresh.is_due(self.due_by) || fresh.skip_reason(now, false).is_some())
        {
            self.give_back(round, feed).await;
            return Taken::Elsewhere;
        }
        Taken::Mine(Box::new(fresh))
    }

    async fn give_back<S: Feeds>(self, round: Round<'_, S>, feed: &FeedConfig) {
        if let Err(err) = round
            .store
            .lease_feed(&feed.key, Holder::this_process(), LeaseTerm::Release)
            .await
        {
            tracing::warn!(feed = %feed.key, "cannot end the lease on the feed (it lapses by itself): {err}");
        }
    }
}

/// What every feed's poll in one round shares.
struct Round<'a, S> {
    config: &'a Config,
    store: &'a S,
    fetcher: &'a Fetcher,
    /// `poll --force`: fetch the whole document, whatever the validators say.
    force: bool,
    /// The round's clock.
    now: DateTime<Utc>,
    /// Encodes the titles of the articles the round stores (with the model).
    meaning: &'a crate::meaning::Meaning,
}

// Copy for any store (a derive would ask `S: Copy`).
impl<S> Clone for Round<'_, S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S> Copy for Round<'_, S> {}

async fn poll_reported<S: Feeds>(
    round: Round<'_, S>,
    feed: &FeedConfig,
    state: FeedState,
    cancel: &CancellationToken,
    connection: Connection,
) -> FeedReport {
    let Round {
        config, store, now, ..
    } = round;
    let mut polled = state.clone();
    let poll = poll_one(round, feed, &mut polled, connection);
    let result = tokio::select! {
        () = cancel.cancelled() => Err(PollError::Cancelled { feed: feed.key.clone() }),
        result = poll => result,
    };
    if let Err(PollError::Store { source, .. }) = &result {
        // The store failed mid-poll (a full disk?): a failure of this feed,
        // so it backs off rather than being fetched every minute, and a
        // reload leaves that be. Best effort: the store may refuse this too.
        let mut state = state;
        let message = format!("cannot store what it sent: {source}");
        record_failure(config, feed, &mut state, message, now);
        let _ = store.put_feed_state(&feed.key, &state).await;
    }
    FeedReport {
        feed_key: feed.key.clone(),
        // The title the poll just read, without asking the store again.
        name: feed.display_name(polled.title.as_deref()),
        result,
    }
}

/// A feed kept away by the server's Retry-After, our backoff or a 410: not
/// due again before that ends.
async fn skip<S: Feeds>(
    store: &S,
    feed: &FeedConfig,
    mut state: FeedState,
    reason: String,
    now: DateTime<Utc>,
) -> FeedReport {
    let until = [state.retry_after, state.next_attempt]
        .into_iter()
        .flatten()
        .filter(|at| *at > now)
        .max();
    let mut result = Ok(FeedOutcome::Skipped { reason });
    if let Some(until) = until.filter(|at| state.next_poll.is_none_or(|next| next < *at)) {
        state.next_poll = Some(until);
        if let Err(source) = store.put_feed_state(&feed.key, &state).await {
            result = Err(PollError::Store {
                feed: feed.key.clone(),
                source,
            });
        }
    }
    FeedReport {
        feed_key: feed.key.clone(),
        name: feed.display_name(state.title.as_deref()),
        result,
    }
}

/// Where this poll fetches the feed: its adopted new URL, if it moved.
fn source_of(feed: &FeedConfig, state: &FeedState) -> FeedSource {
    match (&feed.source, state.moved_to.as_deref().map(url::Url::parse)) {
        (FeedSource::Http(_), Some(Ok(moved))) => FeedSource::Http(moved),
        (source, _) => source.clone(),
    }
}

async fn poll_one<S: Feeds>(
    round: Round<'_, S>,
    feed: &FeedConfig,
    state: &mut FeedState,
    connection: Connection,
) -> Result<FeedOutcome, PollError> {
    let Round {
        config,
        store,
        fetcher,
        force,
        now,
        meaning,
    } = round;
    let store_error = |source| PollError::Store {
        feed: feed.key.clone(),
        source,
    };
    // Items the flood cap held back are only in the document: a 304 would
    // hide them until the publisher changes the feed, so ask unconditionally.
    let known = if force || state.held_back > 0 {
        Validators::default()
    } else {
        Validators {
            etag: state.etag.clone(),
            last_modified: state.last_modified.clone(),
        }
    };
    let source = source_of(feed, state);
    let (parsed, info, validators) =
        match fetch_and_parse(fetcher, &source, &known, connection, &feed.strip).await {
            Ok(Read::Parsed {
                parsed,
                info,
                validators,
            }) => (parsed, info, validators),
            Ok(Read::NotModified(info)) => {
                record_success(config, feed, state, &info, now);
                store
                    .put_feed_state(&feed.key, state)
                    .await
                    .map_err(store_error)?;
                return Ok(FeedOutcome::NotModified);
            }
            Err(ReadError::Fetch(source)) => {
                record_fetch_failure(config, feed, state, &source, now);
                store
                    .put_feed_state(&feed.key, state)
                    .await
                    .map_err(store_error)?;
                return Err(PollError::Fetch {
                    feed: feed.key.clone(),
                    source,
                });
            }
            Err(ReadError::Parse(source)) => {
                // Old validators stay, so the next poll fetches the body again.
                record_failure(config, feed, state, source.to_string(), now);
                store
                    .put_feed_state(&feed.key, state)
                    .await
                    .map_err(store_error)?;
                return Err(PollError::Parse {
                    feed: feed.key.clone(),
                    source,
                });
            }
        };
    if !parsed.reading.repairs.is_empty() {
        tracing::warn!(
            feed = %feed.key,
            repairs = %parsed.reading.repairs.join("; "),
            "the feed is not well-formed; repaired it to read it"
        );
    }
    // Never silently empty: a document with items that yields none says why.
    state.empty_reason.clone_from(&parsed.reading.empty);
    if let Some(reason) = &parsed.reading.empty {
        tracing::warn!(feed = %feed.key, %reason, "the feed yielded no items");
    }
    if !parsed.reading.degradations.is_empty() {
        tracing::info!(
            feed = %feed.key,
            format = %parsed.reading.format,
            read_as = %parsed.reading.degradations.join("; "),
            "read a feed dialect as its standard form"
        );
    }
    let first_poll = !state.baselined;
    let document = ingest::Document::new(feed, &parsed);
    state.title = parsed.title.clone().or(state.title.take());
    state.etag = validators.etag;
    state.last_modified = validators.last_modified;
    state.feed_hint_secs = parsed.update_hint.map(|d| d.num_seconds());
    record_success(config, feed, state, &info, now);
    let before = state.clone();
    let mut tries = 0;
    let (new_articles, baseline, held_back) = loop {
        *state = before.clone();
        let known = store
            .known(&feed.key, &document.questions())
            .await
            .map_err(store_error)?;
        let mut batch: IngestBatch = ingest::plan(config, &document, first_poll, now, &known);
        // Before the commit, so each article is stored with its vector.
        meaning.attach(&mut batch.deliver).await;
        // A document with items none of which could be read leaves the
        // feed before its first poll: its old items, once readable, must not
        // all be news. An empty feed (new, a search with no hits) does not:
        // its first item is news.
        let read = parsed.reading.empty.is_none();
        let counts = record_planned(feed, state, &batch, read, now);
        match store.ingest(&feed.key, state, &batch, now).await {
            // Another feed's poll (of another instance, or of this one
            // while this awaited) stored one of these articles between our
            // question and our commit: ask again.
            Err(StoreError::LinkClaimed { .. } | StoreError::PolledMeanwhile { .. }) if tries < 3 => {
                tries += 1;
            }
            Err(source) => return Err(store_error(source)),
            Ok(()) => break counts,
        }
    };
    Ok(FeedOutcome::Fetched {
        new_articles,
        baseline,
        held_back,
        items: parsed.items.len(),
    })
}

/// What the feed's state records of a good fetch planned as `batch`: when
/// it last had news, and what was not queued, and why. Returns the counts
/// the outcome reports (new, baseline, held back). `read`: the document's
/// items were read (or it has none).
fn record_planned(
    feed: &FeedConfig,
    state: &mut FeedState,
    batch: &IngestBatch,
    read: bool,
    now: DateTime<Utc>,
) -> (usize, usize, usize) {
    let new_articles = batch.deliver.len();
    let baseline = batch.baseline.len();
    let held_back = batch.held_back;
    if new_articles > 0 || state.last_new.is_none() {
        state.last_new = Some(now);
    }
    if read {
        state.baselined = true;
    }
    state.held_back = held_back as u64;
    state.items_known += (new_articles + baseline + batch.churned.len() + batch.cross_feed.len()) as u64;
    let counts = &mut state.not_queued;
    counts.baseline += baseline as u64;
    counts.unrouted += batch.deliver.iter().filter(|n| n.recipients.is_empty()).count() as u64;
    counts.regenerated_guid += batch.churned.len() as u64;
    counts.copies += batch.cross_feed.len() as u64;
    counts.listed_twice = batch.duplicates as u64;
    counts.told_apart = batch.told_apart as u64;
    if batch.told_apart > 0 {
        tracing::info!(
            feed = %feed.key,
            items = batch.told_apart,
            "items share a guid or link; told apart by link, title and date"
        );
    }
    if held_back > 0 {
        tracing::warn!(feed = %feed.key, held_back, "flood cap: some new items wait for the next poll");
    }
    (new_articles, baseline, held_back)
}
