//! The seam between the program and its store: what each part of the
//! program asks of a store, as async traits over the core's types, with
//! every decision made by the caller. The sled [`Store`] is the embedded
//! implementation; a shared database (issue 19) implements the same traits
//! and nothing above them changes.
//!
//! - [`Storage`]: what every part needs (feed states, the flush).
//! - [`Feeds`]: polling. The lease that lets one instance at a time poll a
//!   feed, its state, what planning a document asks of the past (answered
//!   in one call, so the plan stays pure), and the poll's one atomic commit.
//! - [`Delivery`]: building and sending a digest. The subscriber's lease
//!   and state, pending articles, what was sent, the outbox and the commit
//!   after the server's 2xx.
//! - [`Maintenance`]: prune, check, export and import, and what status and
//!   metrics read.

use std::future::Future;

use chrono::{DateTime, TimeDelta, Utc};

use super::{CheckReport, PruneReport, Store, StoreError};
use crate::article::{Article, ArticleId};
use crate::digest::SentStory;
use crate::feed_state::FeedState;
use crate::ingest::{IngestBatch, Known, Questions};
use crate::outbox::OutboxEntry;
use crate::subscriber::{OptOut, SubscriberState};

/// Who holds a lease: one running instance.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Holder(pub String);

impl Holder {
    /// This process: its host name, process id and a random tag (containers
    /// sharing the host's name all run as pid 1: without the tag, each would
    /// take the others' leases for its own).
    pub fn this_process() -> &'static Holder {
        static THIS: std::sync::OnceLock<Holder> = std::sync::OnceLock::new();
        THIS.get_or_init(|| {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|name| name.trim().to_owned())
                .unwrap_or_default();
            let host = if host.is_empty() {
                "localhost".to_owned()
            } else {
                host
            };
            let mut tag = [0u8; 3];
            // Without randomness (it does not fail on Linux), pid and host alone.
            let tag = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut tag)
                .map(|()| format!(":{}", super::hex(&tag)))
                .unwrap_or_default();
            Holder(format!("{host}:{}{tag}", std::process::id()))
        })
    }
}

/// Puts a round's items (a poll's hosts, a send's subscribers) in the order
/// this instance takes them: on a shared store from a place of its own (by
/// its name) and round, so that instances working at once meet on few
/// rather than reaching for the same one every time; alone, as they are.
pub fn in_round_order<T>(store: &impl Storage, items: &mut [T]) {
    if store.shared() && !items.is_empty() {
        let at = crate::fnv::fnv1a(Holder::this_process().0.bytes()) % items.len() as u64;
        items.rotate_left(usize::try_from(at).unwrap_or(0));
    }
}

/// A lease held now: what (a feed's key or a subscriber's address), by
/// whom, until when.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Lease {
    pub key: String,
    pub holder: Holder,
    /// When this holder took it (renewals keep it); unknown for a lease
    /// taken before the database recorded it.
    pub since: Option<DateTime<Utc>>,
    pub until: DateTime<Utc>,
}

/// Everything the daemon needs of a store: what `run` is written against.
pub trait Backend: Feeds + Delivery + Readers + Maintenance + Clone + 'static {}

impl<S: Feeds + Delivery + Readers + Maintenance + Clone + 'static> Backend for S {}

/// What every part of the program needs of a store.
pub trait Storage: Send + Sync {
    fn feed_state(
        &self,
        feed_key: &str,
    ) -> impl Future<Output = Result<Option<FeedState>, StoreError>> + Send;

    /// The stored states of those of `feed_keys` that have one, in one call:
    /// a digest reads its feeds' states, and a database answers that in one
    /// statement rather than one per feed.
    fn feed_states(
        &self,
        feed_keys: &[&str],
    ) -> impl Future<Output = Result<Vec<(String, FeedState)>, StoreError>> + Send {
        async move {
            let mut states = Vec::with_capacity(feed_keys.len());
            for key in feed_keys {
                if let Some(state) = self.feed_state(key).await? {
                    states.push(((*key).to_owned(), state));
                }
            }
            Ok(states)
        }
    }

    /// Everything written so far is durable when this returns.
    fn flush(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Whether other instances may use this store at once (a database):
    /// then each starts its rounds at a place of its own, so that they
    /// rarely reach for the same feed.
    fn shared(&self) -> bool {
        false
    }
}

/// What a lease call asks for. A lease runs for a duration on the store's
/// clock, never until an instance's idea of the time: instances whose
/// clocks differ then agree on when it lapses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseTerm {
    /// Take it, if it is free, lapsed or already the holder's, for this long.
    Take(std::time::Duration),
    /// Keep it for this long, only if nobody else has taken it since the
    /// holder did (lapsed meanwhile or not): the fence before an act that
    /// must not happen twice.
    Renew(std::time::Duration),
    /// Give it back now, if it is the holder's.
    Release,
}

/// What polling feeds needs of a store.
pub trait Feeds: Storage {
    /// The right to poll `feed_key`, as `term` asks; false while another
    /// instance holds it (or, to renew, has taken it meanwhile).
    fn lease_feed(
        &self,
        feed_key: &str,
        holder: &Holder,
        term: LeaseTerm,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn put_feed_state(
        &self,
        feed_key: &str,
        state: &FeedState,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The answers to what planning one document of `feed_key` asks.
    fn known(
        &self,
        feed_key: &str,
        questions: &Questions,
    ) -> impl Future<Output = Result<Known, StoreError>> + Send;

    /// One poll of one feed, atomically: `batch` and the feed's new `state`.
    fn ingest(
        &self,
        feed_key: &str,
        state: &FeedState,
        batch: &IngestBatch,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// What delivering digests needs of a store.
pub trait Delivery: Storage {
    /// The right to deliver `email`'s digest, as `term` asks; false while
    /// another instance holds it (or, to renew, has taken it meanwhile).
    fn lease_subscriber(
        &self,
        email: &str,
        holder: &Holder,
        term: LeaseTerm,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The stored state of `email`, or `fresh` stored as it when none is.
    fn register_subscriber(
        &self,
        email: &str,
        fresh: &SubscriberState,
    ) -> impl Future<Output = Result<SubscriberState, StoreError>> + Send;

    /// [`register_subscriber`](Self::register_subscriber) for each of
    /// `emails`, in one call: every start registers the whole config.
    fn register_subscribers(
        &self,
        emails: &[String],
        fresh: &SubscriberState,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        async move {
            for email in emails {
                self.register_subscriber(email, fresh).await?;
            }
            Ok(())
        }
    }

    fn put_subscriber_state(
        &self,
        email: &str,
        state: &SubscriberState,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The stored state of `email`, if it is known.
    fn subscriber_state(
        &self,
        email: &str,
    ) -> impl Future<Output = Result<Option<SubscriberState>, StoreError>> + Send;

    /// The articles waiting for `email`, oldest first.
    fn pending(&self, email: &str) -> impl Future<Output = Result<Vec<ArticleId>, StoreError>> + Send;

    fn article(&self, id: &ArticleId) -> impl Future<Output = Result<Option<Article>, StoreError>> + Send;

    /// The articles `ids` name, in their order (None where none is stored),
    /// in one call: a digest reads dozens, a database in one statement.
    fn articles(
        &self,
        ids: &[ArticleId],
    ) -> impl Future<Output = Result<Vec<Option<Article>>, StoreError>> + Send {
        async move {
            let mut articles = Vec::with_capacity(ids.len());
            for id in ids {
                articles.push(self.article(id).await?);
            }
            Ok(articles)
        }
    }

    /// What `email` was sent at or after `since`, oldest first.
    fn sent_since(
        &self,
        email: &str,
        since: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<SentStory>, StoreError>> + Send;

    /// The composed digest waiting for the server's 2xx, if any.
    fn outbox(&self, email: &str) -> impl Future<Output = Result<Option<OutboxEntry>, StoreError>> + Send;

    fn put_outbox(
        &self,
        email: &str,
        entry: &OutboxEntry,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn drop_outbox(&self, email: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// After the server's 2xx, in one transaction: the outbox entry and its
    /// articles' pending marks go, `state` and `sent` are stored.
    fn commit_sent(
        &self,
        email: &str,
        entry: &OutboxEntry,
        state: &SubscriberState,
        sent: &[(ArticleId, SentStory)],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// What readers asked for themselves: who unsubscribed. Kept apart from
/// the delivery state, which a send in flight rewrites.
pub trait Readers: Storage {
    /// Records that `email` wants no more digests; false when they had
    /// already unsubscribed (the first record stays).
    fn opt_out(&self, email: &str, opt_out: &OptOut)
    -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Undoes an opt-out; false when there was none.
    fn opt_in(&self, email: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn opted_out(&self, email: &str) -> impl Future<Output = Result<Option<OptOut>, StoreError>> + Send;

    /// Every opt-out, by address.
    fn opt_outs(&self) -> impl Future<Output = Result<Vec<(String, OptOut)>, StoreError>> + Send;

    /// Drops everything waiting for `email` (pending articles and an unsent
    /// outbox entry), in one transaction; returns how many articles.
    fn drop_waiting(&self, email: &str) -> impl Future<Output = Result<usize, StoreError>> + Send;
}

/// Keeping a store in shape, and what status and metrics read of it.
pub trait Maintenance: Storage {
    /// At `now`: forgets ids that left their feed more than `retention`
    /// ago, drops bodies nobody has pending after `keep_bodies`, and
    /// records the prune.
    fn prune(
        &self,
        now: DateTime<Utc>,
        retention: TimeDelta,
        keep_bodies: TimeDelta,
    ) -> impl Future<Output = Result<PruneReport, StoreError>> + Send;

    fn last_prune(&self) -> impl Future<Output = Result<Option<DateTime<Utc>>, StoreError>> + Send;

    /// Verifies every record reads and the invariants hold.
    fn check(&self) -> impl Future<Output = Result<CheckReport, StoreError>> + Send;

    /// Writes every record of every kind, one JSON object per line; how many.
    fn export(
        &self,
        out: &mut (dyn std::io::Write + Send),
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;

    /// Restores an export into this store, which must be empty; how many
    /// records were read. A bad line leaves the store empty.
    fn import(
        &self,
        input: &mut (dyn std::io::BufRead + Send),
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;

    /// A cheap read that proves the store answers (for the watchdog).
    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The leases held now, on feeds and on subscribers (for `status`):
    /// none on sled, where one process holds everything.
    fn leases(&self) -> impl Future<Output = Result<(Vec<Lease>, Vec<Lease>), StoreError>> + Send;

    /// Bytes the store takes on disk.
    fn size_on_disk(&self) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// How many article ids are remembered.
    fn seen_count(&self) -> impl Future<Output = Result<usize, StoreError>> + Send;

    /// Stored articles whose canonical link is `query`'s, or whose title
    /// contains it (at most `limit`).
    fn find_articles(
        &self,
        query: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Article>, StoreError>> + Send;
}

// sled answers from memory or its page cache in microseconds: each call runs
// at once and returns a ready future, as the daemon has always called it.
impl Storage for Store {
    fn feed_state(
        &self,
        feed_key: &str,
    ) -> impl Future<Output = Result<Option<FeedState>, StoreError>> + Send {
        std::future::ready(Store::feed_state(self, feed_key))
    }

    fn flush(&self) -> impl Future<Output = Result<(), StoreError>> + Send {
        Store::flush(self)
    }
}

impl Feeds for Store {
    fn lease_feed(
        &self,
        _feed_key: &str,
        _holder: &Holder,
        _term: LeaseTerm,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        // One process holds the store's lock file: every lease is its own.
        std::future::ready(Ok(true))
    }

    fn put_feed_state(
        &self,
        feed_key: &str,
        state: &FeedState,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        std::future::ready(Store::put_feed_state(self, feed_key, state))
    }

    fn known(
        &self,
        feed_key: &str,
        questions: &Questions,
    ) -> impl Future<Output = Result<Known, StoreError>> + Send {
        std::future::ready(Store::known(self, feed_key, questions))
    }

    fn ingest(
        &self,
        feed_key: &str,
        state: &FeedState,
        batch: &IngestBatch,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        std::future::ready(Store::ingest(self, feed_key, state, batch, now))
    }
}

impl Delivery for Store {
    fn lease_subscriber(
        &self,
        _email: &str,
        _holder: &Holder,
        _term: LeaseTerm,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        // One process holds the store's lock file: every lease is its own.
        std::future::ready(Ok(true))
    }

    fn register_subscriber(
        &self,
        email: &str,
        fresh: &SubscriberState,
    ) -> impl Future<Output = Result<SubscriberState, StoreError>> + Send {
        std::future::ready(Store::register_subscriber(self, email, fresh))
    }

    fn put_subscriber_state(
        &self,
        email: &str,
        state: &SubscriberState,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        std::future::ready(Store::put_subscriber_state(self, email, state))
    }

    fn subscriber_state(
        &self,
        email: &str,
    ) -> impl Future<Output = Result<Option<SubscriberState>, StoreError>> + Send {
        std::future::ready(Store::subscriber_state(self, email))
    }

    fn pending(&self, email: &str) -> impl Future<Output = Result<Vec<ArticleId>, StoreError>> + Send {
        std::future::ready(Store::pending(self, email))
    }

    fn article(&self, id: &ArticleId) -> impl Future<Output = Result<Option<Article>, StoreError>> + Send {
        std::future::ready(Store::article(self, id))
    }

    fn sent_since(
        &self,
        email: &str,
        since: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<SentStory>, StoreError>> + Send {
        std::future::ready(Store::sent_since(self, email, since))
    }

    fn outbox(&self, email: &str) -> impl Future<Output = Result<Option<OutboxEntry>, StoreError>> + Send {
        std::future::ready(Store::outbox(self, email))
    }

    fn put_outbox(
        &self,
        email: &str,
        entry: &OutboxEntry,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        std::future::ready(Store::put_outbox(self, email, entry))
    }

    fn drop_outbox(&self, email: &str) -> impl Future<Output = Result<(), StoreError>> + Send {
        std::future::ready(Store::drop_outbox(self, email))
    }

    fn commit_sent(
        &self,
        email: &str,
        entry: &OutboxEntry,
        state: &SubscriberState,
        sent: &[(ArticleId, SentStory)],
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        std::future::ready(Store::commit_sent(self, email, entry, state, sent))
    }
}

impl Readers for Store {
    fn opt_out(
        &self,
        email: &str,
        opt_out: &OptOut,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        std::future::ready(Store::opt_out(self, email, opt_out))
    }

    fn opt_in(&self, email: &str) -> impl Future<Output = Result<bool, StoreError>> + Send {
        std::future::ready(Store::opt_in(self, email))
    }

    fn opted_out(&self, email: &str) -> impl Future<Output = Result<Option<OptOut>, StoreError>> + Send {
        std::future::ready(Store::opted_out(self, email))
    }

    fn opt_outs(&self) -> impl Future<Output = Result<Vec<(String, OptOut)>, StoreError>> + Send {
        std::future::ready(Store::opt_outs(self))
    }

    fn drop_waiting(&self, email: &str) -> impl Future<Output = Result<usize, StoreError>> + Send {
        std::future::ready(Store::drop_waiting(self, email))
    }
}

impl Maintenance for Store {
    fn prune(
        &self,
        now: DateTime<Utc>,
        retention: TimeDelta,
        keep_bodies: TimeDelta,
    ) -> impl Future<Output = Result<PruneReport, StoreError>> + Send {
        // A scan of the whole store: off the async threads.
        let store = self.clone();
        async move {
            super::blocking::blocking(move || store.prune(now, retention, keep_bodies))
                .await
                .map_err(|message| StoreError::Panicked { op: "prune", message })?
        }
    }

    fn last_prune(&self) -> impl Future<Output = Result<Option<DateTime<Utc>>, StoreError>> + Send {
        std::future::ready(Store::last_prune(self))
    }

    fn check(&self) -> impl Future<Output = Result<CheckReport, StoreError>> + Send {
        std::future::ready(Store::check(self))
    }

    fn export(
        &self,
        out: &mut (dyn std::io::Write + Send),
    ) -> impl Future<Output = Result<usize, StoreError>> + Send {
        std::future::ready(Store::export(self, out))
    }

    fn import(
        &self,
        input: &mut (dyn std::io::BufRead + Send),
    ) -> impl Future<Output = Result<usize, StoreError>> + Send {
        std::future::ready(Store::import(self, input))
    }

    fn leases(&self) -> impl Future<Output = Result<(Vec<Lease>, Vec<Lease>), StoreError>> + Send {
        std::future::ready(Ok((Vec::new(), Vec::new())))
    }

    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send {
        std::future::ready(Store::ping(self))
    }

    fn size_on_disk(&self) -> impl Future<Output = Result<u64, StoreError>> + Send {
        std::future::ready(Store::size_on_disk(self))
    }

    fn seen_count(&self) -> impl Future<Output = Result<usize, StoreError>> + Send {
        std::future::ready(Store::seen_count(self))
    }

    fn find_articles(
        &self,
        query: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Article>, StoreError>> + Send {
        std::future::ready(Store::find_articles(self, query, limit))
    }
}
