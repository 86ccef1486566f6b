//! The seam between the program and its store: what each part of the
//! program asks of a store, as async traits over the core's types, with
//! every decision made by the caller. The sled [`Store`] is the embedded
//! implementation; a shared database (issue 19) implements the same traits
//! and nothing above them changes.
//!
//! So far: [`Delivery`], what building and sending a digest needs (the
//! subscriber's state, pending articles, what was sent, the outbox and the
//! commit after the server's 2xx), with the lease that lets one instance
//! at a time deliver a subscriber's digest. Feeds and ingest, and
//! maintenance, are still called on [`Store`] directly.

use std::future::Future;

use chrono::{DateTime, Utc};

use super::{Store, StoreError};
use crate::article::{Article, ArticleId};
use crate::digest::SentStory;
use crate::feed_state::FeedState;
use crate::outbox::OutboxEntry;
use crate::subscriber::SubscriberState;

/// Who holds a lease: one running instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder(pub String);

/// What delivering digests needs of a store.
pub trait Delivery: Send + Sync {
    /// Takes (or renews) the right to deliver `email`'s digest until
    /// `until`; false while another instance holds it.
    fn lease_subscriber(
        &self,
        email: &str,
        holder: &Holder,
        until: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The stored state of `email`, or `fresh` stored as it when none is.
    fn register_subscriber(
        &self,
        email: &str,
        fresh: &SubscriberState,
    ) -> impl Future<Output = Result<SubscriberState, StoreError>> + Send;

    fn put_subscriber_state(
        &self,
        email: &str,
        state: &SubscriberState,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The articles waiting for `email`, oldest first.
    fn pending(&self, email: &str) -> impl Future<Output = Result<Vec<ArticleId>, StoreError>> + Send;

    fn article(&self, id: &ArticleId) -> impl Future<Output = Result<Option<Article>, StoreError>> + Send;

    /// What `email` was sent at or after `since`, oldest first.
    fn sent_since(
        &self,
        email: &str,
        since: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<SentStory>, StoreError>> + Send;

    /// For the digest's notes: a feed's name, flood caps, failures.
    fn feed_state(
        &self,
        feed_key: &str,
    ) -> impl Future<Output = Result<Option<FeedState>, StoreError>> + Send;

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

    /// Everything written so far is durable when this returns.
    fn flush(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
}

// sled answers from memory or its page cache in microseconds: each call runs
// at once and returns a ready future, as the daemon has always called it.
impl Delivery for Store {
    fn lease_subscriber(
        &self,
        _email: &str,
        _holder: &Holder,
        _until: DateTime<Utc>,
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

    fn feed_state(
        &self,
        feed_key: &str,
    ) -> impl Future<Output = Result<Option<FeedState>, StoreError>> + Send {
        std::future::ready(Store::feed_state(self, feed_key))
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

    fn flush(&self) -> impl Future<Output = Result<(), StoreError>> + Send {
        Store::flush(self)
    }
}
