//! One subscriber's digest: pending → render → outbox → send → commit.
//!
//! The outbox entry is flushed before the first byte goes to the server, and
//! the pending articles leave only after the server's 2xx. A crash in between
//! leaves the entry in the outbox, and the next attempt resends the very same
//! message (same Message-ID) instead of building a new one.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use crate::article::Article;
use crate::article::ArticleId;
use crate::config::{Config, Subscriber};
use crate::digest;
use crate::digest::SentStory;
use crate::digest::render::{HTML_BUDGET, RenderError, Rendered, render_within};
use crate::feed_state::FeedState;
use crate::mail::{MailError, Mailer, SendError, compose};
use crate::meaning::Meaning;
use crate::outbox::OutboxEntry;
use crate::store::{Delivery, Holder, LeaseTerm, Readers, StoreError};
use crate::subscriber::SubscriberState;

/// Set to `after-send` to abort the process between the server's 2xx and the
/// commit (for the crash tests).
pub const FAULT_ENV: &str = "FEED_DIGEST_FAULT";

/// Message-IDs the relay accepted in this process whose commit then failed
/// (a full disk, a database gone read-only). Their outbox entry stays, and
/// the next attempt records it without sending it again: otherwise every
/// round (each minute) would mail it once more, with no backoff, since the
/// send itself succeeded. In memory only: a restart resends it once, as
/// after a crash. At most one entry per subscriber (its outbox entry).
static ACCEPTED_UNRECORDED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

fn accepted_unrecorded() -> std::sync::MutexGuard<'static, Vec<String>> {
    ACCEPTED_UNRECORDED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    #[error("subscriber {email}: {source}")]
    Store {
        email: String,
        #[source]
        source: StoreError,
    },
    #[error("subscriber {email}: {source}")]
    Render {
        email: String,
        #[source]
        source: RenderError,
    },
    #[error("subscriber {email}: {source}")]
    Compose {
        email: String,
        #[source]
        source: MailError,
    },
    #[error("subscriber {email}: {source}")]
    Archive {
        email: String,
        #[source]
        source: crate::archive::ArchiveError,
    },
    #[error("subscriber {email}: {source}")]
    Send {
        email: String,
        #[source]
        source: SendError,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    NothingPending,
    /// Another instance sharing the store holds this subscriber's lease.
    Elsewhere,
    /// The subscriber unsubscribed: nothing is built or sent.
    OptedOut {
        since: DateTime<Utc>,
    },
    Sent {
        message_id: String,
        articles: usize,
        /// True when this was an outbox entry left by an earlier attempt.
        resent: bool,
    },
}

/// What the next digest of `subscriber` would be, without touching the store.
pub struct Prepared {
    /// The digest as data, before the size budget shortened anything.
    pub model: digest::Digest,
    pub rendered: Rendered,
    /// What the digest consumes: with an archive every pending article (the
    /// mail shows part, the archive page all); without, what the mail shows.
    pub articles: Vec<Article>,
    pub held_back: usize,
    /// Old articles left out at the bound of what may wait (no archive).
    pub dropped: Vec<ArticleId>,
    /// The digest's archive page, when `[web]` is set.
    pub archive: Option<ArchivePage>,
}

/// A sent digest's page: the same rendering without the size budget.
pub struct ArchivePage {
    pub dir: std::path::PathBuf,
    pub name: String,
    pub html: String,
}

/// Without an archive, at most this many articles wait for a subscriber: a
/// week of full digests, and never fewer than 100. Beyond it the oldest are
/// left out, and the digest says how many.
pub fn waiting_bound(max_items: usize) -> usize {
    max_items.saturating_mul(7).max(100)
}

/// Builds (but does not store or send) the next digest from pending articles.
pub async fn prepare<S: Delivery>(
    config: &Config,
    store: &S,
    subscriber: &Subscriber,
    meaning: &Meaning,
    now: DateTime<Utc>,
) -> Result<Option<Prepared>, DeliverError> {
    let email = subscriber.email();
    let store_error = |source| DeliverError::Store {
        email: email.clone(),
        source,
    };
    let ids = store.pending(&email).await.map_err(store_error)?;
    if ids.is_empty() {
        return Ok(None);
    }
    let mut articles = Vec::with_capacity(ids.len());
    for (id, article) in ids.iter().zip(store.articles(&ids).await.map_err(store_error)?) {
        match article {
            Some(article) => articles.push(article),
            None => tracing::error!(article = %id, "pending article has no stored body; skipping it"),
        }
    }
    let archive = config.web.as_ref().and_then(|web| Some((web, web.key.as_ref()?)));
    let mut dropped = Vec::new();
    let bound = waiting_bound(subscriber.max_items);
    if archive.is_none() && articles.len() > bound {
        // The oldest leave: what is newest is what a reader still wants.
        articles.sort_by_key(|a| std::cmp::Reverse(a.time()));
        dropped = articles.split_off(bound).into_iter().map(|a| a.id).collect();
    }
    let all = archive.is_some().then(|| articles.clone());
    let (shown, held_back) = digest::choose(config, subscriber, articles, subscriber.max_items);
    if shown.is_empty() {
        return Ok(None);
    }
    // With an archive nothing is held back: the rest is on the page.
    let mut context = context(
        config,
        store,
        subscriber,
        &shown,
        if all.is_some() { 0 } else { held_back },
        now,
    )
    .await;
    let window =
        chrono::TimeDelta::from_std(config.digest.follow_up_window).unwrap_or(chrono::TimeDelta::zero());
    context.earlier = store
        .sent_since(&email, now - window)
        .await
        .map_err(store_error)?;
    if config.digest.fold_stories {
        // Every title this digest (and its archive page) folds, with the
        // vector it was stored with: the model only for those without.
        let titles = shown
            .iter()
            .chain(all.iter().flatten())
            .map(|a| (a.title.as_str(), a.meaning.as_ref()))
            .chain(
                context
                    .earlier
                    .iter()
                    .map(|e| (e.title.as_str(), e.meaning.as_ref())),
            );
        context.encoder = meaning.encoder_for(titles);
    }
    let mut model = digest::build(config, subscriber, &shown, &context, now);
    let language = subscriber.language;
    let render_error = |source| DeliverError::Render {
        email: email.clone(),
        source,
    };
    let mut page = None;
    let consumed = match (archive, all) {
        (Some((web, key)), Some(all)) => {
            let ids: Vec<ArticleId> = all.iter().map(|a| a.id.clone()).collect();
            let message_id = crate::mail::message_id(&config.from, subscriber.mailbox.email.as_ref(), &ids);
            let name = crate::links::archive_name(key, &message_id);
            let url = crate::links::archive_url(&web.base_url, &name).map(|u| u.to_string());
            let mut full = if all.len() > shown.len() {
                digest::build(config, subscriber, &all, &context, now)
            } else {
                model.clone()
            };
            // Whoever the link is passed on to learns no address and gets
            // no way to unsubscribe the reader.
            full.reason = language.archived(&config.digest.title);
            full.unsubscribe = None;
            page = Some(ArchivePage {
                dir: web.archive_dir.clone(),
                name,
                html: digest::render::render(&full).map_err(render_error)?.html,
            });
            model.view_online.clone_from(&url);
            if let Some(url) = url
                && all.len() > shown.len()
            {
                model.more_online = Some((language.more_online(all.len() - shown.len()), url));
            }
            all
        }
        _ => shown,
    };
    if !dropped.is_empty() {
        model.dropped_note = Some(language.dropped(dropped.len(), bound));
    }
    let rendered = render_within(&model, HTML_BUDGET).map_err(render_error)?;
    Ok(Some(Prepared {
        model,
        rendered,
        articles: consumed,
        held_back,
        dropped,
        archive: page,
    }))
}

/// Names and notes from the store that the digest shows: feed names, flood
/// caps hit by the feeds in this digest, and the subscriber's feeds failing
/// for over a day. Only those feeds' states are read, in one call: with
/// thousands of feeds, reading every state for every digest was most of a
/// send's time on a database.
async fn context<S: Delivery>(
    config: &Config,
    store: &S,
    subscriber: &Subscriber,
    articles: &[Article],
    held_back: usize,
    now: DateTime<Utc>,
) -> digest::Context {
    let followed = |key: &str| {
        subscriber
            .filter
            .feeds
            .as_ref()
            .is_none_or(|feeds| feeds.iter().any(|f| f == key))
    };
    let shown: HashSet<&str> = articles
        .iter()
        .flat_map(|a| std::iter::once(a.feed_key.as_str()).chain(a.also_in.iter().map(String::as_str)))
        .collect();
    let wanted: Vec<&str> = config
        .feeds
        .iter()
        .map(|feed| feed.key.as_str())
        .filter(|key| shown.contains(key) || followed(key))
        .collect();
    let states: HashMap<String, FeedState> = match store.feed_states(&wanted).await {
        Ok(states) => states.into_iter().collect(),
        // One state that does not read only costs the digest a note: read
        // them one by one then, skipping the broken one.
        Err(_) => {
            let mut states = HashMap::new();
            for key in &wanted {
                if let Ok(Some(state)) = store.feed_state(key).await {
                    states.insert((*key).to_owned(), state);
                }
            }
            states
        }
    };
    let feed_names: HashMap<String, String> = config
        .feeds
        .iter()
        .map(|feed| {
            let title = states.get(feed.key.as_str()).and_then(|s| s.title.as_deref());
            (feed.key.clone(), digest::feed_display_name(feed, title))
        })
        .collect();
    let mut flooded = Vec::new();
    let mut failing = Vec::new();
    for feed in &config.feeds {
        let Some(state) = states.get(feed.key.as_str()) else {
            continue;
        };
        let name = feed_names
            .get(&feed.key)
            .cloned()
            .unwrap_or_else(|| feed.key.clone());
        if state.held_back > 0 && articles.iter().any(|a| a.feed_key == feed.key) {
            flooded.push((name.clone(), state.held_back));
        }
        let failed_long = state
            .last_success
            .is_none_or(|ok| now - ok > chrono::TimeDelta::days(1));
        if let (true, Some(reason), true) = (state.is_failing(), &state.last_error, failed_long) {
            failing.push((name, crate::text::truncate_chars(reason, 200)));
        } else if let Some(reason) = &state.empty_reason {
            failing.push((name, crate::text::truncate_chars(reason, 200)));
        }
    }
    digest::Context {
        feed_names,
        held_back,
        flooded,
        failing,
        earlier: Vec::new(),
        encoder: None,
    }
}

/// Sends the subscriber's digest now: an outbox leftover first, else a new one.
pub async fn deliver<S: Delivery + Readers>(
    config: &Config,
    store: &S,
    mailer: &Mailer,
    subscriber: &Subscriber,
    meaning: &Meaning,
    now: DateTime<Utc>,
) -> Result<Delivered, DeliverError> {
    let email = subscriber.email();
    let store_error = |source| DeliverError::Store {
        email: email.clone(),
        source,
    };
    if !store
        .lease_subscriber(
            &email,
            Holder::this_process(),
            LeaseTerm::Take(config.store_lease),
        )
        .await
        .map_err(store_error)?
    {
        return Ok(Delivered::Elsewhere);
    }
    let result = deliver_leased(config, store, mailer, subscriber, meaning, now).await;
    // Done: the lease ends now rather than when it lapses, so that the next
    // send (another instance, a restart, a one-shot `send`) may take it.
    if let Err(err) = store
        .lease_subscriber(&email, Holder::this_process(), LeaseTerm::Release)
        .await
    {
        tracing::warn!(subscriber = %email, "cannot end the lease on the subscriber (it lapses by itself): {err}");
    }
    result
}

/// [`deliver`] once this instance holds the subscriber's lease.
async fn deliver_leased<S: Delivery + Readers>(
    config: &Config,
    store: &S,
    mailer: &Mailer,
    subscriber: &Subscriber,
    meaning: &Meaning,
    now: DateTime<Utc>,
) -> Result<Delivered, DeliverError> {
    let email = subscriber.email();
    let store_error = |source| DeliverError::Store {
        email: email.clone(),
        source,
    };
    // Before the outbox too: a digest composed before the click is not sent.
    if let Some(opt_out) = store.opted_out(&email).await.map_err(store_error)? {
        return Ok(Delivered::OptedOut { since: opt_out.since });
    }
    let state = store
        .register_subscriber(&email, &SubscriberState::new(now))
        .await
        .map_err(store_error)?;
    // What is remembered for follow-ups: of a digest built now, from the
    // articles already read; of a resend, read again after its 2xx.
    let (entry, resent, stories) = match store.outbox(&email).await.map_err(store_error)? {
        Some(entry) => (entry, true, None),
        None => {
            let Some(prepared) = prepare(config, store, subscriber, meaning, now).await? else {
                return Ok(Delivered::NothingPending);
            };
            let ids = prepared.articles.iter().map(|a| a.id.clone()).collect();
            // The page exists before the mail that links it leaves.
            if let Some(page) = &prepared.archive {
                crate::archive::write(&page.dir, &page.name, &page.html).map_err(|source| {
                    DeliverError::Archive {
                        email: email.clone(),
                        source,
                    }
                })?;
            }
            let mut entry = compose(
                &config.from,
                &subscriber.mailbox,
                &prepared.rendered,
                ids,
                &crate::links::unsubscribe_addresses(config, &email),
                now,
            )
            .map_err(|source| DeliverError::Compose {
                email: email.clone(),
                source,
            })?;
            entry.dropped = prepared.dropped;
            store.put_outbox(&email, &entry).await.map_err(store_error)?;
            // Commit point: the entry must exist before the server may have it.
            store.flush().await.map_err(store_error)?;
            let stories = prepared
                .articles
                .iter()
                .map(|article| (article.id.clone(), SentStory::of(article, now)))
                .collect();
            (entry, false, Some(stories))
        }
    };
    // The fence: on a shared store the lease may have lapsed while the
    // digest was built (a slow render, a stalled database) and another
    // instance taken it, even sent and given it back; then this one must
    // not send: a renewal, not a take, which a lease given back would pass.
    // Renewed here, the lease outlasts the SMTP transaction (its timeout is
    // shorter).
    if !store
        .lease_subscriber(
            &email,
            Holder::this_process(),
            LeaseTerm::Renew(config.store_lease),
        )
        .await
        .map_err(store_error)?
    {
        tracing::warn!(
            subscriber = %email,
            "the lease lapsed while the digest was built; another instance sends it"
        );
        return Ok(Delivered::Elsewhere);
    }
    let taken_before = resent && accepted_unrecorded().contains(&entry.message_id);
    let sent = if taken_before {
        tracing::info!(
            message_id = %entry.message_id,
            "the relay accepted this digest before; recording it, not sending it again"
        );
        Ok(())
    } else {
        mailer
            .send(&config.from.email, &subscriber.mailbox.email, &entry)
            .await
    };
    match sent {
        Ok(()) => {
            fault_point("after-send");
            let sent = match stories {
                Some(stories) => stories,
                None => remembered(store, &entry, now).await,
            };
            let committed = match store.commit_sent(&email, &entry, &state.sent(now), &sent).await {
                Ok(()) => store.flush().await,
                Err(err) => Err(err),
            };
            let mut unrecorded = accepted_unrecorded();
            unrecorded.retain(|id| *id != entry.message_id);
            if let Err(err) = committed {
                unrecorded.push(entry.message_id.clone());
                return Err(store_error(err));
            }
            drop(unrecorded);
            tracing::info!(
                recipient_domain = subscriber.mailbox.email.domain(),
                message_id = %entry.message_id,
                articles = entry.article_ids.len(),
                resent,
                "digest sent"
            );
            Ok(Delivered::Sent {
                message_id: entry.message_id,
                articles: entry.article_ids.len(),
                resent,
            })
        }
        Err(source) => {
            record_failure(store, &email, &state, &entry, resent, &source, now)
                .await
                .map_err(store_error)?;
            store.flush().await.map_err(store_error)?;
            Err(DeliverError::Send { email, source })
        }
    }
}

/// What is remembered of each article sent, for follow-ups: best effort,
/// since the digest is already accepted; an article whose record does not
/// read only costs a follow-up mark, never the commit.
async fn remembered<S: Delivery>(
    store: &S,
    entry: &OutboxEntry,
    now: DateTime<Utc>,
) -> Vec<(ArticleId, SentStory)> {
    match store.articles(&entry.article_ids).await {
        Ok(articles) => entry
            .article_ids
            .iter()
            .zip(articles)
            .filter_map(|(id, article)| Some((id.clone(), SentStory::of(&article?, now))))
            .collect(),
        // One record that does not read costs only its own follow-up mark.
        Err(_) => {
            let mut sent = Vec::new();
            for id in &entry.article_ids {
                match store.article(id).await {
                    Ok(Some(article)) => sent.push((id.clone(), SentStory::of(&article, now))),
                    Ok(None) => {}
                    Err(err) => tracing::warn!(article = %id, error = %err, "not remembered for follow-ups"),
                }
            }
            sent
        }
    }
}

async fn record_failure<S: Delivery>(
    store: &S,
    email: &str,
    state: &SubscriberState,
    entry: &OutboxEntry,
    resent: bool,
    error: &SendError,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    // A refused message certainly did not arrive: its articles stay pending
    // and the next digest is built afresh, including anything new. Not so a
    // refused resend: an earlier attempt of the same entry may have been
    // accepted before a crash, so only the same bytes may go again.
    if error.certainly_not_delivered() && !resent {
        store.drop_outbox(email).await?;
    }
    let state = state.failed(now, error.to_string());
    store.put_subscriber_state(email, &state).await?;
    tracing::warn!(
        message_id = %entry.message_id,
        error = %error,
        failures = state.failures,
        retry_at = state.retry_at().map(tracing::field::display),
        "digest not sent; its articles stay pending"
    );
    Ok(())
}

fn fault_point(name: &str) {
    if std::env::var(FAULT_ENV).is_ok_and(|v| v == name) {
        tracing::error!(fault = name, "fault injection: aborting");
        std::process::abort();
    }
}
