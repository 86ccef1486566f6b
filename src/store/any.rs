//! The store the config chose: sled in `state_dir` (the default), or a
//! shared PostgreSQL database (`store = "postgres://…"`). The program is
//! written against the seam's traits; this enum passes each call to the
//! backend it holds, so the CLI and the daemon open one value and use it.

use chrono::{DateTime, TimeDelta, Utc};

use super::postgres::{Password, PgStore};
use super::seam::{Delivery, Feeds, Holder, Lease, LeaseTerm, Maintenance, Readers, Storage};
use super::{CheckReport, PruneReport, Store, StoreError};
use crate::article::{Article, ArticleId};
use crate::config::{Config, StoreChoice};
use crate::digest::SentStory;
use crate::feed_state::FeedState;
use crate::ingest::{IngestBatch, Known, Questions};
use crate::outbox::OutboxEntry;
use crate::subscriber::{OptOut, SubscriberState};

#[derive(Clone)]
pub enum AnyStore {
    Sled(Store),
    Postgres(PgStore),
}

impl AnyStore {
    /// Opens what `config` names: sled in its `state_dir` (created if
    /// need be), or the database, whose schema is brought up to date.
    pub async fn open(config: &Config) -> Result<AnyStore, StoreError> {
        match &config.store {
            StoreChoice::Sled => {
                std::fs::create_dir_all(&config.state_dir).map_err(|source| StoreError::Io {
                    action: "create the state directory",
                    path: config.state_dir.clone(),
                    source,
                })?;
                Ok(AnyStore::Sled(Store::open(&config.state_dir)?))
            }
            StoreChoice::Postgres { url, password } => {
                let password = password.as_ref().map(|secret| Password::new(secret.expose()));
                Ok(AnyStore::Postgres(
                    PgStore::connect(url, password.as_ref()).await?,
                ))
            }
        }
    }

    /// Where the store is, for messages: the directory or the database.
    pub fn describe(&self) -> String {
        match self {
            AnyStore::Sled(store) => store.path().display().to_string(),
            AnyStore::Postgres(store) => store.target().to_owned(),
        }
    }
}

/// Passes a call to the backend.
macro_rules! each {
    ($self:ident, $method:ident, $trait:ident ( $($arg:ident),* )) => {
        match $self {
            AnyStore::Sled(store) => <Store as $trait>::$method(store $(, $arg)*).await,
            AnyStore::Postgres(store) => <PgStore as $trait>::$method(store $(, $arg)*).await,
        }
    };
}

impl Storage for AnyStore {
    async fn feed_state(&self, feed_key: &str) -> Result<Option<FeedState>, StoreError> {
        each!(self, feed_state, Storage(feed_key))
    }

    async fn feed_states(&self, feed_keys: &[&str]) -> Result<Vec<(String, FeedState)>, StoreError> {
        each!(self, feed_states, Storage(feed_keys))
    }

    async fn flush(&self) -> Result<(), StoreError> {
        each!(self, flush, Storage())
    }

    fn shared(&self) -> bool {
        match self {
            AnyStore::Sled(store) => store.shared(),
            AnyStore::Postgres(store) => store.shared(),
        }
    }
}

impl Feeds for AnyStore {
    async fn lease_feed(&self, feed_key: &str, holder: &Holder, term: LeaseTerm) -> Result<bool, StoreError> {
        each!(self, lease_feed, Feeds(feed_key, holder, term))
    }

    async fn put_feed_state(&self, feed_key: &str, state: &FeedState) -> Result<(), StoreError> {
        each!(self, put_feed_state, Feeds(feed_key, state))
    }

    async fn known(&self, feed_key: &str, questions: &Questions) -> Result<Known, StoreError> {
        each!(self, known, Feeds(feed_key, questions))
    }

    async fn ingest(
        &self,
        feed_key: &str,
        state: &FeedState,
        batch: &IngestBatch,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        each!(self, ingest, Feeds(feed_key, state, batch, now))
    }
}

impl Delivery for AnyStore {
    async fn lease_subscriber(
        &self,
        email: &str,
        holder: &Holder,
        term: LeaseTerm,
    ) -> Result<bool, StoreError> {
        each!(self, lease_subscriber, Delivery(email, holder, term))
    }

    async fn register_subscriber(
        &self,
        email: &str,
        fresh: &SubscriberState,
    ) -> Result<SubscriberState, StoreError> {
        each!(self, register_subscriber, Delivery(email, fresh))
    }

    async fn register_subscribers(
        &self,
        emails: &[String],
        fresh: &SubscriberState,
    ) -> Result<(), StoreError> {
        each!(self, register_subscribers, Delivery(emails, fresh))
    }

    async fn put_subscriber_state(&self, email: &str, state: &SubscriberState) -> Result<(), StoreError> {
        each!(self, put_subscriber_state, Delivery(email, state))
    }

    async fn subscriber_state(&self, email: &str) -> Result<Option<SubscriberState>, StoreError> {
        each!(self, subscriber_state, Delivery(email))
    }

    async fn pending(&self, email: &str) -> Result<Vec<ArticleId>, StoreError> {
        each!(self, pending, Delivery(email))
    }

    async fn article(&self, id: &ArticleId) -> Result<Option<Article>, StoreError> {
        each!(self, article, Delivery(id))
    }

    async fn articles(&self, ids: &[ArticleId]) -> Result<Vec<Option<Article>>, StoreError> {
        each!(self, articles, Delivery(ids))
    }

    async fn sent_since(&self, email: &str, since: DateTime<Utc>) -> Result<Vec<SentStory>, StoreError> {
        each!(self, sent_since, Delivery(email, since))
    }

    async fn outbox(&self, email: &str) -> Result<Option<OutboxEntry>, StoreError> {
        each!(self, outbox, Delivery(email))
    }

    async fn put_outbox(&self, email: &str, entry: &OutboxEntry) -> Result<(), StoreError> {
        each!(self, put_outbox, Delivery(email, entry))
    }

    async fn drop_outbox(&self, email: &str) -> Result<(), StoreError> {
        each!(self, drop_outbox, Delivery(email))
    }

    async fn commit_sent(
        &self,
        email: &str,
        entry: &OutboxEntry,
        state: &SubscriberState,
        sent: &[(ArticleId, SentStory)],
    ) -> Result<(), StoreError> {
        each!(self, commit_sent, Delivery(email, entry, state, sent))
    }
}

impl Readers for AnyStore {
    async fn opt_out(&self, email: &str, opt_out: &OptOut) -> Result<bool, StoreError> {
        each!(self, opt_out, Readers(email, opt_out))
    }

    async fn opt_in(&self, email: &str) -> Result<bool, StoreError> {
        each!(self, opt_in, Readers(email))
    }

    async fn opted_out(&self, email: &str) -> Result<Option<OptOut>, StoreError> {
        each!(self, opted_out, Readers(email))
    }

    async fn opt_outs(&self) -> Result<Vec<(String, OptOut)>, StoreError> {
        each!(self, opt_outs, Readers())
    }

    async fn drop_waiting(&self, email: &str) -> Result<usize, StoreError> {
        each!(self, drop_waiting, Readers(email))
    }
}

impl Maintenance for AnyStore {
    async fn prune(
        &self,
        now: DateTime<Utc>,
        retention: TimeDelta,
        keep_bodies: TimeDelta,
    ) -> Result<PruneReport, StoreError> {
        each!(self, prune, Maintenance(now, retention, keep_bodies))
    }

    async fn last_prune(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        each!(self, last_prune, Maintenance())
    }

    async fn check(&self) -> Result<CheckReport, StoreError> {
        each!(self, check, Maintenance())
    }

    async fn export(&self, out: &mut (dyn std::io::Write + Send)) -> Result<usize, StoreError> {
        each!(self, export, Maintenance(out))
    }

    async fn import(&self, input: &mut (dyn std::io::BufRead + Send)) -> Result<usize, StoreError> {
        each!(self, import, Maintenance(input))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        each!(self, ping, Maintenance())
    }

    async fn leases(&self) -> Result<(Vec<Lease>, Vec<Lease>), StoreError> {
        each!(self, leases, Maintenance())
    }

    async fn size_on_disk(&self) -> Result<u64, StoreError> {
        each!(self, size_on_disk, Maintenance())
    }

    async fn seen_count(&self) -> Result<usize, StoreError> {
        each!(self, seen_count, Maintenance())
    }

    async fn find_articles(&self, query: &str, limit: usize) -> Result<Vec<Article>, StoreError> {
        each!(self, find_articles, Maintenance(query, limit))
    }
}
